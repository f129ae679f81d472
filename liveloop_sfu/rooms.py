"""Rooms and participants: the use cases behind every client event.

:class:`RoomService` owns the node's participants and 1:1 calls. It asks the matchmaker for a
partner, decides each call's media mode (sfu through the node, or p2p), creates the call's
:class:`~liveloop_sfu.media.session.MediaSession`, and cleans up on stop, Next and disconnect.
It knows nothing of socket.io: the signal layer hands it a socket id (``sid``) and gets back the
ack payload or a :class:`~liveloop_sfu.errors.LiveLoopError`; events to other clients go out
through the injected ``emit``.

A participant is in at most one queue entry and one room at a time (``request-room`` while in a
call first leaves the call, as "Next" does). Group rooms (:mod:`liveloop_sfu.groups`) live in the
same registry: a group :class:`Room` carries its own ``leave`` rule (members leave one by one),
so stop, Next, ``request-room`` and disconnect leave either kind of room the same way.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from liveloop_sfu.config import Settings
from liveloop_sfu.errors import Capacity, NotInRoom
from liveloop_sfu.matchmaking.base import Matchmaker
from liveloop_sfu.matchmaking.rules import Waiter
from liveloop_sfu.media.p2p import P2PSession
from liveloop_sfu.media.session import Emit, MediaFailure, MediaSession, Mode
from liveloop_sfu.signal.messages import ClientMode, RequestRoom

log = logging.getLogger(__name__)

# Builds the media of an sfu call: (room_id, on_failure) -> session. Injected by app.py so that
# this module never imports aiortc.
SfuFactory = Callable[[str, MediaFailure], MediaSession]

# How often a match is retried when the chosen partner vanished between queue and room.
_MATCH_ATTEMPTS = 5


@dataclass(slots=True)
class Participant:
    sid: str
    participant_id: str
    connected_at: float
    user_name: str | None = None
    user_image: str | None = None
    mode: ClientMode | None = None
    room_id: str | None = None
    # What the participant says it sends (``media-state``), shown to the others in its room.
    audio: bool = True
    video: bool = True
    screen_track_id: str | None = None

    def media_state(self) -> dict[str, Any]:
        return {
            "participantId": self.participant_id,
            "audio": self.audio,
            "video": self.video,
            "screenTrackId": self.screen_track_id,
        }

    def public_profile(self) -> dict[str, Any]:
        profile: dict[str, Any] = {
            "participantId": self.participant_id,
            "userName": self.user_name,
        }
        if self.user_image is not None:
            profile["userImage"] = self.user_image
        return profile


# How one member leaves a group room: (room, participant, reason). 1:1 rooms have none: when one
# side leaves, the call ends for both.
RoomLeave = Callable[["Room", Participant, str], Awaitable[None]]


@dataclass(slots=True)
class Room:
    room_id: str
    mode: Mode
    media: MediaSession
    created_at: float
    # Socket ids in join order; in p2p the first is the offerer.
    members: list[str] = field(default_factory=list)
    leave: RoomLeave | None = None  # set for group rooms
    screen_shares: set[str] = field(default_factory=set)  # sids publishing a screen track

    @property
    def group(self) -> bool:
        return self.leave is not None

    def forwarded_streams(self) -> int:
        """Streams the node forwards for this room: audio+video (+ screen) from each to each
        other."""
        if self.mode != "sfu":
            return 0
        n = len(self.members)
        return (2 * n + len(self.screen_shares)) * (n - 1)


class RoomService:
    def __init__(
        self,
        settings: Settings,
        matchmaker: Matchmaker,
        emit: Emit,
        sfu_factory: SfuFactory | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if settings.mode != "p2p" and sfu_factory is None:
            raise ValueError(f"mode {settings.mode!r} needs an sfu media factory")
        self._settings = settings
        self._matchmaker = matchmaker
        self._emit = emit
        self._sfu_factory = sfu_factory
        self._clock = clock
        self._participants: dict[str, Participant] = {}
        self._rooms: dict[str, Room] = {}

    # ---- connection lifecycle -------------------------------------------------------------
    def connect(self, sid: str) -> Participant:
        participant = Participant(
            sid=sid, participant_id=secrets.token_hex(6), connected_at=self._clock()
        )
        self._participants[sid] = participant
        return participant

    async def disconnect(self, sid: str) -> None:
        participant = self._participants.get(sid)
        if participant is None:
            return
        try:
            await self._matchmaker.forget(sid)
        finally:
            await self._leave_room(participant, reason="disconnected")
            del self._participants[sid]

    # ---- matchmaking ----------------------------------------------------------------------
    async def request_room(self, sid: str, request: RequestRoom) -> dict[str, Any]:
        participant = self._require(sid)
        await self._leave_room(participant, reason="next")
        participant.user_name = request.user_name
        participant.user_image = request.user_image
        # The operator's mode decides whether a client's preference counts at all.
        participant.mode = request.mode if self._settings.mode == "auto" else None
        if self._settings.mode == "sfu" and self._at_capacity():
            raise Capacity("the node is at capacity; try again in a moment")
        for _ in range(_MATCH_ATTEMPTS):
            waiter = Waiter(user_id=sid, joined_at=self._clock(), mode=participant.mode)
            partner = await self._matchmaker.match_or_enqueue(waiter)
            if partner is None:
                return {"ok": True, "status": "waiting"}
            other = self._participants.get(partner.user_id)
            if other is not None and other.room_id is None:
                room = await self._open_room(other, participant)
                return {"ok": True, "status": "matched", "roomId": room.room_id}
            # The partner left between being queued and being chosen: try the next one.
            log.info("matched with vanished user %s; retrying", partner.user_id)
        return {"ok": True, "status": "waiting"}

    async def stop_call(self, sid: str) -> dict[str, Any]:
        participant = self._require(sid)
        was_waiting = await self._matchmaker.cancel(sid)
        was_in_room = await self._leave_room(participant, reason="stopped")
        return {"ok": True, "left": was_in_room, "cancelled": was_waiting}

    # ---- signaling and chat ---------------------------------------------------------------
    async def offer(self, sid: str, sdp: str) -> None:
        await self._room_of(sid).media.on_offer(sid, sdp)

    async def answer(self, sid: str, sdp: str) -> None:
        await self._room_of(sid).media.on_answer(sid, sdp)

    async def candidate(self, sid: str, candidate: Mapping[str, Any] | None) -> None:
        await self._room_of(sid).media.on_candidate(sid, candidate)

    async def chat(self, sid: str, message: str) -> dict[str, Any]:
        room = self._room_of(sid)
        sender = self._participants[sid]
        stored = {
            "from": sender.participant_id,
            "userName": sender.user_name,
            "message": message,
            "timestamp": int(self._clock() * 1000),
            "roomId": room.room_id,
        }
        for member in room.members:
            if member != sid:
                await self._emit(member, "newMessage", stored)
        return {"ok": True, "message": stored}

    # ---- status ---------------------------------------------------------------------------
    async def status(self) -> dict[str, Any]:
        by_mode = {"sfu": 0, "p2p": 0}
        for room in self._rooms.values():
            by_mode[room.mode] += 1
        return {
            "connectedSockets": len(self._participants),
            "waitingUsers": await self._matchmaker.waiting_count(),
            "activeRooms": by_mode,
            "groupRooms": sum(1 for room in self._rooms.values() if room.group),
            "forwardedStreams": self.forwarded_streams(),
        }

    # ---- for the group-room use cases (groups.py) ------------------------------------------
    def require(self, sid: str) -> Participant:
        return self._require(sid)

    def at_capacity(self, extra_streams: int) -> bool:
        return self._at_capacity(extra_streams)

    def add_room(self, room: Room) -> None:
        if room.room_id in self._rooms:
            raise ValueError(f"room {room.room_id!r} exists")
        self._rooms[room.room_id] = room

    def forget_room(self, room_id: str) -> None:
        """Unregister a room whose owner closes it (a group room that became empty)."""
        self._rooms.pop(room_id, None)

    async def leave_everything(self, participant: Participant, reason: str) -> None:
        """Leave the queue and the current room (of either kind)."""
        await self._matchmaker.cancel(participant.sid)
        await self._leave_room(participant, reason)

    def forwarded_streams(self) -> int:
        return sum(room.forwarded_streams() for room in self._rooms.values())

    def participant(self, sid: str) -> Participant | None:
        return self._participants.get(sid)

    def room(self, room_id: str) -> Room | None:
        return self._rooms.get(room_id)

    async def close(self) -> None:
        """Close every room (their media first); used at shutdown."""
        for room in list(self._rooms.values()):
            await self._close_room(room, reason="shutdown")

    # ---- internals ------------------------------------------------------------------------
    def _require(self, sid: str) -> Participant:
        participant = self._participants.get(sid)
        if participant is None:
            raise NotInRoom("this connection is not registered")
        return participant

    def _room_of(self, sid: str) -> Room:
        participant = self._require(sid)
        room = self._rooms.get(participant.room_id or "")
        if room is None:
            raise NotInRoom("you are not in a call")
        return room

    def _at_capacity(self, extra_streams: int = 4) -> bool:
        return self.forwarded_streams() + extra_streams > self._settings.max_forwarded_streams

    def _choose_mode(self, first: Participant, second: Participant) -> Mode:
        if self._settings.mode != "auto":
            return self._settings.mode
        if "p2p" in (first.mode, second.mode) or self._at_capacity():
            return "p2p"
        return "sfu"

    def _new_media(self, room_id: str, mode: Mode) -> MediaSession:
        if mode == "p2p":
            return P2PSession(self._emit)
        assert self._sfu_factory is not None  # checked in __init__ for non-p2p operator modes
        return self._sfu_factory(room_id, self._failure_handler(room_id))

    async def _open_room(self, first: Participant, second: Participant) -> Room:
        room_id = secrets.token_urlsafe(9)
        mode = self._choose_mode(first, second)
        room = Room(room_id, mode, self._new_media(room_id, mode), self._clock())
        self._rooms[room_id] = room
        for participant in (first, second):
            room.members.append(participant.sid)
            participant.room_id = room_id
            await room.media.add_participant(participant.sid, participant.participant_id)
        log.info("room %s opened (%s)", room_id, mode)
        for participant, partner in ((first, second), (second, first)):
            await self._emit(
                participant.sid, "match-done", self._match_payload(room, participant, partner)
            )
        return room

    def _role(self, room: Room, sid: str) -> str:
        # sfu: every browser offers to the node. p2p: the earlier member offers.
        if room.mode == "sfu" or room.members[0] == sid:
            return "offerer"
        return "answerer"

    def _match_payload(self, room: Room, me: Participant, peer: Participant) -> dict[str, Any]:
        return {
            "roomId": room.room_id,
            "mode": room.mode,
            "role": self._role(room, me.sid),
            "participantId": me.participant_id,
            "peer": peer.public_profile(),
            "iceServers": [server.to_wire() for server in self._settings.ice_servers],
            "recording": False,
        }

    async def _leave_room(self, participant: Participant, reason: str) -> bool:
        room = self._rooms.get(participant.room_id or "")
        participant.room_id = None
        if room is None:
            return False
        if room.leave is not None:
            await room.leave(room, participant, reason)
            return True
        # A 1:1 call ends for everyone when one side leaves.
        await self._close_room(room, reason=reason, leaving=participant.sid)
        return True

    async def _close_room(self, room: Room, reason: str, leaving: str | None = None) -> None:
        if self._rooms.pop(room.room_id, None) is None:
            return
        try:
            await room.media.close()
        finally:
            for sid in room.members:
                member = self._participants.get(sid)
                if member is not None and member.room_id == room.room_id:
                    member.room_id = None
                if sid != leaving:
                    await self._emit(sid, "partner-left", {"reason": reason})
            log.info("room %s closed (%s)", room.room_id, reason)

    def _failure_handler(self, room_id: str) -> MediaFailure:
        async def on_failure(sid: str, reason: str) -> None:
            await self._media_failed(room_id, sid, reason)

        return on_failure

    async def _media_failed(self, room_id: str, sid: str, reason: str) -> None:
        """A browser could not connect its media to the node (DESIGN.md, Modes)."""
        room = self._rooms.get(room_id)
        if room is None or room.mode != "sfu":
            return
        if self._settings.mode != "auto":
            log.warning("room %s: media of %s failed (%s); ending the call", room_id, sid, reason)
            await self._close_room(room, reason="media-failed")
            return
        log.info("room %s: media of %s failed (%s); falling back to p2p", room_id, sid, reason)
        await room.media.close()
        room.mode = "p2p"
        room.media = P2PSession(self._emit)
        for member in room.members:
            await room.media.add_participant(member, self._participants[member].participant_id)
        for member in room.members:
            payload = {"mode": "p2p", "role": self._role(room, member), "reason": reason}
            await self._emit(member, "mode-changed", payload)
