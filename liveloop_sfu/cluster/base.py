"""The seam between a node's rooms and the other nodes of the service.

A 1:1 call is pinned to one node, the *host* (the node that made the match); a group room to the
node that claimed it first (:meth:`Cluster.claim_room`). A participant whose
socket lives on another node, its *home*, is a *guest* of the host's room: its signaling (offer,
answer, ICE candidates, chat, leaving) is sent to the host as a request, and the host's events to
it (match-done, the node's answer, the partner's chat) travel through the socket.io manager like
any emit. :class:`~liveloop_sfu.rooms.service.RoomService`
speaks only this Protocol; it decides what
the requests mean, a :class:`Cluster` only carries them.

Two implementations: :class:`InProcessCluster`, nodes in one process joined by a
:class:`ClusterHub` (the single-node default is a hub with one node; tests run several
RoomServices on one hub), and :class:`~liveloop_sfu.cluster.redis.RedisCluster`, which carries
requests between node processes over Redis pub/sub.

Requests and replies are JSON objects. A reply is either an ack (``{"ok": true, ...}``) or a wire
error (``{"error": {"code", "message"}}``), so a refusal on the host reaches the guest's client
with the host's stable code.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from liveloop_sfu import errors
from liveloop_sfu.errors import LiveLoopError

Request = dict[str, Any]
Reply = dict[str, Any]
# (node the request came from, request) -> reply. Served by RoomService.handle_remote.
RequestHandler = Callable[[str, Request], Awaitable[Reply]]


class NodeUnreachable(Exception):
    """The other node did not answer (gone, or the link between nodes is down)."""


class Cluster(Protocol):
    """How a node reaches the others. ``node_id`` is unique per running node."""

    node_id: str

    def serve(self, handler: RequestHandler) -> None:
        """Requests from other nodes go to ``handler`` from now on."""

    async def call(self, node: str, request: Request, timeout: float | None = None) -> Reply:
        """Deliver ``request`` to ``node`` and return its reply; raise :class:`NodeUnreachable`
        when it cannot be reached or does not answer within ``timeout`` seconds (None: the
        link's own timeout)."""

    async def nodes(self) -> list[str]:
        """The ids of the nodes alive now, this one included (the admin API asks each of them
        what it hosts). Raises :class:`NodeUnreachable` when the shared state cannot be
        reached."""

    async def room_host(self, room_id: str) -> str | None:
        """The node a room or call is pinned to, from the shared record (``rooms:{roomId}``),
        or None when no node has published it."""

    async def room_opened(self, room_id: str, record: Mapping[str, str]) -> None:
        """Publish where a room lives and who is in it (the seed's ``rooms:{roomId}``)."""

    async def room_closed(self, room_id: str) -> None: ...

    async def claim_room(self, room_id: str) -> str:
        """The node a group room is pinned to: this one when the room was free (or pinned to a
        node that is no longer alive), else the live node holding it. Atomic across nodes, and
        called again on every join, which keeps the claim of a long-lived room fresh. Raises
        :class:`NodeUnreachable` when the shared state cannot be reached."""

    async def release_room(self, room_id: str) -> None:
        """Drop this node's claim on a group room (it closed); a claim held by another node is
        left alone."""


_ERRORS: Mapping[str, type[LiveLoopError]] = {
    cls.code: cls
    for cls in (
        errors.InvalidPayload,
        errors.NotInRoom,
        errors.RateLimited,
        errors.RoomFull,
        errors.Unauthorized,
        errors.MatchmakerUnavailable,
        errors.Capacity,
        errors.NotFound,
        errors.InternalError,
    )
}


def raise_if_error(reply: Reply) -> Reply:
    """The ack of a reply, or its wire error raised again as the same :class:`LiveLoopError`."""
    error = reply.get("error")
    if isinstance(error, dict):
        cls = _ERRORS.get(str(error.get("code")), errors.InternalError)
        raise cls(str(error.get("message", "")))
    return reply


class ClusterHub:
    """Nodes of one process. A request is copied through JSON, as it would be on the wire."""

    def __init__(self) -> None:
        self._handlers: dict[str, RequestHandler] = {}
        self.rooms: dict[str, dict[str, str]] = {}

    def node(self, node_id: str) -> InProcessCluster:
        return InProcessCluster(node_id, self)

    def register(self, node_id: str, handler: RequestHandler) -> None:
        self._handlers[node_id] = handler

    def leave(self, node_id: str) -> None:
        self._handlers.pop(node_id, None)

    def claim(self, room_id: str, node_id: str) -> str:
        owner = self.rooms.get(room_id, {}).get("host")
        if owner is not None and (owner == node_id or owner in self._handlers):
            return owner  # a 1:1 call's record stays as it is: its node refuses the join
        self.rooms[room_id] = {"host": node_id, "kind": "group"}
        return node_id

    def release(self, room_id: str, node_id: str) -> None:
        if self.rooms.get(room_id) == {"host": node_id, "kind": "group"}:
            del self.rooms[room_id]

    def running(self) -> list[str]:
        return sorted(self._handlers)

    async def deliver(
        self, sender: str, node: str, request: Request, timeout: float | None = None
    ) -> Reply:
        handler = self._handlers.get(node)
        if handler is None:
            raise NodeUnreachable(f"node {node!r} is not running")
        try:
            copied = json.loads(json.dumps(request))
            reply = await asyncio.wait_for(handler(sender, copied), timeout)
        except TimeoutError as exc:
            raise NodeUnreachable(f"node {node!r} did not answer within {timeout:g} s") from exc
        result: Reply = json.loads(json.dumps(reply))
        return result


class InProcessCluster:
    """One node of a :class:`ClusterHub`; ``InProcessCluster("local")`` alone is one node."""

    def __init__(self, node_id: str, hub: ClusterHub | None = None) -> None:
        self.node_id = node_id
        self._hub = hub or ClusterHub()

    def serve(self, handler: RequestHandler) -> None:
        self._hub.register(self.node_id, handler)

    async def call(self, node: str, request: Request, timeout: float | None = None) -> Reply:
        return await self._hub.deliver(self.node_id, node, request, timeout)

    async def nodes(self) -> list[str]:
        return sorted({self.node_id, *self._hub.running()})

    async def room_host(self, room_id: str) -> str | None:
        return self._hub.rooms.get(room_id, {}).get("host")

    async def room_opened(self, room_id: str, record: Mapping[str, str]) -> None:
        self._hub.rooms[room_id] = dict(record)

    async def room_closed(self, room_id: str) -> None:
        self._hub.rooms.pop(room_id, None)

    async def claim_room(self, room_id: str) -> str:
        return self._hub.claim(room_id, self.node_id)

    async def release_room(self, room_id: str) -> None:
        self._hub.release(room_id, self.node_id)

    def close(self) -> None:
        self._hub.leave(self.node_id)
