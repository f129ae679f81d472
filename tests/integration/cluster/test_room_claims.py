"""Where a group room is pinned (``Cluster.claim_room`` / ``release_room``): one contract, run
against the in-process hub and against a real ``redis-server`` (where a node's liveness is its
heartbeat deadline in the matchmaker's ``nodes`` set), also cluster-enabled."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from liveloop_sfu.cluster.base import Cluster, ClusterHub, NodeUnreachable
from liveloop_sfu.cluster.redis import RedisCluster
from liveloop_sfu.matchmaking.redis import RedisMatchmaker, connect
from tests.redis_server import RedisServer

pytestmark = pytest.mark.slow


@dataclass
class Nodes:
    one: Cluster
    two: Cluster
    kill_one: Callable[[], Awaitable[None]]  # node one dies without a word


@pytest.fixture(params=["in-process", "redis", "redis-cluster"])
async def nodes(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Nodes]:
    if request.param == "in-process":
        hub = ClusterHub()
        one, two = hub.node("n1"), hub.node("n2")

        async def answer(sender: str, body: dict[str, object]) -> dict[str, object]:
            return {"ok": True}

        one.serve(answer)
        two.serve(answer)

        async def kill() -> None:
            one.close()

        yield Nodes(one, two, kill)
        return
    # A cluster-enabled Redis refuses a script touching a key outside its declared keys' slot.
    server = RedisServer(tmp_path, cluster=request.param == "redis-cluster")
    server.start()
    client = connect(server.url)
    clock = {"now": time.time()}
    heartbeats = [
        RedisMatchmaker(client, node_id=n, entry_ttl=15.0, clock=lambda: clock["now"])
        for n in ("n1", "n2")
    ]
    for matchmaker in heartbeats:
        await matchmaker.heartbeat(clock["now"])

    async def kill_redis() -> None:
        clock["now"] += 60  # n1 misses its heartbeats; n2 keeps beating
        await heartbeats[1].heartbeat(clock["now"])

    try:
        yield Nodes(
            RedisCluster(client, "n1", clock=lambda: clock["now"]),
            RedisCluster(client, "n2", clock=lambda: clock["now"]),
            kill_redis,
        )
    finally:
        await client.aclose()
        server.stop()


async def test_the_first_claim_wins_and_holds_until_released(nodes: Nodes) -> None:
    assert await nodes.one.claim_room("team") == "n1"
    assert await nodes.two.claim_room("team") == "n1"
    assert await nodes.one.claim_room("team") == "n1"  # claiming again refreshes, keeps it
    assert await nodes.two.claim_room("other") == "n2"
    await nodes.two.release_room("team")  # not n2's to release
    assert await nodes.two.claim_room("team") == "n1"
    await nodes.one.release_room("team")
    assert await nodes.two.claim_room("team") == "n2"
    assert await nodes.one.claim_room("team") == "n2"


async def test_a_call_record_is_never_turned_into_a_group_room(nodes: Nodes) -> None:
    record = {"host": "n1", "mode": "sfu", "members": "a,b", "created_at": "1.0"}
    await nodes.one.room_opened("call", record)
    assert await nodes.two.claim_room("call") == "n1"
    assert await nodes.one.claim_room("call") == "n1"
    await nodes.one.release_room("call")  # a group release never ends a 1:1 call's record
    assert await nodes.two.claim_room("call") == "n1"
    await nodes.one.room_closed("call")
    assert await nodes.two.claim_room("call") == "n2"


async def test_a_room_of_a_node_that_died_is_taken_over(nodes: Nodes) -> None:
    assert await nodes.one.claim_room("team") == "n1"
    await nodes.kill_one()
    assert await nodes.two.claim_room("team") == "n2"
    assert await nodes.two.claim_room("team") == "n2"


async def test_claims_fail_loudly_without_redis(tmp_path: Path) -> None:
    server = RedisServer(tmp_path)
    server.start()
    client = connect(server.url)
    try:
        cluster = RedisCluster(client, "n1", timeout=2.0)
        server.stop()
        with pytest.raises(NodeUnreachable):
            await cluster.claim_room("team")
        await cluster.release_room("team")  # logged, never raised: the room closes anyway
    finally:
        await client.aclose()
