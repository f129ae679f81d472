"""The in-process matchmaker: the default, for one node with no Redis."""

from __future__ import annotations

from collections import Counter

from liveloop_sfu.matchmaking.rules import Waiter, choose_partner

# Bound on browsers with remembered reports per process (the oldest are forgotten first).
_MAX_CLIENT_BLOCKS = 100_000


def _day(now: float) -> int:
    return int(now // 86_400)


class MemoryMatchmaker:
    """Queue in join order (a dict keeps insertion order).

    No lock: no method awaits between reading and writing the queue, so on one event loop each
    call is atomic, which is the contract the Redis backend gets from its Lua script.
    """

    def __init__(self) -> None:
        self._queue: dict[str, Waiter] = {}
        self._last_partner: dict[str, str] = {}
        self._daily: Counter[tuple[int, str]] = Counter()
        # Who must never meet whom: keys are user ids (this session) and client ids (reports).
        self._blocks: dict[str, set[str]] = {}
        # client id -> {client id it must never meet: expiry (``now`` seconds)}
        self._client_blocks: dict[str, dict[str, float]] = {}
        self._client: dict[str, str | None] = {}  # user id -> its client id
        self._partner_client: dict[str, str | None] = {}  # user id -> last partner's client id
        # user id -> (last partner, its client id) before the latest match, for unmatch().
        self._previous: dict[str, tuple[str | None, str | None]] = {}

    async def match_or_enqueue(self, requester: Waiter) -> Waiter | None:
        if requester.user_id in self._queue:
            return None
        self._client[requester.user_id] = requester.client_id
        partner = choose_partner(
            self._queue.values(),
            requester,
            self._last_partner.get(requester.user_id),
            self._blocked_for(requester),
        )
        if partner is None:
            self._queue[requester.user_id] = requester
            return None
        del self._queue[partner.user_id]
        for user in (requester.user_id, partner.user_id):
            self._previous[user] = (self._last_partner.get(user), self._partner_client.get(user))
        self._last_partner[requester.user_id] = partner.user_id
        self._last_partner[partner.user_id] = requester.user_id
        self._partner_client[requester.user_id] = partner.client_id
        self._partner_client[partner.user_id] = requester.client_id
        day = _day(requester.joined_at)
        self._daily[day, "matches"] += 1
        self._daily[day, "matches:" + (requester.mode or partner.mode or "any")] += 1
        return partner

    def _blocked_for(self, requester: Waiter) -> set[str]:
        blocked = set(self._blocks.get(requester.user_id, ()))
        mine = self._client_blocks.get(requester.client_id or "")
        if mine:
            for other, expiry in list(mine.items()):
                if expiry <= requester.joined_at:
                    del mine[other]
                else:
                    blocked.add(other)
        return blocked

    async def avoid_last_partner(
        self, user_id: str, *, for_good: bool, ttl: float, now: float
    ) -> tuple[str, str | None] | None:
        partner = self._last_partner.get(user_id)
        if partner is None:
            return None
        self._blocks.setdefault(user_id, set()).add(partner)
        if partner in self._client:  # else the partner was forgotten: nothing would drop it
            self._blocks.setdefault(partner, set()).add(user_id)
        mine, theirs = self._client.get(user_id), self._partner_client.get(user_id)
        if for_good and mine is not None and theirs is not None and mine != theirs:
            for a, b in ((mine, theirs), (theirs, mine)):
                if a not in self._client_blocks and len(self._client_blocks) >= _MAX_CLIENT_BLOCKS:
                    del self._client_blocks[next(iter(self._client_blocks))]
                self._client_blocks.setdefault(a, {})[b] = now + ttl
        return partner, theirs

    async def unmatch(self, user_id: str, partner_id: str) -> None:
        for user, other in ((user_id, partner_id), (partner_id, user_id)):
            if self._last_partner.get(user) != other:
                continue
            last, client = self._previous.pop(user, (None, None))
            if last is None:
                self._last_partner.pop(user, None)
                self._partner_client.pop(user, None)
            else:
                self._last_partner[user], self._partner_client[user] = last, client

    async def cancel(self, user_id: str) -> bool:
        return self._queue.pop(user_id, None) is not None

    async def forget(self, user_id: str) -> None:
        self._queue.pop(user_id, None)
        self._last_partner.pop(user_id, None)
        self._client.pop(user_id, None)
        self._partner_client.pop(user_id, None)
        self._previous.pop(user_id, None)
        for other in self._blocks.pop(user_id, ()):
            theirs = self._blocks.get(other)
            if theirs is not None:
                theirs.discard(user_id)
                if not theirs:
                    del self._blocks[other]

    async def is_waiting(self, user_id: str) -> bool:
        return user_id in self._queue

    async def waiting_count(self) -> int:
        return len(self._queue)

    async def record(self, counter: str, now: float, amount: int = 1) -> None:
        self._daily[_day(now), counter] += amount

    async def daily_metrics(self, now: float) -> dict[str, int]:
        today = _day(now)
        return {name: count for (day, name), count in self._daily.items() if day == today}

    async def healthy(self) -> bool:
        return True

    async def close(self) -> None:
        self._queue.clear()
        self._last_partner.clear()
        self._blocks.clear()
        self._client.clear()
        self._partner_client.clear()
        self._previous.clear()
