"""When one subscriber's downlink is probed, and at what rate: the rule, pure.

A subscriber whose allocation is held below what it asked for (:func:`.layer_allocation.
upgrade_need`, :func:`.temporal_allocation.temporal_need`) receives less than its estimate
allows, and an estimate that only grows while it is used cannot learn that the link has grown
(media/core/bandwidth_estimator.py). A probe (media/sfu/probes.py) tests the way up instead:
mediasoup's probation, LiveKit's probe controller and libwebrtc's ``ProbeController`` do the same,
each in its own way. Ours:

- only while the estimate is a limit and something is held back by it (``need`` above the
  estimate): a subscriber that gets everything, every 1:1 call, is never probed;
- at what the upgrades held back need, with a :data:`NEED_MARGIN`, but never above
  :data:`MAX_STEP` x the estimate: a poor link is not flooded with a top layer's rate (the
  estimate settles near a limited link's rate, and a probe well above it overflowed the lab's
  100 ms queue and took media packets with it: at 1.5 x, a 0.6-0.9 s freeze at every probe; at
  1.25 x it shows as delay growth first), and a good one still gets there in a few steps (the
  cap lifts once the estimate has doubled), as with libwebrtc's exponential probing (aiming at
  the next layer only, one temporal layer at a time, took a subscriber from 240x135 at 4 fps to
  the top in eight probes: over 15 s in the lab);
- not within :data:`AFTER_CONGESTION` of the path's last congestion (a queue still draining
  would only be filled again);
- after a probe that came through, the next (from the raised estimate) may follow after
  :data:`AFTER_SUCCESS`; after one
  that did not, after :data:`FIRST_BACKOFF`, doubling each time up to :data:`MAX_BACKOFF`
  (2 s, 4 s, 8 s, 8 s...): a 0.3 s probe every 8 s is under 4 % of the time.
"""

from __future__ import annotations

__all__ = [
    "AFTER_CONGESTION",
    "AFTER_SUCCESS",
    "FIRST_BACKOFF",
    "MAX_BACKOFF",
    "MAX_STEP",
    "NEED_MARGIN",
    "ProbeSchedule",
]

NEED_MARGIN = 1.1
MAX_STEP = 1.25
AFTER_CONGESTION = 3.0
AFTER_SUCCESS = 0.5
FIRST_BACKOFF = 2.0
MAX_BACKOFF = 8.0


class ProbeSchedule:
    """The probing state of one subscriber connection."""

    __slots__ = ("backoff", "next_at", "running")

    def __init__(self) -> None:
        self.next_at = 0.0  # no probe before (the node's clock)
        self.backoff = FIRST_BACKOFF
        self.running = False

    def target(
        self, now: float, estimate: int | None, need: int | None, last_congestion: float
    ) -> int | None:
        """The rate (bit/s, media and padding together) to probe at now, or ``None``.
        ``estimate``: the subscriber's (``None``: no limit); ``need``: the estimate everything
        it asked for needs (``None``: nothing held back)."""
        if self.running or estimate is None or need is None or need <= estimate:
            return None
        if now < self.next_at or now - last_congestion < AFTER_CONGESTION:
            return None
        return int(min(need * NEED_MARGIN, estimate * MAX_STEP))

    def started(self) -> None:
        self.running = True

    def finished(self, now: float, ok: bool) -> None:
        """The probe's result is in: ``ok`` when it came through without congestion."""
        self.running = False
        if ok:
            self.backoff = FIRST_BACKOFF
            self.next_at = now + AFTER_SUCCESS
        else:
            self.next_at = now + self.backoff
            self.backoff = min(self.backoff * 2, MAX_BACKOFF)
