"""Wiring: settings → matchmaker, rooms, media, socket.io and HTTP in one aiohttp application."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets
import signal
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import socketio
from aiohttp import web
from aiohttp.web_runner import GracefulExit
from redis.asyncio import Redis

from liveloop_sfu.cluster.base import Cluster, InProcessCluster
from liveloop_sfu.cluster.redis import RedisCluster
from liveloop_sfu.cluster.socketio_manager import NodeLocalRedisManager
from liveloop_sfu.config import MediaSettings, NetworkSettings, Settings, TurnSettings
from liveloop_sfu.config.addresses import listen_addresses, loopback_only_problem
from liveloop_sfu.config.ice import stun_endpoints, stun_urls
from liveloop_sfu.config.machine import resolve_host
from liveloop_sfu.config.parse import ANNOUNCE_AUTO
from liveloop_sfu.drain import NodeDrain
from liveloop_sfu.errors import ConfigError
from liveloop_sfu.http.admin import AdminApi
from liveloop_sfu.http.admin_drain import AdminDrain
from liveloop_sfu.http.metrics import NodeMetrics, SessionMetrics
from liveloop_sfu.http.metrics_server import MetricsListener
from liveloop_sfu.http.public import HttpApi, origin_middleware
from liveloop_sfu.matchmaking.base import Matchmaker
from liveloop_sfu.matchmaking.memory import MemoryMatchmaker
from liveloop_sfu.matchmaking.redis import RedisMatchmaker, connect
from liveloop_sfu.media.session import Emit, MediaFailure, MediaSession
from liveloop_sfu.rooms.admin import CallAdmin
from liveloop_sfu.rooms.groups import GroupMediaFactory, GroupRooms
from liveloop_sfu.rooms.handoff import RecordingHandOff
from liveloop_sfu.rooms.p2p_policy import P2pPolicy
from liveloop_sfu.rooms.recordings import RecordingService
from liveloop_sfu.rooms.resume import SessionAliases
from liveloop_sfu.rooms.safety import (
    MemoryReports,
    RedisReports,
    ReportStore,
    SafetyService,
)
from liveloop_sfu.rooms.self_measure import SelfMeasure, admission_limits
from liveloop_sfu.rooms.service import IceServersFor, RoomService, SfuFactory
from liveloop_sfu.rooms.turn import TurnCredentials
from liveloop_sfu.signal.client_keys import ClientKeys
from liveloop_sfu.signal.handlers import SignalHandlers, make_emit
from liveloop_sfu.signal.limits import Limiter

log = logging.getLogger(__name__)


# How long closing the application (after a drain, or at once on SIGINT) may spend ending calls
# and telling clients before the process goes on exiting.
CLOSE_TIMEOUT = 5.0
# What every client left is told when the node ends its calls (drain over, or closing at once).
SHUTDOWN_EVENT = {"reason": "shutdown", "reconnect": True}


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
    # The rolling-deploy drain (SIGTERM, POST /api/admin/drain); set by create_app.
    drain: NodeDrain | None = None
    # Session id -> the socket that carries it now (resumed clients).
    socket_of: Callable[[str], str] = str

    @property
    def draining(self) -> bool:
        return self.drain is not None and self.drain.draining

    async def close(self) -> None:
        """Closing the application (after a drain, or at once: SIGINT, tests): finalize the
        recordings, end every call left and tell every client ``server-shutdown`` within
        :data:`CLOSE_TIMEOUT`, and release the matchmaker."""
        try:
            if self.drain is not None:
                await self.drain.close()
            if self.recordings is not None:
                await self.recordings.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.end_everything(), CLOSE_TIMEOUT)
        finally:
            await self.matchmaker.close()

    async def end_everything(self) -> None:
        """End every call (``partner-left`` with reason ``shutdown``, peer connections closed),
        tell every client ``server-shutdown``, then disconnect them."""
        self.rooms.begin_drain()  # nothing new starts meanwhile
        try:
            await self.rooms.close()
        finally:
            sids = list(self.sio.manager.get_participants("/", None))
            for sid, _ in sids:
                with contextlib.suppress(Exception):
                    await self.sio.emit("server-shutdown", SHUTDOWN_EVENT, to=sid)
            for sid, _ in sids:
                with contextlib.suppress(Exception):
                    await self.sio.disconnect(sid)

    async def tell_to_leave(self, sid: str, payload: Mapping[str, Any]) -> None:
        """``server-shutdown`` to one client (by session id), then its socket is closed."""
        socket_id = self.socket_of(sid)
        with contextlib.suppress(Exception):
            await self.sio.emit("server-shutdown", dict(payload), to=socket_id)
            await self.sio.disconnect(socket_id)


NODE_KEY: web.AppKey[Node] = web.AppKey("liveloop_node", Node)
# The --metrics-listen listener, when there is one (tests read its port).
METRICS_LISTENER_KEY: web.AppKey[MetricsListener] = web.AppKey(
    "liveloop_metrics_listener", MetricsListener
)


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


async def learn_announced_ip(settings: Settings) -> Settings:
    """``--announced-ip auto``: the settings with the public address the node's STUN server
    sees (media/transport/public_address.py); the same settings otherwise. Run once at start,
    before :func:`create_app`. Raises ConfigError when no STUN server answers: a node that
    announced a wrong address would match browsers whose calls never connect."""
    media = settings.media
    if media.announced_ip != ANNOUNCE_AUTO:
        return settings
    from liveloop_sfu.media.transport.public_address import PublicAddressUnknown, public_address

    servers = stun_endpoints(stun_urls(media.ice_servers, settings.turn.urls))
    try:
        address = await public_address(servers, media.addresses)
    except PublicAddressUnknown as exc:
        raise ConfigError(
            f"--announced-ip auto: {exc}; check that the STUN server is reachable over UDP "
            "from this machine, or give the public address itself (--announced-ip 203.0.113.7)"
        ) from exc
    return dataclasses.replace(settings, media=dataclasses.replace(media, announced_ip=address))


@dataclass(frozen=True, slots=True)
class Problem:
    """A misconfiguration the node runs with: logged at start, reported by ``/health``."""

    code: str
    message: str

    def to_wire(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


def configuration_problems(settings: Settings) -> list[Problem]:
    """What makes calls fail although the node serves (pure but for resolving a --host name)."""
    problems = []
    host = settings.network.host
    listen = listen_addresses(host) or resolve_host(host)
    if settings.rooms.mode != "p2p":
        loopback = loopback_only_problem(listen, settings.media.addresses)
        if loopback is not None:
            problems.append(Problem("media-loopback-only", loopback))
    return problems


def _log_start_warnings(settings: Settings, problems: list[Problem]) -> None:
    for problem in problems:
        log.warning("%s", problem.message)
    policy = P2pPolicy.from_settings(settings.rooms)
    for warning in policy.start_warnings():
        log.warning("%s", warning)
    for note in policy.start_notes():
        log.info("%s", note)


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
    if settings.media.announced_ip == ANNOUNCE_AUTO:
        raise ConfigError("--announced-ip auto must be learned first (app.learn_announced_ip)")
    problems = configuration_problems(settings)
    _log_start_warnings(settings, problems)
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
        # A p2p node forwards nothing: the stream cap (0 streams) is all it needs.
        load=SelfMeasure(admission_limits(settings.rooms)) if media is not None else None,
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
        socket_of=aliases.socket,
    )
    node.drain = NodeDrain(
        rooms, node.tell_to_leave, node.end_everything, settings.network.drain_timeout
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
    admin = (CallAdmin(rooms, emit), recordings, reports)
    _add_routes(app, settings, node, groups, admin, problems)
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
    problems: list[Problem],
) -> None:
    # The admin routes go before the public catch-all.
    AdminApi(settings.admin.token, *admin).add_routes(app)
    assert node.drain is not None  # create_app made it
    AdminDrain(settings.admin.token, node.drain).add_routes(app)
    HttpApi(
        settings.rooms,
        node.rooms,
        node.matchmaker,
        node.started_at,
        lambda: node.draining,
        node_id=node.node_id,
        # With --metrics-listen, /metrics is served there only (http/metrics_server.py).
        metrics=node.metrics if settings.network.metrics_listen is None else None,
        groups=groups,
        web_root=settings.network.web_root,
        problems=[problem.to_wire() for problem in problems],
    ).add_routes(app)


def _add_lifecycle(
    app: web.Application,
    node: Node,
    shared: RedisShared | None,
    handlers: SignalHandlers,
    recording: tuple[RecordingService, RecordingHandOff],
) -> None:
    recordings, handoff = recording
    listen = node.settings.network.metrics_listen
    metrics_listener = MetricsListener(node.metrics, *listen) if listen is not None else None
    if metrics_listener is not None:
        app[METRICS_LISTENER_KEY] = metrics_listener

    async def on_startup(app: web.Application) -> None:
        if metrics_listener is not None:
            await metrics_listener.start()
            log.info("/metrics on http://%s:%d/metrics", *metrics_listener.addresses[0])
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
        if node.rooms.load is not None:
            node.rooms.load.start()
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
        if node.rooms.load is not None:
            node.rooms.load.close()
        if metrics_listener is not None:
            await metrics_listener.close()
        if node.close_shared is not None:
            await node.close_shared()

    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)
    app.on_cleanup.append(on_cleanup)


def drain_on_sigterm(app: web.Application) -> None:
    """SIGTERM drains the node (liveloop_sfu/drain.py) instead of stopping it, and the process
    exits once the drain is over. For ``__main__`` only: a test's event loop keeps its signals.
    Installed at start-up, after aiohttp's own SIGTERM handler, which it replaces (SIGINT still
    stops the node at once)."""

    async def install(app: web.Application) -> None:
        drain = app[NODE_KEY].drain
        assert drain is not None  # create_app made it
        loop = asyncio.get_running_loop()

        def exit_soon() -> None:
            loop.call_soon(_exit)

        drain.on_done = exit_soon
        loop.add_signal_handler(signal.SIGTERM, drain.on_signal)

    app.on_startup.append(install)


def _exit() -> None:
    # aiohttp's way out of run_app: the application's shutdown and cleanup still run.
    raise GracefulExit()


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
