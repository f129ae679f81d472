"""End-to-end matchmaking through socket.io: request-room → match-done, as a browser sees it.

Part of ``python -m benchmarks.suites.matchmaking`` (reported apart from the matchmaker API
figures). For each setup a fresh node process runs in ``--mode p2p`` (matching only, no media):

- ``memory``: one node, the in-process matchmaker (the default without Redis);
- ``redis``: one node with ``--redis-url``;
- ``redis-2n``: two nodes sharing that Redis, the clients split between them, so about half of
  the matches pair users of different nodes (claimed across nodes, match-done through Redis).

N wire clients (:class:`liveloop_sfu.client.WireClient`, WebSocket transport, all in this
process) loop: request-room; if the ack says ``matched`` the client is the requester and its
latency is from sending request-room until its ``match-done`` arrived; otherwise it waits for the
``match-done`` a later requester causes. Then ``stop-call`` and again. After a warm-up, a window
of ``seconds`` is measured: matches/s (requester-side match-done events) and p50/p99 latency.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.harness.processes import LOAD_TEST_LIMITS
from benchmarks.reports.stats import percentile
from liveloop_sfu.client import WireClient, WireError

SETUPS = ("memory", "redis", "redis-2n")
_WAIT_FOR_PARTNER = 5.0  # seconds a waiting client waits before it asks again


@dataclass(frozen=True, slots=True)
class E2EResult:
    setup: str
    nodes: int
    clients: int
    matches: int
    errors: int
    seconds: float
    matches_per_s: float
    p50_ms: float
    p99_ms: float


async def _client_loop(
    client: WireClient,
    name: str,
    start: float,
    stop: float,
    latencies: list[float],
    errors: list[int],
) -> None:
    while time.monotonic() < stop:
        while client.pending("match-done"):  # a late one from a wait that timed out
            await client.next("match-done")
        began = time.perf_counter()
        try:
            ack = await client.request_room(name)
            if ack.get("status") == "matched":
                await client.next("match-done")
                if time.monotonic() >= start:
                    latencies.append((time.perf_counter() - began) * 1000)
            else:
                with contextlib.suppress(TimeoutError):
                    await client.next("match-done", timeout=_WAIT_FOR_PARTNER)
            await client.call("stop-call")
        except (WireError, TimeoutError):
            errors[0] += 1


async def measure(
    urls: Sequence[str], clients: int, warmup: float, seconds: float
) -> tuple[list[float], int]:
    """Run ``clients`` wire clients spread over ``urls``; latencies (ms) and error count."""
    connected = [
        await WireClient(urls[i % len(urls)], timeout=10).connect() for i in range(clients)
    ]
    latencies: list[float] = []
    errors = [0]
    start = time.monotonic() + warmup
    stop = start + seconds
    try:
        await asyncio.gather(
            *(
                _client_loop(client, f"user{i}", start, stop, latencies, errors)
                for i, client in enumerate(connected)
            )
        )
    finally:
        for client in connected:
            await client.close()
    return latencies, errors[0]


def run_setup(
    setup: str, redis_url: str, clients: int, warmup: float, seconds: float, log_dir: Path
) -> E2EResult:
    from tests.nodes import start_node  # the same launcher the tests use

    flags = ["--mode", "p2p", "--log-level", "warning", *LOAD_TEST_LIMITS]
    if setup != "memory":
        flags += ["--redis-url", redis_url]
    count = 2 if setup == "redis-2n" else 1
    nodes = [start_node(log_dir, *flags) for _ in range(count)]
    try:
        latencies, errors = asyncio.run(
            measure([node.url for node in nodes], clients, warmup, seconds)
        )
    finally:
        for node in nodes:
            node.stop()
    return E2EResult(
        setup=setup,
        nodes=count,
        clients=clients,
        matches=len(latencies),
        errors=errors,
        seconds=seconds,
        matches_per_s=len(latencies) / seconds,
        p50_ms=percentile(latencies, 50) or 0.0,
        p99_ms=percentile(latencies, 99) or 0.0,
    )


def table(results: Sequence[E2EResult]) -> str:
    header = ("clients", "setup", "nodes", "matches/s", "p50 ms", "p99 ms", "errors")
    lines = ["{:>7}  {:<9} {:>5} {:>10} {:>8} {:>8} {:>6}".format(*header)]
    for r in results:
        lines.append(
            f"{r.clients:>7}  {r.setup:<9} {r.nodes:>5} {r.matches_per_s:>10.0f} "
            f"{r.p50_ms:>8.2f} {r.p99_ms:>8.2f} {r.errors:>6}"
        )
    return "\n".join(lines)
