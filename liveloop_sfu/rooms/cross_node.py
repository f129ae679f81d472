"""The cross-node half of the room use cases: what one node asks of another.

A call is hosted by the node that made the match; a partner whose socket lives on another node,
its *home*, joins the room as a *guest*. The requests between the two nodes, carried by the
:class:`~liveloop_sfu.cluster.base.Cluster` seam:

- ``claim`` (host → home): reserve a waiting user for a room; the reply carries its profile;
- ``signal`` (home → host): a guest's offer, answer, ICE candidate, chat message or leaving,
  handled by the host as if the guest were local; the reply is the event's ack or wire error;
- ``release`` (host → home): the call ended; the home tells its participant (``partner-left``);
- ``check`` (either way, periodic): does the other node still have this call? A call the other
  node denies twice in a row ends, so a node that died leaves nobody in half a room.
- ``group`` (home → host of a group room): ``join`` a room pinned to the host, or report the
  guest's ``media-state``; served by :class:`~liveloop_sfu.rooms.groups.GroupRooms` (registered with
  :meth:`CrossNodeRooms.serve`). A group guest's offer, candidates, chat and leaving are
  ``signal`` requests like a 1:1 guest's, and a group room's host tells the home with ``release``
  when it drops the guest on its own (media failure, shutdown).
- ``admin`` (any node → the host of a room): the operator's listing and actions, served by
  :class:`~liveloop_sfu.rooms.admin.CallAdmin` (registered with :meth:`CrossNodeRooms.serve`).

:class:`CrossNodeRooms` works on the node's :class:`~liveloop_sfu.rooms.table.RoomTable`
(participants, guests, rooms) and runs a guest's forwarded events through the local use cases,
which it knows only as :class:`LocalRooms` (implemented by
:class:`~liveloop_sfu.rooms.service.RoomService`, which composes it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol, cast

from liveloop_sfu.cluster.base import (
    Cluster,
    NodeUnreachable,
    Reply,
    RequestHandler,
    raise_if_error,
)
from liveloop_sfu.errors import InvalidPayload, LiveLoopError, MatchmakerUnavailable, NotInRoom
from liveloop_sfu.media.session import Emit
from liveloop_sfu.modes import CALL_MODES, CallMode
from liveloop_sfu.rooms.records import Participant, Room
from liveloop_sfu.rooms.table import RoomTable

log = logging.getLogger(__name__)


class LocalRooms(Protocol):
    """The local use cases a guest's forwarded events run through, as if the guest were local."""

    async def chat(self, sid: str, message: str) -> dict[str, Any]: ...

    async def offer(self, sid: str, sdp: str) -> None: ...

    async def answer(self, sid: str, sdp: str) -> None: ...

    async def candidate(self, sid: str, candidate: Mapping[str, Any] | None) -> None: ...

    async def leave_room(self, participant: Participant, reason: str) -> bool:
        """Leave the current room (of either kind) without touching the queue."""


class CrossNodeRooms:
    """Requests from and to the other nodes of the service."""

    def __init__(
        self,
        table: RoomTable,
        local: LocalRooms,
        cluster: Cluster,
        emit: Emit,
        clock: Callable[[], float],
    ) -> None:
        self._table = table
        self._local = local
        self._cluster = cluster
        self._emit = emit
        self._clock = clock
        # Cross-node members the other node disowned once; dropped if it does so again.
        self._suspects: set[str] = set()
        # Requests of other kinds served by other use cases: "group" (GroupRooms), "admin"
        # (CallAdmin).
        self._services: dict[str, RequestHandler] = {}
        cluster.serve(self.handle_remote)

    async def handle_remote(self, sender: str, request: Mapping[str, Any]) -> Reply:
        """A request from another node of the service (served through the Cluster)."""
        kind = request.get("type")
        try:
            if kind == "claim":
                return self._on_claim(sender, request)
            if kind == "release":
                return await self._on_release(sender, request)
            if kind == "signal":
                return await self._on_guest_signal(sender, request)
            if kind == "check":
                return {"ok": self._knows(sender, request)}
            service = self._services.get(str(kind))
            if service is not None:
                return await service(sender, dict(request))
            raise InvalidPayload(f"unknown cluster request {kind!r}")
        except LiveLoopError as exc:
            return exc.to_wire()

    async def _claim_remote(self, sid: str, node: str, room_id: str) -> Reply | None:
        """Ask ``node`` to reserve its waiting user ``sid`` for ``room_id`` hosted here; its
        profile, or None when it is gone, busy or its node does not answer."""
        try:
            reply = await self._cluster.call(node, {"type": "claim", "sid": sid, "roomId": room_id})
        except NodeUnreachable as exc:
            log.warning("could not claim %s from node %s: %s", sid, node, exc)
            return None
        return reply if reply.get("ok") is True else None

    async def claim_guest(self, sid: str, node: str, room_id: str) -> Participant | None:
        """Claim ``node``'s waiting user ``sid`` for ``room_id`` hosted here: the guest it
        joins as, None when it is gone, busy or its node does not answer."""
        reply = await self._claim_remote(sid, node, room_id)
        if reply is None:
            return None
        image, mode = reply.get("userImage"), reply.get("mode")
        guest = Participant(
            sid=sid,
            participant_id=str(reply["participantId"]),
            connected_at=self._clock(),
            user_name=str(reply.get("userName")),
            user_image=image if isinstance(image, str) else None,
            mode=cast(CallMode | None, mode if mode in CALL_MODES else None),
            home=node,
        )
        self._table.add_guest(guest)
        return guest

    def _on_claim(self, sender: str, request: Mapping[str, Any]) -> Reply:
        """Another node matched one of our waiting users and hosts the call."""
        participant = self._table.participant(str(request.get("sid")))
        if participant is None or not participant.waiting or participant.room_id is not None:
            return {"ok": False}
        if self._table.draining:  # its users are matched on other nodes once they reconnect
            return {"ok": False}
        participant.waiting = False
        participant.room_id = participant.last_room_id = str(request["roomId"])
        participant.host = sender
        participant.remote_group = False
        return {"ok": True, "mode": participant.mode, **participant.public_profile()}

    async def _on_release(self, sender: str, request: Mapping[str, Any]) -> Reply:
        """The host ended the call of one of our participants."""
        participant = self._table.participant(str(request.get("sid")))
        if (
            participant is not None
            and participant.host == sender
            and participant.room_id == request.get("roomId")
        ):
            participant.clear_remote()
            await self._emit(participant.sid, "partner-left", {"reason": request.get("reason")})
        return {"ok": True}

    async def _on_guest_signal(self, sender: str, request: Mapping[str, Any]) -> Reply:
        """An event of a guest, forwarded by its home node: handled as if it were local."""
        sid = str(request.get("sid"))
        guest = self._table.guest_of(sid)
        if guest is None or guest.home != sender or guest.room_id != request.get("roomId"):
            raise NotInRoom("you are not in a call")
        action, data = request.get("action"), request.get("data") or {}
        if action == "chat":
            return await self._local.chat(sid, str(data["message"]))
        if action == "leave":
            left = await self._local.leave_room(guest, str(data.get("reason")))
            return {"ok": True, "left": left}
        if action == "offer":
            await self._local.offer(sid, str(data["sdp"]))
        elif action == "answer":
            await self._local.answer(sid, str(data["sdp"]))
        elif action == "candidate":
            await self._local.candidate(sid, data.get("candidate"))
        else:
            raise InvalidPayload(f"unknown action {action!r}")
        return {"ok": True}

    async def forward(
        self, sid: str, action: str, data: dict[str, Any], kind: str = "signal"
    ) -> Reply | None:
        """Send a participant's event to the node hosting its room; None when that is here."""
        participant = self._table.participant(sid)
        if participant is None or participant.host is None:
            return None
        host, room_id = participant.host, participant.room_id
        request = {"type": kind, "sid": sid, "roomId": room_id, "action": action}
        try:
            return raise_if_error(await self._cluster.call(host, {**request, "data": data}))
        except NotInRoom:
            self._drop_remote_room(participant, room_id)
            raise
        except NodeUnreachable as exc:
            # Maybe only a moment (Redis restarting, a subscription coming back): the call is
            # kept, and the periodic check ends it if the host is really gone.
            log.warning("room %s: host node %s unreachable: %s", room_id, host, exc)
            raise MatchmakerUnavailable(
                "the node hosting your call cannot be reached right now; try again shortly"
            ) from exc

    def _knows(self, sender: str, request: Mapping[str, Any]) -> bool:
        """Whether ``sender``'s view of a cross-node call (sid in roomId) matches ours."""
        sid, room_id = str(request.get("sid")), request.get("roomId")
        guest = self._table.guest_of(sid)
        if guest is not None and guest.home == sender and guest.room_id == room_id:
            return True
        local = self._table.participant(sid)
        return local is not None and local.host == sender and local.room_id == room_id

    async def check_calls(self) -> None:
        """Ask the other node of every cross-node call whether it still has it. A member is
        dropped after two denials in a row (one check period apart), so a call whose claim
        reply is still in flight is never mistaken for a dead one."""
        members = [p for p in self._table.participants() if p.host is not None]
        members += self._table.guests()
        for member in members:
            other, room_id = member.host or member.home, member.room_id
            assert other is not None
            request = {"type": "check", "sid": member.sid, "roomId": room_id}
            try:
                known = (await self._cluster.call(other, request)).get("ok") is True
            except NodeUnreachable:
                known = False
            if known or member.room_id != room_id:
                self._suspects.discard(member.sid)
            elif member.sid not in self._suspects:
                self._suspects.add(member.sid)
            else:
                self._suspects.discard(member.sid)
                await self._drop_cross_node_member(member, room_id)

    async def _drop_cross_node_member(self, member: Participant, room_id: str | None) -> None:
        log.warning("room %s: node of %s no longer has the call; ending it", room_id, member.sid)
        if member.home is not None:  # a guest here: the room ends for its local member
            await self._local.leave_room(member, reason="disconnected")
        elif self._drop_remote_room(member, room_id):
            await self._emit(member.sid, "partner-left", {"reason": "node-unreachable"})

    @staticmethod
    def _drop_remote_room(participant: Participant, room_id: str | None) -> bool:
        if participant.room_id != room_id or participant.host is None:
            return False
        participant.clear_remote()
        return True

    async def leave_remote_room(self, participant: Participant, reason: str) -> bool:
        """Leave a room hosted by another node: clear it here and tell the host."""
        host, room_id = participant.host, participant.room_id
        assert host is not None
        participant.clear_remote()
        request = {"type": "signal", "sid": participant.sid, "roomId": room_id, "action": "leave"}
        try:
            await self._cluster.call(host, {**request, "data": {"reason": reason}})
        except NodeUnreachable as exc:
            log.warning("room %s: could not tell host %s that %s left: %s", room_id, host,
                        participant.sid, exc)  # fmt: skip
        return True

    async def release_member(self, room: Room, sid: str, reason: str, notify: bool) -> None:
        """``sid`` is out of ``room``, which closed: a guest's home node is told (it tells its
        client), a local member is told directly; ``notify`` False spares the one who left."""
        guest = self._table.guest_of(sid)
        if guest is not None and guest.room_id == room.room_id:
            self._table.forget_guest(sid)
            if notify:
                await self.tell_home(guest, room.room_id, reason)
            return
        member = self._table.participant(sid)
        if member is not None and member.room_id == room.room_id:
            member.room_id = None
        if notify:
            await self._emit(sid, "partner-left", {"reason": reason})

    async def tell_home(self, guest: Participant, room_id: str, reason: str) -> None:
        """The host dropped a guest: its home node clears it and tells its client."""
        assert guest.home is not None
        request = {"type": "release", "sid": guest.sid, "roomId": room_id, "reason": reason}
        try:
            await self._cluster.call(guest.home, request)
        except NodeUnreachable as exc:
            log.warning("room %s: could not tell node %s that the call ended: %s",
                        room_id, guest.home, exc)  # fmt: skip

    # ---- for group rooms pinned to this node or another (groups.py) -----------------------
    @property
    def node_id(self) -> str:
        return self._cluster.node_id

    @property
    def cluster(self) -> Cluster:
        return self._cluster

    def serve(self, kind: str, handler: RequestHandler) -> None:
        """Requests of ``kind`` from other nodes go to ``handler``: ``group`` (GroupRooms),
        ``admin`` (CallAdmin)."""
        self._services[kind] = handler
