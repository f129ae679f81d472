"""A rolling deploy on two real nodes sharing one Redis: node 1 drains (SIGTERM) while it hosts
an sfu call. Its call's media keeps flowing (the test clients keep decoding new frames), its
waiting user is let go (never matched by node 2) and told to reconnect, new calls start on node 2,
``/readyz`` of node 1 says 503 at once, and node 1 exits by itself when its call ends. Node 1's
``/metrics`` carries the call's RTCP quality meanwhile (loss, jitter, round trip)."""

from __future__ import annotations

import asyncio
import signal

import pytest

from liveloop_sfu.client import WireClient
from tests.helpers import scrape, until
from tests.integration.calls.wire_call import WireCall
from tests.integration.conftest import Caller
from tests.nodes import NodeFactory, get_json, get_status_and_json
from tests.redis_server import RedisServer

pytestmark = pytest.mark.slow


def frames(call: WireCall) -> int:
    """Frames with a readable counter this test client decoded from its partner so far."""
    return len(call.peer.video_log.counters) if call.peer is not None else 0


async def test_draining_node_keeps_its_call_and_new_calls_start_on_the_other(
    node_factory: NodeFactory, caller: Caller, own_redis_server: RedisServer
) -> None:
    flags = ("--mode", "sfu", "--redis-url", own_redis_server.url, "--drain-timeout", "120")
    node1, node2 = node_factory(*flags), node_factory(*flags)
    alice = await caller(node1, "alice")
    bob = await caller(node1, "bob")
    await alice.matched()
    await bob.matched()
    await alice.frames_from_partner(20)
    await bob.frames_from_partner(20)
    assert get_json(node1, "/api/status")["activeRooms"]["sfu"] == 1
    erin = await WireClient(node1.url).connect()
    carol = await WireClient(node2.url).connect()
    dave = await WireClient(node2.url).connect()
    try:
        assert (await erin.request_room("erin"))["status"] == "waiting"

        node1.process.send_signal(signal.SIGTERM)
        # The waiting user is let go and told to reconnect (to another node).
        assert await erin.next("server-shutdown") == {"reason": "draining", "reconnect": True}
        status, ready = get_status_and_json(node1, "/readyz")
        assert status == 503 and ready["reasons"] == ["draining"]
        assert get_status_and_json(node2, "/readyz")[0] == 200

        # New users on node 2 are not matched with node 1's user; they meet each other there.
        assert (await carol.request_room("carol"))["status"] == "waiting"
        await dave.request_room("dave")
        assert (await carol.next("match-done"))["peer"]["userName"] == "dave"
        await dave.next("match-done")
        assert get_json(node2, "/api/status")["activeRooms"]["sfu"] == 1
        assert get_json(node1, "/api/status")["activeRooms"]["sfu"] == 1  # still its call

        # The drained node's call keeps its media: both sides decode new frames.
        before = frames(alice), frames(bob)
        await until(lambda: frames(alice) >= before[0] + 30 and frames(bob) >= before[1] + 30)
        assert node1.process.poll() is None
        assert not [e for e, _ in alice.events + bob.events if e == "partner-left"]

        # Its metrics still answer, with the call's quality from RTCP.
        samples = scrape(node1)
        for direction in ("ingress", "egress"):
            labels = f'{{direction="{direction}",kind="video"}}'
            assert samples[f"liveloop_rtcp_fraction_lost_count{labels}"] > 0
            assert samples[f"liveloop_rtcp_jitter_seconds_count{labels}"] > 0
        # Round-trip time needs a receiver report that answers one of the node's sender
        # reports (RFC 3550 §6.4.1 LSR/DLSR), which may take another report interval.
        rtt = 'liveloop_rtcp_rtt_seconds_count{direction="egress",kind="video"}'
        await until(lambda: scrape(node1).get(rtt, 0) > 0, what="an egress RTT sample")
        assert samples["process_resident_memory_bytes"] > 0

        # The call ends: the node has nothing left and exits by itself.
        await alice.wire.call("stop-call")
        assert (await bob.event("partner-left"))["reason"] == "stopped"
        assert (await bob.wire.next("server-shutdown"))["reason"] == "draining"
        assert await asyncio.to_thread(node1.process.wait, 20) == 0
        assert "Traceback" not in node1.log()

        # Node 2 is untouched: its call goes on, and node 1's user is matched there.
        erin2 = await WireClient(node2.url).connect()
        try:
            frank = await WireClient(node2.url).connect()
            try:
                await erin2.request_room("erin")
                await frank.request_room("frank")
                assert (await erin2.next("match-done"))["peer"]["userName"] == "frank"
            finally:
                await frank.close()
        finally:
            await erin2.close()
    finally:
        for client in (erin, carol, dave):
            await client.close()
