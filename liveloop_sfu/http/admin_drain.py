"""``POST /api/admin/drain``: drain this node for a rolling deploy, as SIGTERM does.

The node stops taking calls at once (``/readyz`` 503 ``draining``), lets the calls it hosts run
until they end or ``--drain-timeout`` passes, then exits (liveloop_sfu/drain.py). Asking again
while it drains changes nothing and says so (``"started": false``). Behind the admin token like
the rest of ``/api/admin/``; every request that passes it is an audit line (:mod:`.audit`).
"""

from __future__ import annotations

from typing import Protocol

from aiohttp import web

from liveloop_sfu.http.admin_auth import admin_only
from liveloop_sfu.http.audit import audit, token_id

__all__ = ["AdminDrain", "Drain"]


class Drain(Protocol):
    """The node's drain as this route sees it (liveloop_sfu/drain.py ``NodeDrain``)."""

    @property
    def state(self) -> str: ...

    timeout: float

    def start(self, why: str) -> bool: ...


class AdminDrain:
    def __init__(self, token: str | None, drain: Drain) -> None:
        self._token = token
        self._drain = drain

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/api/admin/drain", admin_only(self._token, self.drain))

    async def drain(self, request: web.Request) -> web.StreamResponse:
        started = self._drain.start("POST /api/admin/drain")
        audit(request, token_id(self._token), "drain", outcome="ok", started=started)
        return web.json_response(
            {
                "ok": True,
                "state": self._drain.state,
                "started": started,
                "drainTimeout": self._drain.timeout,
            }
        )
