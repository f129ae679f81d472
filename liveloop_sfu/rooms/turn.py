"""Time-limited TURN credentials in the TURN REST scheme (draft-uberti-behave-turn-rest-00).

The node and the TURN server share a secret and never talk to each other: the node hands each
browser ``username = "<expiry unix time>:<user>"`` and ``credential =
base64(HMAC-SHA1(secret, username))``; the TURN server (coturn with ``use-auth-secret`` and
``static-auth-secret``) recomputes the HMAC and refuses the allocation once ``expiry`` passed.
Leaked credentials are therefore worthless after ``ttl`` seconds, and the secret itself never
leaves the node. Time is a parameter (``now``, seconds since the epoch).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any

__all__ = ["TurnCredentials", "turn_credential"]


def turn_credential(secret: str, username: str) -> str:
    """base64(HMAC-SHA1(secret, username)), the password coturn derives for ``username``."""
    digest = hmac.new(secret.encode("utf-8"), username.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


@dataclass(frozen=True, slots=True)
class TurnCredentials:
    """Issues RTCIceServer entries for the configured TURN URLs."""

    urls: tuple[str, ...]
    secret: str = field(repr=False)
    ttl: int = 3600

    def ice_server(self, user: str, now: float) -> dict[str, Any]:
        """An RTCIceServer dict valid until ``now + ttl``. ``user`` is a public id (never a
        secret): coturn logs usernames."""
        # A colon separates expiry from user in the scheme, so none may appear in the user part.
        username = f"{int(now) + self.ttl}:{user.replace(':', '_')}"
        return {
            "urls": list(self.urls),
            "username": username,
            "credential": turn_credential(self.secret, username),
        }
