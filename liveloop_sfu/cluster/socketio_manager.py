"""socket.io across nodes: python-socketio's Redis manager, but local sockets never wait for Redis.

``socketio.AsyncRedisManager`` publishes *every* emit through Redis, even to a socket connected to
this very node, and its Redis client has no timeouts: with Redis down or frozen, a call living
entirely on one node would lose its signaling and chat (and an emit could hang). This manager
delivers to sockets of this node directly and publishes only what is addressed elsewhere: a sid
that is not connected here (it lives on another node) or a named room (members may be anywhere).

Its Redis client is the node's fail-fast one (:func:`liveloop_sfu.matchmaking.redis.connect`):
a publish that cannot be made within a second is logged and dropped, never raised into the
caller. The subscriber reconnects by itself with a short, capped back-off, so cross-node events
resume within seconds of Redis coming back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import socketio
from redis.asyncio import Redis
from redis.exceptions import RedisError

from liveloop_sfu.cluster.redis import subscription

log = logging.getLogger(__name__)

_PUBLISH_TIMEOUT = 1.0  # seconds


class NodeLocalRedisManager(socketio.AsyncRedisManager):  # type: ignore[misc]
    """A drop-in ``client_manager`` for ``socketio.AsyncServer``. ``client`` is a Redis made by
    :func:`~liveloop_sfu.matchmaking.redis.connect` (the node owns and closes it); every node of
    one service uses the same ``channel``."""

    name = "liveloop-redis"

    def __init__(self, client: Redis, channel: str = "liveloop:socketio") -> None:
        super().__init__(url="redis://unused", channel=channel)
        self._client = client
        self.remote_publishes = 0  # emits that went through Redis (tests, status)
        self.failed_publishes = 0

    async def emit(
        self,
        event: str,
        data: Any,
        namespace: str | None = None,
        room: Any = None,
        skip_sid: Any = None,
        callback: Any = None,
        to: Any = None,
        **kwargs: Any,
    ) -> None:
        target = to or room
        if isinstance(target, str) and self.is_connected(target, namespace or "/"):
            # A socket of this node: deliver directly, whatever the state of Redis.
            kwargs["ignore_queue"] = True
        await super().emit(
            event,
            data,
            namespace=namespace,
            room=target,
            skip_sid=skip_sid,
            callback=callback,
            **kwargs,
        )

    async def _publish(self, data: Any) -> None:
        try:
            await asyncio.wait_for(
                self._client.publish(self.channel, self.json.dumps(data)), _PUBLISH_TIMEOUT
            )
            self.remote_publishes += 1
        except (RedisError, OSError, TimeoutError) as exc:
            self.failed_publishes += 1
            log.warning("socket.io event not published to other nodes: %s", exc)

    async def _listen(self) -> AsyncIterator[Any]:
        async for data in subscription(self._client, self.channel):
            yield data

    async def close(self) -> None:
        """Stop the subscriber (python-socketio never stops its background task)."""
        thread = getattr(self, "thread", None)
        if thread is not None:
            thread.cancel()
            try:
                await thread
            except asyncio.CancelledError:
                pass
            except Exception:
                log.debug("socket.io subscriber ended with an error", exc_info=True)
