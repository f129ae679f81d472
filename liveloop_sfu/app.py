"""Wiring: settings → matchmaker, rooms, media, socket.io and HTTP in one aiohttp application."""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import socketio
from aiohttp import web

from liveloop_sfu.config import Settings
from liveloop_sfu.groups import GroupMediaFactory, GroupRooms
from liveloop_sfu.httpapi import HttpApi, origin_middleware
from liveloop_sfu.matchmaking.base import Matchmaker
from liveloop_sfu.matchmaking.memory import MemoryMatchmaker
from liveloop_sfu.media.session import Emit, MediaFailure, MediaSession
from liveloop_sfu.media.settings import MediaSettings
from liveloop_sfu.rooms import RoomService, SfuFactory
from liveloop_sfu.signal.handlers import SignalHandlers, make_emit

log = logging.getLogger(__name__)


@dataclass
class Node:
    """Everything one node process owns; closed in reverse order of creation."""

    settings: Settings
    matchmaker: Matchmaker
    rooms: RoomService
    sio: socketio.AsyncServer
    started_at: float = field(default_factory=time.time)
    draining: bool = False

    async def close(self) -> None:
        self.draining = True
        try:
            await self.rooms.close()
        finally:
            await self.matchmaker.close()


NODE_KEY: web.AppKey[Node] = web.AppKey("liveloop_node", Node)


def _cors(settings: Settings) -> str | list[str] | None:
    if "*" in settings.allowed_origins:
        return "*"
    return list(settings.allowed_origins) or None


def media_settings(settings: Settings) -> MediaSettings:
    return MediaSettings(
        ice_servers=tuple(server.to_wire() for server in settings.ice_servers),
        host_addresses=settings.media_addresses,
        announced_ip=settings.announced_ip,
        port_min=settings.rtc_min_port,
        port_max=settings.rtc_max_port,
        connect_timeout=settings.media_connect_timeout,
    )


def sfu_factory(settings: Settings, emit: Emit) -> SfuFactory | None:
    """Media of sfu calls; None for a p2p-only node, which then never loads aiortc."""
    if settings.mode == "p2p":
        return None
    from liveloop_sfu.media.sfu import SfuSession

    media = media_settings(settings)

    def make(room_id: str, on_failure: MediaFailure) -> MediaSession:
        return SfuSession(room_id, media, emit, on_failure)

    return make


def group_media_factory(settings: Settings, emit: Emit) -> GroupMediaFactory | None:
    """Media of group rooms (an sfu session in group mode); None for a p2p-only node."""
    if settings.mode == "p2p":
        return None
    from liveloop_sfu.media.sfu import SfuSession

    media = media_settings(settings)

    def make(room_id: str, on_failure: MediaFailure) -> MediaSession:
        return SfuSession(room_id, media, emit, on_failure, group=True)

    return make


# Builds the sfu media of a node from its settings (default: sfu_factory).
MediaFactory = Callable[[Settings, Emit], SfuFactory | None]


def create_app(
    settings: Settings,
    media_factory: MediaFactory | None = None,
) -> web.Application:
    """The node's application. ``media_factory`` replaces the sfu media plane (the
    forwarding benchmark's decode/re-encode baseline, benchmarks/relay_node.py)."""
    sio = socketio.AsyncServer(
        async_mode="aiohttp",
        cors_allowed_origins=_cors(settings),
        ping_interval=settings.ping_interval,
        ping_timeout=settings.ping_timeout,
        max_http_buffer_size=settings.max_message_bytes,
        # Payloads carry SDP, names and images: never log them.
        logger=False,
        engineio_logger=False,
    )
    emit = make_emit(sio)
    matchmaker = MemoryMatchmaker()
    rooms = RoomService(settings, matchmaker, emit, (media_factory or sfu_factory)(settings, emit))
    groups = GroupRooms(settings, rooms, emit, group_media_factory(settings, emit))
    SignalHandlers(sio, rooms, groups).register()
    node = Node(settings=settings, matchmaker=matchmaker, rooms=rooms, sio=sio)

    app = web.Application(middlewares=[origin_middleware(settings)])
    app[NODE_KEY] = node
    sio.attach(app)
    HttpApi(
        settings, rooms, matchmaker, node.started_at, lambda: node.draining, groups=groups
    ).add_routes(app)

    async def on_shutdown(app: web.Application) -> None:
        await node.close()

    app.on_shutdown.append(on_shutdown)
    return app


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    if settings.tls_cert is None or settings.tls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(settings.tls_cert, settings.tls_key)
    return context
