"""Issue 16's matrix: 1:1 calls in real Chromium, through the web client, from browsers behind a
port-restricted cone NAT, a symmetric NAT, a firewall that only lets TCP 443 out, and on an
IPv6-only network (tests/lab), in ``sfu`` mode (both people in the same network) and in ``p2p``
mode (two different networks).

One lab, one node (``--mode auto``: each page asks for its cell's mode with ``?mode=``), one
coturn (UDP 3478, TCP and TLS on 443) and one Chromium per network serve every cell. Cells run
``PARALLEL`` at a time; only the matching step is serialised (the node pairs whoever waits, so
two cells matching at once could pair across cells). Each cell records the selected candidate
pair of both browsers and the time from the second "Find a partner" click (the one that makes
the match) to the first remote frame on both sides; ``docs/networks.md`` holds a run's table.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, async_playwright, expect

from tests.browser.pages import ClientPage, wait_until_flowing
from tests.lab import Kind, Lab, LabNode, lab_network

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.asyncio(loop_scope="module"),
    # The first cell's test sets up every cell (the module fixture): 45-115 s here, up to 210 s
    # at a load average of 33 on this 2-core machine; the suite's 300 s would be too close.
    pytest.mark.timeout(600),
]

PARALLEL = 2
CELL_TIMEOUT_MS = 30_000  # TURN over TCP on a loaded 2-core machine is slower than loopback
RESTRICTIVE: set[Kind] = {"symmetric_nat", "udp_blocked"}

# Network name → kind; the _2 networks give p2p a second network of the same kind.
NETWORKS: dict[str, Kind] = {
    "cone_nat": "cone_nat",
    "cone_nat_2": "cone_nat",
    "symmetric_nat": "symmetric_nat",
    "udp_blocked": "udp_blocked",
    "ipv6_only": "ipv6_only",
    "ipv6_only_2": "ipv6_only",
}


@dataclass(frozen=True)
class Cell:
    mode: str
    a: str  # network names (NETWORKS)
    b: str
    # "lab": the node with --media-addresses naming its lab addresses; "tls": the same but its
    # only TURN server is TLS on 443; "defaults": a node started as an operator would on a
    # server, --host 0.0.0.0 and no media flags.
    node: str = "lab"

    @property
    def id(self) -> str:
        suffix = "" if self.node == "lab" else f"-{self.node}-node"
        return f"{self.mode}-{self.a}-{self.b}{suffix}"

    @property
    def kinds(self) -> tuple[Kind, Kind]:
        return NETWORKS[self.a], NETWORKS[self.b]

    @property
    def needs_turn(self) -> bool:
        """The issue's expectation: in sfu only a browser that cannot send UDP needs TURN (the
        node has a public address); in p2p a symmetric NAT or a UDP-blocking firewall on either
        side does."""
        if self.mode == "sfu":
            return "udp_blocked" in self.kinds
        ipv6_only = [kind == "ipv6_only" for kind in self.kinds]
        # An IPv6-only browser and an IPv4-only one share no address family: only a relay
        # joins them (coturn relays over IPv4 unless asked otherwise, RFC 6156 §4.2).
        return bool(RESTRICTIVE & set(self.kinds)) or ipv6_only[0] != ipv6_only[1]


CELLS = [
    # The node an operator starts on a server: --host 0.0.0.0, no media flags.
    Cell("sfu", "cone_nat", "cone_nat", node="defaults"),
    *(Cell("sfu", net, net) for net in ("cone_nat", "symmetric_nat", "udp_blocked", "ipv6_only")),
    Cell("sfu", "udp_blocked", "udp_blocked", node="tls"),
    Cell("p2p", "cone_nat", "cone_nat_2"),
    Cell("p2p", "cone_nat", "symmetric_nat"),
    Cell("p2p", "cone_nat", "udp_blocked"),
    Cell("p2p", "symmetric_nat", "udp_blocked"),
    Cell("p2p", "ipv6_only", "ipv6_only_2"),
    Cell("p2p", "cone_nat", "ipv6_only"),
]


@dataclass
class Outcome:
    cell: Cell
    connected: bool = False
    mode: str | None = None
    # Per side: the selected pair as the browser's stats show it.
    pairs: list[dict[str, Any]] = field(default_factory=list)
    setup_seconds: float | None = None
    error: str | None = None
    page_errors: list[str] = field(default_factory=list)
    node_addresses: set[str | None] = field(default_factory=set)
    # Candidate addresses in the SDP each browser received (in sfu: the node's candidates).
    offered: set[str] = field(default_factory=set)

    def pair_text(self) -> str:
        return "; ".join(_describe(pair) for pair in self.pairs) or "—"


def _describe(pair: dict[str, Any] | None) -> str:
    if not pair:
        return "none"
    local, remote = pair["local"], pair["remote"]
    via = f" over {local['relayProtocol']}" if local.get("relayProtocol") else ""
    return f"{local['type']}{via} → {remote['type']}"


async def run_cell(
    cell: Cell,
    lab: Lab,
    node: LabNode,
    browsers: dict[str, Browser],
    matching: asyncio.Lock,
    slots: asyncio.Semaphore,
) -> Outcome:
    outcome = Outcome(cell, node_addresses={node.network.ipv4, node.network.ipv6})
    clients: list[ClientPage] = []
    async with slots:
        try:
            for name, net in (("Alice", cell.a), ("Bob", cell.b)):
                url = node.url_for(lab.networks[net], f"/?mode={cell.mode}")
                clients.append(await ClientPage.open(browsers[net], url, name))
            alice, bob = clients
            await asyncio.gather(alice.enter_studio(), bob.enter_studio())
            async with matching:
                await alice.find_partner()
                await alice.wait_status("waiting", CELL_TIMEOUT_MS)
                started = time.monotonic()
                await bob.find_partner()
                # Matched (the call's media may still be connecting): the next cell may match.
                await asyncio.gather(*(_matched(client) for client in clients))
            # What each browser was offered, read now: a call that fails closes its connection.
            for sdp in await asyncio.gather(*(_remote_sdp(client) for client in clients)):
                outcome.offered |= _candidate_addresses(sdp)
            await asyncio.gather(*(_connected(client) for client in clients))
            await asyncio.gather(*(_first_frame(client) for client in clients))
            outcome.setup_seconds = time.monotonic() - started
            await asyncio.gather(*(wait_until_flowing(client) for client in clients))
            outcome.connected = True
        except Exception as exc:  # the cell's result, reported in its own test
            seen = []
            for client in clients:
                with contextlib.suppress(Exception):
                    seen.append(await client.page.evaluate(STATE_JS))
            outcome.error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]} {seen}"
        finally:
            # Both sides' stats first: closing one page ends the other's call.
            for client in clients:
                with contextlib.suppress(Exception):
                    outcome.pairs.append((await client.stats())["pair"])
                    outcome.mode = (await client.state())["call"]["mode"]
                outcome.page_errors += client.errors
            for client in clients:
                with contextlib.suppress(Exception):
                    await client.close()
    return outcome


# Where a call that failed got stuck, for the report.
STATE_JS = """
() => {
  const pc = window.liveloop.pc;
  const status = document.getElementById("call-status");
  return [status?.dataset.state, pc?.iceConnectionState ?? "no pc", pc?.connectionState];
}
"""


async def _remote_sdp(client: ClientPage) -> str:
    await client.page.wait_for_function(
        "window.liveloop.pc?.remoteDescription != null", timeout=CELL_TIMEOUT_MS
    )
    sdp: str = await client.page.evaluate("window.liveloop.pc.remoteDescription.sdp")
    return sdp


# RFC 8839 §5.1: candidate-attribute = foundation component transport priority address port ...
CANDIDATE_ADDRESS = re.compile(r"a=candidate:\S+ \d+ \S+ \d+ (\S+) \d+ typ")


def _candidate_addresses(sdp: str) -> set[str]:
    return set(CANDIDATE_ADDRESS.findall(sdp))


async def _connected(client: ClientPage) -> None:
    """Waits for the call to connect, or to end (a failed call: no need to wait it out)."""
    await expect(client.status).to_have_attribute(
        "data-state", re.compile("^(in-call|partner-left|ended)$"), timeout=CELL_TIMEOUT_MS
    )
    await expect(client.status).to_have_attribute("data-state", "in-call", timeout=1)


async def _matched(client: ClientPage) -> None:
    await expect(client.status).to_have_attribute(
        "data-state", re.compile("^(connecting|in-call)$"), timeout=CELL_TIMEOUT_MS
    )


async def _first_frame(client: ClientPage) -> None:
    await client.page.wait_for_function(
        "document.getElementById('remote-video').videoWidth > 0", timeout=CELL_TIMEOUT_MS
    )


def results_table(outcomes: list[Outcome]) -> str:
    lines = [
        "| mode | node | network A | network B | connected | selected pair (A; B) | setup s |",
        "|---|---|---|---|---|---|---|",
    ]
    for o in outcomes:
        setup = f"{o.setup_seconds:.1f}" if o.setup_seconds is not None else "—"
        connected = "yes" if o.connected else f"no ({o.error})"
        lines.append(
            f"| {o.cell.mode} | {o.cell.node} | {o.cell.a} | {o.cell.b} | {connected} "
            f"| {o.pair_text()} | {setup} |"
        )
    return "\n".join(lines)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def outcomes(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, Outcome]]:
    workdir: Path = tmp_path_factory.mktemp("matrix")
    async with async_playwright() as playwright, lab_network(workdir / "lab") as lab:
        turn = lab.coturn()
        nodes = {
            # The matrix measures which networks need TURN for p2p, so p2p may go direct here;
            # by default a node with TURN makes p2p relay-only (tests/browser/test_p2p_privacy.py).
            "lab": lab.node("--mode", "auto", "--allow-direct-p2p", *turn.node_flags()),
            "tls": lab.node("--mode", "sfu", *turn.node_flags("tls"), name="node_tls"),
            "defaults": lab.node(
                "--mode", "sfu", name="node_defaults", host="0.0.0.0", media_flags=False
            ),
        }
        browsers = {
            name: await lab.browser_net(kind, name).chromium(playwright)
            for name, kind in NETWORKS.items()
        }
        matching, slots = asyncio.Lock(), asyncio.Semaphore(PARALLEL)
        results = await asyncio.gather(
            *(run_cell(cell, lab, nodes[cell.node], browsers, matching, slots) for cell in CELLS)
        )
        table = results_table(list(results))
        (workdir / "matrix.md").write_text(table + "\n")
        print("\n" + table)
        yield {outcome.cell.id: outcome for outcome in results}


class Unreachable(AssertionError):
    """The node offered browsers candidate addresses that are not its lab addresses."""


@pytest.mark.parametrize("cell", CELLS, ids=[cell.id for cell in CELLS])
async def test_call_connects_and_shows_video(outcomes: dict[str, Outcome], cell: Cell) -> None:
    outcome = outcomes[cell.id]
    if cell.mode == "sfu":  # the node offers only addresses the browsers can reach
        assert outcome.offered, outcome.error
        if not outcome.offered <= outcome.node_addresses:
            raise Unreachable(f"the node offers {outcome.offered}; then: {outcome.error}")
    assert outcome.connected, outcome.error
    assert outcome.page_errors == []
    assert outcome.mode == cell.mode  # no fallback from sfu to p2p happened
    assert len(outcome.pairs) == 2 and all(outcome.pairs), outcome.pairs
    relayed = [pair["local"]["type"] == "relay" for pair in outcome.pairs]
    if cell.mode == "sfu":
        for pair, kind in zip(outcome.pairs, cell.kinds, strict=True):
            # The node is the peer, and it is reached on its own (host) candidate.
            assert pair["remote"]["type"] == "host", pair
            assert pair["remote"]["address"] in outcome.node_addresses, pair
            if kind == "udp_blocked":
                allowed = ("tls",) if cell.node == "tls" else ("tcp", "tls")
                assert pair["local"]["relayProtocol"] in allowed, pair
        assert any(relayed) == cell.needs_turn, outcome.pair_text()
    else:
        remote_relayed = [pair["remote"]["type"] == "relay" for pair in outcome.pairs]
        assert (any(relayed) or any(remote_relayed)) == cell.needs_turn, outcome.pair_text()
        for pair, kind in zip(outcome.pairs, cell.kinds, strict=True):
            if kind == "udp_blocked":
                assert pair["local"]["relayProtocol"] in ("tcp", "tls"), pair
