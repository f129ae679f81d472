"""The operator's admin API under ``/api/admin/`` (bearer token, see :mod:`.admin_auth`).

Calls and rooms on every node of the cluster (:mod:`liveloop_sfu.rooms.admin`; a call's id is
its room id, and ``calls/`` and ``rooms/`` take the same actions):

- ``GET /api/admin/calls`` — live 1:1 calls; ``GET /api/admin/rooms`` — live group rooms
- ``DELETE /api/admin/{calls|rooms}/{roomId}`` — end it
- ``DELETE /api/admin/{calls|rooms}/{roomId}/participants/{participantId}`` — remove one
- ``POST /api/admin/{calls|rooms}/{roomId}/recording`` ``{"action": "start"|"stop"}``

Recordings (docs/protocol.md, "Admin API"):

- ``GET /api/admin/recordings`` — every recording's manifest, newest first
- ``GET /api/admin/recordings/{recordingId}`` — one manifest
- ``GET /api/admin/recordings/{recordingId}/files/{name}`` — download a file
- ``DELETE /api/admin/recordings/{recordingId}`` — delete a stopped recording

Safety (:mod:`.safety`): ``GET /api/admin/reports?limit=N`` — the newest reports (default 100,
at most 1000), newest first.

Every action (recording start/stop/delete, end, remove) writes an audit line (:mod:`.audit`).
Routes are registered before the static-file catch-all of :mod:`.public`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable
from typing import Any

from aiohttp import web

from liveloop_sfu.errors import InvalidPayload, LiveLoopError
from liveloop_sfu.http.admin_auth import AdminHandler, admin_only
from liveloop_sfu.http.audit import audit, token_id
from liveloop_sfu.rooms.admin import CallAdmin
from liveloop_sfu.rooms.recordings import RecordingService
from liveloop_sfu.rooms.safety import ReportStore

__all__ = ["AdminApi"]

MAX_BODY = 4096
ACTIONS = ("start", "stop")


class AdminApi:
    def __init__(
        self,
        token: str | None,
        calls: CallAdmin,
        recordings: RecordingService,
        reports: ReportStore | None = None,
    ) -> None:
        self._token = token
        self._who = token_id(token)
        self._calls = calls
        self._recordings = recordings
        self._reports = reports

    def add_routes(self, app: web.Application) -> None:
        routes: list[tuple[str, str, AdminHandler]] = [
            ("GET", "/api/admin/calls", self.list_calls),
            ("GET", "/api/admin/rooms", self.list_rooms),
        ]
        for prefix in ("/api/admin/calls/{room_id}", "/api/admin/rooms/{room_id}"):
            routes += [
                ("DELETE", prefix, self.end),
                ("DELETE", prefix + "/participants/{pid}", self.remove),
                ("POST", prefix + "/recording", self.recording),
            ]
        routes += [
            ("GET", "/api/admin/recordings", self.list_recordings),
            ("GET", "/api/admin/recordings/{rid}", self.manifest),
            ("GET", "/api/admin/recordings/{rid}/files/{name}", self.download),
            ("DELETE", "/api/admin/recordings/{rid}", self.delete),
            ("GET", "/api/admin/reports", self.list_reports),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, path, admin_only(self._token, handler))

    async def _audited(
        self,
        request: web.Request,
        what: str,
        action: Awaitable[dict[str, Any]],
        **details: Any,
    ) -> web.StreamResponse:
        """Run an operator action and write its audit line, refused ones included."""
        try:
            result = await action
        except LiveLoopError as exc:
            audit(request, self._who, what, outcome=exc.code, **details)
            raise
        audit(request, self._who, what, outcome="ok", **details)
        return web.json_response(result)

    async def list_calls(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(_of_kind(await self._calls.live(), "call", "calls"))

    async def list_rooms(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(_of_kind(await self._calls.live(), "group", "rooms"))

    async def end(self, request: web.Request) -> web.StreamResponse:
        room_id = request.match_info["room_id"]
        action = self._calls.act(room_id, "end", {})
        return await self._audited(request, "room.end", action, room_id=room_id)

    async def remove(self, request: web.Request) -> web.StreamResponse:
        room_id, pid = request.match_info["room_id"], request.match_info["pid"]
        action = self._calls.act(room_id, "remove", {"participantId": pid})
        details = {"room_id": room_id, "participant_id": pid}
        return await self._audited(request, "room.remove", action, **details)

    async def recording(self, request: web.Request) -> web.StreamResponse:
        room_id = request.match_info["room_id"]
        try:
            action = (await _json_body(request)).get("action")
            if action not in ACTIONS:
                raise InvalidPayload("action must be 'start' or 'stop'")
        except InvalidPayload as exc:
            audit(request, self._who, "recording", outcome=exc.code, room_id=room_id)
            raise
        act = self._calls.act(room_id, "record", {"recording": action})
        return await self._audited(request, f"recording.{action}", act, room_id=room_id)

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

        async def delete() -> dict[str, Any]:
            await self._recordings.delete(rid)
            return {"ok": True, "deleted": rid}

        return await self._audited(request, "recording.delete", delete(), recording_id=rid)

    async def list_reports(self, request: web.Request) -> web.StreamResponse:
        raw = request.query.get("limit", "100")
        if not raw.isdigit() or not 1 <= int(raw) <= 1000:
            raise InvalidPayload("limit must be a number from 1 to 1000")
        reports = await self._reports.recent(int(raw)) if self._reports is not None else []
        return web.json_response({"reports": reports})


def _of_kind(live: dict[str, Any], kind: str, key: str) -> dict[str, Any]:
    """The listing of every node cut to one kind of room (``call`` or ``group``)."""
    rooms = [room for room in live["rooms"] if room["kind"] == kind]
    return {key: rooms, "nodes": live["nodes"], "unreachable": live["unreachable"]}


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
