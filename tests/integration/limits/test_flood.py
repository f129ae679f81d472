"""A flooding client is refused and disconnected, and a call next to it does not notice."""

from __future__ import annotations

import asyncio
import json
import sys
import time

import pytest

from liveloop_sfu.client import WireClient, WireError
from tests.helpers import scrape
from tests.integration.conftest import Caller
from tests.nodes import ROOT, NodeFactory

pytestmark = pytest.mark.slow

WINDOW = 4.0  # seconds of video per measurement


def fps_between(frames: list[tuple[int | None, float]], start: float, end: float) -> float:
    return sum(1 for _, t in frames if start <= t < end) / (end - start)


async def test_a_flood_does_not_change_another_calls_fps(
    node_factory: NodeFactory, caller: Caller
) -> None:
    node = node_factory("--mode", "sfu")
    alice = await caller(node, "alice")
    bob = await caller(node, "bob")
    await alice.matched()
    await bob.matched()
    await bob.frames_from_partner(30)
    assert bob.peer is not None

    # Quiet, flooded, quiet: a busy shared test machine moves fps on its own, so the flooded
    # window is compared with the quiet ones around it.
    start = time.monotonic()
    await asyncio.sleep(WINDOW)
    quiet_before = fps_between(bob.peer.video_log.frames, start, time.monotonic())
    # 4 sockets x 400 events/s from one address, in a process of its own.
    flooder = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "tests.integration.limits.flooder", node.url, "6", "4", "400"),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        await asyncio.sleep(1.0)  # the flood is under way
        start = time.monotonic()
        await asyncio.sleep(WINDOW)
        flooded = fps_between(bob.peer.video_log.frames, start, time.monotonic())
        out, _ = await asyncio.wait_for(flooder.communicate(), 30)
    finally:
        if flooder.returncode is None:
            flooder.kill()
            await flooder.wait()
    start = time.monotonic()
    await asyncio.sleep(WINDOW)
    quiet_after = fps_between(bob.peer.video_log.frames, start, time.monotonic())
    quiet = (quiet_before + quiet_after) / 2
    seen = json.loads(out)
    print(f"fps quiet {quiet_before:.1f} / {quiet_after:.1f}, flood {flooded:.1f}; flooder {seen}")

    assert quiet > 10  # 30 fps sent; a loaded test machine decodes fewer
    assert flooded >= 0.75 * quiet
    assert bob.peer.video_log.in_order()
    # The flooder was told, then thrown out (and came back, and was thrown out again).
    assert seen["ack:rate-limited"] > 0
    assert seen["disconnected"] >= 4
    metrics = scrape(node)
    assert metrics["liveloop_flood_disconnects_total"] >= 4
    assert sum(v for k, v in metrics.items() if k.startswith("liveloop_rate_limited_total")) > 100
    # The call is still up and chat still works for its members.
    await alice.wire.call("newMessage", {"message": "still here"})
    assert (await bob.wire.next("newMessage"))["message"] == "still here"


async def test_connections_per_address_are_capped(node_factory: NodeFactory) -> None:
    node = node_factory("--mode", "p2p", "--max-connections-per-ip", "2", "--rate-churn", "1/2")
    clients = [WireClient(node.url, timeout=5) for _ in range(3)]
    try:
        await clients[0].connect()
        await clients[1].connect()
        with pytest.raises(Exception, match="failed to connect"):
            await clients[2].connect()
        # A refused event is an ack with the stable code, and changes nothing.
        await clients[0].request_room("ana")
        await clients[0].request_room("ana")
        with pytest.raises(WireError) as info:
            await clients[0].request_room("ana")
        assert info.value.code == "rate-limited"
        # Closing one frees a place.
        await clients[1].close()
        for _ in range(50):
            if scrape(node)["liveloop_connected_sockets"] == 1:
                break
            await asyncio.sleep(0.1)
        await clients[2].connect()
    finally:
        for client in clients:
            await client.close()
    assert scrape(node)['liveloop_rate_limited_total{kind="connection"}'] == 1


@pytest.mark.parametrize("trusted", [True, False])
async def test_forwarded_for_counts_only_from_a_trusted_proxy(
    node_factory: NodeFactory, trusted: bool
) -> None:
    flags = ["--mode", "p2p", "--max-connections-per-ip", "1"]
    node = node_factory(*flags, *(["--trusted-proxies", "127.0.0.1"] if trusted else []))
    clients = [WireClient(node.url, timeout=5) for _ in range(3)]
    try:
        await clients[0].connect(headers={"X-Forwarded-For": "198.51.100.1"})
        second = clients[1].connect(headers={"X-Forwarded-For": "1.1.1.1, 198.51.100.2"})
        if trusted:  # another client behind the proxy: its own budget
            await second
        else:  # the header is the client's claim: both are 127.0.0.1, one too many
            with pytest.raises(Exception, match="failed to connect"):
                await second
        # A third client behind the first one's address is refused either way (trusted: that
        # address is full; untrusted: 127.0.0.1 is).
        with pytest.raises(Exception, match="failed to connect"):
            await clients[2].connect(headers={"X-Forwarded-For": "198.51.100.1"})
    finally:
        for client in clients:
            await client.close()
