"""The benchmark clients' side of Janus: its HTTP API and VideoRoom plugin (Janus 1.1).

A participant of a Janus "call" is what a Janus VideoRoom application makes of it: one session,
a publisher handle (our offer with the cached media, Janus answers) and a subscriber handle to the
partner's feed (Janus offers, we answer). Requests are POSTed to the session or handle; Janus
acks asynchronous requests at once and delivers the result (with the ``transaction`` of the
request) on the session's long poll (``GET /janus/<session>?maxev=N``), which also keeps the
session alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
from typing import Any

import aiohttp

log = logging.getLogger("benchmarks.clients.janus")

_transactions = itertools.count(1)
POLL_EVENTS = 10


class JanusError(Exception):
    pass


def _transaction() -> str:
    return f"t{next(_transactions)}-{random.randrange(1 << 30)}"


def plugin_data(reply: dict[str, Any]) -> dict[str, Any]:
    """The plugin's answer in a Janus reply, raising on a Janus or VideoRoom error (pure)."""
    if reply.get("janus") == "error":
        error = reply.get("error", {})
        raise JanusError(f"janus error {error.get('code')}: {error.get('reason')}")
    data = reply.get("plugindata", {}).get("data", {})
    if not isinstance(data, dict):
        raise JanusError(f"unexpected Janus reply: {reply!r}")
    if "error" in data:
        raise JanusError(f"videoroom error {data.get('error_code')}: {data['error']}")
    return data


class JanusSession:
    """One Janus session over HTTP with its long-poll task."""

    def __init__(self, url: str, http: aiohttp.ClientSession, timeout: float = 20.0) -> None:
        self.url = url.rstrip("/")
        self._http = http
        self.timeout = timeout
        self.session_id: int | None = None
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.events: dict[int, list[dict[str, Any]]] = {}  # handle -> other events (hangup...)
        self._poller: asyncio.Task[None] | None = None

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        body = {**body, "transaction": body.get("transaction") or _transaction()}
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with self._http.post(f"{self.url}{path}", json=body, timeout=timeout) as response:
            reply: dict[str, Any] = await response.json(content_type=None)
        if reply.get("janus") == "error":
            plugin_data(reply)
        return reply

    async def create(self) -> None:
        reply = await self._post("", {"janus": "create"})
        self.session_id = int(reply["data"]["id"])
        self._poller = asyncio.get_running_loop().create_task(self._poll())

    async def attach(self, plugin: str = "janus.plugin.videoroom") -> int:
        reply = await self._post(f"/{self.session_id}", {"janus": "attach", "plugin": plugin})
        return int(reply["data"]["id"])

    async def request(self, handle: int, body: dict[str, Any]) -> dict[str, Any]:
        """A synchronous plugin request (``create``, ``destroy``...): the reply carries the data."""
        reply = await self._post(f"/{self.session_id}/{handle}", {"janus": "message", "body": body})
        return plugin_data(reply)

    async def send(
        self, handle: int, body: dict[str, Any], jsep: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """An asynchronous plugin request: wait for its event on the long poll (returned whole,
        so the caller finds ``jsep`` in it)."""
        transaction = _transaction()
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[transaction] = future
        message: dict[str, Any] = {"janus": "message", "body": body, "transaction": transaction}
        if jsep is not None:
            message["jsep"] = jsep
        try:
            reply = await self._post(f"/{self.session_id}/{handle}", message)
            if reply.get("janus") == "success":  # answered synchronously after all
                return reply
            event = await asyncio.wait_for(future, self.timeout)
        finally:
            self._waiting.pop(transaction, None)
        plugin_data(event)
        return event

    async def _poll(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self.timeout + 40)
        url = f"{self.url}/{self.session_id}?maxev={POLL_EVENTS}"
        while True:
            try:
                async with self._http.get(url, timeout=timeout) as response:
                    events = await response.json(content_type=None)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("janus long poll failed: %s", exc)
                await asyncio.sleep(0.5)
                continue
            for event in events if isinstance(events, list) else [events]:
                self._dispatch(event)

    def _dispatch(self, event: dict[str, Any]) -> None:
        future = self._waiting.get(str(event.get("transaction")))
        if event.get("janus") == "event" and future is not None and not future.done():
            future.set_result(event)
        elif event.get("janus") not in ("keepalive", "ack"):
            self.events.setdefault(int(event.get("sender") or 0), []).append(event)

    def hangups(self) -> int:
        return sum(
            1 for events in self.events.values() for e in events if e.get("janus") == "hangup"
        )

    async def destroy(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._poller
        if self.session_id is not None:
            with contextlib.suppress(Exception):
                await self._post(f"/{self.session_id}", {"janus": "destroy"})
            self.session_id = None


async def subscribe(
    session: JanusSession, handle: int, room: int, feeds: list[int], attempts: int = 50
) -> dict[str, Any]:
    """Subscribe to ``feeds``. VideoRoom answers "No such feed" (428) until a publisher's
    PeerConnection is up on its side — a little after our end sees it connected — so retry."""
    for attempt in range(attempts):
        try:
            return await session.send(handle, subscribe_body(room, feeds))
        except JanusError as exc:
            if "error 428" not in str(exc) or attempt == attempts - 1:
                raise
            await asyncio.sleep(0.1)
    raise JanusError("unreachable")


def create_room_body(room: int, publishers: int) -> dict[str, Any]:
    """A VideoRoom for one benchmark call or group: VP8 + Opus, no bitrate cap (the publishers
    send a fixed pre-encoded stream), no periodic FIR (keyframes only when a subscriber asks)."""
    return {
        "request": "create",
        "room": room,
        "publishers": publishers,
        "bitrate": 0,
        "fir_freq": 0,
        "videocodec": "vp8",
        "audiocodec": "opus",
        "notify_joining": False,
        "permanent": False,
    }


def publish_body(room: int, display: str) -> dict[str, Any]:
    return {"request": "joinandconfigure", "ptype": "publisher", "room": room, "display": display}


def subscribe_body(room: int, feeds: list[int]) -> dict[str, Any]:
    return {
        "request": "join",
        "ptype": "subscriber",
        "room": room,
        "streams": [{"feed": feed} for feed in feeds],
    }
