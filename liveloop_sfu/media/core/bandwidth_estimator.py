"""What one subscriber's downlink carries: an estimate from its transport feedback.

One :class:`SubscriberEstimator` per subscriber *connection* (all its streams share the path and
the transport-wide sequence, :mod:`.sent_packets`). Each transport feedback (RTPFB FMT 15,
draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1) says, per sequence number, when the
packet arrived or that it did not; joined with when the node sent it and its size, it feeds:

- the **delay-based** half (:mod:`.delay_based`: send groups, trendline, overuse detector with an
  adaptive threshold) and its AIMD rate control (:mod:`.aimd`);
- the **loss-based** half (:class:`LossBasedControl`, draft-ietf-rmcat-gcc-02 §6): more than 10 %
  lost lowers the rate by half the loss fraction, less than 2 % lets it grow 8 % per second,
  in between it holds (unless it lasts);
- the **acknowledged throughput** (:class:`AckedRate`): what reached the receiver over the last
  half second, which a decrease aims under and which caps the estimate (× 1.5 + 10 kbit/s).

The estimate is the smaller of the two halves.

**Product decision: never hold a good link down.** Until this path has shown congestion,
:attr:`SubscriberEstimator.estimate` is ``None``: *no limit*, and the publisher's own congestion
control (its transport feedback from the node) alone sets its rate. A path-probing start (begin
at, say, 300 kbit/s and grow 8 % per second, as a sending browser does) is exactly what made
calls through the node slow to reach full quality: the publisher's uplink estimate already ramps
fast, and an extra cap from a subscriber that has seen nothing wrong only delays it. So the
publisher's ramp *is* the probe of the subscriber's downlink: if the downlink cannot take it,
the queue grows or packets drop, the estimator sees it within a few feedback intervals, and from
then on caps the publisher at 0.85 x what actually got through, recovering multiplicatively
(additively near the measured capacity). The price is one overshoot on a poor downlink (a burst
of delay or loss of about one round of detection), which a slow start would avoid for poor links
and pay on every good one. In a 1:1 call the node sends no padding probes of its own: padding
costs the subscriber's downlink, and recovery is driven by the publisher's real media.

**Group rooms' subscribers are probed** (media/sfu/probes.py). With simulcast the estimate
chooses the layers a subscriber gets (media/sfu/simulcast_allocator.py), so a subscriber held on
a small layer receives *less* than its estimate: its traffic is application-limited, the
publisher's ramp no longer reaches it, and an estimate that grows only while it is used (8 % per
second; the cap lifts only while :data:`PROBED_RATIO` of it is sent) stays low long after the
link grew (lab: 150-370 kbit/s sent on a 400 kbit/s link, over 20 s back to the top layer once
the limit went). When the allocation holds a subscriber back, the node sends it a short cluster
of padding towards the rate its held-back layers need (at most 1.25 x the estimate); if the
cluster came through without congestion (media/core/probe_cluster.py),
:meth:`SubscriberEstimator.raise_to` takes the estimate there at once. Nothing is probed
while nothing is held back (every 1:1 call: the product decision above stands). Once a path is
probed (:attr:`SubscriberEstimator.grows_by_probes`), its estimate no longer grows by itself
while the node sends under :data:`PROBED_RATIO` of it (application-limited, as libwebrtc's
``AlrDetector`` holds its estimate): grown to 1.5 x what got through, it passed the link, the
layers given filled it, and probes aimed above it overflowed it.

What counts as congestion, and when the cap goes away again:

- *overuse* counts only if the path also delivered less than was sent (acknowledged throughput
  under :data:`DELIVERED_RATIO` of the send rate over the same half second): a busy receiver's
  jitter makes delay trends too, but only a bottleneck loses throughput;
- *loss* over 10 %, or 2-10 % lasting (see :class:`LossBasedControl`);
- the cap is lifted (back to ``None``) after :data:`QUIET_UNCAP_S` without congestion while the
  node sent at least :data:`PROBED_RATIO` of the estimate, or once the
  estimate has doubled what the last congestion left it at: a limited path shows congestion
  again within seconds (the rate control keeps probing upwards), a path whose limit went away
  never does, and a publisher held at a few hundred kbit/s by a cap would otherwise need most of
  a minute at 8 % per second to grow back (its encoder, held low, is not a probe any more).
"""

from __future__ import annotations

from liveloop_sfu.media.core.aimd import BETA, MIN_RATE_BPS, AimdRateControl
from liveloop_sfu.media.core.delay_based import (
    NORMAL,
    OVERUSE,
    UNDERUSE,
    OveruseDetector,
    SendGroups,
    Trendline,
)
from liveloop_sfu.media.core.sent_packets import (
    NOT_REPORTED,
    REPORTED_LOST,
    REPORTED_RECEIVED,
    UNKNOWN,
    TransportSequence,
)

__all__ = ["AckedRate", "LossBasedControl", "SubscriberEstimator"]

LOSS_HIGH = 0.10
LOSS_LOW = 0.02
LOSS_MIN_PACKETS = 20  # a loss fraction over fewer packets is noise
LOSS_DECREASE_INTERVAL = 0.5  # s: let one decrease take effect (REMB upstream, encoder)
LOSS_MODERATE_STREAK = 3
LOSS_MODERATE_INTERVAL = 1.0  # s
# Back to no limit once the estimate has doubled what got through at the last congestion
# without a new one: the path clearly changed (the limit was lifted), and growing 8 % per second
# from a poor link's rate to a good one's would take most of a minute.
UNCAP_FACTOR = 2.0
# ...and once this long passed without any congestion while the sender used the estimate: a
# limited path shows congestion again within seconds (the rate control probes upwards), one whose
# limit went away never does.
QUIET_UNCAP_S = 8.0
# The path counts as probed only while the node sends at least this share of the estimate: a
# publisher's encoder undershoots its target for seconds after it dropped (a noisy picture at a
# low rate skips frames), and a quiet path that carried half the estimate says nothing about the
# rest of it (in the lab the cap lifted into a still-limited downlink, and the overshoot froze
# the picture for 1.6 s).
PROBED_RATIO = 0.8
# An overuse signal is congestion only if the path also delivered less than was sent: a busy
# receiver's jitter makes delay trends too, but a bottleneck is what loses throughput.
DELIVERED_RATIO = 0.9
# One congestion episode (congestion signals less than EPISODE_GAP_S apart) never takes the
# estimate under EPISODE_FLOOR x the throughput measured at its start: once its target drops, the
# publisher's encoder undershoots for a while (a noisy picture at a low target skips frames), the
# throughput collapses with it, and decreases aimed under that collapse would cascade.
# The throughput at the start is an over-estimate of the bottleneck (its half-second window still
# holds traffic from before the queue overflowed), hence the low factor, and a feedback that
# reports loss bounds it by the send rate less that loss (at the start, or later in the episode:
# the first signal of a cut behind a queue is delay alone, with no loss reported yet).
EPISODE_GAP_S = 2.0
EPISODE_FLOOR = 0.35
ACKED_WINDOW_US = 500_000
# A feedback that reports high loss also says what the bottleneck delivers: its received packets
# arrived back to back from a full queue, so their bytes over their arrival span are the link's
# rate, where the half-second window still holds the traffic from before the queue overflowed
# (a 1.7 Mbit/s call cut to 500 kbit/s measured ~1.3 Mbit/s there, and came down in three steps
# over two seconds while the picture froze). Measured over at least this many packets and span:
# three, as a 400 kbit/s link passes only 3-4 full-size packets between two feedbacks (with five,
# a group room cut from 2.9 Mbit/s to 400 kbit/s came down to 2 Mbit/s first, then 1.3, and
# the layers followed each step).
DELIVERED_MIN_PACKETS = 3
DELIVERED_MIN_SPAN_US = 20_000
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
    high once.

    After a decrease, only packets sent *after* it count (:attr:`counts_from_us`): the feedback
    about packets already on their way when the rate came down still shows the old overload, and
    counting it again would cut the rate once per feedback until the queue has drained (a
    500 kbit/s link hit at 1.7 Mbit/s loses most of a round trip's packets).

    Moderate loss (2-10 %) holds the rate, as in the draft, except when it lasts: a drop-tail
    queue kept full shows no delay *trend* (its delay is at the maximum, steadily), so the
    delay-based half keeps increasing into it and the loss stays at a few percent for good. Loss
    in that band in :data:`LOSS_MODERATE_STREAK` evaluations in a row lowers the rate gently
    (by half the loss fraction, at most once per :data:`LOSS_MODERATE_INTERVAL`)."""

    __slots__ = (
        "_expected",
        "_last_decrease",
        "_last_update",
        "_lost",
        "_moderate",
        "counts_from_us",
        "fraction",
        "rate",
    )

    def __init__(self) -> None:
        self.rate: float | None = None
        self.fraction = 0.0
        self.counts_from_us = 0
        self._expected = 0
        self._lost = 0
        self._last_update = -1.0
        self._last_decrease = -1.0
        self._moderate = 0  # evaluations in a row with loss between LOSS_LOW and LOSS_HIGH

    def count(self, expected: int, lost: int) -> None:
        self._expected += expected
        self._lost += lost

    def update(self, now: float, acked_bps: float, grow: bool = True) -> bool:
        """Evaluate once enough packets were reported; True when loss was high or lasted
        (congestion). ``grow``: low loss may raise the rate (not while application-limited on
        a probed path)."""
        if self._expected < LOSS_MIN_PACKETS:
            return False
        self.fraction = min(max(self._lost / self._expected, 0.0), 1.0)
        self._expected = self._lost = 0
        elapsed = 0.0 if self._last_update < 0 else min(now - self._last_update, 1.0)
        self._last_update = now
        high = self.fraction > LOSS_HIGH
        moderate = not high and self.fraction >= LOSS_LOW
        self._moderate = self._moderate + 1 if moderate else 0
        if high:
            if self._last_decrease < 0 or now - self._last_decrease >= LOSS_DECREASE_INTERVAL:
                # The rate before the loss: what got through, plus what was lost on the way.
                base = acked_bps / (1.0 - self.fraction) if self.rate is None else self.rate
                self._decrease(now, base, acked_bps)
        elif moderate:
            if (
                self.rate is not None
                and self._moderate >= LOSS_MODERATE_STREAK
                and now - self._last_decrease >= LOSS_MODERATE_INTERVAL
            ):
                self._decrease(now, self.rate, acked_bps)
                return True
        elif self.rate is not None and grow:
            before = self.rate
            self.rate *= 1.08 ** max(elapsed, 0.0)
            if acked_bps > 0:  # stops the increase, never lowers (see aimd.py)
                self.rate = max(before, min(self.rate, 1.5 * acked_bps + 10_000))
        return high

    def _decrease(self, now: float, base: float, acked_bps: float) -> None:
        """Down by half the loss fraction, but not under 0.85 x what got through, nor far above
        it: the loss says the path is full, the throughput says how much it holds (a drop-tail queue
        overflowing while the publisher adapts would otherwise cut the rate again and again)."""
        self._last_decrease = now
        self.counts_from_us = int(now * 1_000_000.0)
        rate = base * (1.0 - 0.5 * self.fraction)
        if acked_bps > 0:
            # Nor above what would lose LOSS_HIGH of it if the path delivers what got through:
            # halving the loss fraction from a rate far above the path (a cut, 70 % lost) takes
            # seconds of steps, all of them lost traffic.
            rate = min(rate, acked_bps / (1.0 - LOSS_HIGH))
        self.rate = max(min(max(rate, BETA * acked_bps), base), MIN_RATE_BPS)


class SubscriberEstimator:
    """Bandwidth estimate of one subscriber connection from its transport feedback."""

    __slots__ = (
        "_aimd",
        "_congestion_level",
        "_detector",
        "_episode_floor",
        "_feedback_delivered",
        "_feedback_loss",
        "_groups",
        "_last_congestion",
        "_loss",
        "_quiet_since",
        "_sent",
        "_trendline",
        "acked",
        "congested",
        "feedbacks",
        "grows_by_probes",
        "sent_rate",
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
        self.sent_rate = AckedRate()  # the same, by send time, of every packet reported
        self._last_congestion = 0.0
        self._quiet_since = 0.0  # since when no congestion, with the estimate in use
        self._episode_floor = 0.0
        self._feedback_loss = 0.0  # loss fraction in the latest feedback
        self._feedback_delivered = 0.0  # bit/s its received packets arrived at (0: unknown)
        self.congested = False  # the path has shown congestion: a cap until it clearly lifts
        self._congestion_level = 0.0  # bit/s the last congestion left (estimate or throughput)
        self.signal = NORMAL  # the delay-based detector's latest state
        self.feedbacks = 0
        # Set once the node probes this path (media/sfu/probes.py): from then on the estimate
        # does not grow while the node sends under PROBED_RATIO of it (see _apply).
        self.grows_by_probes = False

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
    def last_congestion(self) -> float:
        """When the path last showed congestion (the node's clock; 0: never)."""
        return self._last_congestion

    def raise_to(self, now: float, bps: int) -> None:
        """A probe (media/core/probe_cluster.py) delivered ``bps`` without congestion: both
        halves take it at once (the delay-based and loss-based rates only ever grow from it
        here). Lifting the cap follows the same rule as a rate that grew by itself: at
        :data:`UNCAP_FACTOR` x what the last congestion left."""
        if not self.congested:
            return
        self._aimd.raise_to(bps)
        if self._loss.rate is not None and self._loss.rate < bps:
            self._loss.rate = float(bps)
        if self._congestion_level > 0 and bps >= UNCAP_FACTOR * self._congestion_level:
            self.congested = False
            self._loss.rate = None

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
        counts_from = self._loss.counts_from_us
        for i in range(min(len(arrivals), MAX_FEEDBACK_PACKETS)):
            seq = (base_sequence + i) & 0xFFFF
            arrival = arrivals[i]
            before = sent.report(seq, arrival >= 0)
            if before in (UNKNOWN, REPORTED_RECEIVED):
                continue
            send_us = sent.send_us(seq)
            if before == NOT_REPORTED:
                self.sent_rate.add(send_us, sent.size(seq))
            counts = send_us >= counts_from
            if arrival >= 0:
                if counts:
                    if before == REPORTED_LOST:
                        lost -= 1  # reported lost earlier, arrived after all (reordered)
                    else:
                        expected += 1
                received.append((arrival, send_us, sent.size(seq)))
            elif before != REPORTED_LOST and counts:
                expected += 1
                lost += 1
        self._loss.count(expected, lost)
        self._feedback_loss = max(lost, 0) / expected if expected >= 5 else 0.0
        received.sort()
        self._feedback_delivered = _delivered_bps(received)
        signal = -2  # no new delay measurement in this feedback
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
        """``signal`` is the detector's state after this feedback's delay measurements, or -2
        when it brought none: the rate control then keeps its course without acting on a stale
        overuse again (each overuse must be seen anew to decrease)."""
        fresh = signal != -2
        if fresh:
            self.signal = signal
        else:
            signal = NORMAL if self.signal == OVERUSE else self.signal
        acked = self.acked.bps
        if self._feedback_loss > LOSS_HIGH and self._feedback_delivered > 0:
            acked = min(acked, self._feedback_delivered)
        # Application-limited on a probed path: what the node sends says nothing about the rest
        # of the estimate, so it holds, and probes are its way up (libwebrtc holds its estimate
        # in its application-limited region too, and probes from there). Grown by itself, 8 %
        # a second up to 1.5 x what got through, it passed a 400 kbit/s link while the node sent
        # 270 (lab: the layers given to it and a probe aimed at 1.25 x it overflowed the link).
        before = self.estimate
        held = (
            self.grows_by_probes
            and before is not None
            and self.sent_rate.bps < PROBED_RATIO * before
        )
        loss_high = self._loss.update(now, acked, grow=not held)
        if signal == OVERUSE and acked >= DELIVERED_RATIO * self.sent_rate.bps:
            signal = NORMAL  # everything sent got through: jitter, not a queue
        congestion = signal == OVERUSE or loss_high
        if congestion:
            base = acked
            if self._feedback_loss > 0:
                base = min(base, self.sent_rate.bps * (1.0 - self._feedback_loss))
            if not self.congested or now - self._last_congestion >= EPISODE_GAP_S:
                self._episode_floor = EPISODE_FLOOR * base
            elif self._feedback_loss > LOSS_HIGH:
                # A floor taken from delay alone (a browser reports a loss only once a later
                # packet arrived: behind a queue, the first feedback after a cut shows none) is
                # the throughput from before the cut; high loss within the episode says what
                # the path delivers now, and the floor must not hold the estimate above it.
                self._episode_floor = min(self._episode_floor, EPISODE_FLOOR * base)
            self._congestion_level = acked
            self._last_congestion = now
        if not self.congested:
            if not congestion:
                return
            self.congested = True
            # Start the delay-based rate where the path stands; the decrease below takes it
            # to 0.85 x acknowledged (a loss-only start keeps it there, the loss half decides).
            self._aimd.reset_to(acked if acked > 0 else 300_000)
        self._aimd.update(UNDERUSE if held and signal == NORMAL else signal, acked, int(now * 1e6))
        self._hold_floor()
        estimate = self.estimate
        if congestion and estimate is not None:
            # What the congestion left the estimate at, not the throughput then: a publisher
            # whose encoder undershoots its new target (a noisy picture at a low rate skips
            # frames) delivers far less for a while, and doubling *that* lifted the cap two
            # seconds into a limit that was still there (lab: a 5 s freeze after the overshoot).
            self._congestion_level = max(acked, estimate)
        if congestion or (estimate is not None and self.sent_rate.bps < PROBED_RATIO * estimate):
            self._quiet_since = now
        if not congestion and (
            now - self._quiet_since >= QUIET_UNCAP_S
            or (
                estimate is not None
                and self._congestion_level > 0
                and estimate >= UNCAP_FACTOR * self._congestion_level
            )
        ):
            self.congested = False
            self._loss.rate = None

    def _hold_floor(self) -> None:
        floor = self._episode_floor
        if floor <= 0:
            return
        self._aimd.rate = max(self._aimd.rate, floor)
        if self._loss.rate is not None:
            self._loss.rate = max(self._loss.rate, floor)


def _delivered_bps(received: list[tuple[int, int, int]]) -> float:
    """Bit/s at which the ``(arrival µs, send µs, size)`` packets of one feedback (sorted by
    arrival) arrived: the bytes after the first over the span from first to last; 0 when too
    few or too close together to tell."""
    if len(received) < DELIVERED_MIN_PACKETS:
        return 0.0
    span = received[-1][0] - received[0][0]
    if span < DELIVERED_MIN_SPAN_US:
        return 0.0
    size = 0
    for i in range(1, len(received)):
        size += received[i][2]
    return size * 8 * 1_000_000 / span
