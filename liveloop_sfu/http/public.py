"""HTTP: the browser client, health, readiness and status.

``/health`` is liveness: always 200 while the process serves, with ``degraded`` when a dependency
(the matchmaker's backend) is down. ``/readyz`` is readiness: 503 when the node cannot take new
calls (at capacity or shutting down), so a load balancer sends new users elsewhere.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Middleware

from liveloop_sfu import __version__
from liveloop_sfu.config import NetworkSettings, RoomSettings
from liveloop_sfu.errors import InvalidPayload, LiveLoopError
from liveloop_sfu.http.metrics import NodeMetrics
from liveloop_sfu.http.metrics_server import exposition
from liveloop_sfu.matchmaking.base import Matchmaker
from liveloop_sfu.rooms.commands import parse_create_room, parse_room_id
from liveloop_sfu.rooms.groups import GroupRooms
from liveloop_sfu.rooms.service import RoomService

# Files under web/ that are never served: npm's metadata and everything it installed, except
# the socket.io browser build which has its own route.
_HIDDEN_PARTS = {"node_modules"}
_HIDDEN_NAMES = {"package.json", "package-lock.json"}
SOCKETIO_DIST = Path("node_modules") / "socket.io-client" / "dist"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class HttpApi:
    def __init__(
        self,
        settings: RoomSettings,
        rooms: RoomService,
        matchmaker: Matchmaker,
        started_at: float,
        is_draining: Callable[[], bool],
        node_id: str = "local",
        metrics: NodeMetrics | None = None,
        *,
        groups: GroupRooms | None = None,
        web_root: Path,
        problems: Sequence[dict[str, str]] = (),
    ) -> None:
        self._settings = settings
        self._groups = groups
        self._rooms = rooms
        self._matchmaker = matchmaker
        self._started_at = started_at
        self._is_draining = is_draining
        self._node_id = node_id
        self._metrics = metrics
        self._web_root = web_root.resolve()
        # Misconfigurations found at start ({code, message}; app.configuration_problems).
        self._problems = list(problems)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/health", self.health)
        app.router.add_get("/readyz", self.readyz)
        app.router.add_get("/api/status", self.status)
        if self._metrics is not None:
            app.router.add_get("/metrics", self.metrics)
        app.router.add_get("/vendor/socket.io/{path:.+}", self.socketio_client)
        if self._groups is not None:
            app.router.add_post("/api/rooms", self.create_room)
            app.router.add_get("/room/{room_id}", self.room_page)
        app.router.add_get("/", self.index)
        app.router.add_get("/{path:.+}", self.static)

    async def health(self, request: web.Request) -> web.Response:
        healthy = await self._matchmaker.healthy()
        problems = list(self._problems)
        if not healthy:
            problems.append(
                {"code": "matchmaker-unavailable", "message": "the matchmaker's Redis is down"}
            )
        return web.json_response(
            {
                "status": "degraded" if problems else "ok",
                "uptime": round(time.time() - self._started_at, 3),
                "version": __version__,
                "mode": self._settings.mode,
                "matchmaker": "ok" if healthy else "unavailable",
                # Which node answered (several nodes behind one load balancer).
                "node": self._node_id,
                # Why it is degraded: [{code, message}], empty when ok.
                "problems": problems,
            }
        )

    async def readyz(self, request: web.Request) -> web.Response:
        reasons = []
        if self._is_draining():
            reasons.append("draining")
        if not await self._matchmaker.healthy():
            reasons.append("matchmaker-unavailable")
        body: dict[str, object] = {}
        # A full node in auto mode still takes calls (as p2p, where allowed): ready.
        capacity = self._rooms.capacity_reason() if self._settings.mode == "sfu" else None
        if capacity is not None:
            reasons.append("capacity")
            body["capacity"] = capacity  # streams, event-loop-lag or cpu
        status = 503 if reasons else 200
        return web.json_response({"ready": not reasons, "reasons": reasons, **body}, status=status)

    async def status(self, request: web.Request) -> web.Response:
        body = await self._rooms.status()
        body["mode"] = self._settings.mode
        body["uptime"] = round(time.time() - self._started_at, 3)
        return web.json_response(body)

    async def metrics(self, request: web.Request) -> web.Response:
        """Prometheus text exposition (liveloop_sfu/http/metrics.py); not routed when
        ``--metrics-listen`` serves it elsewhere (metrics_server.py)."""
        assert self._metrics is not None  # the route exists only with metrics
        return await exposition(self._metrics)

    async def create_room(self, request: web.Request) -> web.Response:
        """``POST /api/rooms`` ``{"name"?}`` -> ``{"roomId", "link", "name"?, "token"?}``."""
        assert self._groups is not None  # routed only with groups
        try:
            body = await _json_body(request)
            return web.json_response(self._groups.create(parse_create_room(body)))
        except LiveLoopError as exc:
            return web.json_response(exc.to_wire(), status=exc.http_status)

    async def room_page(self, request: web.Request) -> web.StreamResponse:
        """``GET /room/<id>``: the client, which reads the room id from the path."""
        try:
            parse_room_id(request.match_info["room_id"])
        except InvalidPayload as exc:
            raise web.HTTPNotFound() from exc
        return self._file(self._web_root / "index.html")

    async def index(self, request: web.Request) -> web.StreamResponse:
        return self._file(self._web_root / "index.html")

    async def static(self, request: web.Request) -> web.StreamResponse:
        relative = Path(request.match_info["path"])
        if relative.parts and (
            _HIDDEN_PARTS & set(relative.parts)
            or relative.name in _HIDDEN_NAMES
            or any(part.startswith(".") for part in relative.parts)
        ):
            raise web.HTTPNotFound()
        return self._file(self._web_root / relative)

    async def socketio_client(self, request: web.Request) -> web.StreamResponse:
        root = self._web_root / SOCKETIO_DIST
        return self._file(root / request.match_info["path"], root=root)

    def _file(self, path: Path, root: Path | None = None) -> web.StreamResponse:
        base = (root or self._web_root).resolve()
        resolved = path.resolve()
        # resolve() folds "..", so anything outside the served folder is refused.
        if not resolved.is_relative_to(base) or not resolved.is_file():
            raise web.HTTPNotFound()
        response = web.FileResponse(resolved)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "no-cache"
        return response


MAX_JSON_BODY = 4096


async def _json_body(request: web.Request) -> object:
    """A small JSON body (an empty body is ``None``); anything else is ``invalid-payload``."""
    if request.content_length is not None and request.content_length > MAX_JSON_BODY:
        raise InvalidPayload(f"the body must be at most {MAX_JSON_BODY} bytes")
    raw = await request.content.read(MAX_JSON_BODY + 1)
    if len(raw) > MAX_JSON_BODY:
        raise InvalidPayload(f"the body must be at most {MAX_JSON_BODY} bytes")
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidPayload("the body must be JSON") from exc


def origin_allowed(origin: str, host: str | None, allowed: tuple[str, ...]) -> bool:
    """Same origin always; others only when listed (or ``*``)."""
    if "*" in allowed or origin in allowed:
        return True
    return host is not None and origin.split("://", 1)[-1] == host


def origin_middleware(settings: NetworkSettings) -> Middleware:
    """Refuse requests whose ``Origin`` is neither ours nor on ``--allowed-origins``."""

    @web.middleware
    async def check_origin(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if origin is None:
            return await handler(request)
        if not origin_allowed(origin, request.headers.get("Host"), settings.allowed_origins):
            return web.json_response(
                {"error": {"code": "unauthorized", "message": "origin not allowed"}}, status=403
            )
        response = await handler(request)
        if not response.prepared and "Access-Control-Allow-Origin" not in response.headers:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Vary"] = "Origin"
        return response

    return check_origin
