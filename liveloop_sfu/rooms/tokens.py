"""Room tokens: expiring, HMAC-SHA256-signed permissions to join one group room.

With ``--require-room-token`` a group room can only be joined with a token minted for its id by
this node (``POST /api/rooms``) or its operator (``liveloop-sfu mint-room-token ROOM_ID``), so
rooms cannot be joined by guessing ids. Pure: the secret, the room id and ``now`` are parameters.

Token text: ``v1.<expires>.<mac>`` where ``expires`` is a Unix time in whole seconds and ``mac``
is the unpadded base64url HMAC-SHA256 (RFC 2104, FIPS 180-4) of
``b"liveloop-room-token/v1\\0" + room_id + b"\\0" + expires`` under the operator's secret. The room
id is not in the token but in the MAC: a token for one room never opens another. The label and
version prefix keep the MAC from meaning anything for any other use of the same secret.
Verification compares MACs in constant time (``hmac.compare_digest``), so a forger learns nothing
from response timing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math

from liveloop_sfu.errors import Unauthorized

TOKEN_MAX_CHARS = 256
_VERSION = "v1"
_LABEL = b"liveloop-room-token/v1\x00"
_MAC_CHARS = 43  # 32 bytes in unpadded base64url


def _mac(secret: bytes, room_id: str, expires: int) -> str:
    message = _LABEL + room_id.encode("utf-8") + b"\x00" + str(expires).encode("ascii")
    digest = hmac.new(secret, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def mint(secret: bytes, room_id: str, now: float, ttl: float) -> str:
    """A token for ``room_id`` valid from ``now`` for ``ttl`` seconds (rounded up to a second)."""
    if not secret:
        raise ValueError("a room token needs a secret")
    if ttl <= 0:
        raise ValueError("ttl must be positive")
    expires = math.ceil(now + ttl)
    return f"{_VERSION}.{expires}.{_mac(secret, room_id, expires)}"


def expires_at(token: str) -> int | None:
    """The expiry a well-formed token claims (unverified), or ``None``."""
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != _VERSION or not parts[1].isdigit():
        return None
    return int(parts[1])


def verify(secret: bytes, room_id: str, token: str | None, now: float) -> None:
    """Accept a token for ``room_id`` at ``now``, or raise :class:`Unauthorized` (missing,
    malformed, signed for another room or with another secret, or expired)."""
    if not token:
        raise Unauthorized("this room needs a room token")
    if len(token) > TOKEN_MAX_CHARS:
        raise Unauthorized("the room token is not valid")
    expires = expires_at(token)
    mac = token.rsplit(".", 1)[-1]
    if expires is None or len(mac) != _MAC_CHARS:
        raise Unauthorized("the room token is not valid")
    expected = _mac(secret, room_id, expires)
    # Compare before looking at the expiry, so that a forged and an expired token take the
    # same path up to here.
    if not hmac.compare_digest(expected.encode("ascii"), mac.encode("ascii", "replace")):
        raise Unauthorized("the room token is not valid for this room")
    if now >= expires:
        raise Unauthorized("the room token has expired")
