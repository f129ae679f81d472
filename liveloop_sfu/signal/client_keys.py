"""Client keys: a stable, unforgeable identity for a browser without accounts.

The node gives every browser a key ``<client id>.<signature>`` (HMAC-SHA256 of the id under the
node's ``--client-key-secret``) in its ``request-room`` ack; the browser keeps it (localStorage)
and presents it in the socket.io ``auth`` of later connections. Only the node can make a valid
key, so a client cannot claim somebody else's id (and, say, get that browser blocked from
people); it can always drop its key and become a new browser, which no design without accounts
prevents. Reports block pairs of client ids (:mod:`liveloop_sfu.rooms.safety`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

__all__ = ["ClientKeys"]

_ID_HEX = 24  # 96 random bits
_SIG_HEX = 32  # 128 bits of HMAC-SHA256


class ClientKeys:
    def __init__(self, secret: str | None) -> None:
        self._secret = (secret or secrets.token_hex(32)).encode()

    def _sign(self, client_id: str) -> str:
        return hmac.new(self._secret, client_id.encode(), hashlib.sha256).hexdigest()[:_SIG_HEX]

    def issue(self) -> tuple[str, str]:
        """A fresh (client id, key)."""
        client_id = secrets.token_hex(_ID_HEX // 2)
        return client_id, f"{client_id}.{self._sign(client_id)}"

    def verify(self, key: Any) -> str | None:
        """The client id of a key this node (or one sharing its secret) issued, else None."""
        if not isinstance(key, str) or len(key) != _ID_HEX + 1 + _SIG_HEX:
            return None
        client_id, _, signature = key.partition(".")
        if len(client_id) != _ID_HEX or any(c not in "0123456789abcdef" for c in client_id):
            return None
        return client_id if hmac.compare_digest(signature, self._sign(client_id)) else None

    def from_auth(self, auth: Any) -> tuple[str, str]:
        """The (client id, key) of a connection: the one its socket.io ``auth`` presents when
        valid, else a new one."""
        key = auth.get("clientKey") if isinstance(auth, dict) else None
        client_id = self.verify(key)
        if client_id is not None and isinstance(key, str):
            return client_id, key
        return self.issue()
