"""Call admin across the cluster: what every node hosts, and the operator's actions on it.

The admin API (:mod:`liveloop_sfu.http.admin`) may be reached on any node, while a 1:1 call or
a group room lives on one node, its *host*. :class:`CallAdmin` answers for the rooms hosted here
and reaches the others through the same request/reply link as cross-node signalling
(:class:`~liveloop_sfu.cluster.base.Cluster`, served by :mod:`.cross_node`), with ``admin``
requests:

- ``list``: the rooms this node hosts, each with its id, node, kind (``call``/``group``), mode
  (``sfu``/``p2p``), participants, whether it is recorded and when it started;
- ``end``: end a call or group room; everyone in it gets ``partner-left {"reason": "removed"}``;
- ``remove``: take one participant out (it gets ``partner-left {"reason": "removed"}``; a 1:1
  call then ends for the other side too, as it does whenever one side leaves);
- ``record``: start or stop recording (a p2p call cannot be: its media never reaches the node).

A listing asks every live node at once, each with a short timeout (3 s): a node that does not
answer is named in ``unreachable`` instead of holding up the answer. An action goes to the node
that the shared room record (``rooms:{roomId}``) names as the host, which has 10 s to carry it
out.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from liveloop_sfu.cluster.base import NodeUnreachable, Reply, raise_if_error
from liveloop_sfu.errors import InvalidPayload, MatchmakerUnavailable, NotFound
from liveloop_sfu.media.session import Emit
from liveloop_sfu.rooms.records import Participant, Room
from liveloop_sfu.rooms.service import RoomService

log = logging.getLogger(__name__)

__all__ = ["ACTIONS", "ACTION_TIMEOUT", "ADMIN_TIMEOUT", "REMOVED", "CallAdmin"]

# Seconds another node has to answer a listing: an operator waits for the answer, and a node
# that is gone must not hold up the listing of the others for the link's 10 s.
ADMIN_TIMEOUT = 3.0
# Seconds the host has to carry out an action: stopping a recording finalizes its files, which a
# busy disk may take a few seconds to do.
ACTION_TIMEOUT = 10.0
ACTIONS = ("end", "remove", "record")
# partner-left reason of everyone an operator took out of a room (docs/protocol.md).
REMOVED = "removed"


class CallAdmin:
    def __init__(
        self,
        rooms: RoomService,
        emit: Emit,
        timeout: float = ADMIN_TIMEOUT,
        action_timeout: float = ACTION_TIMEOUT,
    ) -> None:
        self._rooms = rooms
        self._table = rooms.table
        self._nodes = rooms.nodes
        self._emit = emit
        self._timeout = timeout
        self._action_timeout = action_timeout
        rooms.nodes.serve("admin", self.handle_remote)

    # ---- the admin API's entry points --------------------------------------------------------
    async def live(self) -> dict[str, Any]:
        """Every room live on every node: ``{"rooms", "nodes", "unreachable"}`` (``nodes``: the
        nodes that answered; ``unreachable``: those that did not, or ``"shared-state"`` when
        the list of nodes itself could not be read)."""
        here = self._nodes.node_id
        unreachable: list[str] = []
        try:
            others = [node for node in await self._nodes.cluster.nodes() if node != here]
        except NodeUnreachable as exc:
            log.warning("admin listing: cannot list the nodes: %s", exc)
            others, unreachable = [], ["shared-state"]
        replies = await asyncio.gather(*(self._list_remote(node) for node in others))
        rooms = self.local_rooms()
        reached = [here]
        for node, listed in zip(others, replies, strict=True):
            if listed is None:
                unreachable.append(node)
            else:
                reached.append(node)
                rooms.extend(listed)
        rooms.sort(key=lambda room: (room["startedAt"], room["id"]))
        return {"rooms": rooms, "nodes": reached, "unreachable": unreachable}

    async def act(self, room_id: str, action: str, data: Mapping[str, Any]) -> Reply:
        """Run ``action`` on the room, here or on the node hosting it."""
        if action not in ACTIONS:
            raise InvalidPayload(f"unknown admin action {action!r}")
        if self._table.room(room_id) is not None:
            return await self._act_here(room_id, action, data)
        try:
            host = await self._nodes.cluster.room_host(room_id)
        except NodeUnreachable as exc:
            raise MatchmakerUnavailable("cannot tell which node hosts this room now") from exc
        if host is None or host == self._nodes.node_id:
            raise NotFound("no such call or room is live")
        request = {"type": "admin", "action": action, "roomId": room_id, "data": dict(data)}
        try:
            reply = await self._nodes.cluster.call(host, request, timeout=self._action_timeout)
        except NodeUnreachable as exc:
            raise MatchmakerUnavailable(
                f"the node hosting this room ({host}) does not answer: {exc}"
            ) from exc
        return raise_if_error(reply)

    # ---- requests from other nodes -------------------------------------------------------------
    async def handle_remote(self, sender: str, request: dict[str, Any]) -> Reply:
        action = request.get("action")
        if action == "list":
            return {"ok": True, "rooms": self.local_rooms()}
        room_id, data = request.get("roomId"), request.get("data")
        if not isinstance(room_id, str) or not isinstance(data, dict):
            raise InvalidPayload("an admin request needs roomId and data")
        log.info("admin %s of room %s asked by node %s", action, room_id, sender)
        return await self._act_here(room_id, str(action), data)

    async def _list_remote(self, node: str) -> list[dict[str, Any]] | None:
        try:
            request = {"type": "admin", "action": "list"}
            reply = await self._nodes.cluster.call(node, request, timeout=self._timeout)
        except NodeUnreachable as exc:
            log.warning("admin listing: node %s did not answer: %s", node, exc)
            return None
        rooms = reply.get("rooms")
        if not isinstance(rooms, list):
            return None
        return [room for room in rooms if isinstance(room, dict)]

    # ---- on the hosting node -------------------------------------------------------------------
    def local_rooms(self) -> list[dict[str, Any]]:
        return [self._describe(room) for room in self._table.rooms()]

    def _describe(self, room: Room) -> dict[str, Any]:
        here = self._nodes.node_id
        participants = [
            {"participantId": p.participant_id, "userName": p.user_name, "node": p.home or here}
            for p in self._table.members(room)
        ]
        return {
            "id": room.room_id,
            "kind": "group" if room.group else "call",
            "node": here,
            "mode": room.mode,
            "participants": participants,
            "recording": room.recording,
            "startedAt": room.created_at,
        }

    async def _act_here(self, room_id: str, action: str, data: Mapping[str, Any]) -> Reply:
        room = self._table.room(room_id)
        if room is None:
            raise NotFound("no such call or room is live")
        if action == "end":
            removed = await self._end(room)
            return {"ok": True, "roomId": room_id, "ended": True, "removed": removed}
        if action == "remove":
            person = self._member(room, data.get("participantId"))
            await self._remove(room, person)
            return {"ok": True, "roomId": room_id, "removed": person.participant_id}
        if action == "record":
            return await self._record(room, data.get("recording"))
        raise InvalidPayload(f"unknown admin action {action!r}")

    async def _record(self, room: Room, what: object) -> Reply:
        if what == "start":
            if room.mode != "sfu":
                raise InvalidPayload(
                    "this call is peer-to-peer (p2p): its media never passes through the node, "
                    "so it cannot be recorded"
                )
            return await self._rooms.start_recording(room.room_id)
        if what == "stop":
            return await self._rooms.stop_recording(room.room_id)
        raise InvalidPayload("action must be 'start' or 'stop'")

    def _member(self, room: Room, participant_id: object) -> Participant:
        for person in self._table.members(room):
            if person.participant_id == participant_id:
                return person
        raise NotFound("no such participant in this room")

    async def _end(self, room: Room) -> int:
        """Take everyone out (how many were in); a 1:1 call closes with its first member, and
        the other is told by the close."""
        people = self._table.members(room)
        for person in people:
            if self._table.room(room.room_id) is not room:
                break
            await self._remove(room, person)
        return len(people)

    async def _remove(self, room: Room, person: Participant) -> None:
        """``person`` leaves as if it had left itself (the others are told as usual), then is
        told it was removed: directly, or through its home node when it is a guest."""
        await self._rooms.leave_room(person, REMOVED)
        if person.home is not None:
            await self._nodes.tell_home(person, room.room_id, REMOVED)
        else:
            await self._emit(person.sid, "partner-left", {"reason": REMOVED})
        log.info("room %s: %s removed by the operator", room.room_id, person.participant_id)
