"""Rate control of the delay-based estimate: additive-increase, multiplicative-decrease.

The shape of draft-ietf-rmcat-gcc-02 §5.5. The detector's signal drives a three-state machine:

- *overuse* → **decrease**: the rate becomes :data:`BETA` (0.85) × the throughput the receiver
  acknowledged — what actually got through the bottleneck, so one decrease lands just under it.
  Each decrease also refines an estimate of the link capacity (a running mean and variance of
  the acknowledged throughput at decreases).
- *underuse* → **hold**: the queue is draining; increasing now would refill it.
- *normal* → **increase**: multiplicatively (~8 % per second) while the rate is far from the
  link capacity estimate (or none is known yet), additively (about one packet per response
  time) near it, where the last overuse happened.

The rate never *increases* above :data:`MAX_OVER_ACKED` (1.5) × the acknowledged throughput plus
:data:`ACKED_MARGIN_BPS`: an estimate far above what the sender actually sends has never been
tested by the path. The cap never lowers it, though: a sender using less than it may is no sign
of congestion. Time is an argument (µs of the receiver's clock), nothing here reads a clock.
"""

from __future__ import annotations

import math

from liveloop_sfu.media.core.delay_based import OVERUSE, UNDERUSE

__all__ = ["AimdRateControl"]

BETA = 0.85
INCREASE_PER_SECOND = 1.08
MAX_OVER_ACKED = 1.5
ACKED_MARGIN_BPS = 10_000
MIN_RATE_BPS = 30_000
MAX_RATE_BPS = 50_000_000
PACKET_BITS = 1200 * 8
RESPONSE_TIME_US = 200_000  # ~ RTT + 100 ms (draft §5.5): on a LAN call the RTT is small
# While a decrease's effect has not reached the receiver, another overuse signal is the same
# congestion, not a new one: decrease at most once per this interval. Through the node it is
# longer than a sender's own round trip: the new target goes upstream as REMB, the publisher's
# encoder adapts, and only then does the subscriber's link see less.
DECREASE_INTERVAL_US = 500_000
# Within this long of a decrease, another needs the throughput to have collapsed (under half the
# rate): the publisher's encoder undershoots for a moment after its target drops, and 0.85 x that
# dip would cascade towards nothing.
SETTLE_US = 1_000_000
CAPACITY_SMOOTHING = 0.95
# Far from the capacity estimate = beyond this many standard deviations: multiplicative again.
CAPACITY_STDDEVS = 3.0


class AimdRateControl:
    """The rate (bit/s) that the delay-based half allows; see the module docstring."""

    __slots__ = (
        "_capacity_mean",
        "_capacity_var",
        "_last_change_us",
        "_last_decrease_us",
        "rate",
        "state",
    )

    def __init__(self, initial_bps: int) -> None:
        self.rate = float(initial_bps)
        self.state = "increase"  # "increase" | "hold" | "decrease" (the last action taken)
        self._last_change_us = -1
        self._last_decrease_us = -1
        self._capacity_mean = -1.0  # kbit/s; < 0: unknown
        self._capacity_var = 0.4

    def reset_to(self, bps: float) -> None:
        self.rate = max(MIN_RATE_BPS, min(bps, MAX_RATE_BPS))

    def raise_to(self, bps: float) -> None:
        """A probe showed the path takes ``bps`` (media/core/probe_cluster.py): the rate jumps
        there at once (never down), and a capacity learnt under it is forgotten (the link
        changed)."""
        if bps <= self.rate:
            return
        self.rate = min(float(bps), MAX_RATE_BPS)
        if self._capacity_mean >= 0 and self.rate / 1000.0 > self._capacity_mean:
            self._capacity_mean = -1.0

    def update(self, signal: int, acked_bps: float, now_us: int) -> float:
        """Apply the detector's signal at ``now_us``; returns the new rate."""
        if self._last_change_us < 0:
            self._last_change_us = now_us
        elapsed_us = min(max(now_us - self._last_change_us, 0), 1_000_000)
        before = self.rate
        if signal == OVERUSE:
            since = now_us - self._last_decrease_us
            if (
                self._last_decrease_us < 0
                or since >= SETTLE_US
                or (since >= DECREASE_INTERVAL_US and acked_bps < 0.5 * self.rate)
            ):
                self._decrease(acked_bps, now_us)
        elif signal == UNDERUSE:
            self.state = "hold"
        else:
            self.state = "increase"
            self._increase(elapsed_us)
        if acked_bps > 0:
            # The cap stops an increase; it never lowers the rate (as libwebrtc's throughput
            # limit): a publisher's encoder undershooting its target (a noisy picture at a low
            # rate skips frames) would drag the estimate down with it, the target lower, and the
            # encoder lower still (lab: 360 -> 150 kbit/s on a 500 kbit/s link, 20 s to recover).
            limit = MAX_OVER_ACKED * acked_bps + ACKED_MARGIN_BPS
            if self.rate > limit and self.rate > before:
                self.rate = max(before, limit)
        self.rate = max(MIN_RATE_BPS, min(self.rate, MAX_RATE_BPS))
        self._last_change_us = now_us
        return self.rate

    def _decrease(self, acked_bps: float, now_us: int) -> None:
        self.state = "decrease"
        self._last_decrease_us = now_us
        if acked_bps <= 0:
            self.rate *= BETA
            return
        target = BETA * acked_bps
        # A decrease never raises the rate (acked can exceed it while an old queue drains).
        self.rate = min(self.rate, target)
        self._observe_capacity(acked_bps / 1000.0)

    def _observe_capacity(self, kbps: float) -> None:
        if self._capacity_mean < 0:
            self._capacity_mean = kbps
            return
        mean = self._capacity_mean
        # Normalised variance (draft-like): the spread relative to the mean's size.
        norm = max(mean, 1.0)
        error = kbps - mean
        self._capacity_var = (
            CAPACITY_SMOOTHING * self._capacity_var
            + (1 - CAPACITY_SMOOTHING) * (error * error) / norm
        )
        self._capacity_var = min(max(self._capacity_var, 0.4), 2.5)
        self._capacity_mean = CAPACITY_SMOOTHING * mean + (1 - CAPACITY_SMOOTHING) * kbps

    def _near_capacity(self) -> bool:
        mean = self._capacity_mean
        if mean < 0:
            return False
        std = math.sqrt(self._capacity_var * mean)
        kbps = self.rate / 1000.0
        if kbps > mean + CAPACITY_STDDEVS * std:
            # Above what the link held before: the link changed, forget what we knew of it.
            self._capacity_mean = -1.0
            return False
        return kbps >= mean - CAPACITY_STDDEVS * std

    def _increase(self, elapsed_us: int) -> None:
        if self._near_capacity():
            self.rate += PACKET_BITS * elapsed_us / RESPONSE_TIME_US
        else:
            factor = INCREASE_PER_SECOND ** (elapsed_us / 1_000_000)
            self.rate += max(self.rate * (factor - 1.0), 1_000 * elapsed_us / 1_000_000)
