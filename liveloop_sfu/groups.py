"""Group rooms: named rooms of up to ``--max-room-participants`` people, all through the node.

The use cases behind ``join-room``, ``leave-room``, ``media-state`` and ``POST /api/rooms``. They
share :class:`~liveloop_sfu.rooms.RoomService`'s registry of participants and rooms, so a
participant is in at most one room of either kind: joining a group room first leaves the queue
and any 1:1 call (its partner gets ``partner-left``), and ``request-room``, ``stop-call`` or a
disconnect leave a group room through the room's own ``leave`` rule (:meth:`GroupRooms._leave`).

A group room is created by its first ``join-room`` and closed when its last member leaves. Its
media is an :class:`~liveloop_sfu.media.sfu.SfuSession` in group mode: the node asks the others
for a new offer (``renegotiate``) when someone's tracks appear or go, and announces the active
speaker. Group rooms are sfu only: there is no peer-to-peer fallback for more than two people.
With ``--require-room-token`` a room is joined only with a token signed for its id
(:mod:`liveloop_sfu.room_tokens`).
"""

from __future__ import annotations

import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from liveloop_sfu import room_tokens
from liveloop_sfu.config import Settings
from liveloop_sfu.errors import Capacity, RoomFull, Unauthorized
from liveloop_sfu.media.session import Emit, MediaFailure, MediaSession
from liveloop_sfu.rooms import Participant, Room, RoomService
from liveloop_sfu.signal.messages import CreateRoom, JoinRoom, MediaState

log = logging.getLogger(__name__)

# Builds the media of a group room: (room_id, on_failure) -> session. Injected by app.py.
GroupMediaFactory = Callable[[str, MediaFailure], MediaSession]

# Names given to rooms by POST /api/rooms, kept for the join-room ack; bounded (oldest dropped).
MAX_NAMED_ROOMS = 10_000
# Forwarded streams one more member adds per other member: its audio + video to them, theirs to
# it (screen shares counted on top).
_STREAMS_PER_PAIR = 4


class GroupRooms:
    def __init__(
        self,
        settings: Settings,
        rooms: RoomService,
        emit: Emit,
        media_factory: GroupMediaFactory | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._rooms = rooms
        self._emit = emit
        self._media_factory = media_factory
        self._clock = clock
        self._names: OrderedDict[str, str] = OrderedDict()

    # ---- HTTP --------------------------------------------------------------------------------
    def create(self, request: CreateRoom) -> dict[str, Any]:
        """``POST /api/rooms``: a fresh unguessable room id, its link, and a token when tokens
        are required. The room itself comes into being with its first member."""
        room_id = secrets.token_urlsafe(12)
        if request.name is not None:
            self._names[room_id] = request.name
            while len(self._names) > MAX_NAMED_ROOMS:
                self._names.popitem(last=False)
        body: dict[str, Any] = {"roomId": room_id, "link": f"/room/{room_id}"}
        if request.name is not None:
            body["name"] = request.name
        if self._settings.require_room_token:
            body["token"] = self.mint_token(room_id)
        return body

    def mint_token(self, room_id: str) -> str:
        secret = self._settings.room_token_secret
        if secret is None:
            raise ValueError("no --room-token-secret configured")
        return room_tokens.mint(
            secret.encode(), room_id, self._clock(), self._settings.room_token_ttl
        )

    # ---- events ------------------------------------------------------------------------------
    async def join(self, sid: str, request: JoinRoom) -> dict[str, Any]:
        participant = self._rooms.require(sid)
        if self._media_factory is None:
            raise Capacity("group rooms need the node's media forwarding; this node is p2p-only")
        self._check_token(request)
        self._check_room(participant, request.room_id)
        # Checks passed: a refused join changed nothing; from here on the join happens.
        await self._rooms.leave_everything(participant, reason="stopped")
        room = self._rooms.room(request.room_id) or self._open(request.room_id)
        if len(room.members) >= self._settings.max_room_participants:  # filled meanwhile
            raise RoomFull(
                f"the room is full ({self._settings.max_room_participants} participants)"
            )
        participant.user_name = request.user_name
        others = list(room.members)
        room.members.append(sid)
        participant.room_id = room.room_id
        if participant.screen_track_id is not None:
            room.screen_shares.add(sid)
        await room.media.add_participant(sid, participant.participant_id)
        log.info("group room %s: %s joined (%d)", room.room_id, sid, len(room.members))
        joined = {"userName": participant.user_name, **participant.media_state()}
        for other in others:
            await self._emit(other, "participant-joined", joined)
        return {"ok": True, **self._welcome(room, participant, others)}

    async def leave(self, sid: str) -> dict[str, Any]:
        participant = self._rooms.require(sid)
        room = self._rooms.room(participant.room_id or "")
        if room is None or not room.group:
            return {"ok": True, "left": False}
        await self._rooms.leave_everything(participant, reason="left")
        return {"ok": True, "left": True}

    async def media_state(self, sid: str, state: MediaState) -> dict[str, Any]:
        """Store what the participant sends and tell the others in its room (1:1 or group)."""
        participant = self._rooms.require(sid)
        screen_changed = participant.screen_track_id != state.screen_track_id
        participant.audio, participant.video = state.audio, state.video
        participant.screen_track_id = state.screen_track_id
        room = self._rooms.room(participant.room_id or "")
        if room is None:
            return {"ok": True}
        if state.screen_track_id is None:
            room.screen_shares.discard(sid)
        else:
            room.screen_shares.add(sid)
        others = [member for member in room.members if member != sid]
        for other in others:
            await self._emit(other, "participant-updated", participant.media_state())
        if room.group and screen_changed:
            # The others may need one more receiving m-line for a screen (or one less): ask now;
            # the sharer's own new offer asks again once the track is actually published.
            for other in others:
                await self._emit(other, "renegotiate", {"reason": "tracks-changed"})
        return {"ok": True}

    # ---- internals ---------------------------------------------------------------------------
    def _check_token(self, request: JoinRoom) -> None:
        if not self._settings.require_room_token:
            return
        secret = self._settings.room_token_secret
        if secret is None:  # config.py refuses this combination; never open by accident
            raise Unauthorized("room tokens are required but none can be verified")
        room_tokens.verify(secret.encode(), request.room_id, request.token, self._clock())

    def _check_room(self, participant: Participant, room_id: str) -> None:
        room = self._rooms.room(room_id)
        if room is not None and not room.group:
            raise Unauthorized("that id belongs to a private call, not a group room")
        others = [m for m in room.members if m != participant.sid] if room is not None else []
        if len(others) >= self._settings.max_room_participants:
            raise RoomFull(
                f"the room is full ({self._settings.max_room_participants} participants)"
            )
        screens = len(room.screen_shares) if room is not None else 0
        extra = _STREAMS_PER_PAIR * max(len(others), 1) + screens
        if self._settings.mode != "p2p" and self._rooms.at_capacity(extra):
            raise Capacity("the node is at capacity; try again in a moment")

    def _open(self, room_id: str) -> Room:
        assert self._media_factory is not None  # join() checked
        media = self._media_factory(room_id, self._failure_handler(room_id))
        room = Room(room_id, "sfu", media, self._clock(), leave=self._leave)
        self._rooms.add_room(room)
        log.info("group room %s opened", room_id)
        return room

    def _welcome(self, room: Room, me: Participant, others: list[str]) -> dict[str, Any]:
        """The join-room ack: who I am in the room, how to connect, who is already there."""
        present = []
        for sid in others:
            other = self._rooms.participant(sid)
            if other is not None:
                present.append({"userName": other.user_name, **other.media_state()})
        welcome: dict[str, Any] = {
            "roomId": room.room_id,
            "participantId": me.participant_id,
            "mode": "sfu",
            "role": "offerer",
            "iceServers": [server.to_wire() for server in self._settings.ice_servers],
            "recording": False,
            "participants": present,
            "maxParticipants": self._settings.max_room_participants,
        }
        name = self._names.get(room.room_id)
        if name is not None:
            welcome["name"] = name
        return welcome

    async def _leave(self, room: Room, participant: Participant, reason: str) -> None:
        """One member leaves (leave-room, request-room, stop-call, disconnect, media failure):
        the others see ``participant-left`` and then ``renegotiate`` (from the media session);
        the last one out closes the room."""
        if participant.sid in room.members:
            room.members.remove(participant.sid)
        room.screen_shares.discard(participant.sid)
        for other in room.members:
            await self._emit(
                other, "participant-left", {"participantId": participant.participant_id}
            )
        try:
            await room.media.remove_participant(participant.sid)
        finally:
            if not room.members:
                self._rooms.forget_room(room.room_id)
                await room.media.close()
                log.info("group room %s closed", room.room_id)
        log.info("group room %s: %s left (%s)", room.room_id, participant.sid, reason)

    def _failure_handler(self, room_id: str) -> MediaFailure:
        async def on_failure(sid: str, reason: str) -> None:
            """A member's media could not reach the node: it leaves the room (no p2p fallback
            for groups) and is told why."""
            participant = self._rooms.participant(sid)
            if participant is None or participant.room_id != room_id:
                return
            log.info("group room %s: media of %s failed (%s)", room_id, sid, reason)
            await self._rooms.leave_everything(participant, reason="media-failed")
            await self._emit(sid, "partner-left", {"reason": "media-failed"})

        return on_failure
