"""Shared bookkeeping of the room use cases, run in the background.

The daily counters in the matchmaker's store (``metrics:daily``: matches, calls by mode, chat
messages) and the cluster's room records (``rooms:{roomId}``) are written off the call's path: a
slow or absent Redis must not delay a call, and a lost record is the right price for that.
:class:`Bookkeeping` owns those writes as tasks and cancels them at shutdown.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from liveloop_sfu.matchmaking.base import Matchmaker

# The log lines keep the name they had when this lived in the room service.
log = logging.getLogger("liveloop_sfu.rooms.service")


class Bookkeeping:
    def __init__(self, matchmaker: Matchmaker, clock: Callable[[], float]) -> None:
        self._matchmaker = matchmaker
        self._clock = clock
        self._tasks: set[asyncio.Task[None]] = set()

    def record(self, counter: str) -> None:
        """Count one event (``calls:sfu``, ``messages``, ...) in the shared daily metrics."""
        self.run(self._matchmaker.record(counter, self._clock()))

    def run(self, bookkeeping: Coroutine[Any, Any, None]) -> None:
        """Run ``bookkeeping`` in the background; a failure is logged, never raised."""
        task = asyncio.get_running_loop().create_task(bookkeeping)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def cancel(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.debug("background matchmaker call failed: %r", task.exception())
