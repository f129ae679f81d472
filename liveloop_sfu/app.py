"""Wiring: settings → matchmaker, rooms, media, socket.io and HTTP in one aiohttp application."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import socketio
from aiohttp import web
from redis.asyncio import Redis

from liveloop_sfu.cluster.base import Cluster, InProcessCluster
from liveloop_sfu.cluster.redis import RedisCluster
from liveloop_sfu.cluster.socketio_manager import NodeLocalRedisManager
from liveloop_sfu.config import MediaSettings, NetworkSettings, Settings, TurnSettings
from liveloop_sfu.http.admin import AdminApi
from liveloop_sfu.http.metrics import NodeMetrics, SessionMetrics
from liveloop_sfu.http.public import HttpApi, origin_middleware
from liveloop_sfu.matchmaking.base import Matchmaker
from liveloop_sfu.matchmaking.memory import MemoryMatchmaker
from liveloop_sfu.matchmaking.redis import RedisMatchmaker, connect
from liveloop_sfu.media.session import Emit, MediaFailure, MediaSession
from liveloop_sfu.rooms.admin import CallAdmin
from liveloop_sfu.rooms.groups import GroupMediaFactory, GroupRooms
from liveloop_sfu.rooms.handoff import RecordingHandOff
from liveloop_sfu.rooms.recordings import RecordingService
from liveloop_sfu.rooms.resume import SessionAliases
from liveloop_sfu.rooms.safety import (
    MemoryReports,
    RedisReports,
    ReportStore,
    SafetyService,
)
from liveloop_sfu.rooms.service import IceServersFor, RoomService, SfuFactory
from liveloop_sfu.rooms.turn import TurnCredentials
from liveloop_sfu.signal.client_keys import ClientKeys
from liveloop_sfu.signal.handlers import SignalHandlers, make_emit
from liveloop_sfu.signal.limits import Limiter

log = logging.getLogger(__name__)


@dataclass
class Node:
    """Everything one node process owns; closed in reverse order of creation."""

    settings: Settings
    matchmaker: Matchmaker
    rooms: RoomService
    sio: socketio.AsyncServer
    limits: Limiter
    metrics: NodeMetrics
    recordings: RecordingService | None = None
    node_id: str = "local"
    cluster: Cluster | None = None
    # With --redis-url: closes the cluster link, the socket.io manager and the Redis client, at
    # cleanup (after the last socket's disconnect handler, which may still use them).
    close_shared: Callable[[], Awaitable[None]] | None = None
    started_at: float = field(default_factory=time.time)
    draining: bool = False

    async def close(self) -> None:
        """Drain (SIGTERM): refuse new clients, end every call (``partner-left`` with reason
        ``shutdown``, peer connections closed), tell every client ``server-shutdown``, then
        disconnect them — all within ``drain_timeout`` — and release the matchmaker."""
        self.draining = True
        try:
            if self.recordings is not None:
                await self.recordings.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drain(), self.settings.network.drain_timeout)
        finally:
            await self.matchmaker.close()

    async def _drain(self) -> None:
        try:
            await self.rooms.close()
        finally:
            sids = list(self.sio.manager.get_participants("/", None))
            for sid, _ in sids:
                with contextlib.suppress(Exception):
                    await self.sio.emit("server-shutdown", {"reason": "shutdown"}, to=sid)
            for sid, _ in sids:
                with contextlib.suppress(Exception):
                    await self.sio.disconnect(sid)


NODE_KEY: web.AppKey[Node] = web.AppKey("liveloop_node", Node)


def _cors(settings: NetworkSettings) -> str | list[str] | None:
    if "*" in settings.allowed_origins:
        return "*"
    return list(settings.allowed_origins) or None


def sfu_factory(settings: Settings, emit: Emit) -> SfuFactory | None:
    """Media of sfu calls; None for a p2p-only node, which then never loads aiortc."""
    if settings.rooms.mode == "p2p":
        return None
    from liveloop_sfu.media.sfu.session import SfuSession

    media = settings.media

    def make(room_id: str, on_failure: MediaFailure) -> MediaSession:
        return SfuSession(room_id, media, emit, on_failure)

    return make


def group_media_factory(settings: Settings, emit: Emit) -> GroupMediaFactory | None:
    """Media of group rooms (an sfu session in group mode); None for a p2p-only node."""
    if settings.rooms.mode == "p2p":
        return None
    from liveloop_sfu.media.sfu.session import SfuSession

    media = settings.media

    def make(room_id: str, on_failure: MediaFailure) -> MediaSession:
        return SfuSession(room_id, media, emit, on_failure, group=True)

    return make


# Builds the sfu media of a node from its settings (default: sfu_factory).
MediaFactory = Callable[[Settings, Emit], SfuFactory | None]


def ice_servers_for(media: MediaSettings, turn_settings: TurnSettings) -> IceServersFor:
    """``match-done.iceServers``: the configured servers, plus TURN REST credentials for this
    participant when ``--turn-urls``/``--turn-secret`` are set (liveloop_sfu/rooms/turn.py)."""
    static = [server.to_wire() for server in media.ice_servers]
    turn = None
    if turn_settings.urls and turn_settings.secret:
        turn = TurnCredentials(turn_settings.urls, turn_settings.secret, turn_settings.ttl)

    def servers(participant_id: str, now: float) -> list[dict[str, Any]]:
        if turn is None:
            return list(static)
        return [*static, turn.ice_server(participant_id, now)]

    return servers


def _tracked(factory: SfuFactory | None, metrics: NodeMetrics) -> SfuFactory | None:
    """Hand every sfu session to the metrics (read at scrape time, never on the hot path)."""
    if factory is None:
        return None

    def make(room_id: str, on_failure: MediaFailure) -> MediaSession:
        session = factory(room_id, on_failure)
        if isinstance(session, SessionMetrics):
            metrics.track_session(session)
        return session

    return make


def create_app(
    settings: Settings,
    media_factory: MediaFactory | None = None,
) -> web.Application:
    """The node's application. ``media_factory`` replaces the sfu media plane (the
    forwarding benchmark's decode/re-encode baseline, benchmarks/nodes/relay.py)."""
    node_id = new_node_id(settings.network)
    redis_url = settings.cluster.redis_url
    shared = RedisShared.connect(redis_url, node_id) if redis_url else None
    sio = _socketio_server(settings, shared)
    limits = Limiter(settings.limits)
    metrics = NodeMetrics(limits)
    aliases = SessionAliases()
    emit = metrics.observing(make_emit(sio, aliases.socket))
    matchmaker: Matchmaker = shared.matchmaker if shared is not None else MemoryMatchmaker()
    cluster: Cluster = shared.cluster if shared is not None else InProcessCluster(node_id)
    media = _tracked((media_factory or sfu_factory)(settings, emit), metrics)
    if media is not None:  # this node loads aiortc anyway; a p2p node never does
        from liveloop_sfu.media.transport.ice_gathering import GuardedStunProtocol

        metrics.refused_datagrams = lambda: GuardedStunProtocol.dropped
    handoff = RecordingHandOff(settings.recording)
    metrics.handoff = handoff
    recordings = RecordingService(
        settings.recording,
        emit,
        on_finished=handoff.recording_finished if handoff.enabled else None,
    )
    rooms = RoomService(
        settings.rooms,
        matchmaker,
        emit,
        media,
        cluster=cluster,
        recordings=recordings,
        ice_servers_for=ice_servers_for(settings.media, settings.turn),
    )
    groups = GroupRooms(
        settings.rooms, rooms, emit, _tracked(group_media_factory(settings, emit), metrics)
    )
    metrics.attach(rooms)
    node = Node(
        settings=settings,
        matchmaker=matchmaker,
        rooms=rooms,
        sio=sio,
        limits=limits,
        metrics=metrics,
        node_id=node_id,
        cluster=cluster,
        close_shared=shared.close if shared is not None else None,
        recordings=recordings,
    )
    reports: ReportStore = (
        RedisReports(shared.client, shared.matchmaker.keys.prefix + "reports")
        if shared is not None
        else MemoryReports()
    )
    handlers = _signal_handlers(settings, node, groups, reports, aliases)
    app = web.Application(middlewares=[origin_middleware(settings.network)])
    app[NODE_KEY] = node
    sio.attach(app)
    _add_routes(app, settings, node, groups, (CallAdmin(rooms, emit), recordings, reports))
    _add_lifecycle(app, node, shared, handlers, (recordings, handoff))
    return app


def _socketio_server(settings: Settings, shared: RedisShared | None) -> socketio.AsyncServer:
    return socketio.AsyncServer(
        async_mode="aiohttp",
        # With Redis: events to sockets of other nodes go through Redis, local ones never do.
        client_manager=shared.manager if shared is not None else None,
        cors_allowed_origins=_cors(settings.network),
        ping_interval=settings.socketio.ping_interval,
        ping_timeout=settings.socketio.ping_timeout,
        max_http_buffer_size=settings.socketio.max_message_bytes,
        # Payloads carry SDP, names and images: never log them.
        logger=False,
        engineio_logger=False,
    )


def _signal_handlers(
    settings: Settings,
    node: Node,
    groups: GroupRooms,
    reports: ReportStore,
    aliases: SessionAliases,
) -> SignalHandlers:
    safety = SafetyService(node.rooms, node.matchmaker, reports, settings.safety.report_block_days)
    handlers = SignalHandlers(
        node.sio,
        node.rooms,
        node.limits,
        groups=groups,
        safety=safety,
        client_keys=ClientKeys(settings.safety.client_key_secret),
        aliases=aliases,
        resume_grace=settings.rooms.resume_grace,
        trusted_proxies=settings.network.trusted_proxies,
        is_draining=lambda: node.draining,
        on_event=node.metrics.on_event,
    )
    handlers.register()
    return handlers


def _add_routes(
    app: web.Application,
    settings: Settings,
    node: Node,
    groups: GroupRooms,
    admin: tuple[CallAdmin, RecordingService, ReportStore],
) -> None:
    # The admin routes go before the public catch-all.
    AdminApi(settings.admin.token, *admin).add_routes(app)
    HttpApi(
        settings.rooms,
        node.rooms,
        node.matchmaker,
        node.started_at,
        lambda: node.draining,
        node_id=node.node_id,
        metrics=node.metrics,
        groups=groups,
        web_root=settings.network.web_root,
    ).add_routes(app)


def _add_lifecycle(
    app: web.Application,
    node: Node,
    shared: RedisShared | None,
    handlers: SignalHandlers,
    recording: tuple[RecordingService, RecordingHandOff],
) -> None:
    recordings, handoff = recording

    async def on_startup(app: web.Application) -> None:
        if shared is not None:
            await shared.start(reconcile=node.rooms.resync)
            log.info("node %s shares Redis with the other nodes", node.node_id)
            if node.settings.safety.client_key_secret is None:
                # Each process then signs client keys with its own random secret: a browser
                # that reconnects to another node becomes a new browser there, and the blocks
                # of its reports (or against it) do not follow it (docs/hardening.md, Safety).
                log.warning(
                    "no --client-key-secret: the other nodes will not honour this node's "
                    "client keys; set one secret on every node"
                )
        recordings.start_background()
        if handoff.enabled:
            await handoff.start()

    async def on_shutdown(app: web.Application) -> None:
        await handlers.resumption.close()
        try:
            await node.close()  # stops the recordings: their hand-offs are queued on disk
        finally:
            await handoff.close()

    async def on_cleanup(app: web.Application) -> None:
        if node.close_shared is not None:
            await node.close_shared()

    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)
    app.on_cleanup.append(on_cleanup)


def new_node_id(settings: NetworkSettings) -> str:
    """Unique per running node: host name and port for people, a random part for restarts."""
    return f"{socket.gethostname()}:{settings.port}:{secrets.token_hex(3)}"


@dataclass
class RedisShared:
    """What a node shares with the others through Redis (``--redis-url``): the matchmaker, the
    node-to-node link for cross-node calls and socket.io's fan-out, over one fail-fast client."""

    client: Redis
    matchmaker: RedisMatchmaker
    cluster: RedisCluster
    manager: NodeLocalRedisManager

    @classmethod
    def connect(cls, url: str, node_id: str) -> RedisShared:
        client = connect(url)
        return cls(
            client=client,
            matchmaker=RedisMatchmaker(client, node_id=node_id),
            cluster=RedisCluster(client, node_id),
            manager=NodeLocalRedisManager(client),
        )

    async def start(self, reconcile: Callable[[], Awaitable[None]]) -> None:
        self.matchmaker.start(reconcile=reconcile)
        await self.cluster.start()

    async def close(self) -> None:
        """After the matchmaker closed (it retires this node's users through the client)."""
        try:
            await self.cluster.close()
            await self.manager.close()
        finally:
            await self.client.aclose()


def ssl_context(settings: NetworkSettings) -> ssl.SSLContext | None:
    if settings.tls_cert is None or settings.tls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(settings.tls_cert, settings.tls_key)
    return context
