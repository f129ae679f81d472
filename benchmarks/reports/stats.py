"""Pure arithmetic of the forwarding benchmark: percentiles, least-squares slopes, process CPU
from ``/proc/<pid>/stat`` text, and per-stream RTP counters. No I/O, no clocks: every function
takes plain values, so the unit tests drive them with tables.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from liveloop_sfu.media.core.seq import extend16

# utime and stime are fields 14 and 15 of /proc/<pid>/stat (proc(5)), counted from 1; the
# second field (comm) may contain spaces and parentheses, so fields are counted after its last ")".
_UTIME_AFTER_COMM = 11
_STIME_AFTER_COMM = 12


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0..100) with linear interpolation between closest ranks (the
    "linear" method of numpy and Excel's PERCENTILE.INC); ``None`` for no values."""
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    fraction = rank - low
    return ordered[low] + (ordered[high] - ordered[low]) * fraction


@dataclass(frozen=True, slots=True)
class LineFit:
    """``y = intercept + slope * x`` by ordinary least squares; ``r2`` = coefficient of
    determination (1.0 when every point is on the line)."""

    slope: float
    intercept: float
    r2: float
    points: int


def fit_line(xs: Sequence[float], ys: Sequence[float]) -> LineFit | None:
    """Least-squares line through (x, y); ``None`` with fewer than two distinct x values (a
    slope across stream counts needs at least two counts)."""
    if len(xs) != len(ys):
        raise ValueError("xs and ys differ in length")
    n = len(xs)
    if n < 2:
        return None
    mean_x, mean_y = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mean_x) ** 2 for x in xs)
    if sxx == 0:
        return None
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    slope = sxy / sxx
    intercept = mean_y - slope * mean_x
    syy = sum((y - mean_y) ** 2 for y in ys)
    residual = sum((y - intercept - slope * x) ** 2 for x, y in zip(xs, ys, strict=True))
    r2 = 1.0 - residual / syy if syy > 0 else 1.0
    return LineFit(slope=slope, intercept=intercept, r2=r2, points=n)


def cpu_ticks(stat_text: str) -> int:
    """utime + stime (clock ticks, all threads) from the text of ``/proc/<pid>/stat``."""
    closing = stat_text.rfind(")")
    if closing < 0:
        raise ValueError("not a /proc/<pid>/stat line: no ')' after comm")
    fields = stat_text[closing + 1 :].split()
    if len(fields) <= _STIME_AFTER_COMM:
        raise ValueError("not a /proc/<pid>/stat line: too few fields")
    return int(fields[_UTIME_AFTER_COMM]) + int(fields[_STIME_AFTER_COMM])


def cpu_percent(ticks: int, ticks_per_second: float, seconds: float) -> float:
    """CPU use over a window as % of one core (100 = one core busy all the time)."""
    if seconds <= 0:
        raise ValueError("window must be positive")
    return 100.0 * ticks / ticks_per_second / seconds


def seq_unwrap(previous_extended: int | None, seq: int) -> int:
    """Extend a 16-bit RTP sequence number (RFC 3550 §A.1) relative to the highest extended
    number seen so far: the candidate nearest to it wins, so reordering by less than half the
    sequence space never counts as a wrap."""
    if previous_extended is None:
        return seq
    return extend16(previous_extended, seq)  # the node's one unwrapper (media/core/seq.py)


@dataclass(slots=True)
class RtpStreamCounter:
    """What a receiver saw of one RTP stream (one payload type of one peer connection)."""

    packets: int = 0
    octets: int = 0
    frames: int = 0  # packets with the marker bit: end of a video frame (RFC 7741 §4.1)
    first_seq: int | None = None
    highest_seq: int | None = None  # extended

    def add(self, seq: int, size: int, marker: bool) -> None:
        extended = seq_unwrap(self.highest_seq, seq)
        if self.first_seq is None:
            self.first_seq = extended
        if self.highest_seq is None or extended > self.highest_seq:
            self.highest_seq = extended
        self.packets += 1
        self.octets += size
        self.frames += int(marker)

    def snapshot(self) -> StreamSnapshot:
        expected = 0
        if self.first_seq is not None and self.highest_seq is not None:
            expected = self.highest_seq - self.first_seq + 1
        return StreamSnapshot(self.packets, self.octets, self.frames, expected)


@dataclass(frozen=True, slots=True)
class StreamSnapshot:
    """Counters of one stream at one instant; differences of two snapshots describe a window."""

    packets: int
    octets: int
    frames: int
    expected: int  # packets the sender numbered (highest - first + 1): sent, whether or not lost

    def minus(self, earlier: StreamSnapshot) -> StreamSnapshot:
        return StreamSnapshot(
            self.packets - earlier.packets,
            self.octets - earlier.octets,
            self.frames - earlier.frames,
            self.expected - earlier.expected,
        )

    @property
    def lost(self) -> int:
        """Packets numbered but not received (never negative: duplicates do not earn credit)."""
        return max(0, self.expected - self.packets)

    def loss_fraction(self) -> float:
        return self.lost / self.expected if self.expected > 0 else 0.0


@dataclass(slots=True)
class JitterEstimator:
    """Interarrival jitter of one RTP stream as RFC 3550 §6.4.1 / §A.8 defines it: the mean
    deviation of the difference in packet spacing at the receiver compared to the sender,
    smoothed with gain 1/16. In seconds (the RFC keeps timestamp units; we divide by the clock)."""

    clock_rate: int
    jitter: float = 0.0
    _last_transit: float | None = None

    def add(self, rtp_timestamp: int, arrival: float) -> None:
        transit = arrival - rtp_timestamp / self.clock_rate
        if self._last_transit is not None:
            d = abs(transit - self._last_transit)
            # A timestamp wrap (2**32 ticks) shows up as a huge jump: skip that one sample.
            if d < 2**31 / self.clock_rate:
                self.jitter += (d - self.jitter) / 16.0
        self._last_transit = transit


def rss_bytes(status_text: str) -> int:
    """Resident set size from the text of ``/proc/<pid>/status`` (``VmRSS:  1234 kB``)."""
    for line in status_text.splitlines():
        if line.startswith("VmRSS:"):
            parts = line.split()
            return int(parts[1]) * 1024
    raise ValueError("no VmRSS line (a zombie process has none)")


def prometheus_value(text: str, name: str) -> float | None:
    """The value of an unlabelled sample ``name`` in Prometheus text exposition format."""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) >= 2 and parts[0] == name:
            try:
                return float(parts[1])
            except ValueError:
                return None
    return None


def summarize_values(values: Sequence[float]) -> dict[str, float | None]:
    """count, min, mean, p50, p95, p99, max of a sample (None where there are no values)."""
    return {
        "count": float(len(values)),
        "min": min(values) if values else None,
        "mean": sum(values) / len(values) if values else None,
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "max": max(values) if values else None,
    }
