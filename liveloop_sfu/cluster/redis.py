"""Requests between node processes over Redis pub/sub: the Redis :class:`~.cluster.Cluster`.

Every node subscribes to its own inbox channel, ``{liveloop}:node:<id>:inbox``. A request is
published to the target's inbox with an id and the sender's node id; the target runs it (each in
its own task, so a slow offer never holds up another call's candidates) and publishes the reply
to the sender's inbox. ``PUBLISH`` returns the number of subscribers that got the message, so a
request to a node that is not running fails at once instead of waiting for the timeout.

Ordering: one participant's events are serialized on its home node (the signal layer's per-client
lock) and each waits for its reply, so the host sees them in the order the client sent them.
Redis pub/sub is at-most-once: a request lost in an outage ends in :class:`NodeUnreachable`
after ``timeout``, which the room logic treats as the end of that call.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from liveloop_sfu.cluster.base import NodeUnreachable, Reply, Request, RequestHandler
from liveloop_sfu.errors import InternalError

log = logging.getLogger(__name__)

_READ_TIMEOUT = 1.0  # seconds one read of a subscription waits for a message
_MAX_BACKOFF = 2.0  # seconds between reconnection attempts while Redis is down
_REDIS_ERRORS = (RedisError, OSError, TimeoutError)
_ROOM_TTL = 24 * 3600  # seconds

# KEYS: 1 rooms:{roomId}, 2 nodes (the matchmaker's liveness set: node -> heartbeat deadline).
# ARGV: 1 this node, 2 now, 3 TTL (s). Returns the node the group room is pinned to. A claim held
# by a node whose heartbeat deadline passed (or that never registered one) is taken over, so a
# room of a node that died opens again on the next node that someone joins it through.
_CLAIM_ROOM = """#!lua
local owner = redis.call('HGET', KEYS[1], 'host')
if owner then
  local alive = owner == ARGV[1]
  if not alive then
    local deadline = redis.call('ZSCORE', KEYS[2], owner)
    alive = deadline ~= false and tonumber(deadline) >= tonumber(ARGV[2])
  end
  if alive then
    -- A 1:1 call's record (no kind) is left as it is: its node refuses the join.
    if redis.call('HGET', KEYS[1], 'kind') == 'group' then
      redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
    end
    return owner
  end
  redis.call('DEL', KEYS[1])
end
redis.call('HSET', KEYS[1], 'host', ARGV[1], 'kind', 'group')
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return ARGV[1]
"""

# KEYS: 1 rooms:{roomId}. ARGV: 1 this node. Deletes the claim only if this node holds it (and
# it is a group room's, never a 1:1 call's record).
_RELEASE_ROOM = """#!lua
if redis.call('HGET', KEYS[1], 'host') == ARGV[1] and redis.call('HGET', KEYS[1], 'kind') == 'group'
then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


async def subscription(
    client: Redis, channel: str, on_subscribed: Callable[[], None] | None = None
) -> AsyncIterator[Any]:
    """The messages published on ``channel``, forever, across Redis outages: a lost connection
    is retried with a back-off capped at 2 s and the channel subscribed again, so messages flow
    again within seconds of Redis returning (those published meanwhile are lost, as pub/sub
    always loses what nobody was subscribed to receive)."""
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    backoff = 0.1
    try:
        while True:
            try:
                if not pubsub.subscribed:
                    await asyncio.wait_for(pubsub.subscribe(channel), _READ_TIMEOUT)
                    if on_subscribed is not None:
                        on_subscribed()
                message = await pubsub.get_message(timeout=_READ_TIMEOUT)
                backoff = 0.1
            except (*_REDIS_ERRORS, RuntimeError) as exc:
                # RuntimeError: redis-py's "pubsub connection not set" after a failed subscribe.
                log.debug("subscription to %s interrupted: %s", channel, exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF)
                continue
            if message is not None and message.get("type") == "message":
                yield message["data"]
    finally:
        with contextlib.suppress(*_REDIS_ERRORS):
            # redis-py 8.1 leaves ``aclose`` unannotated and 8.2 types it: a typed alias holds
            # under ``mypy --strict`` on both, where a ``type: ignore`` is unused on one of them.
            close: Callable[[], Awaitable[None]] = pubsub.aclose
            await close()


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisCluster:
    """:class:`~liveloop_sfu.cluster.base.Cluster` between node processes sharing one Redis.
    ``client`` is made by :func:`liveloop_sfu.matchmaking.redis.connect` and owned by the
    caller. Call :meth:`start` once an event loop runs and :meth:`close` at shutdown."""

    def __init__(
        self,
        client: Redis,
        node_id: str,
        *,
        hash_tag: str = "liveloop",
        timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.node_id = node_id
        self._clock = clock
        self._claim_room = client.register_script(_CLAIM_ROOM)
        self._release_room = client.register_script(_RELEASE_ROOM)
        self._client = client
        self._prefix = "{" + hash_tag + "}:"
        self._timeout = timeout
        self._handler: RequestHandler | None = None
        self._pending: dict[str, asyncio.Future[Reply]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._listener: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()

    def inbox(self, node: str) -> str:
        return f"{self._prefix}node:{node}:inbox"

    def serve(self, handler: RequestHandler) -> None:
        self._handler = handler

    async def start(self, wait: float = 2.0) -> None:
        """Subscribe to this node's inbox; wait up to ``wait`` seconds for the subscription
        (with Redis down the node starts anyway and subscribes when Redis returns)."""
        if self._listener is None:
            self._listener = asyncio.create_task(self._listen())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.subscribed.wait(), wait)

    async def call(self, node: str, request: Request, timeout: float | None = None) -> Reply:
        limit = self._timeout if timeout is None else timeout
        request_id = uuid.uuid4().hex
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        message = {"kind": "request", "id": request_id, "from": self.node_id, "body": request}
        try:
            receivers = await asyncio.wait_for(
                self._client.publish(self.inbox(node), json.dumps(message)), limit
            )
            if int(receivers) == 0:
                raise NodeUnreachable(f"node {node} is not listening")
            return await asyncio.wait_for(future, limit)
        except TimeoutError as exc:
            raise NodeUnreachable(f"node {node} did not answer within {limit:g} s") from exc
        except (RedisError, OSError) as exc:
            raise NodeUnreachable(f"cannot reach node {node}: {exc}") from exc
        finally:
            self._pending.pop(request_id, None)

    async def nodes(self) -> list[str]:
        """The nodes whose heartbeat deadline in the matchmaker's ``nodes`` set lies ahead (the
        same liveness the room claims use), this one always among them."""
        key, now = self._prefix + "nodes", self._clock()
        try:
            alive = await asyncio.wait_for(
                self._client.zrangebyscore(key, now, "+inf"), self._timeout
            )
        except (*_REDIS_ERRORS,) as exc:
            raise NodeUnreachable(f"cannot list the nodes: {exc}") from exc
        return sorted({self.node_id, *(_text(node) for node in alive)})

    async def room_host(self, room_id: str) -> str | None:
        try:
            host = await asyncio.wait_for(
                self._client.hget(self.room_key(room_id), "host"), self._timeout
            )
        except (*_REDIS_ERRORS,) as exc:
            raise NodeUnreachable(f"cannot find the node of room {room_id}: {exc}") from exc
        return None if host is None else _text(host)

    def room_key(self, room_id: str) -> str:
        return f"{self._prefix}rooms:{room_id}"

    async def room_opened(self, room_id: str, record: Mapping[str, str]) -> None:
        """``rooms:{roomId}`` hash; its TTL only bounds what a node that died leaves behind."""
        key = self.room_key(room_id)
        fields: dict[Any, Any] = dict(record)  # redis-py's Mapping type is invariant in its keys
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=fields)
            pipe.expire(key, _ROOM_TTL)
            await asyncio.wait_for(pipe.execute(), self._timeout)

    async def room_closed(self, room_id: str) -> None:
        await asyncio.wait_for(self._client.delete(self.room_key(room_id)), self._timeout)

    async def claim_room(self, room_id: str) -> str:
        """Group rooms share the seed's ``rooms:{roomId}`` hash (``host``, ``kind=group``); a
        node counts as alive while its deadline in the matchmaker's ``nodes`` set (moved by
        its heartbeat, same hash tag) lies ahead."""
        keys = [self.room_key(room_id), self._prefix + "nodes"]
        args: list[str | int] = [self.node_id, repr(self._clock()), _ROOM_TTL]
        try:
            owner = await asyncio.wait_for(self._claim_room(keys=keys, args=args), self._timeout)
        except (*_REDIS_ERRORS,) as exc:
            raise NodeUnreachable(f"cannot claim room {room_id}: {exc}") from exc
        return owner.decode() if isinstance(owner, bytes) else str(owner)

    async def release_room(self, room_id: str) -> None:
        keys, args = [self.room_key(room_id)], [self.node_id]
        try:
            await asyncio.wait_for(self._release_room(keys=keys, args=args), self._timeout)
        except (*_REDIS_ERRORS,) as exc:
            # The claim outlives the room; the next join re-claims it for a live node anyway.
            log.warning("could not release room %s: %s", room_id, exc)

    async def close(self) -> None:
        tasks = [t for t in (self._listener, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._listener = None
        for future in self._pending.values():
            future.cancel()

    # ---- inbox ----------------------------------------------------------------------------
    async def _listen(self) -> None:
        async for data in subscription(self._client, self.inbox(self.node_id), self.subscribed.set):
            try:
                message = json.loads(data)
                kind, message_id = message["kind"], str(message["id"])
            except (ValueError, KeyError, TypeError):
                log.warning("ignored a malformed message in node inbox")
                continue
            if kind == "reply":
                future = self._pending.get(message_id)
                if future is not None and not future.done():
                    future.set_result(message["body"])
            elif kind == "request":
                task = asyncio.create_task(self._answer(message))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _answer(self, message: dict[str, Any]) -> None:
        sender = str(message.get("from"))
        try:
            if self._handler is None:
                raise RuntimeError("no handler for cluster requests")
            reply = await self._handler(sender, message["body"])
        except Exception:
            log.exception("cluster request from %s failed", sender)
            reply = InternalError("the node hosting the call failed").to_wire()
        out = {"kind": "reply", "id": message["id"], "from": self.node_id, "body": reply}
        try:
            await asyncio.wait_for(
                self._client.publish(self.inbox(sender), json.dumps(out)), self._timeout
            )
        except (*_REDIS_ERRORS,) as exc:
            log.warning("could not reply to node %s: %s", sender, exc)
