"""A simulated bottleneck for the estimator's tests: a sender that follows the estimate, a
fixed-rate link with a drop-tail queue, random loss and reordering, and a receiver that sends
transport feedback every 100 ms. Deterministic (seeded); time is simulated, nothing sleeps."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from liveloop_sfu.media.core.bandwidth_estimator import SubscriberEstimator
from liveloop_sfu.media.core.sent_packets import TransportSequence

FPS = 30
MTU = 1200
FEEDBACK_INTERVAL = 0.1


@dataclass
class Link:
    """``rate_bps`` may change over time (``schedule``: [(from time s, rate)]); ``None`` rate =
    no bottleneck. ``queue_s``: drop-tail queue length in seconds of the current rate."""

    rate_bps: float | None
    queue_s: float = 0.3
    loss: float = 0.0
    reorder: float = 0.0
    schedule: list[tuple[float, float | None]] = field(default_factory=list)
    base_delay: float = 0.02
    jitter: float = 0.0  # each arrival delayed by up to this much more (a busy receiver)
    _free_at: float = 0.0

    def rate_at(self, t: float) -> float | None:
        rate = self.rate_bps
        for start, value in self.schedule:
            if t >= start:
                rate = value
        return rate

    def carry(self, t: float, size: int, rng: random.Random) -> float | None:
        """Arrival time of a packet sent at ``t``, or None if lost."""
        rate = self.rate_at(t)
        if rate is None:
            arrival = t
        else:
            start = max(t, self._free_at)
            if start - t > self.queue_s:
                return None  # queue full: drop-tail
            self._free_at = start + size * 8 / rate
            arrival = self._free_at
        if rng.random() < self.loss:
            return None
        return arrival + self.base_delay + rng.uniform(0.0, self.jitter)


@dataclass
class Run:
    times: list[float] = field(default_factory=list)
    estimates: list[int | None] = field(default_factory=list)
    sent_bps: list[float] = field(default_factory=list)


def simulate(
    link: Link,
    seconds: float,
    max_bps: float = 2_000_000,
    seed: int = 1,
    fill: Callable[[float], float] = lambda t: 1.0,
    late_losses: bool = False,
    probed: bool = False,
) -> tuple[Run, SubscriberEstimator]:
    """The sender sends ``min(estimate or max_bps, max_bps)`` as 30 frames/s, each frame one burst
    of <= MTU-byte packets; feedback every 100 ms reports every number since the previous one.
    ``fill(t)``: the share of that rate an encoder actually produces at ``t`` (1: all of it;
    less: an encoder undershooting its target after it dropped). ``late_losses``: a lost packet
    is reported only once a later one has arrived, as a browser's receiver does (it cannot know
    before): behind a queue, the first feedback after a cut shows only delay. ``probed``: the
    node probes this path (a group room's subscriber held back), so it grows by probes."""
    rng = random.Random(seed)
    sent = TransportSequence(rng.randrange(65536))
    estimator = SubscriberEstimator(sent)
    estimator.grows_by_probes = probed
    run = Run()
    pending: list[tuple[int, float | None]] = []  # (seq, arrival) awaiting feedback
    next_feedback = FEEDBACK_INTERVAL
    t = 0.0
    frame = 0
    while t < seconds:
        estimate = estimator.estimate
        rate = min(max_bps, estimate if estimate is not None else max_bps) * fill(t)
        frame_bytes = int(rate / 8 / FPS)
        while frame_bytes > 0:
            size = min(MTU, frame_bytes)
            frame_bytes -= size
            seq = sent.next()
            sent.record(seq, t, size + 40)
            arrival = link.carry(t, size + 40, rng)
            pending.append((seq, arrival))
        frame += 1
        t = frame / FPS
        if t >= next_feedback:
            _feedback(estimator, pending, t, link.reorder, rng, late_losses)
            next_feedback += FEEDBACK_INTERVAL
            run.times.append(t)
            run.estimates.append(estimator.estimate)
            run.sent_bps.append(rate)
    return run, estimator


def _feedback(
    estimator: SubscriberEstimator,
    pending: list[tuple[int, float | None]],
    now: float,
    reorder: float,
    rng: random.Random,
    late_losses: bool = False,
) -> None:
    """Report what has arrived by ``now``; packets still in flight wait for the next one (the
    receiver reports a contiguous range starting at the oldest unreported number)."""
    ready = 0
    while ready < len(pending):
        arrival = pending[ready][1]
        if arrival is not None and arrival > now:
            break
        ready += 1
    if late_losses:  # losses after the last packet that arrived are not known yet
        while ready > 0 and pending[ready - 1][1] is None:
            ready -= 1
    if ready == 0:
        return
    batch = pending[:ready]
    del pending[:ready]
    arrivals = [-1 if a is None else int(a * 1_000_000) for _, a in batch]
    for i in range(len(arrivals) - 1):
        if reorder and rng.random() < reorder and arrivals[i] >= 0 and arrivals[i + 1] >= 0:
            arrivals[i], arrivals[i + 1] = arrivals[i + 1], arrivals[i]
    estimator.on_feedback(now, batch[0][0], arrivals)
