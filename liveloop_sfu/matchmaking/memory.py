"""The in-process matchmaker: the default, for one node with no Redis."""

from __future__ import annotations

from collections import Counter

from liveloop_sfu.matchmaking.rules import Waiter, choose_partner


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

    async def match_or_enqueue(self, requester: Waiter) -> Waiter | None:
        if requester.user_id in self._queue:
            return None
        partner = choose_partner(
            self._queue.values(), requester, self._last_partner.get(requester.user_id)
        )
        if partner is None:
            self._queue[requester.user_id] = requester
            return None
        del self._queue[partner.user_id]
        self._last_partner[requester.user_id] = partner.user_id
        self._last_partner[partner.user_id] = requester.user_id
        day = _day(requester.joined_at)
        self._daily[day, "matches"] += 1
        self._daily[day, "matches:" + (requester.mode or partner.mode or "any")] += 1
        return partner

    async def cancel(self, user_id: str) -> bool:
        return self._queue.pop(user_id, None) is not None

    async def forget(self, user_id: str) -> None:
        self._queue.pop(user_id, None)
        self._last_partner.pop(user_id, None)

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
