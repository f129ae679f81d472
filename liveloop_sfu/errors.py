"""One error tree for the whole node.

Every refusal the node can make is a :class:`LiveLoopError` with a stable ``code`` (the wire
contract of DESIGN.md). They are turned into ``{"error": {"code", "message"}}`` at exactly one
boundary per transport: the socket.io handlers and the HTTP handlers. Anything else that
escapes a handler is a bug and becomes ``internal`` without leaking its text.
"""

from __future__ import annotations

from typing import Any, ClassVar


class LiveLoopError(Exception):
    """Base of every error a client may see. ``code`` is stable; ``message`` is for people."""

    code: ClassVar[str] = "internal"
    http_status: ClassVar[int] = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_wire(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message}}


class InvalidPayload(LiveLoopError):
    code = "invalid-payload"
    http_status = 400


class NotInRoom(LiveLoopError):
    code = "not-in-room"
    http_status = 409


class RateLimited(LiveLoopError):
    code = "rate-limited"
    http_status = 429


class RoomFull(LiveLoopError):
    code = "room-full"
    http_status = 409


class Unauthorized(LiveLoopError):
    code = "unauthorized"
    http_status = 401


class MatchmakerUnavailable(LiveLoopError):
    code = "matchmaker-unavailable"
    http_status = 503


class Capacity(LiveLoopError):
    code = "capacity"
    http_status = 503


class NotFound(LiveLoopError):
    """HTTP admin API only (an unknown room or recording); never sent over socket.io."""

    code = "not-found"
    http_status = 404


class InternalError(LiveLoopError):
    code = "internal"
    http_status = 500


class ConfigError(Exception):
    """Invalid operator configuration, reported once at start (never sent to clients)."""


# The stable codes, for documentation and tests.
ERROR_CODES: tuple[str, ...] = tuple(
    cls.code
    for cls in (
        InvalidPayload,
        NotInRoom,
        RateLimited,
        RoomFull,
        Unauthorized,
        MatchmakerUnavailable,
        Capacity,
        InternalError,
    )
)
