"""A Redis outage under a running node (``--redis-url``): stop the real redis-server mid-call,
then start it again on the same port (empty, as a Redis without persistence comes back).

- the call in progress keeps its media and its chat: the node delivers to its own sockets
  directly, never through Redis;
- a new request-room gets ``matchmaker-unavailable`` at once, no hang; /health says degraded and
  /readyz refuses new calls;
- when Redis is back the node recovers by itself: the user who was waiting in the queue Redis
  lost is queued again and matched with the next caller.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from redis.asyncio import Redis

from liveloop_sfu.client import WireClient, WireError
from tests.helpers import until
from tests.integration.conftest import Caller
from tests.nodes import Node, NodeFactory, get_status_and_json
from tests.redis_server import RedisServer

pytestmark = pytest.mark.slow


async def until_healthy(node: Node, what: str) -> None:
    # /health is a blocking request: polled from a thread, every 0.2 s, for up to 15 s.
    await until(
        lambda: get_status_and_json(node, "/health")[1]["status"] == "ok",
        15,
        what,
        every=0.2,
        in_thread=True,
    )


async def published(server: RedisServer, action: Any) -> list[str]:
    """What the node published on socket.io's channel while ``action`` ran."""
    client = Redis.from_url(server.url, decode_responses=True)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe("liveloop:socketio")
    try:
        await action()
        await asyncio.sleep(0.3)
        messages = []
        while (message := await pubsub.get_message(timeout=0.1)) is not None:
            messages.append(str(message["data"]))
        return messages
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]
        await client.aclose()


async def test_outage_keeps_calls_and_recovers(
    node_factory: NodeFactory, caller: Caller, own_redis_server: RedisServer
) -> None:
    node = node_factory("--mode", "sfu", "--redis-url", own_redis_server.url)
    alice = await caller(node, "alice")
    bob = await caller(node, "bob")
    await alice.matched()
    await bob.matched()
    await bob.frames_from_partner(10)

    async def chat() -> None:
        await alice.wire.call("newMessage", {"message": "local"})
        assert (await bob.wire.next("newMessage"))["message"] == "local"

    # A call living on one node never goes through Redis, even with Redis up.
    assert await published(own_redis_server, chat) == []

    carol = await WireClient(node.url, timeout=10).connect()
    dave = await WireClient(node.url, timeout=10).connect()
    try:
        assert (await carol.request_room("carol"))["status"] == "waiting"

        own_redis_server.stop()
        assert alice.peer is not None and bob.peer is not None
        seen = len(bob.peer.video_log.counters), len(alice.peer.video_log.counters)
        began = time.monotonic()
        with pytest.raises(WireError) as refused:
            await dave.request_room("dave")
        assert refused.value.code == "matchmaker-unavailable"
        assert time.monotonic() - began < 3.0
        status, health = get_status_and_json(node, "/health")
        assert (status, health["status"]) == (200, "degraded")  # liveness holds
        assert get_status_and_json(node, "/readyz")[0] == 503
        # The call goes on: chat is delivered, media keeps flowing and decoding.
        await chat()
        await bob.frames_from_partner(seen[0] + 30)
        await alice.frames_from_partner(seen[1] + 30)
        assert bob.peer.video_log.in_order() and alice.peer.video_log.in_order()

        own_redis_server.start()  # same port, empty
        await until_healthy(node, "health ok")
        # Carol's queue entry died with Redis; the node queued her again by itself, so the next
        # caller meets her. (Until the node's next heartbeat, dave may be the one who waits.)
        ack = await dave.call_raw("request-room", {"userName": "dave"})
        deadline = time.monotonic() + 20
        while ack.get("error", {}).get("code") == "matchmaker-unavailable":
            assert time.monotonic() < deadline, "the matchmaker did not come back"
            await asyncio.sleep(0.5)
            ack = await dave.call_raw("request-room", {"userName": "dave"})
        assert ack.get("ok") is True, ack
        assert (await carol.next("match-done", timeout=20))["peer"]["userName"] == "dave"
        assert (await dave.next("match-done", timeout=5))["peer"]["userName"] == "carol"
        assert get_status_and_json(node, "/readyz")[0] == 200
        # The call that lived through the outage is still up.
        await chat()
        assert not [event for event, _ in alice.events + bob.events if event == "partner-left"]
    finally:
        await carol.close()
        await dave.close()


async def test_outage_keeps_a_call_across_nodes(
    node_factory: NodeFactory, caller: Caller, own_redis_server: RedisServer
) -> None:
    """Media of a cross-node call flows browser ↔ host and needs no Redis; signaling between
    the nodes resumes by itself once Redis is back."""
    node1 = node_factory("--mode", "sfu", "--redis-url", own_redis_server.url)
    node2 = node_factory("--mode", "sfu", "--redis-url", own_redis_server.url)
    alice = await caller(node1, "alice")
    bob = await caller(node2, "bob")
    await alice.matched()
    await bob.matched()
    await alice.frames_from_partner(10)
    await bob.frames_from_partner(10)
    assert alice.peer is not None and bob.peer is not None

    own_redis_server.stop()
    seen = len(alice.peer.video_log.counters), len(bob.peer.video_log.counters)
    await alice.frames_from_partner(seen[0] + 30)
    await bob.frames_from_partner(seen[1] + 30)
    assert alice.peer.video_log.in_order() and bob.peer.video_log.in_order()

    own_redis_server.start()
    await until_healthy(node1, "node 1 healthy")
    await until_healthy(node2, "node 2 healthy")
    # The guest's chat travels node 1 → Redis → node 2 again (subscriptions came back).
    deadline = time.monotonic() + 15
    while (ack := await alice.wire.call_raw("newMessage", {"message": "back"})).get("ok") is None:
        # Until node 2 subscribed again, the guest's node says so, and keeps the call.
        assert ack["error"]["code"] == "matchmaker-unavailable", ack
        assert time.monotonic() < deadline, ack
        await asyncio.sleep(0.5)
    assert (await bob.wire.next("newMessage"))["message"] == "back"
    await alice.frames_from_partner(seen[0] + 60)
    assert not [event for event, _ in alice.events + bob.events if event == "partner-left"]
