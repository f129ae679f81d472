"""1:1 calls hosted here: opening one, ending it, and its fallback to p2p.

:class:`Calls` opens the room of two matched participants (one may be a guest from another node):
it decides the call's media mode (DESIGN.md, Modes: the operator's mode, a recorded room always
sfu, a client's p2p preference or a node at capacity making it p2p), creates its
:class:`~liveloop_sfu.media.session.MediaSession`, and tells both sides ``match-done``. A call ends
for both when one side leaves (:meth:`Calls.close`). When a browser's media cannot reach the node,
an ``auto`` node moves the call to p2p (``mode-changed``), any other ends it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from liveloop_sfu.config import RoomSettings
from liveloop_sfu.media.p2p import P2PSession
from liveloop_sfu.media.session import MEDIA_SILENT, Emit, MediaFailure, MediaSession
from liveloop_sfu.modes import CallMode
from liveloop_sfu.rooms.bookkeeping import Bookkeeping
from liveloop_sfu.rooms.cross_node import CrossNodeRooms
from liveloop_sfu.rooms.p2p_policy import P2pPolicy
from liveloop_sfu.rooms.records import Participant, RecordingHooks, Room, vanish_wait
from liveloop_sfu.rooms.table import RoomTable

# The log lines keep the name they had when this lived in the room service.
log = logging.getLogger("liveloop_sfu.rooms.service")

# Builds the media of an sfu call: (room_id, on_failure) -> session. Injected by app.py so that
# this module never imports aiortc.
SfuFactory = Callable[[str, MediaFailure], MediaSession]

# The RTCIceServer dicts for one participant (participant_id, now): the configured servers plus
# time-limited TURN credentials (app.py builds it from settings and liveloop_sfu/rooms/turn.py).
IceServersFor = Callable[[str, float], list[dict[str, Any]]]


def role(room: Room, sid: str) -> str:
    """sfu: every browser offers to the node. p2p: the earlier member offers."""
    if room.mode == "sfu" or room.members[0] == sid:
        return "offerer"
    return "answerer"


class Calls:
    def __init__(
        self,
        settings: RoomSettings,
        table: RoomTable,
        nodes: CrossNodeRooms,
        emit: Emit,
        sfu_factory: SfuFactory | None,
        bookkeeping: Bookkeeping,
        clock: Callable[[], float],
        recordings: RecordingHooks | None = None,
        ice_servers_for: IceServersFor | None = None,
        saturated: Callable[[], str | None] = lambda: None,
    ) -> None:
        self._settings = settings
        # Why the node's self-measurement refuses new calls now, or None (rooms/saturation.py).
        self._saturated = saturated
        self._table = table
        self._nodes = nodes
        self._emit = emit
        self._sfu_factory = sfu_factory
        self._bookkeeping = bookkeeping
        self._clock = clock
        self._recordings = recordings
        self._ice_servers_for = ice_servers_for
        self.policy = P2pPolicy.from_settings(settings)

    def at_capacity(self, extra_streams: int = 4) -> bool:
        """Whether a new call of ``extra_streams`` forwarded streams is refused here now."""
        return self.capacity_reason(extra_streams) is not None

    def capacity_reason(self, extra_streams: int = 4) -> str | None:
        """Why a new call of ``extra_streams`` forwarded streams is refused here now: ``streams``
        (the operator's cap, ``--max-forwarded-streams``), or what the node measures of itself
        (``event-loop-lag``, ``cpu``: rooms/saturation.py); None when it is taken."""
        if self._table.forwarded_streams() + extra_streams > self._settings.max_forwarded_streams:
            return "streams"
        return self._saturated()

    async def open(self, first: Participant, second: Participant, room_id: str) -> Room:
        """The room of a match: both members in, media ready, both told ``match-done``."""
        mode = self._choose_mode(first, second)
        room = Room(room_id, mode, self._new_media(room_id, mode), self._clock())
        room.relay_only = mode == "p2p" and self.policy.ice_transport_policy == "relay"
        self._table.add_room(room)
        for participant in (first, second):
            room.members.append(participant.sid)
            participant.room_id = room_id
            participant.last_room_id = room_id
            await room.media.add_participant(participant.sid, participant.participant_id)
        if self._recordings is not None and mode == "sfu":
            await self._recordings.room_opened(room, [first, second])
        log.info("room %s opened (%s)", room_id, mode, extra={"room_id": room_id})
        self._bookkeeping.record(f"calls:{mode}")
        record = {
            "host": self._nodes.node_id,
            "mode": mode,
            "members": ",".join(room.members),
            "created_at": repr(room.created_at),
        }
        self._bookkeeping.run(self._nodes.cluster.room_opened(room_id, record))
        for participant, partner in ((first, second), (second, first)):
            await self._emit(
                participant.sid, "match-done", self._match_payload(room, participant, partner)
            )
        return room

    async def close(self, room: Room, reason: str, leaving: str | None = None) -> None:
        """End ``room`` for every member (all but ``leaving`` are told), its media first: a 1:1
        call when one side leaves, any room at shutdown."""
        if self._table.forget_room(room.room_id) is None:
            return
        try:
            if self._recordings is not None and room.recording:
                await self._recordings.room_closing(room)  # finalize files before media goes
            await room.media.close()
        finally:
            for sid in room.members:
                await self._nodes.release_member(room, sid, reason, notify=sid != leaving)
            log.info("room %s closed (%s)", room.room_id, reason, extra={"room_id": room.room_id})
            self._bookkeeping.run(self._nodes.cluster.room_closed(room.room_id))

    def _choose_mode(self, first: Participant, second: Participant) -> CallMode:
        if self._settings.mode != "auto":
            return self._settings.mode
        if self._recordings is not None and self._recordings.records_all():
            return "sfu"  # DESIGN: a recorded room is always sfu (config forbids p2p + record)
        if not self.policy.p2p_allowed:
            return "sfu"  # no TURN to hide the strangers' addresses, no --allow-direct-p2p
        if "p2p" in (first.mode, second.mode) or self.at_capacity():
            return "p2p"
        return "sfu"

    def _new_media(self, room_id: str, mode: CallMode) -> MediaSession:
        if mode == "p2p":
            return P2PSession(self._emit)
        assert self._sfu_factory is not None  # checked by RoomService for non-p2p operator modes
        return self._sfu_factory(room_id, self._failure_handler(room_id))

    def _match_payload(self, room: Room, me: Participant, peer: Participant) -> dict[str, Any]:
        payload = {
            "roomId": room.room_id,
            "mode": room.mode,
            "role": role(room, me.sid),
            "participantId": me.participant_id,
            "peer": peer.public_profile(),
            "iceServers": self._ice_servers(me),
            "recording": room.recording,
            "iceTransportPolicy": room.ice_transport_policy,
        }
        if me.resume_token is not None and me.home is None:
            payload["resumeToken"] = me.resume_token
        return payload

    def _ice_servers(self, me: Participant) -> list[dict[str, Any]]:
        if self._ice_servers_for is not None:
            return self._ice_servers_for(me.participant_id, self._clock())
        return [server.to_wire() for server in self._settings.ice_servers]

    def _failure_handler(self, room_id: str) -> MediaFailure:
        async def on_failure(sid: str, reason: str) -> None:
            await self._media_failed(room_id, sid, reason)

        return on_failure

    async def _media_failed(self, room_id: str, sid: str, reason: str) -> None:
        """A browser could not connect its media to the node (DESIGN.md, Modes)."""
        room = self._table.room(room_id)
        if room is None or room.mode != "sfu":
            return
        if reason == MEDIA_SILENT:
            # Decided in the background: the media plane's timer awaits this handler.
            self._bookkeeping.run(self._unless_back(room, sid, reason))
            return
        await self._give_up(room, sid, reason)

    async def _unless_back(self, room: Room, sid: str, reason: str) -> None:
        """A browser's media went silent: the same silence as a network switch, whose client
        reconnects and resumes (rooms/resume.py) a moment after its media stopped. It gets
        what is left of the vanish budget to come back (resumed, or its media reconnected by
        an ICE restart) before the call ends or falls back."""
        await asyncio.sleep(vanish_wait((room.media.last_heard(sid),), time.monotonic()))
        if self._table.room(room.room_id) is not room or room.mode != "sfu":
            return
        if sid not in room.members or not room.media.media_lost(sid):
            log.info("room %s: media of %s came back", room.room_id, sid)
            return
        await self._give_up(room, sid, reason)

    async def _give_up(self, room: Room, sid: str, reason: str) -> None:
        room_id = room.room_id
        if self._settings.mode != "auto" or room.recording:
            log.warning("room %s: media of %s failed (%s); ending the call", room_id, sid, reason)
            await self.close(room, reason="media-failed")
            return
        if not self.policy.p2p_allowed:
            log.warning(
                "room %s: media of %s failed (%s); ending the call: without TURN the fallback "
                "would be direct p2p, which shows each stranger the other's address "
                "(--turn-urls for relayed p2p, or --allow-direct-p2p)",
                room_id,
                sid,
                reason,
                extra={"room_id": room_id},
            )
            await self.close(room, reason="media-failed")
            return
        log.info("room %s: media of %s failed (%s); falling back to p2p", room_id, sid, reason)
        await self._fall_back_to_p2p(room, reason)

    async def _fall_back_to_p2p(self, room: Room, reason: str) -> None:
        """The call goes on peer to peer: new media, and both told their new role."""
        await room.media.close()
        room.mode = "p2p"
        room.relay_only = self.policy.ice_transport_policy == "relay"
        room.media = P2PSession(self._emit)
        for member in room.members:
            person = self._table.person(member)
            if person is not None:
                await room.media.add_participant(member, person.participant_id)
        for member in room.members:
            payload = {
                "mode": "p2p",
                "role": role(room, member),
                "reason": reason,
                "iceTransportPolicy": room.ice_transport_policy,
            }
            await self._emit(member, "mode-changed", payload)
