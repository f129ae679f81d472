"""A node whose event loop is saturated refuses new calls with ``capacity`` (its reason in
``/readyz``, ``/metrics`` and the log), and takes calls again once it has cooled down.

The load is real work on the node's own event loop (this test's loop, which runs the node
in-process): hashing in slices of 0.5 s, as a burst of forwarding would keep the loop busy. The
node's self-measurement (rooms/self_measure.py) is not touched; it sees its timer fire late and
its thread use the core, as it would under packets."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time

import pytest

from liveloop_sfu.client import WireClient, WireError
from tests.helpers import scrape, until
from tests.integration.in_process import StartNode

pytestmark = pytest.mark.slow

SLICE = 0.5  # seconds of work between two yields to the loop


async def hog(stop: asyncio.Event) -> None:
    """Keep the event loop busy: SLICE seconds of hashing, then one brief yield."""
    block = b"x" * 65536
    while not stop.is_set():
        end = time.monotonic() + SLICE
        while time.monotonic() < end:
            hashlib.sha256(block).digest()
        await asyncio.sleep(0.001)


async def test_a_saturated_node_refuses_then_recovers(
    start_node: StartNode, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="liveloop_sfu.rooms.self_measure")
    # A lag limit well above what a loaded CI machine adds to an idle loop, so that cooling
    # down is not held up by other work (the hog makes the loop SLICE seconds late).
    server = await start_node(admission_lag_ms=200, admission_cpu=90)
    load = server.node.rooms.load
    assert load is not None
    clients: list[WireClient] = []

    async def client() -> WireClient:
        made = WireClient(server.url, timeout=20)
        clients.append(made)
        return await made.connect()

    def metrics() -> dict[str, float]:
        return scrape(server)

    try:
        # Idle: the node takes calls, and says why not a word about saturation.
        ana, bo = await client(), await client()
        await asyncio.gather(ana.request_room("ana"), bo.request_room("bo"))
        await ana.next("match-done")
        ready = await asyncio.to_thread(metrics)
        assert ready['liveloop_admission_refusing{reason="event-loop-lag"}'] == 0
        assert ready['liveloop_admission_refusing{reason="cpu"}'] == 0

        stop = asyncio.Event()
        task = asyncio.get_running_loop().create_task(hog(stop))
        try:
            await until(lambda: load.refusing is not None, timeout=30, what="saturation seen")
            reason = load.refusing
            assert reason in ("event-loop-lag", "cpu")
            cy = await client()
            with pytest.raises(WireError, match="capacity") as refused:
                await cy.request_room("cy")
            assert reason in refused.value.message
            seen = await asyncio.to_thread(metrics)
            assert seen[f'liveloop_admission_refusing{{reason="{reason}"}}'] == 1
            assert seen[f'liveloop_capacity_refusals_total{{reason="{reason}"}}'] >= 1
            assert seen["liveloop_event_loop_lag_seconds"] > 0
        finally:
            stop.set()
            await task
        # The readings behind it went to the operator's log.
        assert any("node saturated" in r.getMessage() for r in caplog.records)
        # New calls are taken again once the node has cooled down.
        await until(lambda: load.refusing is None, timeout=40, what="cooled down")
        assert any("no longer saturated" in r.getMessage() for r in caplog.records)
        dee, eve = await client(), await client()
        await asyncio.gather(dee.request_room("dee"), eve.request_room("eve"))
        assert (await dee.next("match-done"))["peer"]["userName"] == "eve"
    finally:
        for made in clients:
            with contextlib.suppress(Exception):
                await made.close()
