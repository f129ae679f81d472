"""Draining a node for a rolling deploy: no new calls here, the live ones run to their end.

SIGTERM (``__main__``) or ``POST /api/admin/drain`` starts a drain (docs/protocol.md, "Shutdown
and drain"). From that moment:

1. ``/readyz`` answers 503 ``draining`` (a load balancer sends new users elsewhere) and new
   socket.io connections are refused;
2. the node takes no new match or room member (:meth:`RoomService.begin_drain`): with several
   nodes its waiting users are never claimed by another node's match, and a room pinned here
   refuses newcomers;
3. every client of this node that is in no call — now, or later when its call ends — leaves the
   queue and is told ``server-shutdown`` ``{"reason": "draining", "reconnect": true}`` and
   disconnected, so it reconnects through the load balancer and is matched on another node;
4. calls and rooms hosted here (and this node's users in calls hosted elsewhere) run on until
   they end or ``--drain-timeout`` passes; then whatever is left ends (``partner-left``
   ``shutdown``, ``server-shutdown`` ``{"reason": "shutdown", "reconnect": true}``) and
   :attr:`NodeDrain.on_done` runs — the process exits. It exits by itself as soon as its last
   call ends.

A second SIGTERM (:meth:`NodeDrain.on_signal`) skips the wait: everything ends at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal

from liveloop_sfu.rooms.service import RoomService

__all__ = ["DRAINING_EVENT", "NodeDrain"]

log = logging.getLogger(__name__)

DrainState = Literal["serving", "draining", "ending", "done"]
# What an idle client is told at once: its node drains, another one will match it.
DRAINING_EVENT: Mapping[str, Any] = {"reason": "draining", "reconnect": True}
# How often a draining node looks for clients whose call ended and for its last call's end.
# Polling the table is cheap (no I/O) and needs no hook in every use case that ends a call.
POLL_INTERVAL = 0.25

# Tells one client (by session id) server-shutdown with this payload and disconnects it.
Tell = Callable[[str, Mapping[str, Any]], Awaitable[None]]


class NodeDrain:
    def __init__(
        self,
        rooms: RoomService,
        tell: Tell,
        end_everything: Callable[[], Awaitable[None]],
        timeout: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``end_everything``: end every call and tell and disconnect every client
        (``app.Node.end_everything``); ``timeout``: ``--drain-timeout``."""
        self._rooms = rooms
        self._tell = tell
        self._end_everything = end_everything
        self.timeout = timeout
        self._clock = clock
        self.state: DrainState = "serving"
        self.started_at: float | None = None  # clock() when the drain began
        # Run once the drain is over (the process exits: __main__ sets it).
        self.on_done: Callable[[], None] = lambda: None
        self._now = asyncio.Event()  # set: end everything without waiting (second SIGTERM)
        self._told: set[str] = set()
        self._task: asyncio.Task[None] | None = None

    @property
    def draining(self) -> bool:
        return self.state != "serving"

    @property
    def deadline(self) -> float | None:
        """clock() by which the drain ends what is left."""
        return None if self.started_at is None else self.started_at + self.timeout

    def start(self, why: str) -> bool:
        """Begin draining; False when a drain already runs (it goes on unchanged)."""
        if self.state != "serving":
            return False
        self.state = "draining"
        self.started_at = self._clock()
        self._rooms.begin_drain()
        log.warning("draining (%s): no new calls; live calls may run %.0f s", why, self.timeout)
        self._task = asyncio.get_running_loop().create_task(self._run())
        return True

    def on_signal(self) -> None:
        """SIGTERM: the first starts the drain, a second ends every call at once."""
        if not self.start("SIGTERM"):
            log.warning("second SIGTERM: ending every call now")
            self.end_now()

    def end_now(self) -> None:
        self._now.set()

    async def _run(self) -> None:
        try:
            await self._wait_for_calls()
            self.state = "ending"
            await self._end_everything()
        except Exception:
            log.exception("drain failed; exiting")
        finally:
            self.state = "done"
            self.on_done()

    async def _wait_for_calls(self) -> None:
        deadline = self.deadline
        assert deadline is not None
        while not self._now.is_set():
            await self._release_idle()
            if not self._rooms.hosts_calls():
                log.info("drained: no call left")
                return
            remaining = deadline - self._clock()
            if remaining <= 0:
                log.warning("drain timeout: ending the calls still running")
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._now.wait(), min(POLL_INTERVAL, remaining))

    async def _release_idle(self) -> None:
        for sid in await self._rooms.release_idle():
            if sid not in self._told:
                self._told.add(sid)
                await self._tell(sid, DRAINING_EVENT)

    async def close(self) -> None:
        """Stop the drain task (the node closes by other means, e.g. SIGINT)."""
        self.on_done = lambda: None  # the node is closing already
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
