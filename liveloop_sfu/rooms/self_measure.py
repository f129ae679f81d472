"""The node's self-measurement for admission: the sampling half (the decision is
:mod:`liveloop_sfu.rooms.saturation`).

A timer on the node's event loop fires every :data:`TICK` seconds and records how late it fired;
every :data:`WINDOW` seconds the lateness percentiles and the CPU time of the loop's thread
(``time.thread_time``, read on that thread) and of the whole process (``os.times``) over the
window become one :class:`~liveloop_sfu.rooms.saturation.Window`. The timer costs about 50
wake-ups a second: nothing next to a forwarding node's thousands of packets.

Changes of the decision are logged (a warning when the node starts refusing, with the readings,
an info line when it takes calls again); ``/metrics`` and ``/readyz`` read :attr:`reading`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable

from liveloop_sfu.config import RoomSettings
from liveloop_sfu.rooms.saturation import Limits, Saturation, Window, percentile

log = logging.getLogger(__name__)

TICK = 0.02
WINDOW = 1.0


def admission_limits(settings: RoomSettings) -> Limits:
    """The operator's thresholds (``--admission-lag-ms``, ``--admission-cpu``)."""
    return Limits(lag_s=settings.admission_lag_ms / 1000, cpu=settings.admission_cpu / 100)


def cores_available() -> int:
    """The CPUs this process may run on (its affinity mask, e.g. a container's cpuset)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _process_cpu() -> float:
    times = os.times()
    return times.user + times.system


class SelfMeasure:
    """Samples the running loop and feeds :class:`Saturation`; ``start`` on the node's loop."""

    def __init__(
        self,
        limits: Limits,
        *,
        clock: Callable[[], float] = time.monotonic,
        cores: int | None = None,
    ) -> None:
        self.saturation = Saturation(limits)
        self._clock = clock
        self._cores = cores or cores_available()
        self._handle: asyncio.TimerHandle | None = None
        self._lateness: list[float] = []
        self._due = 0.0
        self._window_start = (0.0, 0.0, 0.0)  # wall, thread CPU, process CPU
        self.windows = 0

    @property
    def refusing(self) -> str | None:
        """Why new calls are refused now (``event-loop-lag``, ``cpu``), or None."""
        return self.saturation.refusing

    @property
    def reading(self) -> Window | None:
        return self.saturation.last

    def start(self) -> None:
        if not self.saturation.enabled or self._handle is not None:
            return
        now = self._clock()
        self._window_start = (now, time.thread_time(), _process_cpu())
        self._schedule(now)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _schedule(self, now: float) -> None:
        self._due = now + TICK
        self._handle = asyncio.get_running_loop().call_later(TICK, self._tick)

    def _tick(self) -> None:
        now = self._clock()
        self._lateness.append(max(0.0, now - self._due))
        if now - self._window_start[0] >= WINDOW:
            self._close_window(now)
        self._schedule(now)

    def _close_window(self, now: float) -> None:
        wall0, thread0, process0 = self._window_start
        thread, process = time.thread_time(), _process_cpu()
        wall = max(now - wall0, 1e-9)
        window = Window(
            lag_p95_s=percentile(self._lateness, 0.95),
            lag_max_s=max(self._lateness, default=0.0),
            loop_cpu=min(1.0, (thread - thread0) / wall),
            process_cpu=min(1.0, (process - process0) / wall / self._cores),
        )
        self._lateness = []
        self._window_start = (now, thread, process)
        self.windows += 1
        if self.saturation.observe(window):
            self._log_change(window)

    def _log_change(self, window: Window) -> None:
        readings = (
            f"event-loop lag p95 {window.lag_p95_s * 1000:.0f} ms (max "
            f"{window.lag_max_s * 1000:.0f}), loop thread {window.loop_cpu:.0%} of a core, "
            f"process {window.process_cpu:.0%} of {self._cores} core(s)"
        )
        if self.refusing is not None:
            log.warning(
                "node saturated (%s): new calls are refused with capacity; %s",
                self.refusing,
                readings,
            )
        else:
            log.info("node no longer saturated: taking new calls again; %s", readings)
