"""Pure rules of the recording hand-off (:mod:`.handoff`): the webhook's signature, when a
failed delivery is tried again, and the operator command's argument list.

The signature follows the scheme Stripe made familiar (docs/protocol.md, "Recording webhook"):
the header ``Liveloop-Signature: t=<unix seconds>,v1=<hex>`` where ``<hex>`` is
HMAC-SHA256 (RFC 2104, FIPS 180-4) keyed with the shared secret over the bytes
``<t>.<body>``. Signing the timestamp with the body lets a receiver refuse replays of an old
delivery (:func:`verify`'s ``tolerance``); the delivery id header lets it drop duplicates that a
retry after a lost response produces.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from pathlib import Path

__all__ = [
    "GIVE_UP_AFTER",
    "RETRY_CAP",
    "RETRY_FIRST",
    "command_argv",
    "gave_up",
    "retry_delay",
    "sign",
    "signature_header",
    "verify",
]

SCHEME = "v1"
RETRY_FIRST = 1.0  # seconds before the first retry; doubled each time ...
RETRY_CAP = 900.0  # ... up to 15 minutes between attempts
GIVE_UP_AFTER = 3 * 24 * 3600.0  # a delivery still failing three days on is given up (logged)
TOLERANCE = 300.0  # seconds a receiver should accept a signature's timestamp off its clock


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``<timestamp>.<body>`` under ``secret``."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Liveloop-Signature`` value: ``t=<timestamp>,v1=<signature>``."""
    return f"t={timestamp},{SCHEME}={sign(secret, timestamp, body)}"


def verify(secret: str, header: str, body: bytes, now: float, tolerance: float = TOLERANCE) -> bool:
    """What a receiver does: the header parses, its timestamp is within ``tolerance`` of
    ``now``, and one of its ``v1`` signatures matches (compared in constant time)."""
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == SCHEME:
            signatures.append(value)
    if timestamp is None or abs(now - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in signatures)


def retry_delay(attempts: int) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt: 1, 2, 4, ... capped at 15 min
    (exponential backoff, so a receiver that is down is not hammered, one that comes back soon
    gets its deliveries soon)."""
    if attempts < 1:
        return 0.0
    return min(RETRY_CAP, RETRY_FIRST * 2.0 ** min(attempts - 1, 30))


def gave_up(created_at: float, now: float) -> bool:
    return now - created_at > GIVE_UP_AFTER


def command_argv(command: Sequence[str], folder: Path) -> list[str]:
    """The operator command (already split like a shell would, never run by one) with the
    recording folder as its last argument."""
    if not command:
        raise ValueError("no command configured")
    return [*command, str(folder)]
