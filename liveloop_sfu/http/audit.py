"""The audit log of the admin API: one line per operator action, on the logger
``liveloop_sfu.audit`` (route it apart with ordinary logging configuration).

Each line carries three fields — ``who`` (the id of the bearer token that authorised the action,
never the token), ``what`` (the action, e.g. ``drain``, ``recording.start``) and ``when`` (Unix
seconds) — plus whatever the action names (a room id...). With ``--log-format json`` they are
keys of the line's object; in text they follow the message in brackets (liveloop_sfu/logs.py).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

__all__ = ["AUDIT_LOGGER", "audit", "token_id"]

AUDIT_LOGGER = "liveloop_sfu.audit"
_log = logging.getLogger(AUDIT_LOGGER)


def token_id(token: str | None) -> str:
    """A stable, public name for a bearer token: its SHA-256 prefix (the token itself must never
    reach a log, and logs.py drops fields named like one)."""
    if not token:
        return "anonymous"
    return "admin-" + hashlib.sha256(token.encode()).hexdigest()[:12]


def audit(
    request: web.Request | None,
    who: str,
    what: str,
    clock: Callable[[], float] = time.time,
    **details: Any,
) -> None:
    """Log one admin action. ``request`` adds the client address (``client_ip``)."""
    fields: dict[str, Any] = {"who": who, "what": what, "when": round(clock(), 3), **details}
    if request is not None and request.remote:
        fields["client_ip"] = request.remote
    _log.info("admin %s by %s", what, who, extra=fields)
