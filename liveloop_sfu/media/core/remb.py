"""The publisher's target from its subscribers, sent upstream as REMB: the minimum, throttled.

A publisher sends one encoding to every subscriber, so it must fit the tightest downlink: the
value upstream (draft-alvestrand-rmcat-remb) is the minimum over the subscribers of

- the node's own estimate of the subscriber's downlink share
  (:meth:`RembAggregator.update_estimate`, from its transport feedback,
  :mod:`.bandwidth_estimator`) when the subscriber sends transport
  feedback; ``None`` there means *no limit* (no congestion seen), and a subscriber with an
  estimate has its own REMB ignored (browsers send one or the other; the estimate wins);
- otherwise its latest raw REMB (aiortc peers, load clients: no transport-cc).

Each value expires after ``expiry`` (5 s) without an update (a subscriber whose browser stopped
sending feedback no longer holds everyone down). When every subscriber is unlimited the value
sent is ``unlimited`` (20 Mbit/s): a REMB only ever caps the sender's own estimate, so this lifts
an earlier cap and otherwise changes nothing.

Emission: the first estimate goes out at once; afterwards a *decrease* of more than 3 % goes out
if ``min_interval`` (200 ms) passed since the last one (congestion must be acted on quickly), and
any value goes out once ``refresh_interval`` (1 s) passed (browsers repeat REMB about once a
second; the publisher's estimate otherwise goes stale).
"""

from __future__ import annotations

__all__ = ["UNLIMITED", "RembAggregator"]

_DECREASE = 0.97
UNLIMITED = 20_000_000


class RembAggregator:
    __slots__ = (
        "_entries",
        "_estimated",
        "_last_sent",
        "_last_value",
        "expiry",
        "min_interval",
        "refresh_interval",
    )

    def __init__(
        self, expiry: float = 5.0, min_interval: float = 0.2, refresh_interval: float = 1.0
    ) -> None:
        self.expiry = expiry
        self.min_interval = min_interval
        self.refresh_interval = refresh_interval
        self._entries: dict[str, tuple[float, int]] = {}
        self._estimated: set[str] = set()  # subscribers whose value is the node's estimate
        self._last_sent: float | None = None
        self._last_value = 0

    def estimate(self, now: float) -> int | None:
        """Minimum of the unexpired subscriber values (expired ones are dropped)."""
        for key in [k for k, (at, _) in self._entries.items() if now - at > self.expiry]:
            del self._entries[key]
        if not self._entries:
            return None
        return min(value for _, value in self._entries.values())

    def update(self, now: float, subscriber_id: str, bitrate: int) -> int | None:
        """Record a subscriber's REMB; returns the value to send upstream now, or ``None``.
        Ignored for a subscriber the node estimates itself."""
        if subscriber_id in self._estimated:
            return None
        return self._record(now, subscriber_id, bitrate)

    def update_estimate(self, now: float, subscriber_id: str, bitrate: int | None) -> int | None:
        """Record the node's estimate of what this publisher may send for the subscriber
        (``None``: no limit); returns the value to send upstream now, or ``None``."""
        self._estimated.add(subscriber_id)
        return self._record(now, subscriber_id, UNLIMITED if bitrate is None else bitrate)

    def _record(self, now: float, subscriber_id: str, bitrate: int) -> int | None:
        self._entries[subscriber_id] = (now, min(bitrate, UNLIMITED))
        value = self.estimate(now)
        if value is None:
            return None
        last = self._last_sent
        if (
            last is None
            or now - last >= self.refresh_interval
            or (value < self._last_value * _DECREASE and now - last >= self.min_interval)
        ):
            self._last_sent = now
            self._last_value = value
            return value
        return None

    @property
    def last_sent(self) -> int | None:
        """The value last sent upstream (``None`` before the first)."""
        return None if self._last_sent is None else self._last_value

    def remove(self, subscriber_id: str) -> None:
        self._entries.pop(subscriber_id, None)
        self._estimated.discard(subscriber_id)
