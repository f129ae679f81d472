"""The Redis side of a several-machine ``liveloop-sfu bench`` run: one coordinator
(``--workers N``) and N load workers (``--worker``) that talk only through the Redis the cluster
already uses (``--redis-url``), so a worker needs nothing but an outgoing connection to it.

Keys, all under the run's name in a hash tag (one slot: ``{bench:<run>}``):

* ``…:up`` — a stream every worker appends to (hello, waiting, ready, tick, result, gone);
* ``…:down:<worker>`` — a stream per worker the coordinator appends to (assign, start, end,
  full, taken, abort);
* ``…:coordinator`` — the coordinator's heartbeat: its run id, with a TTL it renews every second.
  A worker whose coordinator's key is gone for good stops its clients and exits.

Streams rather than pub/sub: a message waits in Redis until it is read (pub/sub drops whatever is
sent while nobody listens, e.g. while a worker is still starting Python). Every key expires an
hour after its last write, so a crashed run leaves nothing for long.

One clock for all machines: Redis's ``TIME``. Each side measures its offset to it
(:class:`SharedClock`), the coordinator announces the start in Redis time, and each side turns it
into its own ``time.monotonic()`` — machines need no synchronized clocks, only their round trip
to Redis (the offset's error is at most half of it).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from redis import Redis
from redis.exceptions import RedisError

KEY_TTL = 3600  # seconds a key outlives its last write
STREAM_LIMIT = 100_000  # entries kept per stream (approximate trimming)
HEARTBEAT_TTL = 5.0  # seconds the coordinator's key lives without a renewal
BEAT_EVERY = 1.0  # seconds between two signs of life (the heartbeat, a worker's message)
REDIS_ERRORS = (RedisError, OSError, TimeoutError)
MAX_MESSAGE = 16_000_000  # bytes: a result with its call records stays far below this


class ProtocolError(ValueError):
    """A stream entry that is not a message of this protocol (skipped with a warning)."""


def prefix(run: str) -> str:
    if not run or any(c in run for c in "{}: \t\n"):
        raise ValueError("the run name must be non-empty, without braces, colons or spaces")
    return f"{{bench:{run}}}"


def encode(kind: str, body: dict[str, Any]) -> dict[str, str]:
    return {"m": json.dumps({"kind": kind, **body})}


def decode(fields: dict[Any, Any]) -> dict[str, Any]:
    """One stream entry's message: a JSON object with a ``kind`` string."""
    raw = fields.get(b"m", fields.get("m"))
    if raw is None:
        raise ProtocolError("entry without a message field")
    if len(raw) > MAX_MESSAGE:
        raise ProtocolError(f"message of {len(raw)} bytes is too large")
    try:
        message = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"message is not JSON: {exc}") from exc
    if not isinstance(message, dict) or not isinstance(message.get("kind"), str):
        raise ProtocolError("message is not an object with a kind")
    return message


@dataclass(frozen=True, slots=True)
class SharedClock:
    """``offset`` = Redis time − this process's ``time.monotonic()``, in seconds."""

    offset: float

    def to_local(self, shared: float) -> float:
        return shared - self.offset

    def to_shared(self, local: float) -> float:
        return local + self.offset


def best_offset(samples: list[tuple[float, float, float]]) -> float:
    """Offset from ``(sent, redis_time, received)`` samples: the one with the shortest round trip,
    assuming Redis read its clock half-way (NTP's rule, RFC 5905 §8, with one server)."""
    sent, remote, received = min(samples, key=lambda s: s[2] - s[0])
    return remote - (sent + received) / 2


class Bus:
    """The streams and the heartbeat of one run, over a blocking redis-py client."""

    def __init__(self, url: str, run: str) -> None:
        self.redis = Redis.from_url(url, socket_timeout=5.0, socket_connect_timeout=5.0)
        self.prefix = prefix(run)
        self.up_key = f"{self.prefix}:up"
        self.heartbeat_key = f"{self.prefix}:coordinator"

    def down_key(self, worker: str) -> str:
        return f"{self.prefix}:down:{worker}"

    def close(self) -> None:
        self.redis.close()

    # The clock --------------------------------------------------------------------------------
    def clock(self, samples: int = 5) -> SharedClock:
        measured = []
        for _ in range(samples):
            sent = time.monotonic()
            seconds, micros = self.redis.time()
            measured.append((sent, seconds + micros / 1e6, time.monotonic()))
        return SharedClock(best_offset(measured))

    # Streams ----------------------------------------------------------------------------------
    def _append(self, key: str, kind: str, body: dict[str, Any]) -> None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.xadd(key, encode(kind, body), maxlen=STREAM_LIMIT, approximate=True)  # type: ignore[arg-type]
        pipe.expire(key, KEY_TTL)
        pipe.execute()

    def send_up(self, kind: str, body: dict[str, Any]) -> None:
        self._append(self.up_key, kind, body)

    def send_down(self, worker: str, kind: str, body: dict[str, Any]) -> None:
        self._append(self.down_key(worker), kind, body)

    def read(self, key: str, after: str, block: float) -> tuple[str, list[dict[str, Any]]]:
        """Messages of stream ``key`` after entry ``after``, waiting up to ``block`` seconds for
        the first; returns the last entry id read (to continue from) and the messages. Entries
        that are not messages are skipped with an error of their own in the list."""
        reply: Any = self.redis.xread({key: after}, count=1000, block=max(1, int(block * 1000)))
        messages: list[dict[str, Any]] = []
        for _stream, entries in reply or []:
            for entry_id, fields in entries:
                after = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
                try:
                    messages.append(decode(fields))
                except ProtocolError as exc:
                    messages.append({"kind": "invalid", "error": str(exc)})
        return after, messages

    def position_now(self) -> str:
        """A stream position just before anything appended from now on (entry ids are Redis's
        clock in milliseconds): reading from it skips what an earlier run left in a stream."""
        seconds, micros = self.redis.time()
        return f"{seconds * 1000 + micros // 1000}-0"

    def forget(self, *keys: str) -> None:
        if keys:
            self.redis.delete(*keys)

    # The coordinator's heartbeat ----------------------------------------------------------------
    def beat(self, run_id: str) -> None:
        self.redis.set(self.heartbeat_key, run_id, px=int(HEARTBEAT_TTL * 1000))

    def coordinator(self) -> str | None:
        """The run id of the coordinator alive now, or None."""
        value = self.redis.get(self.heartbeat_key)
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)
