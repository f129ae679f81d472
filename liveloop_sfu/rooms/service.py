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
node is told, so neither keeps half a room.

:class:`RoomService` is the facade the boundaries call; the work is done by the classes it
composes: the node's table of participants, guests and rooms (:mod:`.table`), the queue side of a
1:1 call (:mod:`.pairing`), the calls themselves with their fallback to p2p (:mod:`.calls`), the
requests between nodes (:mod:`.cross_node`) and background bookkeeping (:mod:`.bookkeeping`). The
records (:class:`Participant`, :class:`Room`) are in :mod:`.records`.
"""

from __future__ import annotations

import secrets
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from liveloop_sfu.cluster.base import Cluster, InProcessCluster, Reply
from liveloop_sfu.config import RoomSettings
from liveloop_sfu.errors import Capacity, InvalidPayload, NotFound
from liveloop_sfu.matchmaking.base import Matchmaker
from liveloop_sfu.media.session import Emit
from liveloop_sfu.rooms.bookkeeping import Bookkeeping
from liveloop_sfu.rooms.calls import Calls, IceServersFor, SfuFactory
from liveloop_sfu.rooms.commands import RequestRoom
from liveloop_sfu.rooms.cross_node import CrossNodeRooms
from liveloop_sfu.rooms.pairing import Pairing
from liveloop_sfu.rooms.records import Participant, RecordingHooks, Room
from liveloop_sfu.rooms.self_measure import SelfMeasure
from liveloop_sfu.rooms.table import RoomTable

# SfuFactory and IceServersFor are declared with the calls that use them; app.py wires them here.
__all__ = ["IceServersFor", "RoomService", "SfuFactory"]


class RoomService:
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
        load: SelfMeasure | None = None,
    ) -> None:
        if settings.mode != "p2p" and sfu_factory is None:
            raise ValueError(f"mode {settings.mode!r} needs an sfu media factory")
        self._settings = settings
        self._matchmaker = matchmaker
        self._emit = emit
        self._clock = clock
        self._recordings = recordings
        # The node's self-measurement (app.py starts it on the node's loop); None: the stream
        # cap alone decides (unit tests, the p2p mode's media-less node).
        self.load = load
        # Calls and joins refused with ``capacity``, by reason (``liveloop_capacity_refusals``).
        self.capacity_refusals: Counter[str] = Counter()
        self.table = RoomTable()
        self._bookkeeping = Bookkeeping(matchmaker, clock)
        self.nodes = CrossNodeRooms(
            self.table, self, cluster or InProcessCluster("local"), emit, clock
        )
        self._calls = Calls(
            settings,
            self.table,
            self.nodes,
            emit,
            sfu_factory,
            self._bookkeeping,
            clock,
            recordings=recordings,
            ice_servers_for=ice_servers_for,
            saturated=(lambda: load.refusing) if load is not None else (lambda: None),
        )
        self._pairing = Pairing(matchmaker, self.table, self.nodes, self._calls.open, clock)

    # ---- connection lifecycle -------------------------------------------------------------
    def connect(self, sid: str) -> Participant:
        participant = Participant(
            sid=sid,
            participant_id=secrets.token_hex(6),
            connected_at=self._clock(),
            resume_token=secrets.token_urlsafe(24),
        )
        self.table.add(participant)
        return participant

    async def disconnect(self, sid: str) -> None:
        participant = self.table.participant(sid)
        if participant is None:
            return
        participant.waiting = False
        try:
            await self._pairing.forget(sid)
        finally:
            await self.leave_room(participant, reason="disconnected")
            self.table.remove(sid)

    # ---- matchmaking ----------------------------------------------------------------------
    async def request_room(self, sid: str, request: RequestRoom) -> dict[str, Any]:
        participant = self.table.require(sid)
        await self.leave_room(participant, reason="next")
        participant.user_name = request.user_name
        participant.user_image = request.user_image
        # The operator's mode decides whether a client's preference counts at all.
        # Under auto, only when p2p is allowed at all (rooms/p2p_policy.py).
        p2p_allowed = self._calls.policy.p2p_allowed
        auto = self._settings.mode == "auto"
        participant.mode = request.mode if auto and p2p_allowed else None
        if self.table.draining:
            raise Capacity("the node is shutting down; reconnect to be matched on another node")
        if not p2p_allowed:
            self.refuse_if_full()
        # Waiting before the match is asked for: another node may claim this user as soon as the
        # queue holds it, possibly before this coroutine resumes.
        participant.waiting = True
        try:
            return await self._pairing.find_partner(participant)
        except BaseException:
            participant.waiting = False
            raise

    async def stop_call(self, sid: str) -> dict[str, Any]:
        participant = self.table.require(sid)
        participant.waiting = False
        was_waiting = await self._pairing.cancel(sid)
        was_in_room = await self.leave_room(participant, reason="stopped")
        return {"ok": True, "left": was_in_room, "cancelled": was_waiting}

    async def resync(self) -> None:
        """Repair what a matchmaker outage did (run periodically by the Redis matchmaker):
        forget the users that left while it was unreachable, and queue again everyone still
        waiting (a no-op for entries the queue holds), so nobody waits in a queue that lost
        them; and check that the other node of each cross-node call still knows it (a node that
        died cannot say the call ended). Raises MatchmakerUnavailable when Redis fails again
        (the caller retries)."""
        await self.nodes.check_calls()
        await self._pairing.resync()

    # ---- signaling and chat: relayed to the node hosting the room, or handled here ----------
    async def offer(self, sid: str, sdp: str) -> None:
        if await self.nodes.forward(sid, "offer", {"sdp": sdp}) is None:
            await self.table.room_of(sid).media.on_offer(sid, sdp)

    async def answer(self, sid: str, sdp: str) -> None:
        if await self.nodes.forward(sid, "answer", {"sdp": sdp}) is None:
            await self.table.room_of(sid).media.on_answer(sid, sdp)

    async def candidate(self, sid: str, candidate: Mapping[str, Any] | None) -> None:
        if await self.nodes.forward(sid, "candidate", {"candidate": candidate}) is None:
            await self.table.room_of(sid).media.on_candidate(sid, candidate)

    async def chat(self, sid: str, message: str) -> dict[str, Any]:
        forwarded = await self.nodes.forward(sid, "chat", {"message": message})
        if forwarded is not None:
            return forwarded
        room = self.table.room_of(sid)
        sender = self.table.person(sid)
        assert sender is not None  # room_of found it
        self._bookkeeping.record("messages")
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
        rooms = self.table.rooms()
        by_mode = {"sfu": 0, "p2p": 0}
        for room in rooms:
            by_mode[room.mode] += 1
        return {
            "connectedSockets": self.table.connected(),
            "waitingUsers": await self._matchmaker.waiting_count(),
            "activeRooms": by_mode,
            "groupRooms": sum(1 for room in rooms if room.group),
            "forwardedStreams": self.forwarded_streams(),
            "admission": self._admission(),
        }

    def _admission(self) -> dict[str, Any]:
        """What decides new calls now: the cap, and the self-measurement's latest window."""
        body: dict[str, Any] = {
            "refusing": self.capacity_reason(),
            "maxForwardedStreams": self._settings.max_forwarded_streams,
        }
        reading = self.load.reading if self.load is not None else None
        if reading is not None:
            body["eventLoopLagP95Ms"] = round(reading.lag_p95_s * 1000, 1)
            body["loopCpu"] = round(reading.loop_cpu, 3)
            body["processCpu"] = round(reading.process_cpu, 3)
        return body

    def forwarded_streams(self) -> int:
        return self.table.forwarded_streams()

    def participant(self, sid: str) -> Participant | None:
        return self.table.participant(sid)

    def guest_of(self, sid: str) -> Participant | None:
        return self.table.guest_of(sid)

    def room(self, room_id: str) -> Room | None:
        return self.table.room(room_id)

    def active_rooms(self) -> list[Room]:
        return self.table.rooms()

    # ---- for the group-room use cases (groups.py) and cross-node requests ------------------
    def at_capacity(self, extra_streams: int = 4) -> bool:
        return self._calls.at_capacity(extra_streams)

    def capacity_reason(self, extra_streams: int = 4) -> str | None:
        return self._calls.capacity_reason(extra_streams)

    def refuse_if_full(self, extra_streams: int = 4) -> None:
        """Raise ``capacity`` (counted by reason) when a new call of ``extra_streams`` forwarded
        streams is not taken here now."""
        reason = self._calls.capacity_reason(extra_streams)
        if reason is None:
            return
        self.capacity_refusals[reason] += 1
        why = "its stream cap" if reason == "streams" else f"saturated: {reason}"
        raise Capacity(f"the node is at capacity ({why}); try again in a moment")

    async def leave_everything(self, participant: Participant, reason: str) -> None:
        """Leave the queue and the current room (of either kind)."""
        await self._matchmaker.cancel(participant.sid)
        await self.leave_room(participant, reason)

    async def leave_room(self, participant: Participant, reason: str) -> bool:
        """Leave the current room (of either kind) without touching the queue (guests' queue
        entries belong to their home node); whether there was one."""
        participant.waiting = False
        if participant.host is not None:
            return await self.nodes.leave_remote_room(participant, reason)
        room = self.table.room(participant.room_id or "")
        participant.room_id = None
        if room is None:
            return False
        if room.leave is not None:
            await room.leave(room, participant, reason)
            return True
        # A 1:1 call ends for everyone when one side leaves.
        await self._calls.close(room, reason=reason, leaving=participant.sid)
        return True

    async def handle_remote(self, sender: str, request: Mapping[str, Any]) -> Reply:
        """A request from another node of the service (CrossNodeRooms serves them)."""
        return await self.nodes.handle_remote(sender, request)

    # ---- recording (admin API) ------------------------------------------------------------
    async def start_recording(self, room_id: str) -> dict[str, Any]:
        room = self.table.room(room_id)
        if room is None or self._recordings is None:
            raise NotFound("no such room on this node")
        if room.mode != "sfu":
            raise InvalidPayload("a p2p call's media does not pass through the node")
        was_recording = room.recording
        rid = await self._recordings.start(room, self.table.members(room), reason="admin")
        if not was_recording:
            await self._recordings.notify(room, active=True, reason="admin")
        return {"ok": True, "roomId": room_id, "recordingId": rid, "recording": True}

    async def stop_recording(self, room_id: str) -> dict[str, Any]:
        room = self.table.room(room_id)
        if room is None or self._recordings is None:
            raise NotFound("no such room on this node")
        manifest = await self._recordings.stop(room_id, reason="admin")
        recording_id = manifest["recordingId"] if manifest else None
        return {"ok": True, "roomId": room_id, "recordingId": recording_id, "recording": False}

    # ---- draining (liveloop_sfu/drain.py) -------------------------------------------------
    def begin_drain(self) -> None:
        """From now on no new call or room member on this node; the live ones run on."""
        self.table.draining = True

    async def release_idle(self) -> list[str]:
        """While draining: every participant of this node that is in no call leaves the queue;
        their sids, to be told to reconnect (and be matched on another node)."""
        idle = []
        for participant in self.table.participants():
            if participant.room_id is None and participant.host is None:
                if participant.waiting:
                    participant.waiting = False
                    await self._pairing.cancel(participant.sid)
                idle.append(participant.sid)
        return idle

    def hosts_calls(self) -> bool:
        """Whether a call or room still runs here, or a participant of this node is in a call
        hosted by another node (its signaling passes through this node)."""
        if self.table.rooms() or self.table.guests():
            return True
        return any(p.room_id is not None for p in self.table.participants())

    async def close(self) -> None:
        """Close every room (their media first) and leave rooms hosted elsewhere; used at
        shutdown."""
        for room in self.table.rooms():
            await self._calls.close(room, reason="shutdown")
        for participant in self.table.participants():
            await self.leave_room(participant, reason="shutdown")
        self._bookkeeping.cancel()
