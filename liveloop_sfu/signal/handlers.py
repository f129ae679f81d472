"""The socket.io boundary: validate, delegate to :class:`RoomService`, return the ack.

Handlers keep no state of their own but one lock per client: python-socketio runs every event as
its own task (``async_handlers=True``), so without it an offer could overtake the request-room
that precedes it. Tasks start in arrival order and ``asyncio.Lock`` wakes waiters in FIFO order,
so holding the lock for the whole handler preserves each client's event order.

This is the one place where a :class:`LiveLoopError` becomes a wire error; anything else that
escapes is logged and reported as ``internal`` without its text.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import socketio

from liveloop_sfu.errors import Capacity, InternalError, InvalidPayload, LiveLoopError
from liveloop_sfu.groups import GroupRooms
from liveloop_sfu.media.session import Emit
from liveloop_sfu.rooms import RoomService
from liveloop_sfu.signal import messages

log = logging.getLogger(__name__)

Ack = dict[str, Any]
Handler = Callable[[str, Any], Awaitable[Ack]]


def make_emit(sio: socketio.AsyncServer) -> Emit:
    """The ``Emit`` the rest of the node uses to reach one client."""

    async def emit(sid: str, event: str, payload: Mapping[str, Any]) -> None:
        # A client that is already gone is not an error of the sender's.
        try:
            await sio.emit(event, dict(payload), to=sid)
        except Exception:
            log.warning("could not deliver %s to %s", event, sid, exc_info=True)

    return emit


class SignalHandlers:
    def __init__(
        self, sio: socketio.AsyncServer, rooms: RoomService, groups: GroupRooms | None = None
    ) -> None:
        self._sio = sio
        self._rooms = rooms
        self._groups = groups
        self._locks: dict[str, asyncio.Lock] = {}
        self._handlers: dict[str, Handler] = {
            "request-room": self._request_room,
            "stop-call": self._stop_call,
            "negotiation-call-offer": self._offer,
            "negotiation-call-answer": self._answer,
            "send-new-ice-candidates": self._candidate,
            "newMessage": self._chat,
            "join-room": self._join_room,
            "leave-room": self._leave_room,
            "media-state": self._media_state,
        }

    def register(self) -> None:
        self._sio.on("connect", self._on_connect)
        self._sio.on("disconnect", self._on_disconnect)
        for event, handler in self._handlers.items():
            self._sio.on(event, self._wrap(event, handler))
        self._sio.on("*", self._on_unknown)

    # ---- lifecycle ------------------------------------------------------------------------
    async def _on_connect(self, sid: str, environ: Mapping[str, Any], auth: Any = None) -> None:
        self._locks[sid] = asyncio.Lock()
        participant = self._rooms.connect(sid)
        log.debug("connected %s as %s", sid, participant.participant_id)

    async def _on_disconnect(self, sid: str, *reason: Any) -> None:
        lock = self._locks.get(sid)
        try:
            if lock is None:
                await self._rooms.disconnect(sid)
                return
            async with lock:
                await self._rooms.disconnect(sid)
        except Exception:
            log.exception("cleanup after %s disconnected failed", sid)
        finally:
            self._locks.pop(sid, None)

    async def _on_unknown(self, event: str, sid: str, *args: Any) -> Ack:
        log.debug("ignored unknown event %r from %s", event[:64], sid)
        return InvalidPayload("unknown event").to_wire()

    def _wrap(self, event: str, handler: Handler) -> Callable[..., Awaitable[Ack]]:
        async def run(sid: str, *args: Any) -> Ack:
            lock = self._locks.get(sid)
            if lock is None:  # an event racing its own disconnect
                return InvalidPayload("not connected").to_wire()
            async with lock:
                try:
                    return await handler(sid, args[0] if args else None)
                except LiveLoopError as exc:
                    return exc.to_wire()
                except Exception:
                    log.exception("handler for %s failed (sid %s)", event, sid)
                    return InternalError("the node failed to handle this event").to_wire()

        return run

    # ---- events ---------------------------------------------------------------------------
    async def _request_room(self, sid: str, payload: Any) -> Ack:
        return await self._rooms.request_room(sid, messages.parse_request_room(payload))

    async def _stop_call(self, sid: str, payload: Any) -> Ack:
        messages.parse_empty(payload)
        return await self._rooms.stop_call(sid)

    async def _offer(self, sid: str, payload: Any) -> Ack:
        await self._rooms.offer(sid, messages.parse_sdp(payload, "offer").sdp)
        return {"ok": True}

    async def _answer(self, sid: str, payload: Any) -> Ack:
        await self._rooms.answer(sid, messages.parse_sdp(payload, "answer").sdp)
        return {"ok": True}

    async def _candidate(self, sid: str, payload: Any) -> Ack:
        await self._rooms.candidate(sid, messages.parse_candidate(payload).init)
        return {"ok": True}

    async def _chat(self, sid: str, payload: Any) -> Ack:
        return await self._rooms.chat(sid, messages.parse_chat(payload).message)

    # ---- group rooms ----------------------------------------------------------------------
    def _group_rooms(self) -> GroupRooms:
        if self._groups is None:
            raise Capacity("this node does not host group rooms")
        return self._groups

    async def _join_room(self, sid: str, payload: Any) -> Ack:
        return await self._group_rooms().join(sid, messages.parse_join_room(payload))

    async def _leave_room(self, sid: str, payload: Any) -> Ack:
        messages.parse_empty(payload)
        return await self._group_rooms().leave(sid)

    async def _media_state(self, sid: str, payload: Any) -> Ack:
        return await self._group_rooms().media_state(sid, messages.parse_media_state(payload))
