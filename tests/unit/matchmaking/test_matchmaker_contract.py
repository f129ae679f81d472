"""One contract suite for every Matchmaker backend (STYLE.md habit 4).

Every test runs against the in-memory backend and against the Redis backend on a real
``redis-server`` (each Redis test under its own hash tag, so tests never see each other's keys).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from liveloop_sfu.matchmaking.base import Matchmaker
from liveloop_sfu.matchmaking.memory import MemoryMatchmaker
from liveloop_sfu.matchmaking.redis import RedisMatchmaker
from liveloop_sfu.matchmaking.rules import Waiter
from tests.redis_server import RedisServer


@pytest.fixture(params=["memory", "redis"])
async def matchmaker(request: pytest.FixtureRequest) -> AsyncIterator[Matchmaker]:
    backend: Matchmaker
    if request.param == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        backend = RedisMatchmaker(server.url, node_id="node-a", hash_tag=uuid.uuid4().hex)
    else:
        backend = MemoryMatchmaker()
    yield backend
    await backend.close()


def w(user: str, t: float = 0.0, mode: str | None = None) -> Waiter:
    return Waiter(user, t, mode)  # type: ignore[arg-type]


async def test_first_waits_second_matches(matchmaker: Matchmaker) -> None:
    assert await matchmaker.match_or_enqueue(w("a", 1)) is None
    assert await matchmaker.waiting_count() == 1
    partner = await matchmaker.match_or_enqueue(w("b", 2))
    assert partner is not None and partner.user_id == "a"
    assert await matchmaker.waiting_count() == 0


async def test_fifo(matchmaker: Matchmaker) -> None:
    for t, user in enumerate("abc"):
        await matchmaker.match_or_enqueue(w(user, t))
    # b matched a at once; c is left waiting.
    assert await matchmaker.waiting_count() == 1
    assert await matchmaker.is_waiting("c")
    partner = await matchmaker.match_or_enqueue(w("d", 9))
    assert partner is not None and partner.user_id == "c"


async def test_requeue_is_idempotent_and_keeps_join_time(matchmaker: Matchmaker) -> None:
    await matchmaker.match_or_enqueue(w("a", 1))
    await matchmaker.match_or_enqueue(w("a", 5))
    assert await matchmaker.waiting_count() == 1
    await matchmaker.match_or_enqueue(w("b", 2, "p2p"))
    assert await matchmaker.waiting_count() == 0  # b matched a: a was the oldest


async def test_never_matched_with_oneself(matchmaker: Matchmaker) -> None:
    await matchmaker.match_or_enqueue(w("a"))
    assert await matchmaker.match_or_enqueue(w("a")) is None
    assert await matchmaker.waiting_count() == 1


async def test_cancel_and_forget(matchmaker: Matchmaker) -> None:
    await matchmaker.match_or_enqueue(w("a"))
    assert await matchmaker.cancel("a") is True
    assert await matchmaker.cancel("a") is False
    await matchmaker.match_or_enqueue(w("b"))
    await matchmaker.forget("b")
    assert await matchmaker.waiting_count() == 0
    assert not await matchmaker.is_waiting("b")


async def test_last_partner_passed_over_while_someone_else_waits(matchmaker: Matchmaker) -> None:
    await matchmaker.match_or_enqueue(w("a", 1))
    await matchmaker.match_or_enqueue(w("b", 2))  # a-b matched
    await matchmaker.match_or_enqueue(w("a", 3))  # a waits
    await matchmaker.match_or_enqueue(w("c", 4))  # c matches a (a's last partner is b)
    await matchmaker.match_or_enqueue(w("b", 5))  # b waits (nobody)
    await matchmaker.match_or_enqueue(w("a", 6))  # a: b waits, a's last is c -> b
    assert await matchmaker.waiting_count() == 0


async def test_incompatible_modes_wait_apart(matchmaker: Matchmaker) -> None:
    await matchmaker.match_or_enqueue(w("a", 1, "p2p"))
    assert await matchmaker.match_or_enqueue(w("b", 2, "sfu")) is None
    assert await matchmaker.waiting_count() == 2
    partner = await matchmaker.match_or_enqueue(w("c", 3))
    assert partner is not None and partner.user_id == "a"


async def test_healthy(matchmaker: Matchmaker) -> None:
    assert await matchmaker.healthy() is True


async def test_partner_carries_its_node(matchmaker: Matchmaker) -> None:
    """Routing of cross-node calls: the partner says which node holds its connection."""
    assert await matchmaker.match_or_enqueue(Waiter("a", 1.0, None, "node-a")) is None
    partner = await matchmaker.match_or_enqueue(Waiter("b", 2.0, None, "node-a"))
    assert partner is not None and partner.node == "node-a"


async def test_daily_metrics_count_matches_and_records(matchmaker: Matchmaker) -> None:
    now = 86_400 * 20_000 + 5.0
    await matchmaker.match_or_enqueue(w("a", now, "sfu"))
    await matchmaker.match_or_enqueue(w("b", now, "sfu"))
    await matchmaker.record("messages", now, 3)
    await matchmaker.record("calls:sfu", now)
    today = await matchmaker.daily_metrics(now)
    assert today == {"matches": 1, "matches:sfu": 1, "messages": 3, "calls:sfu": 1}
    assert await matchmaker.daily_metrics(now + 86_400) == {}


def wc(user: str, t: float, client: str | None) -> Waiter:
    return Waiter(user, t, None, None, client)


async def test_avoid_without_a_partner(matchmaker: Matchmaker) -> None:
    await matchmaker.match_or_enqueue(wc("a", 1, "ca"))
    assert await matchmaker.avoid_last_partner("a", for_good=True, ttl=60, now=1) is None


async def test_a_skipped_partner_is_not_met_again_in_that_session(matchmaker: Matchmaker) -> None:
    await matchmaker.match_or_enqueue(wc("a", 1, "ca"))
    await matchmaker.match_or_enqueue(wc("b", 2, "cb"))  # a-b matched
    assert await matchmaker.avoid_last_partner("a", for_good=False, ttl=60, now=3) == ("b", "cb")
    assert await matchmaker.match_or_enqueue(wc("a", 3, "ca")) is None
    # b would take a (the only one waiting, so even as last partner), but a skipped b.
    assert await matchmaker.match_or_enqueue(wc("b", 4, "cb")) is None
    assert await matchmaker.waiting_count() == 2
    partner = await matchmaker.match_or_enqueue(wc("c", 5, "cc"))
    assert partner is not None and partner.user_id == "a"
    # A new session of b's browser is someone a may meet: a skip lasts one session.
    await matchmaker.forget("b")
    partner = await matchmaker.match_or_enqueue(wc("b2", 6, "cb"))
    assert partner is None
    await matchmaker.match_or_enqueue(wc("a", 7, "ca"))
    assert not await matchmaker.is_waiting("a")  # a met b2


async def test_a_reported_pair_never_meets_again(matchmaker: Matchmaker) -> None:
    await matchmaker.match_or_enqueue(wc("a", 1, "ca"))
    partner = await matchmaker.match_or_enqueue(wc("b", 2, "cb"))
    assert partner is not None and partner.client_id == "ca"
    # b reports a after a already left for good: the pair is still known.
    await matchmaker.forget("a")
    assert await matchmaker.avoid_last_partner("b", for_good=True, ttl=3600, now=3) == ("a", "ca")
    await matchmaker.forget("b")
    # New connections of the same two browsers, either order, never meet.
    assert await matchmaker.match_or_enqueue(wc("a2", 10, "ca")) is None
    assert await matchmaker.match_or_enqueue(wc("b2", 11, "cb")) is None
    assert await matchmaker.waiting_count() == 2
    partner = await matchmaker.match_or_enqueue(wc("c", 12, "cc"))
    assert partner is not None and partner.user_id == "a2"
    partner = await matchmaker.match_or_enqueue(wc("d", 13, None))
    assert partner is not None and partner.user_id == "b2"
    assert await matchmaker.waiting_count() == 0


async def session_blocks(matchmaker: Matchmaker) -> list[str]:
    """Who still has per-session blocks stored (white box: the memory dict, the Redis keys)."""
    if isinstance(matchmaker, MemoryMatchmaker):
        return sorted(matchmaker._blocks)
    assert isinstance(matchmaker, RedisMatchmaker)
    pattern = matchmaker.keys.prefix + "blocks:user:*"
    return sorted([key async for key in matchmaker._client.scan_iter(match=pattern)])


async def test_session_blocks_go_with_the_users_even_when_the_partner_left_first(
    matchmaker: Matchmaker,
) -> None:
    for first, second in (("a", "b"), ("c", "d")):
        await matchmaker.match_or_enqueue(wc(first, 1, "c" + first))
        await matchmaker.match_or_enqueue(wc(second, 2, "c" + second))
    # b left before a skips it; d is still there when c reports it (and stays after c left).
    await matchmaker.forget("b")
    assert await matchmaker.avoid_last_partner("a", for_good=False, ttl=60, now=3) == ("b", "cb")
    assert await matchmaker.avoid_last_partner("c", for_good=True, ttl=60, now=3) == ("d", "cd")
    for user in ("a", "c", "d"):
        await matchmaker.forget(user)
    assert await session_blocks(matchmaker) == []


async def test_unmatch_gives_both_their_previous_partner_back(matchmaker: Matchmaker) -> None:
    await matchmaker.match_or_enqueue(wc("a", 1, "ca"))
    await matchmaker.match_or_enqueue(wc("b", 2, "cb"))  # a met b
    await matchmaker.match_or_enqueue(wc("c", 3, "cc"))
    assert (await matchmaker.match_or_enqueue(wc("a", 4, "ca"))) == wc("c", 3, "cc")
    # c could not be claimed: a's last partner is b again, c never had one.
    await matchmaker.unmatch("a", "c")
    assert await matchmaker.avoid_last_partner("c", for_good=True, ttl=60, now=5) is None
    assert await matchmaker.avoid_last_partner("a", for_good=False, ttl=60, now=5) == ("b", "cb")
    # Twice in a row, and for a pair that has moved on since: nothing changes.
    await matchmaker.match_or_enqueue(wc("d", 6, "cd"))
    assert (await matchmaker.match_or_enqueue(wc("a", 7, "ca"))) == wc("d", 6, "cd")
    await matchmaker.unmatch("a", "d")
    await matchmaker.unmatch("a", "d")
    await matchmaker.unmatch("b", "c")
    assert await matchmaker.avoid_last_partner("a", for_good=False, ttl=60, now=8) == ("b", "cb")
    assert await matchmaker.avoid_last_partner("d", for_good=False, ttl=60, now=8) is None
