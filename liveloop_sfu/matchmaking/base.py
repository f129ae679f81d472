"""The ``Matchmaker`` seam: one Protocol, an in-memory and (later) a Redis implementation.

A matchmaker owns the waiting queue and each user's "last partner" memory. It knows nothing of
socket.io, rooms or media: :mod:`liveloop_sfu.rooms.service`
asks it for a partner and builds the call.
All methods take ``now`` (seconds) so the backends are tested without sleeping.
"""

from __future__ import annotations

from typing import Protocol

from liveloop_sfu.matchmaking.rules import Waiter


class Matchmaker(Protocol):
    async def match_or_enqueue(self, requester: Waiter) -> Waiter | None:
        """Atomically take the partner chosen by :func:`rules.choose_partner` out of the queue
        and return it, or enqueue ``requester`` and return None. Idempotent: a user already
        queued keeps one entry (with its original join time). Both users of a match remember
        each other as last partner."""

    async def avoid_last_partner(
        self, user_id: str, *, for_good: bool, ttl: float, now: float
    ) -> tuple[str, str | None] | None:
        """The user and its last partner are never matched again: in this session (by user id,
        until either is forgotten) and, ``for_good`` (a report), also by client id for ``ttl``
        seconds after ``now``, so new connections of the same two browsers do not meet either.
        Returns the partner's (user id, client id), or None when the user has had no
        partner."""

    async def unmatch(self, user_id: str, partner_id: str) -> None:
        """A match that did not become a call (the partner could not be claimed): each of the
        two who still remembers the other as last partner gets its previous memory back, so a
        report or skip never names someone the user did not meet."""

    async def cancel(self, user_id: str) -> bool:
        """Remove the user's queue entry; True when there was one."""

    async def forget(self, user_id: str) -> None:
        """The user is gone for good (disconnected): entry, memory and its session's blocks are
        dropped (blocks between client ids stay)."""

    async def is_waiting(self, user_id: str) -> bool: ...

    async def waiting_count(self) -> int: ...

    async def record(self, counter: str, now: float, amount: int = 1) -> None:
        """Add to a daily counter of ``now``'s UTC day (``metrics:daily``), e.g. ``messages`` or
        ``calls:sfu``. ``matches`` and ``matches:<mode>`` are counted by the match itself."""

    async def daily_metrics(self, now: float) -> dict[str, int]:
        """The counters of ``now``'s UTC day."""

    async def healthy(self) -> bool:
        """False while the backend cannot serve (e.g. Redis unreachable)."""

    async def close(self) -> None: ...
