"""A small asyncio client of the wire contract (docs/protocol.md).

Used by the integration tests and the benchmark harness, and usable by anyone scripting the node
from Python. Every server→client event is queued per event name, so a caller awaits exactly the
event it expects (``await client.next("match-done")``) without racing callbacks.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

import socketio


class WireError(Exception):
    """An error ack from the node: ``code`` is one of DESIGN.md's stable codes."""

    def __init__(self, event: str, code: str, message: str) -> None:
        super().__init__(f"{event}: {code}: {message}")
        self.code = code
        self.message = message


class WireClient:
    EVENTS = (
        "match-done",
        "negotiation-call-offer",
        "negotiation-call-answer",
        "send-new-ice-candidates",
        "newMessage",
        "partner-left",
        "mode-changed",
        "renegotiate",
        "recording",
        "server-shutdown",
        "participant-joined",
        "participant-left",
        "participant-updated",
        "active-speaker",
    )

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 10.0,
        transports: list[str] | None = None,
        ssl_verify: bool = True,
    ):
        self.url = url
        self.timeout = timeout
        self._transports = transports or ["websocket"]
        # ssl_verify=False: an https node or proxy with a certificate made for a test.
        self.sio = socketio.AsyncClient(reconnection=False, ssl_verify=ssl_verify)
        self._queues: defaultdict[str, asyncio.Queue[dict[str, Any]]] = defaultdict(asyncio.Queue)
        self.disconnected = asyncio.Event()
        for event in self.EVENTS:
            self.sio.on(event, self._queuer(event))
        self.sio.on("disconnect", self._on_disconnect)

    def _queuer(self, event: str) -> Any:
        async def handler(payload: Any = None) -> None:
            self._queues[event].put_nowait(payload if isinstance(payload, dict) else {})

        return handler

    async def _on_disconnect(self, *args: Any) -> None:
        self.disconnected.set()

    async def connect(
        self, headers: dict[str, str] | None = None, auth: dict[str, Any] | None = None
    ) -> WireClient:
        """``auth``: the socket.io auth object, e.g. ``{"clientKey": ...}`` (docs/protocol.md)."""
        await self.sio.connect(
            self.url,
            transports=self._transports,
            headers=headers or {},
            auth=auth,
            wait_timeout=self.timeout,
        )
        return self

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()
        # python-socketio keeps its aiohttp session open after a refused connect.
        http = getattr(self.sio.eio, "http", None)
        if http is not None and not http.closed:
            await http.close()

    async def call_raw(self, event: str, data: Any = None) -> Any:
        """Emit and return the ack as received. ``data`` None sends no argument; a tuple sends
        several (python-socketio's convention) — for tests of malformed input."""
        return await self.sio.call(event, data, timeout=self.timeout)

    async def call(self, event: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        """Emit with an ack; raise :class:`WireError` on an error ack."""
        ack = await self.sio.call(
            event, payload if payload is not None else {}, timeout=self.timeout
        )
        if not isinstance(ack, dict):
            raise WireError(event, "bad-ack", repr(ack))
        error = ack.get("error")
        if isinstance(error, dict):
            raise WireError(event, str(error.get("code")), str(error.get("message")))
        return ack

    async def next(self, event: str, timeout: float | None = None) -> dict[str, Any]:
        """The next ``event`` from the node (waits up to ``timeout``)."""
        return await asyncio.wait_for(self._queues[event].get(), timeout or self.timeout)

    def pending(self, event: str) -> int:
        return self._queues[event].qsize()

    # Convenience for the common flows.
    async def request_room(self, user_name: str, **extra: Any) -> dict[str, Any]:
        return await self.call("request-room", {"userName": user_name, **extra})
