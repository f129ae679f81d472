"""The queue side of 1:1 calls: from a waiting participant to a claimed partner and a room.

:class:`Pairing` asks the matchmaker for a partner (or queues the participant), *claims* the
partner — here, or from the node holding its socket (:mod:`liveloop_sfu.rooms.cross_node`) — and
has :class:`~liveloop_sfu.rooms.calls.Calls` open the room. A partner that vanished between queue
and claim is passed over and the next one tried. It also repairs what a matchmaker outage did:
users who left while it was unreachable are forgotten later, and everyone still waiting is queued
again (:meth:`Pairing.resync`).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from liveloop_sfu.errors import MatchmakerUnavailable
from liveloop_sfu.matchmaking.base import Matchmaker
from liveloop_sfu.matchmaking.rules import Waiter
from liveloop_sfu.rooms.cross_node import CrossNodeRooms
from liveloop_sfu.rooms.records import Participant, Room
from liveloop_sfu.rooms.table import RoomTable

# The log lines keep the name they had when this lived in the room service.
log = logging.getLogger("liveloop_sfu.rooms.service")

# How often a match is retried when the chosen partner vanished between queue and room.
_MATCH_ATTEMPTS = 5

# Opens the room of a match: (first, second, room_id) -> room (Calls.open).
OpenCall = Callable[[Participant, Participant, str], Awaitable[Room]]


class Pairing:
    def __init__(
        self,
        matchmaker: Matchmaker,
        table: RoomTable,
        nodes: CrossNodeRooms,
        open_call: OpenCall,
        clock: Callable[[], float],
    ) -> None:
        self._matchmaker = matchmaker
        self._table = table
        self._nodes = nodes
        self._open_call = open_call
        self._clock = clock
        # Disconnected users the matchmaker could not forget (Redis down); retried by resync().
        self._pending_forget: set[str] = set()
        # Users whose match is being asked for right now (never two at once for one user).
        self._matching: set[str] = set()

    async def find_partner(self, participant: Participant) -> dict[str, Any]:
        """Match ``participant`` (already marked waiting) or queue it; the request-room ack."""
        self._matching.add(participant.sid)
        try:
            return await self._match_attempts(participant)
        finally:
            self._matching.discard(participant.sid)

    async def cancel(self, sid: str) -> bool:
        """Take ``sid`` out of the queue; whether it was waiting there."""
        try:
            return await self._matchmaker.cancel(sid)
        except MatchmakerUnavailable:
            # The entry may outlive this call, but a user who is not waiting is never claimed
            # (see _claim and CrossNodeRooms._on_claim), so whoever draws it is matched with the
            # next one.
            return False

    async def forget(self, sid: str) -> None:
        """``sid`` disconnected: the matchmaker forgets it now, or at the next resync."""
        try:
            await self._matchmaker.forget(sid)
        except MatchmakerUnavailable:
            self._pending_forget.add(sid)

    async def resync(self) -> None:
        """Forget the users that left while the matchmaker was unreachable, and queue again
        everyone still waiting (a no-op for entries the queue holds). Raises
        MatchmakerUnavailable when Redis fails again (the caller retries)."""
        for sid in list(self._pending_forget):
            await self._matchmaker.forget(sid)
            self._pending_forget.discard(sid)
        for participant in self._table.participants():
            if (
                participant.waiting
                and participant.room_id is None
                and participant.sid not in self._matching
            ):
                await self.find_partner(participant)

    async def _match_attempts(self, participant: Participant) -> dict[str, Any]:
        for _ in range(_MATCH_ATTEMPTS):
            waiter = Waiter(
                user_id=participant.sid,
                joined_at=self._clock(),
                mode=participant.mode,
                node=self._nodes.node_id,
                client_id=participant.client_id,
            )
            partner = await self._matchmaker.match_or_enqueue(waiter)
            if partner is None:
                return {"ok": True, "status": "waiting"}
            if not participant.waiting or self._table.participant(participant.sid) is None:
                # Stopped or gone while a resync matched it: leave the partner unclaimed; its
                # node queues it again at its next resync. Neither met the other, so neither is
                # the other's "last partner" (a report or skip must not name a stranger).
                await self._matchmaker.unmatch(participant.sid, partner.user_id)
                return {"ok": True, "status": "stopped"}
            room_id = secrets.token_urlsafe(9)
            other = await self._claim(partner, room_id)
            if other is not None:
                participant.waiting = False
                room = await self._open_call(other, participant, room_id)
                return {"ok": True, "status": "matched", "roomId": room.room_id}
            # The partner left between being queued and being chosen: try the next one. Neither
            # met the other, so neither may report or skip the other as "last partner".
            log.info("matched with vanished user %s; retrying", partner.user_id)
            await self._matchmaker.unmatch(participant.sid, partner.user_id)
        return {"ok": True, "status": "waiting"}

    async def _claim(self, partner: Waiter, room_id: str) -> Participant | None:
        """The matched partner, reserved for ``room_id``; None when it is gone or busy."""
        if partner.node in (None, self._nodes.node_id):
            other = self._table.participant(partner.user_id)
            if other is None or not other.waiting or other.room_id is not None:
                return None
            other.waiting = False
            return other
        return await self._nodes.claim_guest(partner.user_id, partner.node, room_id)
