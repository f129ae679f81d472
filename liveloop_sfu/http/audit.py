"""The admin API's audit log: one line per operator action, saying who, what and when.

Lines go to the logger ``liveloop_sfu.audit`` (so an operator can route them apart) with three
fields: ``who`` — the id of the admin token that authorised the action (a fingerprint, never the
token: the log formatters drop fields named like secrets, and the fingerprint tells tokens apart
without revealing one), ``what`` — the action (``recording.start``, ``call.end``, ...) and
``when`` — Unix seconds. Details (room, participant, recording, outcome) ride along as fields.
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Any

__all__ = ["AUDIT_LOGGER", "audit", "token_id"]

AUDIT_LOGGER = "liveloop_sfu.audit"
_log = logging.getLogger(AUDIT_LOGGER)


def token_id(token: str | None) -> str:
    """A stable, non-secret id of an admin token: ``token-`` and 12 hex digits of its SHA-256."""
    if not token:
        return "none"
    return "token-" + hashlib.sha256(token.encode()).hexdigest()[:12]


def audit(who: str, what: str, *, when: float | None = None, **details: Any) -> None:
    """Write one audit line (``details``: extra fields, e.g. ``room_id``, ``outcome``)."""
    stamp = time.time() if when is None else when
    fields = {"who": who, "what": what, "when": round(stamp, 3), **details}
    _log.info("admin %s by %s", what, who, extra=fields)
