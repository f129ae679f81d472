"""Strangers don't learn each other's address (issue 16, item 5), in real Chromium.

An auto node whose browser cannot connect its media to the node falls back to p2p. With TURN
configured (a real coturn on loopback) the fallback is relay-only on both sides: every remote
candidate either browser ever sees is a relay. Without TURN, and without --allow-direct-p2p, the
call ends instead, and the pages say why — from their own ICE statistics, whose diagnosis
(web/js/ice-diagnosis.js) is also run as a table in the page. (test_call.py has the direct
fallback the operator allowed, and the page saying the call is direct.)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from tests.browser.conftest import OpenClient
from tests.browser.pages import ClientPage
from tests.browser.test_call import (
    BLOCK_FIRST_CONNECTION_JS,
    assert_chat_both_ways,
    assert_media_flows,
)
from tests.coturn import SECRET, loopback_coturn
from tests.nodes import NodeFactory

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def summary(
    local: tuple[str, ...] = ("host",),
    remote: tuple[str, ...] = ("203.0.113.2",),
    sent: int = 0,
    answered: int = 0,
    succeeded: bool = False,
) -> dict[str, Any]:
    return {
        "localTypes": list(local),
        "remoteAddresses": list(remote),
        "checksSent": sent,
        "checksAnswered": answered,
        "succeeded": succeeded,
    }


CASES = [
    # summary, page host, diagnosis
    (None, "203.0.113.9", "unknown"),  # no statistics (a closed connection)
    (summary(sent=12, answered=3), "203.0.113.9", "connected"),
    (summary(succeeded=True), "203.0.113.9", "connected"),
    # Checks out, no answer, no relay: the network drops the media.
    (summary(local=("host",), sent=12), "203.0.113.9", "blocked"),
    (summary(local=("host", "srflx"), sent=12), "203.0.113.9", "blocked"),
    # Relay-only with the TURN server out of reach: nothing could even be gathered.
    (summary(local=(), remote=("203.0.113.7",)), "203.0.113.9", "blocked"),
    # A relay was gathered: TURN got through, so the network does not block everything.
    (summary(local=("host", "relay"), sent=12), "203.0.113.9", "unknown"),
    # The other side offered only loopback, and this page is not on loopback.
    (summary(remote=("127.0.0.1",), sent=4), "203.0.113.9", "loopback-only"),
    (summary(remote=("::1",), sent=4), "node.example", "loopback-only"),
    (summary(remote=("127.0.0.1",), sent=4), "127.0.0.1", "blocked"),
    # Nothing from the other side yet, nothing sent: too early to say.
    (summary(remote=(), sent=0), "203.0.113.9", "unknown"),
]

CLASSIFY_JS = """
async ([cases]) => {
  const { classifyIceFailure } = await import("/js/ice-diagnosis.js");
  return cases.map(([summary, host]) => classifyIceFailure(summary, host));
}
"""

TEXT_JS = """
async () => {
  const { iceFailureText } = await import("/js/connection-text.js");
  return [
    iceFailureText("blocked", { turnOffered: false }),
    iceFailureText("blocked", { turnOffered: true }),
    iceFailureText("unknown"),
    iceFailureText("connected"),
  ];
}
"""


@pytest.fixture
def coturn(tmp_path: Path) -> Iterator[int]:
    with loopback_coturn(tmp_path) as port:
        yield port


async def alice_blocked_from_the_node(
    open_client: OpenClient, url: str
) -> tuple[ClientPage, ClientPage]:
    """Alice's connection to the node gets no candidates through (BLOCK_FIRST_CONNECTION_JS);
    Bob's works. Both are matched and connecting through the node."""
    alice = await open_client(url, "Alice")
    bob = await open_client(url, "Bob")
    await alice.page.add_init_script(BLOCK_FIRST_CONNECTION_JS)
    await alice.page.reload()
    await alice.join()
    await alice.wait_status("waiting")
    await bob.join()
    await alice.wait_status("connecting")
    assert (await alice.state())["call"]["mode"] == "sfu"
    return alice, bob


async def test_auto_fallback_with_turn_is_relay_only(
    node_factory: NodeFactory, open_client: OpenClient, coturn: int
) -> None:
    node = node_factory(
        *("--mode", "auto", "--media-connect-timeout", "3"),
        *("--turn-urls", f"turn:127.0.0.1:{coturn}?transport=udp", "--turn-secret", SECRET),
    )
    alice, bob = await alice_blocked_from_the_node(open_client, node.url + "/")

    in_p2p_call = "(s => s.mode === 'p2p' && s.status === 'in-call')(window.liveloop.state.call)"
    for client in (alice, bob):
        await client.page.wait_for_function(in_p2p_call, timeout=30_000)
    for me in (alice, bob):
        assert (await me.state())["call"]["iceTransportPolicy"] == "relay"
        await expect(me.page.locator("#call-notice")).to_have_text(
            "Switched to a connection between you and your partner through a relay server."
        )
        await expect(me.page.locator("#call-privacy")).to_have_text(
            "Relayed connection: your partner cannot see your IP address."
        )
        await assert_media_flows(me)
    for me in (alice, bob):
        stats = await me.stats()
        # Everything this browser was told about its partner, and everything it gathered
        # itself, is a TURN relay; so is the pair media flows on.
        remote_types = {c["type"] for c in stats["remoteCandidates"] if c}
        local_types = {c["type"] for c in stats["localCandidates"] if c}
        assert remote_types == {"relay"}, stats["remoteCandidates"]
        assert local_types == {"relay"}, stats["localCandidates"]
        assert stats["pair"]["remote"]["type"] == stats["pair"]["local"]["type"] == "relay"
        # Nor does the SDP carry any other candidate.
        sdp: str = await me.page.evaluate("window.liveloop.pc.remoteDescription.sdp")
        assert " typ host" not in sdp and " typ srflx" not in sdp, sdp
    await assert_chat_both_ways(alice, bob)


async def test_auto_without_turn_ends_the_call_and_the_pages_say_why(
    node_factory: NodeFactory, open_client: OpenClient
) -> None:
    node = node_factory("--mode", "auto", "--media-connect-timeout", "5")
    alice, bob = await alice_blocked_from_the_node(open_client, node.url + "/")

    for client in (alice, bob):
        await client.wait_status("partner-left", timeout_ms=20_000)
        await expect(client.status).to_contain_text("A video connection to the server failed")
        assert (await client.state())["call"]["mode"] == "sfu"  # never went p2p
    # Bob's own connection worked: the page says it was his partner's that failed.
    await expect(bob.page.locator("#call-error")).to_have_text(
        "Your partner's video connection to the server failed, so the call ended."
    )
    await expect(alice.page.locator("#call-privacy")).to_have_text("")
    assert "without TURN the fallback would be direct p2p" in node.log()

    # Every outcome of the diagnosis, in the same real page (the lab test shows "blocked" end
    # to end: test_lab_server_defaults.py).
    cases = [[case, host] for case, host, _ in CASES]
    got = await alice.page.evaluate(CLASSIFY_JS, [cases])
    assert got == [expected for _, _, expected in CASES]
    no_turn, with_turn, unknown, connected = await alice.page.evaluate(TEXT_JS)
    # What the user reads names the operator's fix, and whether the site has TURN at all.
    assert "offers no relay (TURN) server" in no_turn
    assert "could not be reached either" in with_turn
    for text in (no_turn, with_turn):
        assert "block video calls" in text and "TCP or TLS on port 443" in text
    assert unknown is None and connected is None
