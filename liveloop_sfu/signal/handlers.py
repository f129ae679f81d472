"""The socket.io boundary: validate, delegate to :class:`RoomService`, return the ack.

Handlers keep no state of their own but one lock per client: python-socketio runs every event as
its own task (``async_handlers=True``), so without it an offer could overtake the request-room
that precedes it. Tasks start in arrival order and ``asyncio.Lock`` wakes waiters in FIFO order,
so holding the lock for the whole handler preserves each client's event order.

This is the one place where a :class:`LiveLoopError` becomes a wire error; anything else that
escapes is logged and reported as ``internal`` without its text.

Abuse limits (:mod:`.limits`) are charged here, generically, *before* the client's
lock is taken: every event registered in ``_handlers`` — and every unknown one — costs a token of
its class, so a flood is refused at once instead of queueing behind the lock, and events added
later are limited without further code (unlisted names fall in the ``other`` class).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import socketio

from liveloop_sfu.errors import Capacity, InternalError, InvalidPayload, LiveLoopError, RateLimited
from liveloop_sfu.logs import log_context
from liveloop_sfu.media.session import Emit
from liveloop_sfu.rooms.groups import GroupRooms
from liveloop_sfu.rooms.resume import Resumption, SessionAliases
from liveloop_sfu.rooms.safety import SafetyService
from liveloop_sfu.rooms.service import RoomService
from liveloop_sfu.signal import messages
from liveloop_sfu.signal.client_keys import ClientKeys
from liveloop_sfu.signal.limits import Limiter, LimitSettings, Verdict, client_ip
from liveloop_sfu.signal.liveness import last_pong

log = logging.getLogger(__name__)

Ack = dict[str, Any]
# python-socketio's disconnect reason for a socket that stopped answering pings.
PING_TIMEOUT = "ping timeout"
Handler = Callable[[str, Any], Awaitable[Ack]]


def make_emit(sio: socketio.AsyncServer, route: Callable[[str], str] = str) -> Emit:
    """The ``Emit`` the rest of the node uses to reach one client; ``route`` maps a session id
    to the socket that carries it now (resumed clients, :class:`SessionAliases`)."""

    async def emit(sid: str, event: str, payload: Mapping[str, Any]) -> None:
        # A client that is already gone is not an error of the sender's.
        try:
            await sio.emit(event, dict(payload), to=route(sid))
        except Exception:
            log.warning("could not deliver %s to %s", event, sid, exc_info=True)

    return emit


class SignalHandlers:
    def __init__(
        self,
        sio: socketio.AsyncServer,
        rooms: RoomService,
        limits: Limiter | None = None,
        *,
        groups: GroupRooms | None = None,
        safety: SafetyService | None = None,
        client_keys: ClientKeys | None = None,
        aliases: SessionAliases | None = None,
        resume_grace: float = 0.0,
        trusted_proxies: tuple[str, ...] = (),
        is_draining: Callable[[], bool] = lambda: False,
        on_event: Callable[[str, str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sio = sio
        self._rooms = rooms
        self._groups = groups
        self._safety = safety
        self._client_keys = client_keys or ClientKeys(None)
        self._aliases = aliases if aliases is not None else SessionAliases()
        self.resumption = Resumption(
            rooms, self._aliases, resume_grace, rooms.disconnect, close_socket=self._kick
        )
        self._limits = limits or Limiter(LimitSettings())
        self._trusted_proxies = trusted_proxies
        self._is_draining = is_draining
        self._on_event = on_event  # (sid, event) of admitted events and disconnects: metrics
        self._clock = clock
        self._next_prune = 0.0
        # Server-side disconnects: flooding clients, sockets a resume superseded.
        self._kicks: set[asyncio.Task[None]] = set()
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
            "set-video-quality": self._video_quality,
            "get-video-layers": self._video_layers,
            "report-partner": self._report_partner,
            "skip-partner": self._skip_partner,
            "resume": self._resume,
            "probe": self._probe,
        }

    def register(self) -> None:
        self._sio.on("connect", self._on_connect)
        self._sio.on("disconnect", self._on_disconnect)
        for event, handler in self._handlers.items():
            self._sio.on(event, self._wrap(event, handler))
        self._sio.on("*", self._on_unknown)

    # ---- lifecycle ------------------------------------------------------------------------
    async def _on_connect(self, sid: str, environ: Mapping[str, Any], auth: Any = None) -> None:
        if self._is_draining():
            raise socketio.exceptions.ConnectionRefusedError(
                {"code": "capacity", "message": "the node is shutting down"}
            )
        ip = self.client_ip(environ)
        now = self._clock()
        if now >= self._next_prune:
            self._next_prune = now + 10.0
            self._limits.prune(now)
        try:
            self._limits.open(sid, ip, now)
        except RateLimited as exc:
            log.info("refused a connection: %s", exc.message, extra={"client_ip": ip})
            raise socketio.exceptions.ConnectionRefusedError(exc.to_wire()["error"]) from exc
        self._locks[sid] = asyncio.Lock()
        participant = self._rooms.connect(sid)
        participant.client_id, participant.client_key = self._client_keys.from_auth(auth)
        if not (isinstance(auth, dict) and auth.get("resume") is True):
            # Only a client that says it can resume gets a token and, later, a grace.
            participant.resume_token = None
        log.debug("connected", extra={"sid": sid, "peer_id": participant.participant_id})

    def client_ip(self, environ: Mapping[str, Any]) -> str:
        """The TCP peer, or what a trusted proxy says in X-Forwarded-For."""
        request = environ.get("aiohttp.request")
        peer = getattr(request, "remote", None) if request is not None else None
        forwarded = environ.get("HTTP_X_FORWARDED_FOR")
        return client_ip(peer, forwarded, self._trusted_proxies)

    async def _on_disconnect(self, sid: str, *reason: Any) -> None:
        lock = self._locks.get(sid)
        why = str(reason[0]) if reason else ""
        # Read before anything awaits: engine.io forgets the socket soon after this handler.
        pong = last_pong(self._sio, sid) if why == PING_TIMEOUT else None
        try:
            if lock is None:
                await self._gone(sid, why, pong)
                return
            async with lock:
                await self._gone(sid, why, pong)
        except Exception:
            log.exception("cleanup after %s disconnected failed", sid)
        finally:
            self._locks.pop(sid, None)
            self._limits.close(sid)
            if self._on_event is not None:
                self._on_event(sid, "disconnect")

    async def _gone(self, sid: str, why: str, last_pong: float | None) -> None:
        """A socket closed: its session leaves, or waits for a resume (rooms/resume.py)."""
        session = self._aliases.session(sid)
        log.debug("socket closed (%s)", why, extra={"sid": sid})
        if not self.resumption.detach(sid, why, last_pong):
            await self._rooms.disconnect(session)

    async def _on_unknown(self, event: str, sid: str, *args: Any) -> Ack:
        refusal = self._admit(sid, event)
        if refusal is not None:
            return refusal
        log.debug("ignored unknown event %r from %s", event[:64], sid)
        return InvalidPayload("unknown event").to_wire()

    def _admit(self, sid: str, event: str) -> Ack | None:
        """Charge the event to the client's budgets; the error ack if it is refused."""
        verdict = self._limits.check(sid, event, self._clock())
        if verdict is Verdict.ALLOW:
            return None
        if verdict is Verdict.DISCONNECT and sid in self._locks:
            log.warning("disconnecting a flooding client", extra={"sid": sid})
            self._kick(sid)
        return RateLimited("too many events; slow down").to_wire()

    def _kick(self, sid: str) -> None:
        """Disconnect a socket from the server side. Not awaited: the disconnect handler takes
        that client's lock, which an earlier event of the same client may hold."""
        task = asyncio.get_running_loop().create_task(self._sio.disconnect(sid))
        self._kicks.add(task)
        task.add_done_callback(self._kicks.discard)

    def _wrap(self, event: str, handler: Handler) -> Callable[..., Awaitable[Ack]]:
        async def run(sid: str, *args: Any) -> Ack:
            refusal = self._admit(sid, event)
            if refusal is not None:
                return refusal
            lock = self._locks.get(sid)
            if lock is None:  # an event racing its own disconnect
                return InvalidPayload("not connected").to_wire()
            if self._on_event is not None:
                self._on_event(sid, event)
            async with lock:
                # Handlers see the session id (a resumed client's first socket id); resume
                # itself needs the socket.
                session = sid if event == "resume" else self._aliases.session(sid)
                participant = self._rooms.participant(session)
                with log_context(
                    sid=session,
                    event=event,
                    peer_id=participant.participant_id if participant else None,
                    room_id=participant.room_id if participant else None,
                ):
                    return await self._run(event, session, handler, args[0] if args else None)

        return run

    async def _run(self, event: str, sid: str, handler: Handler, payload: Any) -> Ack:
        try:
            return await handler(sid, payload)
        except LiveLoopError as exc:
            return exc.to_wire()
        except Exception:
            log.exception("handler for %s failed", event)
            return InternalError("the node failed to handle this event").to_wire()

    # ---- events ---------------------------------------------------------------------------
    async def _request_room(self, sid: str, payload: Any) -> Ack:
        ack = await self._rooms.request_room(sid, messages.parse_request_room(payload))
        participant = self._rooms.participant(sid)
        if participant is not None and participant.client_key is not None:
            # The browser keeps it and presents it in the auth of its next connections.
            ack["clientKey"] = participant.client_key
        return ack

    async def _stop_call(self, sid: str, payload: Any) -> Ack:
        messages.parse_empty(payload)
        return await self._rooms.stop_call(sid)

    async def _offer(self, sid: str, payload: Any) -> Ack:
        sdp = messages.parse_sdp(payload, "offer").sdp
        self._limits.check_sdp(sdp)
        await self._rooms.offer(sid, sdp)
        return {"ok": True}

    async def _answer(self, sid: str, payload: Any) -> Ack:
        sdp = messages.parse_sdp(payload, "answer").sdp
        self._limits.check_sdp(sdp)
        await self._rooms.answer(sid, sdp)
        return {"ok": True}

    async def _candidate(self, sid: str, payload: Any) -> Ack:
        candidate = messages.parse_candidate(payload).init
        participant = self._rooms.participant(sid)
        self._limits.count_candidate(sid, participant.room_id if participant else None)
        await self._rooms.candidate(sid, candidate)
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

    async def _video_quality(self, sid: str, payload: Any) -> Ack:
        request = messages.parse_video_quality(payload)
        return await self._group_rooms().set_video_quality(sid, request)

    async def _video_layers(self, sid: str, payload: Any) -> Ack:
        messages.parse_empty(payload)
        return await self._group_rooms().video_layers(sid)

    # ---- safety among strangers -----------------------------------------------------------
    def _safety_service(self) -> SafetyService:
        if self._safety is None:
            raise Capacity("this node does not take reports")
        return self._safety

    async def _report_partner(self, sid: str, payload: Any) -> Ack:
        request = messages.parse_report_partner(payload)
        return await self._safety_service().report(sid, request)

    async def _skip_partner(self, sid: str, payload: Any) -> Ack:
        messages.parse_empty(payload)
        return await self._safety_service().skip(sid)

    # ---- resume -----------------------------------------------------------------------------
    async def _probe(self, sid: str, payload: Any) -> Ack:
        """Is this socket still alive? The browser asks when its media path died, which after
        a network change its socket usually did too (docs/protocol.md, "probe"): an answer
        says the socket lives; none in time, and the client reconnects and resumes at once
        instead of waiting for its own ping timeout."""
        messages.parse_empty(payload)
        return {"ok": True}

    async def _resume(self, sid: str, payload: Any) -> Ack:
        token = messages.parse_resume(payload)
        own = self._rooms.participant(self._aliases.session(sid))
        if own is not None and (own.room_id is not None or own.waiting):
            raise InvalidPayload("resume belongs on a new connection, before anything else")
        return await self.resumption.resume(sid, token)
