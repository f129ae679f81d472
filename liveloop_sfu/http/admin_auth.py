"""Authentication of the operator's admin API (``/api/admin/...``): one bearer token.

The token comes from ``--admin-token`` / ``LIVELOOP_ADMIN_TOKEN``; without one the admin API
refuses every request. Comparison is constant-time (``hmac.compare_digest`` on bytes), so the
time a refusal takes says nothing about how much of a guess was right. The token is never logged
and never echoed (``Settings`` leaves it out of its repr).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from aiohttp import web

from liveloop_sfu.errors import LiveLoopError, Unauthorized

__all__ = ["AdminHandler", "admin_only", "bearer_matches", "check_bearer"]

AdminHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def bearer_matches(authorization: str | None, token: str | None) -> bool:
    """Does an ``Authorization`` header carry ``Bearer <token>``? False when no token is set."""
    if not token or not authorization:
        return False
    scheme, _, presented = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(presented.strip().encode(), token.encode())


def check_bearer(request: web.Request, token: str | None) -> None:
    """Raise :class:`Unauthorized` unless the request carries the admin token."""
    if not token:
        raise Unauthorized("the admin API is disabled (no --admin-token)")
    if not bearer_matches(request.headers.get("Authorization"), token):
        raise Unauthorized("missing or wrong bearer token")


def admin_only(token: str | None, handler: AdminHandler) -> AdminHandler:
    """Wrap a handler: authenticate first, and turn :class:`LiveLoopError` (from either) into the
    JSON error body with its HTTP status — the HTTP boundary of the error tree."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        try:
            check_bearer(request, token)
            return await handler(request)
        except LiveLoopError as exc:
            headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
            return web.json_response(exc.to_wire(), status=exc.http_status, headers=headers)

    return guarded
