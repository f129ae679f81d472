"""Two real node processes sharing one Redis: a user on node 1 talks with a user on node 2.

The caller on node 2 is matched with the user waiting on node 1; node 2 hosts the call, so in
sfu the user on node 1 is a guest whose offer, chat and leaving travel to node 2 through Redis,
and node 2's answer comes back through the socket.io manager. Media is real aiortc video with a
painted frame counter, decoded on both ends.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from redis.asyncio import Redis

from liveloop_sfu.matchmaking.redis import day_of
from tests.integration.conftest import Caller
from tests.nodes import NodeFactory, get_json
from tests.redis_server import RedisServer

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("mode", ["sfu", "p2p"])
async def test_call_across_two_nodes(
    node_factory: NodeFactory, caller: Caller, own_redis_server: RedisServer, mode: str
) -> None:
    node1 = node_factory("--mode", mode, "--redis-url", own_redis_server.url)
    node2 = node_factory("--mode", mode, "--redis-url", own_redis_server.url)
    alice = await caller(node1, "alice")
    bob = await caller(node2, "bob")
    match_a, match_b = await alice.matched(), await bob.matched()
    assert match_a["roomId"] == match_b["roomId"]
    assert match_a["peer"]["userName"] == "bob" and match_b["peer"]["userName"] == "alice"
    assert alice.mode == bob.mode == mode
    await alice.frames_from_partner(20)
    await bob.frames_from_partner(20)
    for call in (alice, bob):
        assert call.peer is not None and call.peer.video_log.in_order()
        assert call.peer.audio_frames > 0
    # The room lives on node 2 (the node that made the match); node 1 holds only a socket.
    assert get_json(node2, "/api/status")["activeRooms"][mode] == 1
    assert get_json(node1, "/api/status")["activeRooms"][mode] == 0

    # Chat both ways, across the nodes.
    sent = await alice.wire.call("newMessage", {"message": "hello from node 1"})
    assert (await bob.wire.next("newMessage"))["message"] == "hello from node 1"
    assert sent["message"]["userName"] == "alice"
    await bob.wire.call("newMessage", {"message": "hello from node 2"})
    assert (await alice.wire.next("newMessage"))["message"] == "hello from node 2"

    # Shared state in Redis under the seed's key names.
    client = Redis.from_url(own_redis_server.url, decode_responses=True)
    try:
        room = await client.hgetall("{liveloop}:rooms:" + match_a["roomId"])
        assert room["mode"] == mode and len(room["members"].split(",")) == 2
        day = day_of(time.time())
        for _ in range(50):  # counters are written in the background
            metrics = await client.hgetall("{liveloop}:metrics:daily")
            if int(metrics.get(f"{day}:messages", 0)) == 2:
                break
            await asyncio.sleep(0.1)
        assert int(metrics[f"{day}:matches"]) == 1
        assert int(metrics[f"{day}:calls:{mode}"]) == 1
        assert int(metrics[f"{day}:messages"]) == 2
    finally:
        await client.aclose()

    # The guest on node 1 ends the call: the host closes the room and tells bob.
    assert (await alice.wire.call("stop-call"))["left"] is True
    assert (await bob.event("partner-left"))["reason"] == "stopped"
    assert get_json(node2, "/api/status")["activeRooms"][mode] == 0

    # Next: both ask again and meet again across the nodes, now hosted by node 1.
    await bob.wire.request_room("bob")
    await alice.wire.request_room("alice")
    assert (await alice.wire.next("match-done"))["peer"]["userName"] == "bob"
    assert (await bob.wire.next("match-done"))["peer"]["userName"] == "alice"
    # The host's user disconnects: the guest's node hears of it and tells its user.
    await alice.wire.close()
    assert (await bob.event("partner-left", nth=2))["reason"] == "disconnected"
    assert get_json(node1, "/api/status")["activeRooms"][mode] == 0
    health1, health2 = get_json(node1, "/health"), get_json(node2, "/health")
    assert health1["status"] == health2["status"] == "ok"
    assert health1["node"] != health2["node"]


async def test_a_node_leaving_cleanly_takes_its_waiting_users_along(
    node_factory: NodeFactory, own_redis_server: RedisServer
) -> None:
    from liveloop_sfu.client import WireClient

    node1 = node_factory("--mode", "p2p", "--redis-url", own_redis_server.url)
    node2 = node_factory("--mode", "p2p", "--redis-url", own_redis_server.url)
    waiting = await WireClient(node1.url, timeout=10).connect()
    late = await WireClient(node2.url, timeout=10).connect()
    try:
        assert (await waiting.request_room("early"))["status"] == "waiting"
        assert own_redis_server.command("ZCARD", "{liveloop}:queue:users") == ":1"
        await asyncio.to_thread(node1.stop)  # SIGTERM while its user waits
        assert node1.process.returncode == 0
        assert own_redis_server.command("ZCARD", "{liveloop}:queue:users") == ":0"
        # Nobody is matched with the user who left with node 1.
        assert (await late.request_room("late"))["status"] == "waiting"
        # Started without a shared --client-key-secret, each node says its keys stay its own.
        assert "no --client-key-secret" in node1.log()
    finally:
        await waiting.close()
        await late.close()
