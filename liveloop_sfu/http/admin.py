"""The operator's admin API under ``/api/admin/`` (bearer token, see :mod:`.admin_auth`).

Recording (docs/protocol.md, "Admin API"):

- ``POST /api/admin/rooms/{roomId}/recording`` ``{"action": "start"|"stop"}``
- ``GET /api/admin/recordings`` — every recording's manifest, newest first
- ``GET /api/admin/recordings/{recordingId}`` — one manifest
- ``GET /api/admin/recordings/{recordingId}/files/{name}`` — download a file
- ``DELETE /api/admin/recordings/{recordingId}`` — delete a stopped recording

Safety (:mod:`.safety`): ``GET /api/admin/reports?limit=N`` — the newest reports (default 100,
at most 1000), newest first.

Routes are registered before the static-file catch-all of :mod:`.public`.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from liveloop_sfu.errors import InvalidPayload
from liveloop_sfu.http.admin_auth import AdminHandler, admin_only
from liveloop_sfu.rooms.recordings import RecordingService
from liveloop_sfu.rooms.safety import ReportStore
from liveloop_sfu.rooms.service import RoomService

__all__ = ["AdminApi"]

MAX_BODY = 4096
ACTIONS = ("start", "stop")


class AdminApi:
    def __init__(
        self,
        token: str | None,
        rooms: RoomService,
        recordings: RecordingService,
        reports: ReportStore | None = None,
    ) -> None:
        self._token = token
        self._rooms = rooms
        self._recordings = recordings
        self._reports = reports

    def add_routes(self, app: web.Application) -> None:
        routes: list[tuple[str, str, AdminHandler]] = [
            ("POST", "/api/admin/rooms/{room_id}/recording", self.recording),
            ("GET", "/api/admin/recordings", self.list_recordings),
            ("GET", "/api/admin/recordings/{rid}", self.manifest),
            ("GET", "/api/admin/recordings/{rid}/files/{name}", self.download),
            ("DELETE", "/api/admin/recordings/{rid}", self.delete),
            ("GET", "/api/admin/reports", self.list_reports),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, path, admin_only(self._token, handler))

    async def recording(self, request: web.Request) -> web.StreamResponse:
        action = (await _json_body(request)).get("action")
        if action not in ACTIONS:
            raise InvalidPayload("action must be 'start' or 'stop'")
        room_id = request.match_info["room_id"]
        if action == "start":
            return web.json_response(await self._rooms.start_recording(room_id))
        return web.json_response(await self._rooms.stop_recording(room_id))

    async def list_recordings(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"recordings": await self._recordings.recordings()})

    async def manifest(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(await self._recordings.manifest(request.match_info["rid"]))

    async def download(self, request: web.Request) -> web.StreamResponse:
        path = self._recordings.file(request.match_info["rid"], request.match_info["name"])
        response = web.FileResponse(path)
        response.headers["Content-Disposition"] = f'attachment; filename="{path.name}"'
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    async def delete(self, request: web.Request) -> web.StreamResponse:
        rid = request.match_info["rid"]
        await self._recordings.delete(rid)
        return web.json_response({"ok": True, "deleted": rid})

    async def list_reports(self, request: web.Request) -> web.StreamResponse:
        raw = request.query.get("limit", "100")
        if not raw.isdigit() or not 1 <= int(raw) <= 1000:
            raise InvalidPayload("limit must be a number from 1 to 1000")
        reports = await self._reports.recent(int(raw)) if self._reports is not None else []
        return web.json_response({"reports": reports})


async def _json_body(request: web.Request) -> dict[str, Any]:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise InvalidPayload("body too large")
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise InvalidPayload("body too large")
    try:
        body = json.loads(raw or b"{}")
    except ValueError as exc:
        raise InvalidPayload("body must be a JSON object") from exc
    if not isinstance(body, dict):
        raise InvalidPayload("body must be a JSON object")
    return body
