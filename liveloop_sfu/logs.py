"""Logging set-up: readable text for development, one JSON object per line for production.

Records carry the ids of the client event being handled — ``sid``, ``peer_id`` (the public
participant id), ``room_id``, ``event`` — from a context variable that signal/handlers.py sets
around every handler, so a log line written deep inside the room or media code still says whose
event caused it (tasks started while handling an event inherit these ids). Fields passed with
``extra=`` win over the context.

Secrets never reach the output: values the operator configured as secrets (the TURN shared
secret, tokens) are masked wherever they appear in a message, and extra fields whose name says
secret are dropped.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

__all__ = ["CONTEXT_FIELDS", "JsonFormatter", "TextFormatter", "configure_logging", "log_context"]

CONTEXT_FIELDS = ("sid", "peer_id", "room_id", "event", "client_ip")
_SECRET_WORDS = ("secret", "password", "credential", "token", "authorization")
_MASK = "***"

_context: contextvars.ContextVar[Mapping[str, str] | None] = contextvars.ContextVar(
    "liveloop_log_context", default=None
)
# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


@contextmanager
def log_context(**fields: str | None) -> Iterator[None]:
    """Add ids to every record logged inside the block (and in tasks it starts)."""
    merged = {**(_context.get() or {}), **{k: v for k, v in fields.items() if v is not None}}
    token = _context.set(merged)
    try:
        yield
    finally:
        _context.reset(token)


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    out: dict[str, Any] = dict(_context.get() or {})
    for key, value in record.__dict__.items():
        if key not in _STANDARD and not key.startswith("_"):
            out[key] = value
    return {k: v for k, v in out.items() if not any(w in k.lower() for w in _SECRET_WORDS)}


class _Masker:
    """Replaces the configured secrets in a formatted line (composed into each formatter)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Short values would mask ordinary words; real secrets are long.
        self._secrets = tuple(s for s in secrets if len(s) >= 6)

    def mask(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, _MASK)
        return text


class JsonFormatter(logging.Formatter):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._masker = _Masker(secrets)

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        body.update(_fields(record))
        if record.exc_info:
            body["exc"] = self.formatException(record.exc_info)
        return self._masker.mask(json.dumps(body, default=str, ensure_ascii=False))


class TextFormatter(logging.Formatter):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._masker = _Masker(secrets)

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        line = f"{stamp}.{int(record.msecs):03d} {record.levelname:<7} {record.name}: "
        line += record.getMessage()
        fields = _fields(record)
        if fields:
            line += " [" + " ".join(f"{k}={v}" for k, v in fields.items()) + "]"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return self._masker.mask(line)


def configure_logging(level: int, fmt: str, secrets: Iterable[str | None] = ()) -> None:
    """Route the root logger to stderr in ``fmt`` ("json" | "text")."""
    known = [s for s in secrets if s]
    formatter = JsonFormatter(known) if fmt == "json" else TextFormatter(known)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
