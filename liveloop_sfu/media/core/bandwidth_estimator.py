"""What one subscriber's downlink carries: an estimate from its transport feedback.

One :class:`SubscriberEstimator` per subscriber *connection* (all its streams share the path and
the transport-wide sequence, :mod:`.sent_packets`). Each transport feedback (RTPFB FMT 15,
draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1) says, per sequence number, when the
packet arrived or that it did not; joined with when the node sent it and its size, it feeds:

- the **delay-based** half (:mod:`.delay_based`: send groups, trendline, overuse detector with an
  adaptive threshold) and its AIMD rate control (:mod:`.aimd`);
- the **loss-based** half (:class:`LossBasedControl`, draft-ietf-rmcat-gcc-02 §6): more than 10 %
  lost lowers the rate by half the loss fraction, less than 2 % lets it grow 8 % per second,
  in between it holds;
- the **acknowledged throughput** (:class:`AckedRate`): what reached the receiver over the last
  half second, which a decrease aims under and which caps the estimate (× 1.5 + 10 kbit/s).

The estimate is the smaller of the two halves.

**Product decision: never hold a good link down.** Until this path has shown congestion (an
overuse signal, or more than 10 % loss), :attr:`SubscriberEstimator.estimate` is ``None``: *no
limit*, and the publisher's own congestion control (its transport feedback from the node) alone
sets its rate. A path-probing start (begin at, say, 300 kbit/s and grow 8 % per second, as a
sending browser does) is exactly what made calls through the node slow to reach full quality:
the publisher's uplink estimate already ramps fast, and an extra cap from a subscriber that has
seen nothing wrong only delays it. So the publisher's ramp *is* the probe of the subscriber's
downlink: if the downlink cannot take it, the queue grows or packets drop, the estimator sees it
within a few feedback intervals, and from then on caps the publisher at 0.85 × what actually
got through, recovering multiplicatively (additively near the measured capacity). The price is
one overshoot at the start of a call on a poor downlink (a burst of delay or loss of about one
round of detection), which a slow start would avoid for poor links and pay on every good one.
The node sends no padding probes of its own: padding costs the subscriber's downlink, and
recovery after congestion is driven by the publisher's real media (the estimate may exceed what
is acknowledged by half, so the encoder can grow into it).
"""

from __future__ import annotations

from liveloop_sfu.media.core.aimd import MIN_RATE_BPS, AimdRateControl
from liveloop_sfu.media.core.delay_based import (
    NORMAL,
    OVERUSE,
    OveruseDetector,
    SendGroups,
    Trendline,
)
from liveloop_sfu.media.core.sent_packets import (
    REPORTED_LOST,
    REPORTED_RECEIVED,
    UNKNOWN,
    TransportSequence,
)

__all__ = ["AckedRate", "LossBasedControl", "SubscriberEstimator"]

LOSS_HIGH = 0.10
LOSS_LOW = 0.02
LOSS_MIN_PACKETS = 20  # a loss fraction over fewer packets is noise
LOSS_DECREASE_INTERVAL = 0.3  # s: let one decrease take effect before the next
# Back to no limit once the estimate has doubled what got through at the last congestion
# without a new one: the path clearly changed (the limit was lifted), and growing 8 % per second
# from a poor link's rate to a good one's would take most of a minute.
UNCAP_FACTOR = 2.0
ACKED_WINDOW_US = 500_000
ACKED_MAX_PACKETS = 8192
MAX_FEEDBACK_PACKETS = 4096  # more numbers than the ring holds cannot be ours


class AckedRate:
    """Bytes that arrived over the last :data:`ACKED_WINDOW_US` of the receiver's clock."""

    __slots__ = ("_arrivals", "_bytes", "_head", "_sizes")

    def __init__(self) -> None:
        self._arrivals: list[int] = []
        self._sizes: list[int] = []
        self._head = 0
        self._bytes = 0

    def add(self, arrival_us: int, size: int) -> None:
        self._arrivals.append(arrival_us)
        self._sizes.append(size)
        self._bytes += size
        newest = arrival_us
        while self._head < len(self._arrivals) and (
            self._arrivals[self._head] <= newest - ACKED_WINDOW_US
            or len(self._arrivals) - self._head > ACKED_MAX_PACKETS
        ):
            self._bytes -= self._sizes[self._head]
            self._head += 1
        if self._head > 1024:  # compact now and then, not per packet
            del self._arrivals[: self._head]
            del self._sizes[: self._head]
            self._head = 0

    @property
    def bps(self) -> float:
        """Bit/s over the window (0 before two packets); a span shorter than the window (the
        first half second) counts as at least 100 ms."""
        if len(self._arrivals) - self._head < 2:
            return 0.0
        span = self._arrivals[-1] - self._arrivals[self._head]
        span = min(max(span, 100_000), ACKED_WINDOW_US)
        return self._bytes * 8 * 1_000_000 / span


class LossBasedControl:
    """The loss-based half (see the module docstring); ``rate`` is ``None`` until loss was
    high once."""

    __slots__ = ("_expected", "_last_decrease", "_last_update", "_lost", "fraction", "rate")

    def __init__(self) -> None:
        self.rate: float | None = None
        self.fraction = 0.0
        self._expected = 0
        self._lost = 0
        self._last_update = -1.0
        self._last_decrease = -1.0

    def count(self, expected: int, lost: int) -> None:
        self._expected += expected
        self._lost += lost

    def update(self, now: float, acked_bps: float) -> bool:
        """Evaluate once enough packets were reported; True when loss was high (congestion)."""
        if self._expected < LOSS_MIN_PACKETS:
            return False
        self.fraction = min(max(self._lost / self._expected, 0.0), 1.0)
        self._expected = self._lost = 0
        elapsed = 0.0 if self._last_update < 0 else min(now - self._last_update, 1.0)
        self._last_update = now
        high = self.fraction > LOSS_HIGH
        if high:
            if self._last_decrease < 0 or now - self._last_decrease >= LOSS_DECREASE_INTERVAL:
                self._last_decrease = now
                base = acked_bps if self.rate is None else min(self.rate, acked_bps or self.rate)
                self.rate = max(base * (1.0 - 0.5 * self.fraction), MIN_RATE_BPS)
        elif self.fraction < LOSS_LOW and self.rate is not None:
            self.rate *= 1.08 ** max(elapsed, 0.0)
            if acked_bps > 0:
                self.rate = min(self.rate, 1.5 * acked_bps + 10_000)
        return high


class SubscriberEstimator:
    """Bandwidth estimate of one subscriber connection from its transport feedback."""

    __slots__ = (
        "_aimd",
        "_congestion_acked",
        "_detector",
        "_groups",
        "_loss",
        "_sent",
        "_trendline",
        "acked",
        "congested",
        "feedbacks",
        "signal",
    )

    def __init__(self, sent: TransportSequence) -> None:
        self._sent = sent
        self._groups = SendGroups()
        self._trendline = Trendline()
        self._detector = OveruseDetector()
        self._aimd = AimdRateControl(300_000)
        self._loss = LossBasedControl()
        self.acked = AckedRate()
        self.congested = False  # the path has shown congestion: a cap until it clearly lifts
        self._congestion_acked = 0.0  # acknowledged bit/s at the last congestion
        self.signal = NORMAL  # the delay-based detector's latest state
        self.feedbacks = 0

    @property
    def estimate(self) -> int | None:
        """Bit/s this subscriber's downlink takes, or ``None``: no congestion seen, no limit."""
        if not self.congested:
            return None
        rate = self._aimd.rate
        loss_rate = self._loss.rate
        if loss_rate is not None:
            rate = min(rate, loss_rate)
        return int(rate)

    @property
    def loss_fraction(self) -> float:
        return self._loss.fraction

    def on_feedback(self, now: float, base_sequence: int, arrivals: list[int]) -> None:
        """One transport feedback: ``arrivals[i]`` is when packet ``base_sequence + i`` arrived
        (µs of the receiver's clock) or -1 if it did not. Numbers the node has no record of are
        ignored, so stale, duplicated or garbage feedback cannot move the estimate much."""
        self.feedbacks += 1
        received: list[tuple[int, int, int]] = []  # (arrival µs, send µs, size)
        expected = lost = 0
        sent = self._sent
        for i in range(min(len(arrivals), MAX_FEEDBACK_PACKETS)):
            seq = (base_sequence + i) & 0xFFFF
            arrival = arrivals[i]
            before = sent.report(seq, arrival >= 0)
            if before in (UNKNOWN, REPORTED_RECEIVED):
                continue
            if arrival >= 0:
                if before == REPORTED_LOST:
                    lost -= 1  # reported lost earlier, arrived after all (reordered)
                else:
                    expected += 1
                received.append((arrival, sent.send_us(seq), sent.size(seq)))
            elif before != REPORTED_LOST:
                expected += 1
                lost += 1
        self._loss.count(expected, lost)
        received.sort()
        signal = self.signal
        for arrival, send_us, size in received:
            self.acked.add(arrival, size)
            arrival_delta = self._groups.add(send_us, arrival)
            if arrival_delta is not None:
                send_delta = self._groups.send_delta_us
                variation_ms = (arrival_delta - send_delta) / 1000.0
                trend = self._trendline.update(arrival, variation_ms)
                signal = self._detector.detect(trend, send_delta, arrival)
        self._apply(now, signal)

    def _apply(self, now: float, signal: int) -> None:
        self.signal = signal
        acked = self.acked.bps
        loss_high = self._loss.update(now, acked)
        congestion = signal == OVERUSE or loss_high
        if congestion:
            self._congestion_acked = acked
        if not self.congested:
            if not congestion:
                return
            self.congested = True
            # Start the delay-based rate where the path stands; the decrease below takes it
            # to 0.85 x acknowledged (a loss-only start keeps it there, the loss half decides).
            self._aimd.reset_to(acked if acked > 0 else 300_000)
        self._aimd.update(signal, acked, int(now * 1_000_000.0))
        estimate = self.estimate
        if (
            not congestion
            and estimate is not None
            and self._congestion_acked > 0
            and estimate >= UNCAP_FACTOR * self._congestion_acked
        ):
            self.congested = False
            self._loss.rate = None
