"""Group rooms: named rooms of up to ``--max-room-participants`` people, all through the node.

The use cases behind ``join-room``, ``leave-room``, ``media-state``, ``set-video-quality`` and
``POST /api/rooms``. They
share the node's :class:`~liveloop_sfu.rooms.table.RoomTable` of participants and rooms with the
1:1 calls of :class:`~liveloop_sfu.rooms.service.RoomService`, so a
participant is in at most one room of either kind: joining a group room first leaves the queue
and any 1:1 call (its partner gets ``partner-left``), and ``request-room``, ``stop-call`` or a
disconnect leave a group room through the room's own ``leave`` rule (:meth:`GroupRooms._leave`).

A group room is created by its first ``join-room`` and closed when its last member leaves. Its
media is an :class:`~liveloop_sfu.media.sfu.session.SfuSession`
in group mode: the node asks the others
for a new offer (``renegotiate``) when someone's tracks appear or go, and announces the active
speaker. Group rooms are sfu only: there is no peer-to-peer fallback for more than two people.
With ``--require-room-token`` a room is joined only with a token signed for its id
(:mod:`liveloop_sfu.rooms.tokens`).

Several nodes: a room is pinned to one node, the first to claim it
(:meth:`~liveloop_sfu.cluster.base.Cluster.claim_room`; released when it closes, taken over when its
node died). A participant whose socket is on another node joins as a *guest* of that node, as
the partner of a 1:1 call does (:mod:`liveloop_sfu.rooms.cross_node`): its ``join-room``,
``media-state``, ``set-video-quality`` and ``get-video-layers`` are ``group`` requests, its
offer, candidates, chat and leaving ``signal`` requests, and the room's events reach it
through the socket.io manager.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from liveloop_sfu.cluster.base import NodeUnreachable, raise_if_error
from liveloop_sfu.config import RoomSettings
from liveloop_sfu.errors import (
    Capacity,
    InvalidPayload,
    LiveLoopError,
    MatchmakerUnavailable,
    NotInRoom,
    RoomFull,
    Unauthorized,
)
from liveloop_sfu.media.session import Emit, MediaFailure, MediaSession
from liveloop_sfu.rooms import tokens as room_tokens
from liveloop_sfu.rooms.commands import (
    CreateRoom,
    JoinRoom,
    MediaState,
    VideoQuality,
    parse_join_room,
    parse_media_state,
    parse_video_quality,
)
from liveloop_sfu.rooms.records import Participant, Room
from liveloop_sfu.rooms.service import RoomService

log = logging.getLogger(__name__)

# Builds the media of a group room: (room_id, on_failure) -> session. Injected by app.py.
GroupMediaFactory = Callable[[str, MediaFailure], MediaSession]

# Names given to rooms by POST /api/rooms, kept for the join-room ack; bounded (oldest dropped).
MAX_NAMED_ROOMS = 10_000
# Forwarded streams one more member adds per other member: its audio + video to them, theirs to
# it (screen shares counted on top).
_STREAMS_PER_PAIR = 4
# Where a room lives is asked again once when the node it was pinned to let it go meanwhile.
_PLACEMENT_ATTEMPTS = 2


class GroupRooms:
    def __init__(
        self,
        settings: RoomSettings,
        rooms: RoomService,
        emit: Emit,
        media_factory: GroupMediaFactory | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._rooms = rooms
        self._table = rooms.table
        self._nodes = rooms.nodes
        self._emit = emit
        self._media_factory = media_factory
        self._clock = clock
        self._names: OrderedDict[str, str] = OrderedDict()
        rooms.nodes.serve("group", self.handle_remote)

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
        """Join the room here when it is pinned to this node (or free: then it is pinned here),
        else as a guest of the node it is pinned to. That node decides room-full, the token
        and capacity; its refusal reaches the client with its code."""
        participant = self._table.require(sid)
        for _ in range(_PLACEMENT_ATTEMPTS):
            owner = await self._owner(request.room_id)
            if owner == self._nodes.node_id:
                return await self._join_claimed(participant, request)
            ack = await self._join_remote(participant, request, owner)
            if ack is not None:
                return ack
        raise MatchmakerUnavailable("the room is moving between nodes; try again in a moment")

    async def leave(self, sid: str) -> dict[str, Any]:
        participant = self._table.require(sid)
        if participant.host is not None and participant.remote_group:
            await self._rooms.leave_everything(participant, reason="left")
            return {"ok": True, "left": True}
        room = self._table.room(participant.room_id or "")
        if room is None or not room.group:
            return {"ok": True, "left": False}
        await self._rooms.leave_everything(participant, reason="left")
        return {"ok": True, "left": True}

    async def media_state(self, sid: str, state: MediaState) -> dict[str, Any]:
        """Store what the participant sends and tell the others in its room (1:1 or group),
        through the node hosting the room when that is another one."""
        participant = self._table.require(sid)
        if participant.host is None:
            return await self._share_media_state(participant, state)
        _store(participant, state)
        await self._nodes.forward(sid, "media-state", _state_wire(state), kind="group")
        return {"ok": True}

    async def set_video_quality(self, sid: str, request: VideoQuality) -> dict[str, Any]:
        """What the participant shows of another's video (tile size, page visibility): the
        room's media forwards it no more than that (:meth:`SfuSession.set_video_quality`)."""
        participant = self._table.require(sid)
        if participant.host is not None and participant.remote_group:
            await self._nodes.forward(sid, "set-video-quality", request.to_wire(), kind="group")
            return {"ok": True}
        return self._apply_video_quality(participant, request)

    async def video_layers(self, sid: str) -> dict[str, Any]:
        """Which layer of each video the participant receives (the tiles' stats toggle)."""
        participant = self._table.require(sid)
        if participant.host is not None and participant.remote_group:
            reply = await self._nodes.forward(sid, "get-video-layers", {}, kind="group")
            return {"ok": True, "layers": (reply or {}).get("layers", [])}
        return self._local_video_layers(participant)

    def _local_video_layers(self, participant: Participant) -> dict[str, Any]:
        room = self._table.room(participant.room_id or "")
        if room is None or not room.group:
            raise NotInRoom("get-video-layers is for group rooms; join one first")
        return {"ok": True, "layers": room.media.video_layers(participant.sid)}

    def _apply_video_quality(
        self, participant: Participant, request: VideoQuality
    ) -> dict[str, Any]:
        room = self._table.room(participant.room_id or "")
        if room is None or not room.group:
            raise NotInRoom("set-video-quality is for group rooms; join one first")
        room.media.set_video_quality(
            participant.sid, request.participant_id, request.track_id, request.max_height
        )
        return {"ok": True}

    # ---- requests from other nodes (``group``, see cross_node.py) -----------------------------
    async def handle_remote(self, sender: str, request: dict[str, Any]) -> dict[str, Any]:
        sid, action = str(request.get("sid")), request.get("action")
        data = request.get("data") or {}
        if action == "join":
            try:
                return await self._join_guest(sender, sid, data)
            except LiveLoopError:
                room_id = data.get("roomId") if isinstance(data, dict) else None
                if isinstance(room_id, str) and self._table.room(room_id) is None:
                    await self._release(room_id)  # as in _join_claimed
                raise
        if action == "media-state":
            guest = self._table.guest(sender, sid, request.get("roomId"))
            return await self._share_media_state(guest, parse_media_state(data))
        if action == "get-video-layers":
            guest = self._table.guest(sender, sid, request.get("roomId"))
            return self._local_video_layers(guest)
        if action == "set-video-quality":
            guest = self._table.guest(sender, sid, request.get("roomId"))
            return self._apply_video_quality(guest, parse_video_quality(data))
        raise InvalidPayload(f"unknown group action {action!r}")

    async def _join_guest(self, sender: str, sid: str, data: dict[str, Any]) -> dict[str, Any]:
        """A participant of node ``sender`` joins a room pinned here. ``{"ok": false, "host"}``
        when the room is pinned elsewhere now (its home asks that node instead)."""
        request, state = parse_join_room(data), parse_media_state(data)
        participant_id = data.get("participantId")
        if not isinstance(participant_id, str) or not 1 <= len(participant_id) <= 64:
            raise InvalidPayload("participantId must be a string of 1-64 characters")
        owner = await self._owner(request.room_id)
        if owner != self._nodes.node_id:
            return {"ok": False, "host": owner}
        self._check_media(request)
        guest = Participant(
            sid=sid,
            participant_id=participant_id,
            connected_at=self._clock(),
            user_name=request.user_name,
            home=sender,
        )
        _store(guest, state)
        self._check_room(guest, request.room_id)
        existing = self._table.guest_of(sid)
        if existing is not None:  # in another room here (or joining this one again)
            await self._rooms.leave_room(existing, reason="stopped")
            self._table.forget_guest(sid)
        room = self._table.room(request.room_id) or await self._open(request.room_id)
        self._table.add_guest(guest)
        try:
            return await self._enter(room, guest)
        except LiveLoopError:
            self._table.forget_guest(sid)
            raise

    # ---- internals ---------------------------------------------------------------------------
    async def _owner(self, room_id: str) -> str:
        """The node the room is pinned to, claiming it for this node when it is free. A room
        open here stays here (its claim refreshed when the shared state answers)."""
        try:
            owner = await self._nodes.cluster.claim_room(room_id)
        except NodeUnreachable as exc:
            if self._table.room(room_id) is not None:
                return self._nodes.node_id
            raise MatchmakerUnavailable(
                "cannot tell which node hosts this room right now; try again shortly"
            ) from exc
        if self._table.room(room_id) is not None and owner != self._nodes.node_id:
            log.warning("group room %s is open here but claimed by node %s", room_id, owner)
            return self._nodes.node_id
        return owner

    async def _join_claimed(self, participant: Participant, request: JoinRoom) -> dict[str, Any]:
        """Join here; a refused join into a room that is not open here lets go of the claim
        the refused join made (a p2p-only node, a bad token), so the room is not pinned to a
        node where it never opened."""
        try:
            return await self._join_here(participant, request)
        except LiveLoopError:
            if self._table.room(request.room_id) is None:
                await self._release(request.room_id)
            raise

    async def _join_here(self, participant: Participant, request: JoinRoom) -> dict[str, Any]:
        self._check_media(request)
        self._check_room(participant, request.room_id)
        # Checks passed: a refused join changed nothing; from here on the join happens.
        await self._rooms.leave_everything(participant, reason="stopped")
        participant.user_name = request.user_name
        room = self._table.room(request.room_id) or await self._open(request.room_id)
        return await self._enter(room, participant)

    async def _join_remote(
        self, participant: Participant, request: JoinRoom, owner: str
    ) -> dict[str, Any] | None:
        """Join as a guest of ``owner``; None when the room is no longer pinned there."""
        data = {
            "roomId": request.room_id,
            "userName": request.user_name,
            "token": request.token,
            **participant.media_state(),
        }
        body = {"type": "group", "action": "join", "sid": participant.sid, "data": data}
        try:
            ack = raise_if_error(await self._nodes.cluster.call(owner, body))
        except NodeUnreachable as exc:
            raise MatchmakerUnavailable(
                "the node hosting this room cannot be reached right now; try again shortly"
            ) from exc
        if ack.get("ok") is not True:
            return None
        if participant.host != owner or participant.room_id != request.room_id:
            # The host accepted: now leave the queue and any other room (the host already
            # replaced a membership of this same room).
            await self._rooms.leave_everything(participant, reason="stopped")
        participant.user_name = request.user_name
        participant.room_id, participant.host = request.room_id, owner
        participant.remote_group = True
        log.info("group room %s: %s joined as a guest of node %s", request.room_id,
                 participant.sid, owner)  # fmt: skip
        return ack

    async def _enter(self, room: Room, participant: Participant) -> dict[str, Any]:
        """Add a member (local or guest) to an open room: the others hear of it first."""
        sid = participant.sid
        if len(room.members) >= self._settings.max_room_participants:  # filled meanwhile
            raise RoomFull(
                f"the room is full ({self._settings.max_room_participants} participants)"
            )
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

    async def _share_media_state(
        self, participant: Participant, state: MediaState
    ) -> dict[str, Any]:
        screen_changed = participant.screen_track_id != state.screen_track_id
        _store(participant, state)
        room = self._table.room(participant.room_id or "")
        if room is None:
            return {"ok": True}
        if state.screen_track_id is None:
            room.screen_shares.discard(participant.sid)
        else:
            room.screen_shares.add(participant.sid)
        others = [member for member in room.members if member != participant.sid]
        for other in others:
            await self._emit(other, "participant-updated", participant.media_state())
        if room.group and screen_changed:
            # The others may need one more receiving m-line for a screen (or one less): ask now;
            # the sharer's own new offer asks again once the track is actually published.
            for other in others:
                await self._emit(other, "renegotiate", {"reason": "tracks-changed"})
        return {"ok": True}

    def _check_media(self, request: JoinRoom) -> None:
        if self._media_factory is None:
            raise Capacity("group rooms need the node's media forwarding; this node is p2p-only")
        self._check_token(request)

    def _check_token(self, request: JoinRoom) -> None:
        if not self._settings.require_room_token:
            return
        secret = self._settings.room_token_secret
        if secret is None:  # config.py refuses this combination; never open by accident
            raise Unauthorized("room tokens are required but none can be verified")
        room_tokens.verify(secret.encode(), request.room_id, request.token, self._clock())

    def _check_room(self, participant: Participant, room_id: str) -> None:
        if self._table.draining:
            raise Capacity("this node is shutting down; the room takes no new members here")
        room = self._table.room(room_id)
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

    async def _open(self, room_id: str) -> Room:
        assert self._media_factory is not None  # join() checked
        media = self._media_factory(room_id, self._failure_handler(room_id))
        room = Room(room_id, "sfu", media, self._clock(), leave=self._leave)
        self._table.add_room(room)
        log.info("group room %s opened", room_id)
        # Claimed before the join's checks, but a rejoin by the last member closed the room
        # and released the claim since: claim it (again) for the room now open here.
        with contextlib.suppress(NodeUnreachable):
            await self._nodes.cluster.claim_room(room_id)
        return room

    def _welcome(self, room: Room, me: Participant, others: list[str]) -> dict[str, Any]:
        """The join-room ack: who I am in the room, how to connect, who is already there."""
        present = []
        for sid in others:
            other = self._table.person(sid)
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
        if participant.home is not None:
            self._table.forget_guest(participant.sid)
        for other in room.members:
            await self._emit(
                other, "participant-left", {"participantId": participant.participant_id}
            )
        try:
            await room.media.remove_participant(participant.sid)
        finally:
            if not room.members:
                self._table.forget_room(room.room_id)
                await room.media.close()
                log.info("group room %s closed", room.room_id)
                await self._release(room.room_id)
        log.info("group room %s: %s left (%s)", room.room_id, participant.sid, reason)

    async def _release(self, room_id: str) -> None:
        await self._nodes.cluster.release_room(room_id)
        if self._table.room(room_id) is not None:  # opened again while the release was under way
            with contextlib.suppress(NodeUnreachable):
                await self._nodes.cluster.claim_room(room_id)

    def _failure_handler(self, room_id: str) -> MediaFailure:
        async def on_failure(sid: str, reason: str) -> None:
            """A member's media could not reach the node: it leaves the room (no p2p fallback
            for groups) and is told why (a guest through its home node)."""
            participant = self._table.person(sid)
            if participant is None or participant.room_id != room_id:
                return
            log.info("group room %s: media of %s failed (%s)", room_id, sid, reason)
            if participant.home is not None:
                await self._rooms.leave_room(participant, reason="media-failed")
                await self._nodes.tell_home(participant, room_id, "media-failed")
                return
            await self._rooms.leave_everything(participant, reason="media-failed")
            await self._emit(sid, "partner-left", {"reason": "media-failed"})

        return on_failure


def _store(participant: Participant, state: MediaState) -> None:
    participant.audio, participant.video = state.audio, state.video
    participant.screen_track_id = state.screen_track_id


def _state_wire(state: MediaState) -> dict[str, Any]:
    return {"audio": state.audio, "video": state.video, "screenTrackId": state.screen_track_id}
