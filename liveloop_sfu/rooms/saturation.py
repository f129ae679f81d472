"""Whether the node is too busy for another call, from what it measures of itself. Pure: the
sampling (timers, clocks, ``/proc``) is :mod:`liveloop_sfu.rooms.self_measure`.

Why not a count of streams: what one forwarded stream costs depends on the machine, its other
work, the codecs, the bit rates and the room shapes (a fan-out subscriber costs a fraction of a
1:1 stream), so any fixed number is a guess (``--max-forwarded-streams`` stays as the operator's
cap). What a forwarding node runs out of is its event loop: one thread does every packet, so the
loop falls behind when that thread nears a full core — or when the machine does not give it the
core — and then packets wait in socket buffers, latency grows, and the buffers overflow.

Two readings per window (about a second each), both of the node itself:

* **event-loop lag**: how late a periodic timer fires (its 95th percentile over the window); a
  loop that runs behind, for whatever reason, makes every packet that late;
* **CPU**: the event loop thread's CPU time over the window's wall time (it can use one core at
  most), and the whole process's against the cores it may run on (the headroom left).

A window is *hot* when the lag or either CPU share is at or above its limit — the lag only while
the loop thread itself uses at least :attr:`Limits.lag_min_cpu` of a core: a nearly idle node
whose timer fires late is starved by other work on the machine (a shared CI host), which one
more call would hardly worsen and refusing it would not cure — and *cool* when all are
well below (the lag under half its limit, the CPU shares 15 points under theirs). The node starts
refusing after ``enter_after`` hot windows in a row and takes calls again after ``leave_after``
cool ones in a row: one slow second (a garbage collection, a burst of signaling) refuses nobody,
and a node that just shed load does not flap between full and free (the hysteresis is in both
the thresholds and the counts). The calls already running are never touched: this only decides
for new ones.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

# Why the node refuses (``/metrics`` label, ``/readyz`` and the logs).
LAG = "event-loop-lag"
CPU = "cpu"
REASONS = (LAG, CPU)

# How far below a limit a window must be to count as cool (hysteresis on the thresholds).
COOL_LAG_FRACTION = 0.5
COOL_CPU_MARGIN = 0.15


@dataclass(frozen=True, slots=True)
class Limits:
    """When a window is hot. A limit of 0 never triggers (that reading is not used)."""

    lag_s: float = 0.05  # p95 lateness of the loop's timer
    cpu: float = 0.9  # share of one core (the loop thread) or of the cores available (process)
    lag_min_cpu: float = 0.25  # the loop thread's share of a core below which lag is not ours
    enter_after: int = 3  # hot windows in a row before refusing
    leave_after: int = 5  # cool windows in a row before taking calls again

    def __post_init__(self) -> None:
        if self.lag_s < 0 or not 0 <= self.cpu <= 1:
            raise ValueError("limits: lag >= 0 s, cpu within [0, 1]")
        if self.enter_after < 1 or self.leave_after < 1:
            raise ValueError("limits: at least one window to enter and to leave")


@dataclass(frozen=True, slots=True)
class Window:
    """One window of self-measurement."""

    lag_p95_s: float  # lateness of the periodic timer, 95th percentile
    lag_max_s: float
    loop_cpu: float  # the event loop thread's CPU seconds per second (0..1)
    process_cpu: float  # the process's CPU seconds per second over the cores available (0..1)


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (``fraction`` in [0, 1]) of ``values``; 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def hot_reason(window: Window, limits: Limits) -> str | None:
    """Which limit this window reached (lag first: it is what calls feel), or None."""
    if (
        limits.lag_s > 0
        and window.lag_p95_s >= limits.lag_s
        and window.loop_cpu >= limits.lag_min_cpu
    ):
        return LAG
    if limits.cpu > 0 and max(window.loop_cpu, window.process_cpu) >= limits.cpu:
        return CPU
    return None


def is_cool(window: Window, limits: Limits) -> bool:
    lag_cool = limits.lag_s <= 0 or window.lag_p95_s < limits.lag_s * COOL_LAG_FRACTION
    cpu_cool = limits.cpu <= 0 or (
        max(window.loop_cpu, window.process_cpu) < limits.cpu - COOL_CPU_MARGIN
    )
    return lag_cool and cpu_cool


class Saturation:
    """The decision, window after window: :attr:`refusing` is why new calls are refused now
    (:data:`LAG` or :data:`CPU`), or None while the node takes them."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.refusing: str | None = None
        self.last: Window | None = None
        self._hot = 0
        self._cool = 0
        self._reason: str | None = None  # of the latest hot window

    @property
    def enabled(self) -> bool:
        return self.limits.lag_s > 0 or self.limits.cpu > 0

    def observe(self, window: Window) -> bool:
        """Take one window; whether :attr:`refusing` changed."""
        self.last = window
        reason = hot_reason(window, self.limits)
        if self.refusing is None:
            self._hot = self._hot + 1 if reason is not None else 0
            if reason is not None:
                self._reason = reason
            if self._hot >= self.limits.enter_after:
                self.refusing = self._reason
                self._hot = self._cool = 0
                return True
            return False
        if reason is not None:
            self.refusing = reason  # still full; the latest reason is the one to show
        self._cool = self._cool + 1 if is_cool(window, self.limits) else 0
        if self._cool >= self.limits.leave_after:
            self.refusing = None
            self._hot = self._cool = 0
            return True
        return False
