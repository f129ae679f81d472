"""Rooms and participants: the use cases behind every client event.

:class:`RoomService` owns the node's participants and 1:1 calls. It asks the matchmaker for a
partner, decides each call's media mode (sfu through the node, or p2p), creates the call's
:class:`~liveloop_sfu.media.session.MediaSession`, and cleans up on stop, Next and disconnect.
It knows nothing of socket.io: the signal layer hands it a socket id (``sid``) and gets back the
ack payload or a :class:`~liveloop_sfu.errors.LiveLoopError`; events to other clients go out
through the injected ``emit``.

A participant is in at most one queue entry and one room at a time (``request-room`` while in a
call first leaves the call, as "Next" does). Group rooms (:mod:`.groups`) live in the
same registry: a group :class:`Room` carries its own ``leave`` rule (members leave one by one),
so stop, Next, ``request-room`` and disconnect leave either kind of room the same way.

Several nodes (:mod:`liveloop_sfu.cluster.base`): a call is hosted by the node that made the match.
A partner whose socket lives on another node is *claimed* from its home node and joins the room
as a *guest* (``Participant.home``); on its home node the participant records the room's *host*
(``Participant.host``) and forwards its signaling there. Whichever side ends the call, the other
node is told, so neither keeps half a room. The requests between nodes are handled in
:mod:`liveloop_sfu.rooms.cross_node`. The records (:class:`Participant`, :class:`Room`) are in
:mod:`liveloop_sfu.rooms.records`.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from liveloop_sfu.cluster.base import Cluster, InProcessCluster
from liveloop_sfu.config import RoomSettings
from liveloop_sfu.errors import (
    Capacity,
    InvalidPayload,
    MatchmakerUnavailable,
    NotFound,
    NotInRoom,
)
from liveloop_sfu.matchmaking.base import Matchmaker
from liveloop_sfu.matchmaking.rules import Waiter
from liveloop_sfu.media.p2p import P2PSession
from liveloop_sfu.media.session import Emit, MediaFailure, MediaSession
from liveloop_sfu.modes import CallMode
from liveloop_sfu.rooms.commands import RequestRoom
from liveloop_sfu.rooms.cross_node import CrossNodeRooms
from liveloop_sfu.rooms.records import Participant, RecordingHooks, Room

log = logging.getLogger(__name__)

# Builds the media of an sfu call: (room_id, on_failure) -> session. Injected by app.py so that
# this module never imports aiortc.
SfuFactory = Callable[[str, MediaFailure], MediaSession]

# The RTCIceServer dicts for one participant (participant_id, now): the configured servers plus
# time-limited TURN credentials (app.py builds it from settings and liveloop_sfu/rooms/turn.py).
IceServersFor = Callable[[str, float], list[dict[str, Any]]]

# How often a match is retried when the chosen partner vanished between queue and room.
_MATCH_ATTEMPTS = 5


class RoomService(CrossNodeRooms):
    def __init__(
        self,
        settings: RoomSettings,
        matchmaker: Matchmaker,
        emit: Emit,
        sfu_factory: SfuFactory | None,
        clock: Callable[[], float] = time.time,
        cluster: Cluster | None = None,
        recordings: RecordingHooks | None = None,
        ice_servers_for: IceServersFor | None = None,
    ) -> None:
        if settings.mode != "p2p" and sfu_factory is None:
            raise ValueError(f"mode {settings.mode!r} needs an sfu media factory")
        self._settings = settings
        self._matchmaker = matchmaker
        self._emit = emit
        self._sfu_factory = sfu_factory
        self._clock = clock
        self._recordings = recordings
        self._ice_servers_for = ice_servers_for
        self._participants: dict[str, Participant] = {}
        self._rooms: dict[str, Room] = {}
        # Participants of rooms hosted here whose sockets live on other nodes.
        self._guests: dict[str, Participant] = {}
        # Disconnected users the matchmaker could not forget (Redis down); retried by resync().
        self._pending_forget: set[str] = set()
        # Users whose match is being asked for right now (never two at once for one user).
        self._matching: set[str] = set()
        # Cross-node members the other node disowned once; dropped if it does so again.
        self._suspects: set[str] = set()
        self._background: set[asyncio.Task[None]] = set()
        self._cluster: Cluster = cluster or InProcessCluster("local")
        self._cluster.serve(self.handle_remote)

    # ---- connection lifecycle -------------------------------------------------------------
    def connect(self, sid: str) -> Participant:
        participant = Participant(
            sid=sid,
            participant_id=secrets.token_hex(6),
            connected_at=self._clock(),
            resume_token=secrets.token_urlsafe(24),
        )
        self._participants[sid] = participant
        return participant

    async def disconnect(self, sid: str) -> None:
        participant = self._participants.get(sid)
        if participant is None:
            return
        participant.waiting = False
        try:
            await self._matchmaker.forget(sid)
        except MatchmakerUnavailable:
            self._pending_forget.add(sid)
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
        # Waiting before the match is asked for: another node may claim this user as soon as the
        # queue holds it, possibly before this coroutine resumes.
        participant.waiting = True
        try:
            return await self._find_partner(participant)
        except BaseException:
            participant.waiting = False
            raise

    async def _find_partner(self, participant: Participant) -> dict[str, Any]:
        self._matching.add(participant.sid)
        try:
            return await self._match_attempts(participant)
        finally:
            self._matching.discard(participant.sid)

    async def _match_attempts(self, participant: Participant) -> dict[str, Any]:
        for _ in range(_MATCH_ATTEMPTS):
            waiter = Waiter(
                user_id=participant.sid,
                joined_at=self._clock(),
                mode=participant.mode,
                node=self._cluster.node_id,
                client_id=participant.client_id,
            )
            partner = await self._matchmaker.match_or_enqueue(waiter)
            if partner is None:
                return {"ok": True, "status": "waiting"}
            if not participant.waiting or self._participants.get(participant.sid) is None:
                # Stopped or gone while a resync matched it: leave the partner unclaimed; its
                # node queues it again at its next resync. Neither met the other, so neither is
                # the other's "last partner" (a report or skip must not name a stranger).
                await self._matchmaker.unmatch(participant.sid, partner.user_id)
                return {"ok": True, "status": "stopped"}
            room_id = secrets.token_urlsafe(9)
            other = await self._claim(partner, room_id)
            if other is not None:
                participant.waiting = False
                room = await self._open_room(other, participant, room_id)
                return {"ok": True, "status": "matched", "roomId": room.room_id}
            # The partner left between being queued and being chosen: try the next one. Neither
            # met the other, so neither may report or skip the other as "last partner".
            log.info("matched with vanished user %s; retrying", partner.user_id)
            await self._matchmaker.unmatch(participant.sid, partner.user_id)
        return {"ok": True, "status": "waiting"}

    async def stop_call(self, sid: str) -> dict[str, Any]:
        participant = self._require(sid)
        participant.waiting = False
        try:
            was_waiting = await self._matchmaker.cancel(sid)
        except MatchmakerUnavailable:
            # The entry may outlive this call, but a user who is not waiting is never claimed
            # (see _claim and _on_claim), so whoever draws it is matched with the next one.
            was_waiting = False
        was_in_room = await self._leave_room(participant, reason="stopped")
        return {"ok": True, "left": was_in_room, "cancelled": was_waiting}

    async def resync(self) -> None:
        """Repair what a matchmaker outage did (run periodically by the Redis matchmaker):
        forget the users that left while it was unreachable, and queue again everyone still
        waiting (a no-op for entries the queue holds), so nobody waits in a queue that lost
        them; and check that the other node of each cross-node call still knows it (a node that
        died cannot say the call ended). Raises MatchmakerUnavailable when Redis fails again
        (the caller retries)."""
        await self._check_cross_node_calls()
        for sid in list(self._pending_forget):
            await self._matchmaker.forget(sid)
            self._pending_forget.discard(sid)
        for participant in list(self._participants.values()):
            if (
                participant.waiting
                and participant.room_id is None
                and participant.sid not in self._matching
            ):
                await self._find_partner(participant)

    # ---- signaling and chat ---------------------------------------------------------------
    async def offer(self, sid: str, sdp: str) -> None:
        if await self._forwarded(sid, "offer", {"sdp": sdp}) is None:
            await self._room_of(sid).media.on_offer(sid, sdp)

    async def answer(self, sid: str, sdp: str) -> None:
        if await self._forwarded(sid, "answer", {"sdp": sdp}) is None:
            await self._room_of(sid).media.on_answer(sid, sdp)

    async def candidate(self, sid: str, candidate: Mapping[str, Any] | None) -> None:
        if await self._forwarded(sid, "candidate", {"candidate": candidate}) is None:
            await self._room_of(sid).media.on_candidate(sid, candidate)

    async def chat(self, sid: str, message: str) -> dict[str, Any]:
        forwarded = await self._forwarded(sid, "chat", {"message": message})
        if forwarded is not None:
            return forwarded
        room = self._room_of(sid)
        sender = self._person(sid)
        assert sender is not None  # _room_of found it
        self._record("messages")
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

    def holder_of(self, resume_token: str) -> Participant | None:
        """The local participant holding ``resume_token`` (liveloop_sfu/rooms/resume.py). A scan:
        ``resume`` is rare and rate-limited, and a token index would be one more thing to keep
        in step."""
        for participant in self._participants.values():
            token = participant.resume_token
            if token is not None and secrets.compare_digest(token, resume_token):
                return participant
        return None

    def room(self, room_id: str) -> Room | None:
        return self._rooms.get(room_id)

    # ---- recording (admin API) ------------------------------------------------------------
    async def start_recording(self, room_id: str) -> dict[str, Any]:
        room = self._rooms.get(room_id)
        if room is None or self._recordings is None:
            raise NotFound("no such room on this node")
        if room.mode != "sfu":
            raise InvalidPayload("a p2p call's media does not pass through the node")
        was_recording = room.recording
        rid = await self._recordings.start(room, self._members(room), reason="admin")
        if not was_recording:
            await self._recordings.notify(room, active=True, reason="admin")
        return {"ok": True, "roomId": room_id, "recordingId": rid, "recording": True}

    async def stop_recording(self, room_id: str) -> dict[str, Any]:
        room = self._rooms.get(room_id)
        if room is None or self._recordings is None:
            raise NotFound("no such room on this node")
        manifest = await self._recordings.stop(room_id, reason="admin")
        recording_id = manifest["recordingId"] if manifest else None
        return {"ok": True, "roomId": room_id, "recordingId": recording_id, "recording": False}

    def _members(self, room: Room) -> list[Participant]:
        people = (self._person(sid) for sid in room.members)
        return [person for person in people if person is not None]

    def active_rooms(self) -> list[Room]:
        return list(self._rooms.values())

    async def close(self) -> None:
        """Close every room (their media first) and leave rooms hosted elsewhere; used at
        shutdown."""
        for room in list(self._rooms.values()):
            await self._close_room(room, reason="shutdown")
        for participant in list(self._participants.values()):
            await self._leave_room(participant, reason="shutdown")
        for task in list(self._background):
            task.cancel()

    # ---- internals ------------------------------------------------------------------------
    def _require(self, sid: str) -> Participant:
        participant = self._participants.get(sid)
        if participant is None:
            raise NotInRoom("this connection is not registered")
        return participant

    def _person(self, sid: str) -> Participant | None:
        """A participant of this node's rooms: local, or a guest from another node."""
        return self._participants.get(sid) or self._guests.get(sid)

    def _room_of(self, sid: str) -> Room:
        participant = self._person(sid)
        if participant is None:
            raise NotInRoom("this connection is not registered")
        room = self._rooms.get(participant.room_id or "")
        if room is None:
            raise NotInRoom("you are not in a call")
        return room

    def _at_capacity(self, extra_streams: int = 4) -> bool:
        return self.forwarded_streams() + extra_streams > self._settings.max_forwarded_streams

    def _choose_mode(self, first: Participant, second: Participant) -> CallMode:
        if self._settings.mode != "auto":
            return self._settings.mode
        if self._recordings is not None and self._recordings.records_all():
            return "sfu"  # DESIGN: a recorded room is always sfu (config forbids p2p + record)
        if "p2p" in (first.mode, second.mode) or self._at_capacity():
            return "p2p"
        return "sfu"

    def _new_media(self, room_id: str, mode: CallMode) -> MediaSession:
        if mode == "p2p":
            return P2PSession(self._emit)
        assert self._sfu_factory is not None  # checked in __init__ for non-p2p operator modes
        return self._sfu_factory(room_id, self._failure_handler(room_id))

    async def _open_room(self, first: Participant, second: Participant, room_id: str) -> Room:
        mode = self._choose_mode(first, second)
        room = Room(room_id, mode, self._new_media(room_id, mode), self._clock())
        self._rooms[room_id] = room
        for participant in (first, second):
            room.members.append(participant.sid)
            participant.room_id = room_id
            participant.last_room_id = room_id
            await room.media.add_participant(participant.sid, participant.participant_id)
        if self._recordings is not None and mode == "sfu":
            await self._recordings.room_opened(room, [first, second])
        log.info("room %s opened (%s)", room_id, mode, extra={"room_id": room_id})
        self._record(f"calls:{mode}")
        record = {
            "host": self._cluster.node_id,
            "mode": mode,
            "members": ",".join(room.members),
            "created_at": repr(room.created_at),
        }
        self._in_background(self._cluster.room_opened(room_id, record))
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
        payload = {
            "roomId": room.room_id,
            "mode": room.mode,
            "role": self._role(room, me.sid),
            "participantId": me.participant_id,
            "peer": peer.public_profile(),
            "iceServers": self._ice_servers(me),
            "recording": room.recording,
        }
        if me.resume_token is not None and me.home is None:
            payload["resumeToken"] = me.resume_token
        return payload

    def _ice_servers(self, me: Participant) -> list[dict[str, Any]]:
        if self._ice_servers_for is not None:
            return self._ice_servers_for(me.participant_id, self._clock())
        return [server.to_wire() for server in self._settings.ice_servers]

    async def _leave_room(self, participant: Participant, reason: str) -> bool:
        participant.waiting = False
        if participant.host is not None:
            return await self._leave_remote_room(participant, reason)
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
            if self._recordings is not None and room.recording:
                await self._recordings.room_closing(room)  # finalize files before media goes
            await room.media.close()
        finally:
            for sid in room.members:
                await self._release_member(room, sid, reason, notify=sid != leaving)
            log.info("room %s closed (%s)", room.room_id, reason, extra={"room_id": room.room_id})
            self._in_background(self._cluster.room_closed(room.room_id))

    def _failure_handler(self, room_id: str) -> MediaFailure:
        async def on_failure(sid: str, reason: str) -> None:
            await self._media_failed(room_id, sid, reason)

        return on_failure

    async def _media_failed(self, room_id: str, sid: str, reason: str) -> None:
        """A browser could not connect its media to the node (DESIGN.md, Modes)."""
        room = self._rooms.get(room_id)
        if room is None or room.mode != "sfu":
            return
        if self._settings.mode != "auto" or room.recording:
            log.warning("room %s: media of %s failed (%s); ending the call", room_id, sid, reason)
            await self._close_room(room, reason="media-failed")
            return
        log.info("room %s: media of %s failed (%s); falling back to p2p", room_id, sid, reason)
        await room.media.close()
        room.mode = "p2p"
        room.media = P2PSession(self._emit)
        for member in room.members:
            person = self._person(member)
            if person is not None:
                await room.media.add_participant(member, person.participant_id)
        for member in room.members:
            payload = {"mode": "p2p", "role": self._role(room, member), "reason": reason}
            await self._emit(member, "mode-changed", payload)

    def _record(self, counter: str) -> None:
        self._in_background(self._matchmaker.record(counter, self._clock()))

    def _in_background(self, bookkeeping: Coroutine[Any, Any, None]) -> None:
        """Shared bookkeeping (metrics:daily, rooms:{roomId}) runs in the background: a slow or
        absent Redis must not delay a call, and a lost record is the right price for that."""
        task = asyncio.get_running_loop().create_task(bookkeeping)
        self._background.add(task)
        task.add_done_callback(self._background_done)

    def _background_done(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.debug("background matchmaker call failed: %r", task.exception())

    # ---- several nodes (the cluster seam; the protocol itself is in cross_node.py) ---------
    async def _claim(self, partner: Waiter, room_id: str) -> Participant | None:
        """The matched partner, reserved for ``room_id``; None when it is gone or busy."""
        if partner.node in (None, self._cluster.node_id):
            other = self._participants.get(partner.user_id)
            if other is None or not other.waiting or other.room_id is not None:
                return None
            other.waiting = False
            return other
        return await self._claim_guest(partner.user_id, partner.node, room_id)
