"""Subscribers' REMB towards the publisher: the minimum, throttled.

A publisher sends one encoding to every subscriber, so it must fit the tightest downlink: the
estimate upstream is the minimum of the subscribers' latest REMB values (draft-alvestrand-rmcat-
remb), each of which expires after ``expiry`` (5 s) without an update (a subscriber whose
browser stopped sending REMB no longer holds everyone down).

Emission: the first estimate goes out at once; afterwards a *decrease* of more than 3 % goes out
if ``min_interval`` (200 ms) passed since the last one (congestion must be acted on quickly), and
any value goes out once ``refresh_interval`` (1 s) passed (browsers repeat REMB about once a
second; the publisher's estimate otherwise goes stale).
"""

from __future__ import annotations

__all__ = ["RembAggregator"]

_DECREASE = 0.97


class RembAggregator:
    __slots__ = (
        "_entries",
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
        """Record a subscriber's REMB; returns the value to send upstream now, or ``None``."""
        self._entries[subscriber_id] = (now, bitrate)
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

    def remove(self, subscriber_id: str) -> None:
        self._entries.pop(subscriber_id, None)
