"""The Redis matchmaker on a real ``redis-server``: what the shared contract suite cannot show.

Same rule as the in-memory backend on random operation sequences; dead nodes swept by time;
outages turned into ``matchmaker-unavailable`` quickly and outlived; every key in one Cluster
slot, checked on a cluster-enabled Redis that refuses cross-slot scripts.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
import uuid
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.crc import key_slot
from redis.exceptions import ResponseError

from liveloop_sfu.errors import MatchmakerUnavailable
from liveloop_sfu.matchmaking.memory import MemoryMatchmaker
from liveloop_sfu.matchmaking.redis import RedisMatchmaker, connect
from liveloop_sfu.matchmaking.rules import Waiter
from tests.redis_server import RedisServer

pytestmark = pytest.mark.slow

MODES = (None, "sfu", "p2p")


def tagged(server: RedisServer, node_id: str = "node-a", **kwargs: float) -> RedisMatchmaker:
    return RedisMatchmaker(server.url, node_id=node_id, hash_tag=uuid.uuid4().hex, **kwargs)  # type: ignore[arg-type]


def peer(of: RedisMatchmaker, server: RedisServer, node_id: str, ttl: float) -> RedisMatchmaker:
    """A second node sharing ``of``'s keys."""
    tag = of.keys.prefix[1:-2]
    return RedisMatchmaker(server.url, node_id=node_id, hash_tag=tag, entry_ttl=ttl)


@pytest.mark.parametrize("seed", range(40))
async def test_same_decisions_as_memory_backend(redis_server: RedisServer, seed: int) -> None:
    """Random request / cancel / forget sequences over a few users: both backends return the
    same partner (or none) at every step, so the Lua script is choose_partner."""
    rng = random.Random(seed)
    memory, redis_mm = MemoryMatchmaker(), tagged(redis_server)
    users = [f"u{i}" for i in range(rng.randint(2, 7))]
    modes = {user: rng.choice(MODES) for user in users}
    try:
        for step in range(80):
            user, action = rng.choice(users), rng.random()
            await redis_mm.heartbeat(1000.0 + step)
            if action < 0.65:
                if rng.random() < 0.15:
                    modes[user] = rng.choice(MODES)
                waiter = Waiter(user, 1000.0 + step, modes[user])  # type: ignore[arg-type]
                expected = await memory.match_or_enqueue(waiter)
                assert await redis_mm.match_or_enqueue(waiter) == expected, (seed, step)
            elif action < 0.85:
                assert await redis_mm.cancel(user) == await memory.cancel(user), (seed, step)
            else:
                await memory.forget(user)
                await redis_mm.forget(user)
            assert await redis_mm.waiting_count() == await memory.waiting_count()
    finally:
        await redis_mm.close()


async def test_dead_node_is_never_matched_and_is_swept(redis_server: RedisServer) -> None:
    node_a = tagged(redis_server, "node-a", entry_ttl=10.0)
    node_b = peer(node_a, redis_server, "node-b", ttl=10.0)
    try:
        assert await node_a.heartbeat(100.0) is False  # first registration
        assert await node_b.heartbeat(100.0) is False
        assert await node_a.match_or_enqueue(Waiter("a0", 100.0, "sfu")) is None
        assert await node_a.match_or_enqueue(Waiter("a1", 101.0, "p2p")) is None
        client = node_a._client
        assert 0 < await client.pttl(node_a.keys.user("a0")) <= 10_000  # entries carry a TTL

        # Alive: b's first request is matched with a's waiting user.
        assert await node_b.match_or_enqueue(Waiter("b0", 105.0, "sfu")) == Waiter(
            "a0", 100.0, "sfu"
        )
        assert await node_a.match_or_enqueue(Waiter("a2", 106.0, "sfu")) is None
        # Node a misses its heartbeat (deadline 110): nobody is matched with its users any more;
        # b1's request drops a2 on the way (dead owner), and b1 waits.
        assert await node_b.heartbeat(111.0) is True
        assert await node_b.match_or_enqueue(Waiter("b1", 111.0, "sfu")) is None
        assert not await client.exists(node_a.keys.user("a2"))
        # The sweep removes the rest of node a: a1 (queued) and a0 (its last-partner memory).
        assert await node_b.sweep(111.0) == {"node-a": 2}
        assert await node_b.waiting_count() == 1
        assert await node_b.is_waiting("b1")
        assert not await client.exists(node_a.keys.user("a1"), node_a.keys.node_users("node-a"))
        assert await node_b.sweep(112.0) == {}
        # Node a comes back: its heartbeat says it was swept, so its users must re-request.
        assert await node_a.heartbeat(112.0) is False
        assert await node_a.heartbeat(113.0) is True
    finally:
        await node_b.close()
        await node_a.close()


async def test_dead_entries_skipped_per_request_are_bounded(redis_server: RedisServer) -> None:
    """The rule itself keeps the queue short (two compatible users never both wait), so a long
    run of dead entries in front of a requester is a state only a damaged deployment reaches;
    it is written here by hand. A request then drops ``stale_limit`` of them and waits rather
    than walking the whole queue; the sweep removes the rest."""
    live = tagged(redis_server, "live", stale_limit=2)
    keys, client = live.keys, live._client
    await client.zadd(keys.nodes, {"dead": 50.0})
    for i in range(5):
        await client.zadd(keys.queue, {f"d{i}": 10.0 + i})
        await client.zadd(keys.mode_indexes[0], {f"d{i}": 10.0 + i})
        await client.hset(keys.user(f"d{i}"), mapping={"node": "dead", "mode": "sfu"})
        await client.sadd(keys.node_users("dead"), f"d{i}")
    try:
        await live.heartbeat(200.0)
        assert await live.match_or_enqueue(Waiter("x", 200.0, "sfu")) is None
        assert await live.waiting_count() == 4  # d2, d3, d4 and x
        assert not await live.is_waiting("d1")
        assert await live.sweep(200.0) == {"dead": 3}
        assert await live.waiting_count() == 1
    finally:
        await live.close()


async def test_background_maintenance_heartbeats_and_sweeps(redis_server: RedisServer) -> None:
    clock = [100.0]
    dead = tagged(redis_server, "dead", entry_ttl=5.0)
    live = RedisMatchmaker(
        redis_server.url,
        node_id="live",
        hash_tag=dead.keys.prefix[1:-2],
        entry_ttl=5.0,
        clock=lambda: clock[0],
    )
    try:
        await dead.match_or_enqueue(Waiter("d", 100.0))
        live.start(interval=0.01)
        clock[0] = 106.0  # the dead node's deadline (105) passes; live's own keeps moving
        for _ in range(200):
            if not await live.is_waiting("d"):
                break
            await asyncio.sleep(0.01)
        assert not await live.is_waiting("d")
        assert await live._client.zscore(live.keys.nodes, "live") == 111.0
    finally:
        await live.close()
        await dead.close()


async def test_close_retires_the_nodes_users(redis_server: RedisServer) -> None:
    leaving = tagged(redis_server, "leaving")
    staying = peer(leaving, redis_server, "staying", ttl=15.0)
    try:
        now = time.time()
        await leaving.match_or_enqueue(Waiter("l1", now, "sfu"))
        await leaving.match_or_enqueue(Waiter("l2", now, "p2p"))
        await staying.match_or_enqueue(Waiter("s1", now))  # matched with l1
        await leaving.close()
        await leaving.close()  # idempotent
        assert await staying.waiting_count() == 0
        assert not await staying._client.exists(staying.keys.user("l1"))
        assert await staying._client.zscore(staying.keys.nodes, "leaving") is None
        assert await staying.retire() == 1  # s1's memory
    finally:
        await staying.close()


async def test_a_node_never_sweeps_itself(redis_server: RedisServer) -> None:
    node = tagged(redis_server, entry_ttl=5.0)
    try:
        await node.match_or_enqueue(Waiter("x", 10.0))
        assert await node.sweep(1000.0) == {}
        assert await node.is_waiting("x")
    finally:
        await node.close()


async def test_heartbeat_refreshes_every_owned_entry(redis_server: RedisServer) -> None:
    """More users than one heartbeat page, so the SSCAN walk is exercised; entries whose hash
    Redis already expired are removed instead of left as ghosts in the queue."""
    node = tagged(redis_server, entry_ttl=30.0)
    client = node._client
    try:
        for i in range(1199):
            mode = "sfu" if i % 2 else "p2p"
            await node.match_or_enqueue(Waiter(f"u{i}", i / 100, mode))  # type: ignore[arg-type]
        assert await node.waiting_count() == 1  # all others were matched in pairs
        assert await node.is_waiting("u1197")
        for i in range(1199):
            await client.pexpire(node.keys.user(f"u{i}"), 1000)
        await client.delete(node.keys.user("u1197"))  # the Redis TTL ran out for this one
        assert await node.heartbeat(12.0) is True  # registered by its first match
        ttls = [await client.pttl(node.keys.user(f"u{i}")) for i in range(0, 1197, 7)]
        assert min(ttls) > 29_000
        assert not await node.is_waiting("u1197")
        assert await node.waiting_count() == 0
    finally:
        await node.close()


async def test_daily_metrics_count_matches_by_mode(redis_server: RedisServer) -> None:
    node = tagged(redis_server)
    now = time.time()
    try:
        for user, mode in [("a", "sfu"), ("b", None), ("c", None), ("d", None), ("e", "p2p")]:
            await node.match_or_enqueue(Waiter(user, now, mode))  # type: ignore[arg-type]
        await node.record("messages", now, 3)
        assert await node.daily_metrics(now) == {
            "matches": 2,
            "matches:sfu": 1,
            "matches:any": 1,
            "messages": 3,
        }
        assert await node.daily_metrics(now + 86_400) == {}
    finally:
        await node.close()


async def test_outage_fails_fast_and_recovers_without_restart(
    own_redis_server: RedisServer,
) -> None:
    node = tagged(own_redis_server, op_timeout=1.0)
    try:
        assert await node.match_or_enqueue(Waiter("a", 1.0)) is None
        own_redis_server.stop()
        assert await node.healthy() is False
        started = time.monotonic()
        with pytest.raises(MatchmakerUnavailable) as raised:
            await node.match_or_enqueue(Waiter("b", 2.0))
        assert raised.value.code == "matchmaker-unavailable"
        assert "Redis" in raised.value.message
        for call in (node.cancel("a"), node.forget("a"), node.waiting_count(), node.heartbeat(3)):
            with pytest.raises(MatchmakerUnavailable):
                await call
        assert time.monotonic() - started < 2.0

        own_redis_server.start()  # same port, data gone (no persistence)
        assert await node.healthy() is True
        assert await node.match_or_enqueue(Waiter("b", 4.0)) is None
        partner = await node.match_or_enqueue(Waiter("c", 5.0))
        assert partner == Waiter("b", 4.0)
    finally:
        await node.close()


async def test_frozen_redis_times_out_instead_of_hanging(own_redis_server: RedisServer) -> None:
    node = tagged(own_redis_server, op_timeout=0.5)
    assert own_redis_server.process is not None
    pid = own_redis_server.process.pid
    try:
        await node.match_or_enqueue(Waiter("a", 1.0))
        os.kill(pid, signal.SIGSTOP)
        started = time.monotonic()
        with pytest.raises(MatchmakerUnavailable):
            await node.match_or_enqueue(Waiter("b", 2.0))
        assert await node.healthy() is False
        assert time.monotonic() - started < 2.5
        os.kill(pid, signal.SIGCONT)
        assert await node.healthy() is True
        # The request cut off by the timeout may still have run once Redis woke up (it was
        # already sent), so start from known state.
        await node.forget("a")
        await node.forget("b")
        assert await node.match_or_enqueue(Waiter("c", 3.0)) is None
        assert await node.match_or_enqueue(Waiter("d", 4.0)) == Waiter("c", 3.0)
    finally:
        os.kill(pid, signal.SIGCONT)
        await node.close()


async def test_scripts_are_valid_on_redis_cluster(tmp_path: Path) -> None:
    """A cluster-enabled Redis refuses a script that touches keys of two slots (the negative
    control below shows it). Every script of the matchmaker, including the keys it derives at run
    time, passes on it, and every key it leaves behind shares the hash tag's slot."""
    server = RedisServer(tmp_path, cluster=True)
    server.start()
    client: Redis = connect(server.url)
    try:
        with pytest.raises(ResponseError):
            await client.eval("#!lua\nreturn redis.call('GET', 'other-slot')", 1, "{liveloop}:x")

        node_a = RedisMatchmaker(client, node_id="a", entry_ttl=10.0)
        node_b = RedisMatchmaker(client, node_id="b", entry_ttl=10.0)
        await node_a.heartbeat(100.0)
        await node_b.heartbeat(100.0)
        for i in range(6):
            await node_a.match_or_enqueue(Waiter(f"a{i}", 100.0 + i, MODES[i % 3]))  # type: ignore[arg-type]
        await node_a.cancel("a3")
        await node_a.forget("a4")
        await node_a.record("calls:sfu", 100.0)
        await node_b.heartbeat(120.0)
        assert await node_b.match_or_enqueue(Waiter("b0", 120.0)) is None  # drops dead entries
        assert await node_b.sweep(120.0) == {"a": 4}
        await node_a.heartbeat(121.0)
        await node_a.match_or_enqueue(Waiter("a9", 121.0))

        keys = [key async for key in client.scan_iter(count=1000)]
        assert keys and all(key.startswith("{liveloop}:") for key in keys)
        assert {key_slot(key.encode()) for key in keys} == {key_slot(b"{liveloop}")}
    finally:
        await client.aclose()
        server.stop()


async def test_concurrent_requests_on_one_event_loop_never_double_match(
    redis_server: RedisServer,
) -> None:
    node = tagged(redis_server)
    try:
        results = await asyncio.gather(
            *(node.match_or_enqueue(Waiter(f"u{i}", 1000 + i / 1000)) for i in range(400))
        )
        partners = [p.user_id for p in results if p is not None]
        requesters = [f"u{i}" for i, p in enumerate(results) if p is not None]
        assert len(set(partners)) == len(partners) == 200
        assert not set(partners) & set(requesters)
        assert await node.waiting_count() == 0
    finally:
        await node.close()
