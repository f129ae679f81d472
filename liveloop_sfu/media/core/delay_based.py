"""Delay-based congestion detection: is the queue on the path growing, steady or draining?

The shape of Google congestion control's delay-based half (draft-ietf-rmcat-gcc-02 §5), in three
small steps, all on integer microseconds of two clocks that are never compared with each other
(the node's send clock and the receiver's arrival clock; only their *differences* matter):

1. :class:`SendGroups` — packets sent within :data:`BURST_US` (5 ms) of the first one of a group
   form one group (a video frame leaves the node as a burst; its packets' individual spacing says
   nothing about the path). For two consecutive complete groups it yields the inter-departure
   and inter-arrival deltas of their last packets (§5.2). A packet sent before the current group
   began is a reordered one and is ignored.
2. :class:`Trendline` — the delay variation ``d = arrival delta - send delta`` accumulates into a
   one-way queueing delay (up to an unknown constant), smoothed exponentially; the slope of a
   least-squares line through the last :data:`WINDOW` points (arrival time, smoothed delay) is
   the trend: positive while a queue builds. Scaled by the number of deltas seen (capped) and a
   gain, so it is comparable with a threshold in milliseconds.
3. :class:`OveruseDetector` — compares the trend with an *adaptive* threshold (§5.4): the
   threshold follows ``|trend|`` slowly upwards and faster downwards, so a path whose delay jitters
   a lot (Wi-Fi, a busy CPU) needs a larger trend to count as overuse, and a competing TCP flow
   does not starve us. Overuse must last :data:`OVERUSE_TIME_US` and grow, to ignore one late
   frame.

Written from the draft's description; the constants are the draft's (and libwebrtc's) defaults.
"""

from __future__ import annotations

__all__ = [
    "BURST_US",
    "NORMAL",
    "OVERUSE",
    "UNDERUSE",
    "OveruseDetector",
    "SendGroups",
    "Trendline",
]

BURST_US = 5_000
WINDOW = 20
SMOOTHING = 0.9
GAIN = 4.0
MAX_DELTAS = 60
OVERUSE_TIME_US = 10_000
THRESHOLD_INITIAL = 12.5  # ms
THRESHOLD_MIN = 6.0
THRESHOLD_MAX = 600.0
K_UP = 0.0087  # per ms: the threshold rises slowly...
K_DOWN = 0.039  # ...and falls faster
MAX_ADAPT_STEP_MS = 100.0
# A trend this far over the threshold is a sudden jump (a route change, a paused tab), not a
# queue: the threshold does not chase it (draft §5.4, "|m(i)| - del_var_th(i) > 15").
JUMP_MS = 15.0
# Arrival deltas larger than this mean the stream paused; start the groups afresh.
PAUSE_US = 3_000_000

NORMAL = 0
OVERUSE = 1
UNDERUSE = -1


class SendGroups:
    """Groups packets by send time; :meth:`add` returns the deltas of two complete groups."""

    __slots__ = (
        "_first_send",
        "_last_arrival",
        "_last_send",
        "_prev_arrival",
        "_prev_send",
        "_started",
        "send_delta_us",
    )

    def __init__(self) -> None:
        self._started = False
        self._first_send = 0  # the current group's first packet
        self._last_send = 0  # ... and its last packet's send / arrival time
        self._last_arrival = 0
        self._prev_send = -1  # the previous complete group's last packet, -1 before one
        self._prev_arrival = 0
        self.send_delta_us = 0

    def add(self, send_us: int, arrival_us: int) -> int | None:
        """Add one received packet (in arrival order); returns the arrival delta (µs) of the
        group just completed against the one before, with :attr:`send_delta_us` set, or None."""
        if not self._started:
            self._start(send_us, arrival_us)
            return None
        if send_us < self._first_send:
            return None  # reordered: sent before the group being collected
        if send_us - self._first_send <= BURST_US:
            if send_us >= self._last_send:
                self._last_send = send_us
            self._last_arrival = max(self._last_arrival, arrival_us)
            return None
        delta = None
        if self._prev_send >= 0:
            arrival_delta = self._last_arrival - self._prev_arrival
            if 0 <= arrival_delta <= PAUSE_US:
                self.send_delta_us = self._last_send - self._prev_send
                delta = arrival_delta
            elif arrival_delta > PAUSE_US or arrival_delta < -PAUSE_US:
                # A pause or the receiver's clock jumped: nothing to compare across it.
                self._prev_send = -1
        if delta is not None or self._prev_send < 0:
            self._prev_send = self._last_send
            self._prev_arrival = self._last_arrival
        self._first_send = self._last_send = send_us
        self._last_arrival = arrival_us
        return delta

    def _start(self, send_us: int, arrival_us: int) -> None:
        self._started = True
        self._first_send = self._last_send = send_us
        self._last_arrival = arrival_us


class Trendline:
    """Least-squares slope of the smoothed accumulated delay over the last :data:`WINDOW`
    group pairs; :meth:`update` returns the scaled trend (ms-comparable)."""

    __slots__ = ("_accumulated", "_count", "_first_arrival", "_smoothed", "_times", "_values")

    def __init__(self) -> None:
        self._accumulated = 0.0
        self._smoothed = 0.0
        self._count = 0
        self._first_arrival = -1
        self._times: list[float] = []
        self._values: list[float] = []

    def update(self, arrival_us: int, delay_variation_ms: float) -> float:
        if self._first_arrival < 0:
            self._first_arrival = arrival_us
        self._count = min(self._count + 1, MAX_DELTAS)
        self._accumulated += delay_variation_ms
        self._smoothed = SMOOTHING * self._smoothed + (1.0 - SMOOTHING) * self._accumulated
        self._times.append((arrival_us - self._first_arrival) / 1000.0)
        self._values.append(self._smoothed)
        if len(self._times) > WINDOW:
            del self._times[0]
            del self._values[0]
        if len(self._times) < WINDOW:
            return 0.0
        return _slope(self._times, self._values) * self._count * GAIN


def _slope(xs: list[float], ys: list[float]) -> float:
    n = len(xs)
    mean_x = sum(xs) / n
    mean_y = sum(ys) / n
    num = 0.0
    den = 0.0
    for x, y in zip(xs, ys, strict=True):
        num += (x - mean_x) * (y - mean_y)
        den += (x - mean_x) * (x - mean_x)
    return num / den if den > 0.0 else 0.0


class OveruseDetector:
    """Trend -> :data:`NORMAL`, :data:`OVERUSE` or :data:`UNDERUSE`, with an adaptive
    threshold (see the module docstring)."""

    __slots__ = (
        "_last_update_us",
        "_overuse_count",
        "_overuse_since_us",
        "_prev_trend",
        "state",
        "threshold",
    )

    def __init__(self) -> None:
        self.threshold = THRESHOLD_INITIAL
        self.state = NORMAL
        self._last_update_us = -1
        self._overuse_since_us = -1
        self._overuse_count = 0
        self._prev_trend = 0.0

    def detect(self, trend: float, send_delta_us: int, arrival_us: int) -> int:
        if trend > self.threshold:
            if self._overuse_since_us < 0:
                self._overuse_since_us = arrival_us - send_delta_us // 2
            self._overuse_count += 1
            if (
                arrival_us - self._overuse_since_us >= OVERUSE_TIME_US
                and self._overuse_count > 1
                and trend >= self._prev_trend
            ):
                self._overuse_since_us = arrival_us
                self._overuse_count = 0
                self.state = OVERUSE
        elif trend < -self.threshold:
            self._overuse_since_us = -1
            self._overuse_count = 0
            self.state = UNDERUSE
        else:
            self._overuse_since_us = -1
            self._overuse_count = 0
            self.state = NORMAL
        self._prev_trend = trend
        self._adapt(trend, arrival_us)
        return self.state

    def _adapt(self, trend: float, arrival_us: int) -> None:
        if self._last_update_us < 0:
            self._last_update_us = arrival_us
        magnitude = abs(trend)
        if magnitude - self.threshold > JUMP_MS:
            self._last_update_us = arrival_us
            return
        k = K_DOWN if magnitude < self.threshold else K_UP
        step_ms = min((arrival_us - self._last_update_us) / 1000.0, MAX_ADAPT_STEP_MS)
        self.threshold += k * (magnitude - self.threshold) * max(step_ms, 0.0)
        self.threshold = min(max(self.threshold, THRESHOLD_MIN), THRESHOLD_MAX)
        self._last_update_us = arrival_us
