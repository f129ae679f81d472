"""The Redis matchmaker: one queue shared by every node, each state change one atomic Lua script.

The scripts and the key layout are documented in :mod:`liveloop_sfu.matchmaking.redis_scripts`.
Liveness: every node registers in ``nodes`` with a deadline (``now + entry_ttl``) that
:meth:`RedisMatchmaker.heartbeat` moves forward, and every user hash carries the owning node's id
and a Redis TTL that the same heartbeat refreshes. :meth:`RedisMatchmaker.sweep` (run by every
live node) removes the users of nodes whose deadline passed, so a dead node's users leave the queue
within ``entry_ttl`` plus one maintenance interval; until then the match script already refuses to
pair anyone with them. Clocks are wall clocks (``time.time``) of the nodes, which NTP keeps within
far less than ``entry_ttl`` of each other.

Failure: every Redis error or timeout becomes :class:`~liveloop_sfu.errors.MatchmakerUnavailable`
(``matchmaker-unavailable`` on the wire), with short socket timeouts and an overall per-operation
deadline: a Redis that refuses connections fails a request at once, a frozen one within
``op_timeout`` (2 s by default), never a hang. The client reconnects by itself: when Redis is
back, the next call works, without a node restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import TypeVar

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from liveloop_sfu.errors import MatchmakerUnavailable
from liveloop_sfu.matchmaking import redis_scripts
from liveloop_sfu.matchmaking.rules import Waiter
from liveloop_sfu.modes import CallMode

log = logging.getLogger(__name__)

T = TypeVar("T")

_MODES: Mapping[str, CallMode | None] = {"": None, "sfu": "sfu", "p2p": "p2p"}
_HEARTBEAT_CHUNK = 500
_MAX_HEARTBEAT_PAGES = 100_000  # a bound on the SSCAN walk; far above any real user count
_MAX_SWEPT_NODES = 1_000  # per sweep() call
# Per-user block sets go with their users (forget, sweep); this TTL only bounds a leftover.
_SESSION_BLOCK_TTL_MS = 24 * 3600 * 1000


class RedisKeys:
    """Key names under one hash tag (``{liveloop}:queue:users`` ...), so all share a slot."""

    def __init__(self, hash_tag: str = "liveloop") -> None:
        if not hash_tag or any(c in hash_tag for c in "{}"):
            raise ValueError(f"hash tag must be non-empty and brace-free, got {hash_tag!r}")
        self.prefix = "{" + hash_tag + "}:"
        self.queue = self.prefix + "queue:users"
        self.mode_indexes = tuple(self.prefix + f"queue:mode:{m}" for m in ("sfu", "p2p", "any"))
        self.nodes = self.prefix + "nodes"
        self.metrics = self.prefix + "metrics:daily"

    def user(self, user_id: str) -> str:
        return self.prefix + "user:" + user_id

    def node_users(self, node_id: str) -> str:
        return self.prefix + "node:" + node_id + ":users"

    def room(self, room_id: str) -> str:
        """The seed's ``rooms:{roomId}`` hash, for whoever stores rooms in Redis."""
        return self.prefix + "rooms:" + room_id


def connect(url: str, *, socket_timeout: float = 1.0, max_connections: int = 32) -> Redis:
    """A client that fails fast: 1 s connect/read timeouts (short, yet not so short that a busy
    node's own event loop lag trips them) and one immediate reconnect attempt
    on a broken connection (after a Redis restart every pooled socket is dead once). Timeouts are
    not retried: the script might have run, and running it twice is not idempotent. Concurrent
    callers beyond ``max_connections`` queue for a connection (bounded by ``socket_timeout``)."""
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=socket_timeout,
        socket_timeout=socket_timeout,
        socket_connect_timeout=socket_timeout,
        retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        decode_responses=True,
    )
    return Redis.from_pool(pool)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@functools.lru_cache(maxsize=4)
def _day_name(day_number: int) -> str:
    return datetime.fromtimestamp(day_number * 86_400, UTC).strftime("%Y-%m-%d")


def day_of(now: float) -> str:
    """The UTC day of ``now`` (a metrics:daily field prefix); cached, it is on every match."""
    return _day_name(int(now // 86_400))


class RedisMatchmaker:
    """:class:`~liveloop_sfu.matchmaking.base.Matchmaker` over Redis, shared by many nodes.

    ``client`` is a URL (the matchmaker then owns the connection and closes it) or a
    ``redis.asyncio.Redis`` made by the caller (see :func:`connect`). ``node_id`` must be unique
    per running node. Call :meth:`start` to run heartbeat and sweep in the background (or call
    :meth:`heartbeat` and :meth:`sweep` yourself), and :meth:`close` at shutdown, which also
    removes this node's users unless ``retire_on_close`` is False.
    """

    def __init__(
        self,
        client: Redis | str,
        *,
        node_id: str,
        entry_ttl: float = 15.0,
        hash_tag: str = "liveloop",
        op_timeout: float = 2.0,
        stale_limit: int = 64,
        clock: Callable[[], float] = time.time,
        retire_on_close: bool = True,
    ) -> None:
        if entry_ttl <= 0 or op_timeout <= 0 or stale_limit < 0:
            raise ValueError("entry_ttl and op_timeout must be > 0, stale_limit >= 0")
        self._owns_client = isinstance(client, str)
        self._client = connect(client) if isinstance(client, str) else client
        self.node_id = node_id
        self.entry_ttl = entry_ttl
        self.keys = RedisKeys(hash_tag)
        self._op_timeout = op_timeout
        self._stale_arg = str(stale_limit)
        self._clock = clock
        self._ttl_ms = str(max(1, round(entry_ttl * 1000)))
        self._match = self._client.register_script(redis_scripts.MATCH_OR_ENQUEUE)
        self._cancel = self._client.register_script(redis_scripts.CANCEL)
        self._avoid = self._client.register_script(redis_scripts.AVOID_LAST_PARTNER)
        self._forget = self._client.register_script(redis_scripts.FORGET)
        self._unmatch = self._client.register_script(redis_scripts.UNMATCH)
        self._heartbeat = self._client.register_script(redis_scripts.HEARTBEAT)
        self._sweep = self._client.register_script(redis_scripts.SWEEP_ONE)
        self._retire = self._client.register_script(redis_scripts.RETIRE)
        self._maintenance: asyncio.Task[None] | None = None
        self._closed = False
        self._retire_on_close = retire_on_close

    # ---- the Matchmaker Protocol ----------------------------------------------------------
    async def match_or_enqueue(self, requester: Waiter) -> Waiter | None:
        mode = requester.mode or ""
        if mode not in _MODES:
            raise ValueError(f"unknown mode {requester.mode!r}")
        keys = [self.keys.queue, self.keys.user(requester.user_id)]
        now = requester.joined_at
        args = [
            self.keys.prefix,
            requester.user_id,
            repr(now),
            mode,
            self.node_id,
            self._ttl_ms,
            day_of(now),
            self._stale_arg,
            requester.client_id or "",
        ]
        reply = await self._call("match", self._match(keys=keys, args=args))
        if int(reply[0]) == 0:
            return None
        node = _text(reply[4]) or None
        client_id = _text(reply[5]) or None
        partner_mode = _MODES[_text(reply[3])]
        return Waiter(_text(reply[1]), float(_text(reply[2])), partner_mode, node, client_id)

    async def avoid_last_partner(
        self, user_id: str, *, for_good: bool, ttl: float, now: float
    ) -> tuple[str, str | None] | None:
        # ``now`` is not needed: Redis expires the client blocks itself (PEXPIRE).
        args = [
            self.keys.prefix,
            user_id,
            "1" if for_good else "0",
            str(max(1, round(ttl * 1000))),
            str(_SESSION_BLOCK_TTL_MS),
        ]
        reply = await self._call("avoid", self._avoid(keys=self._user_keys(user_id), args=args))
        if not reply:
            return None
        return _text(reply[0]), _text(reply[1]) or None

    async def unmatch(self, user_id: str, partner_id: str) -> None:
        args = [self.keys.prefix, user_id, partner_id]
        await self._call("unmatch", self._unmatch(keys=self._user_keys(user_id), args=args))

    async def cancel(self, user_id: str) -> bool:
        removed = await self._call(
            "cancel", self._cancel(keys=self._user_keys(user_id), args=[self.keys.prefix, user_id])
        )
        return int(removed) == 1

    async def forget(self, user_id: str) -> None:
        await self._call(
            "forget", self._forget(keys=self._user_keys(user_id), args=[self.keys.prefix, user_id])
        )

    async def is_waiting(self, user_id: str) -> bool:
        score = await self._call("is_waiting", self._client.zscore(self.keys.queue, user_id))
        return score is not None

    async def waiting_count(self) -> int:
        return int(await self._call("waiting_count", self._client.zcard(self.keys.queue)))

    async def healthy(self) -> bool:
        """PING within ``op_timeout``; never raises (a probe, so failures log at debug level)."""
        try:
            await asyncio.wait_for(self._client.ping(), self._op_timeout)
        except (RedisError, OSError, TimeoutError) as exc:
            log.debug("redis ping failed: %s: %s", type(exc).__name__, exc)
            return False
        return True

    async def close(self) -> None:
        """Stop maintenance, :meth:`retire` (best effort: with Redis down, the other nodes'
        sweep removes this node's users later) and, when the matchmaker made the client, close
        it. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._maintenance is not None:
            self._maintenance.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._maintenance
            self._maintenance = None
        if self._retire_on_close:
            with contextlib.suppress(MatchmakerUnavailable):
                await self.retire()
        if self._owns_client:
            await self._client.aclose()

    async def retire(self) -> int:
        """Remove every user this node owns and its registration (a clean shutdown, as the
        in-memory backend's close clears its queue). Returns the number of users removed."""
        keys = [self.keys.node_users(self.node_id)]
        removed = await self._call(
            "retire", self._retire(keys=keys, args=[self.keys.prefix, self.node_id])
        )
        return int(removed)

    # ---- liveness -------------------------------------------------------------------------
    async def heartbeat(self, now: float) -> bool:
        """Move this node's deadline to ``now + entry_ttl`` and refresh the TTL of every user
        hash it owns. Returns False when the node was not registered: it is new, or it was swept
        (it missed heartbeats for ``entry_ttl``) or Redis lost its data, so its queue entries are
        gone and its users must request again."""
        keys = [self.keys.node_users(self.node_id)]
        deadline = repr(now + self.entry_ttl)
        cursor, registered = "0", True
        for page in range(_MAX_HEARTBEAT_PAGES):
            args = [self.keys.prefix, self.node_id, deadline, self._ttl_ms, cursor]
            reply = await self._call(
                "heartbeat", self._heartbeat(keys=keys, args=[*args, _HEARTBEAT_CHUNK])
            )
            cursor = _text(reply[0])
            if page == 0:
                registered = int(reply[1]) == 1
            if cursor == "0":
                break
        return registered

    async def sweep(self, now: float) -> dict[str, int]:
        """Remove every user of each node whose deadline is before ``now`` (never this node's
        own). Returns users swept per dead node."""
        keys = [self.keys.nodes]
        swept: dict[str, int] = {}
        for _ in range(_MAX_SWEPT_NODES):
            reply = await self._call(
                "sweep", self._sweep(keys=keys, args=[self.keys.prefix, repr(now), self.node_id])
            )
            if not reply:
                break
            swept[_text(reply[0])] = int(reply[1])
        if swept:
            log.warning("swept users of dead matchmaking nodes: %s", swept)
        return swept

    def start(
        self,
        interval: float | None = None,
        reconcile: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Run :meth:`heartbeat`, ``reconcile`` and :meth:`sweep` every ``interval`` seconds
        (default a third of ``entry_ttl``) until :meth:`close`. Redis outages are logged and
        outlived.

        ``reconcile`` is the node's chance to repair what an outage did: forget users who left
        while Redis was unreachable and queue again its waiting users (a no-op for entries the
        queue still holds). It runs after every successful heartbeat rather than only after a
        detected outage: a Redis restarted between two heartbeats loses the queue without any
        call failing, and re-registering through a match hides that from the heartbeat."""
        if self._maintenance is None and not self._closed:
            period = interval if interval is not None else self.entry_ttl / 3
            self._maintenance = asyncio.create_task(self._maintain(period, reconcile))

    async def _maintain(
        self, interval: float, reconcile: Callable[[], Awaitable[None]] | None
    ) -> None:
        # The flag, not only the cancellation, ends the loop: Python 3.11's wait_for can swallow
        # a cancellation that arrives as the awaited Redis call completes, and close() would
        # then wait for this task forever.
        while not self._closed:
            try:
                if not await self.heartbeat(self._clock()):
                    log.warning("matchmaking node %s (re)registered in Redis", self.node_id)
                if reconcile is not None:
                    await reconcile()
                await self.sweep(self._clock())
            except MatchmakerUnavailable as exc:
                log.warning("matchmaker maintenance failed: %s", exc.message)
            except Exception:
                # The hook is the node's code; a bug there must not end maintenance.
                log.exception("matchmaker reconcile hook failed")
            await asyncio.sleep(interval)

    # ---- metrics ----------------------------------------------------------------------------
    async def record(self, counter: str, now: float, amount: int = 1) -> None:
        """Add to a ``metrics:daily`` counter of ``now``'s UTC day, e.g. ``messages`` or
        ``calls:sfu``. (``matches`` and ``matches:<mode>`` are counted by the match script.)"""
        field = f"{day_of(now)}:{counter}"
        await self._call("record", self._client.hincrby(self.keys.metrics, field, amount))

    async def daily_metrics(self, now: float) -> dict[str, int]:
        """The counters of ``now``'s UTC day, without the day prefix."""
        day = day_of(now) + ":"
        fields = await self._call("metrics", self._client.hgetall(self.keys.metrics))
        return {_text(k)[len(day) :]: int(v) for k, v in fields.items() if _text(k).startswith(day)}

    # ---- plumbing -----------------------------------------------------------------------------
    def _user_keys(self, user_id: str) -> list[str]:
        return [self.keys.queue, self.keys.user(user_id)]

    async def _call(self, what: str, operation: Awaitable[T]) -> T:
        """Await one Redis operation within ``op_timeout``; every failure becomes
        MatchmakerUnavailable (the cause is logged, never sent to clients)."""
        try:
            # wait_for, not asyncio.timeout: nested in redis-py's own pool timeout (Python 3.11),
            # asyncio.timeout made pool waits fail at once under load ("No connection available").
            return await asyncio.wait_for(operation, self._op_timeout)
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("redis %s failed: %s: %s", what, type(exc).__name__, exc)
            raise MatchmakerUnavailable(
                "matchmaking is temporarily unavailable (its Redis backend does not answer); "
                "try again shortly"
            ) from exc
