"""Safety among strangers: reporting and skipping a partner (docs/protocol.md, "Safety").

``report-partner {reason, text?}`` stores a report (reporter, reported, reason, room, time) and
keeps the two browsers apart for good (by client id, ``signal/client_keys.py``, for
``--report-block-days``); ``skip-partner {}`` keeps the two connections apart for the rest of the
session. Both act on the user's *last* partner as the matchmaker remembers it, so they work
during the call and after it ended (the partner hung up first, even on another node), and the
matchmaker, which is what pairs people, is the one that honours them. Neither ends the call by
itself: the client follows with ``stop-call`` / Next as it likes. Reporting the same partner
again in one session is idempotent (the first report's id, nothing new stored); skipping again is
harmless.

Reports are kept in process (the newest ``MAX_REPORTS``) or, with ``--redis-url``, in the Redis
list ``{liveloop}:reports`` shared by every node; the admin API lists them
(``GET /api/admin/reports``).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from liveloop_sfu.errors import MatchmakerUnavailable, NotInRoom
from liveloop_sfu.matchmaking.base import Matchmaker
from liveloop_sfu.rooms.commands import ReportPartner
from liveloop_sfu.rooms.service import RoomService

__all__ = ["MAX_REPORTS", "MemoryReports", "RedisReports", "ReportStore", "SafetyService"]

MAX_REPORTS = 10_000


class ReportStore(Protocol):
    async def add(self, report: dict[str, Any]) -> None: ...

    async def recent(self, limit: int) -> list[dict[str, Any]]:
        """The newest ``limit`` reports, newest first."""


class MemoryReports:
    def __init__(self, capacity: int = MAX_REPORTS) -> None:
        self._reports: deque[dict[str, Any]] = deque(maxlen=capacity)

    async def add(self, report: dict[str, Any]) -> None:
        self._reports.appendleft(report)

    async def recent(self, limit: int) -> list[dict[str, Any]]:
        return list(self._reports)[:limit]


class RedisReports:
    """A capped Redis list of JSON reports, shared by the nodes."""

    def __init__(self, client: Redis, key: str, capacity: int = MAX_REPORTS) -> None:
        self._client = client
        self._key = key
        self._capacity = capacity

    async def add(self, report: dict[str, Any]) -> None:
        async def push() -> None:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.lpush(self._key, json.dumps(report, separators=(",", ":")))
                pipe.ltrim(self._key, 0, self._capacity - 1)
                await pipe.execute()

        await _redis("store the report", push())

    async def recent(self, limit: int) -> list[dict[str, Any]]:
        raw = await _redis("list reports", self._client.lrange(self._key, 0, limit - 1))
        return [json.loads(item) for item in raw]


async def _redis(what: str, operation: Any) -> Any:
    try:
        return await asyncio.wait_for(operation, 2.0)
    except (RedisError, OSError, TimeoutError) as exc:
        raise MatchmakerUnavailable(f"could not {what}: Redis does not answer") from exc


class SafetyService:
    def __init__(
        self,
        rooms: RoomService,
        matchmaker: Matchmaker,
        reports: ReportStore,
        block_days: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._rooms = rooms
        self._matchmaker = matchmaker
        self.reports = reports
        self._block_ttl = block_days * 86_400
        self._clock = clock

    async def report(self, sid: str, request: ReportPartner) -> dict[str, Any]:
        reporter = self._rooms.table.require(sid)
        now = self._clock()
        partner = await self._matchmaker.avoid_last_partner(
            sid, for_good=True, ttl=self._block_ttl, now=now
        )
        if partner is None:
            raise NotInRoom("you have had no partner to report")
        filed = reporter.reported.get(partner[0])
        if filed is not None:
            # A second report of the same partner (a double click, another reason) is the
            # first one again: moderators see one report per pair and session, not a flood.
            return {"ok": True, "reportId": filed}
        report_id = secrets.token_urlsafe(9)
        report = {
            "reportId": report_id,
            "time": now,
            "reason": request.reason,
            "text": request.text,
            # The 1:1 room where they met: room_id may be a group room joined since.
            "roomId": reporter.last_room_id,
            "reporter": {
                "userId": sid,
                "participantId": reporter.participant_id,
                "userName": reporter.user_name,
                "clientId": reporter.client_id,
            },
            "reported": {"userId": partner[0], "clientId": partner[1]},
        }
        await self.reports.add(report)
        reporter.reported[partner[0]] = report_id
        return {"ok": True, "reportId": report_id}

    async def skip(self, sid: str) -> dict[str, Any]:
        self._rooms.table.require(sid)
        partner = await self._matchmaker.avoid_last_partner(
            sid, for_good=False, ttl=0.0, now=self._clock()
        )
        if partner is None:
            raise NotInRoom("you have had no partner to skip")
        return {"ok": True}
