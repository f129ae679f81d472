"""Keyframe requests towards one publisher track, merged, throttled and retried.

The idea of mediasoup's ``KeyFrameRequestManager``: any number of requests (a PLI or FIR from a
subscriber, a new or resumed subscription, an egress that just came up) become *one* PLI upstream.

- A request while none is pending sends a PLI now, unless one was sent less than
  ``min_interval`` (300 ms) ago: then it is sent when that interval ends. Encoders take tens to
  hundreds of milliseconds to produce the keyframe, so a second PLI within that window only
  risks a second keyframe.
- A request while one is pending is merged into it.
- While pending, the PLI is repeated every ``retry_interval`` (1 s: a PLI, or the keyframe, may be
  lost), at most ``max_attempts`` times, then the manager gives up (``gave_up`` counts it) until
  the next request.
- Any keyframe arriving ends the pending request.

Time is a parameter; :meth:`get_timer` / :meth:`handle_timer` follow aioquic.
"""

from __future__ import annotations

__all__ = ["KeyframeRequestManager"]


class KeyframeRequestManager:
    __slots__ = (
        "_attempts",
        "_due",
        "_last_sent",
        "gave_up",
        "max_attempts",
        "min_interval",
        "pending",
        "retry_interval",
        "sent",
    )

    def __init__(
        self, min_interval: float = 0.3, retry_interval: float = 1.0, max_attempts: int = 10
    ) -> None:
        self.min_interval = min_interval
        self.retry_interval = retry_interval
        self.max_attempts = max_attempts
        self.pending = False
        self.sent = 0
        self.gave_up = 0
        self._attempts = 0
        self._due: float | None = None
        self._last_sent: float | None = None

    def request(self, now: float) -> bool:
        """Someone needs a keyframe. ``True``: send a PLI now."""
        if self.pending:
            return False
        self.pending = True
        self._attempts = 0
        if self._last_sent is not None and now - self._last_sent < self.min_interval:
            self._due = self._last_sent + self.min_interval
            return False
        return self._send(now)

    def upstream_ready(self, now: float) -> bool:
        """The publisher's connection has just come up (its first, or a new one after an ICE
        restart): PLIs sent before went nowhere, so a pending request goes out again now rather
        than at its retry time, with its attempts counted afresh. ``True``: send a PLI now."""
        if not self.pending:
            return False
        self._attempts = 0
        return self._send(now)

    def on_keyframe(self, now: float) -> None:
        """A keyframe arrived from the publisher: every pending request is satisfied."""
        self.pending = False
        self._due = None

    def get_timer(self) -> float | None:
        return self._due if self.pending else None

    def handle_timer(self, now: float) -> bool:
        """``True``: send a PLI now (a deferred request or a retry)."""
        if not self.pending or self._due is None or now < self._due:
            return False
        if self._attempts >= self.max_attempts:
            self.pending = False
            self._due = None
            self.gave_up += 1
            return False
        return self._send(now)

    def _send(self, now: float) -> bool:
        self._attempts += 1
        self._last_sent = now
        self._due = now + self.retry_interval
        self.sent += 1
        return True
