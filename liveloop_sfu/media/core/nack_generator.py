"""Upstream loss recovery: which of the publisher's packets to NACK (RFC 4585 §6.2.1).

Like aiortc's ``NackGenerator`` and pion/interceptor's ``nack`` generator, but on plain ints with
time as a parameter. Input is the forwarder's *extended* sequence number (no wraparound).

- A gap after the newest packet marks the missing numbers; they are NACKed ``first_delay``
  (10 ms) later, which absorbs small reorderings without a spurious NACK.
- Each is repeated every ``retry_interval`` (100 ms) at most ``max_retries`` (5) times and
  forgotten after ``max_age`` (1 s): later than that the retransmission would be useless anyway.
- At most ``max_missing`` (256) numbers are tracked; a larger gap clears the list, since NACKing a
  burst that large is hopeless and a keyframe is the cure.
"""

from __future__ import annotations

from liveloop_sfu.media.core.seq import wrap16

__all__ = ["NackGenerator"]


class NackGenerator:
    __slots__ = (
        "_max",
        "_missing",
        "first_delay",
        "max_age",
        "max_missing",
        "max_retries",
        "retry_interval",
    )

    def __init__(
        self,
        *,
        first_delay: float = 0.01,
        retry_interval: float = 0.1,
        max_retries: int = 5,
        max_age: float = 1.0,
        max_missing: int = 256,
    ) -> None:
        self.first_delay = first_delay
        self.retry_interval = retry_interval
        self.max_retries = max_retries
        self.max_age = max_age
        self.max_missing = max_missing
        self._max = -1
        # ext seq -> [first seen missing, next due, NACKs sent]; insertion order = seq order.
        self._missing: dict[int, list[float]] = {}

    @property
    def missing(self) -> list[int]:
        return list(self._missing)

    def reset(self) -> None:
        self._max = -1
        self._missing.clear()

    def on_packet(self, now: float, ext: int) -> bool:
        """Record an arrival; True when it revealed a gap, i.e. :meth:`get_timer` may now be
        earlier (so a caller re-arms its timer only then, not per packet)."""
        if self._max < 0 or ext <= self._max:
            if self._max < 0:
                self._max = ext
            elif self._missing:
                self._missing.pop(ext, None)
            return False
        previous, self._max = self._max, ext
        gap = ext - previous - 1
        if not gap:
            return False
        if gap > self.max_missing:
            self._missing.clear()
            return False
        due = now + self.first_delay
        for seq in range(previous + 1, ext):
            self._missing[seq] = [now, due, 0.0]
        excess = len(self._missing) - self.max_missing
        for seq in list(self._missing)[: max(excess, 0)]:
            del self._missing[seq]
        return True

    def get_timer(self) -> float | None:
        if not self._missing:
            return None
        return min(entry[1] for entry in self._missing.values())

    def handle_timer(self, now: float) -> list[int]:
        """Sequence numbers (16-bit) to NACK now; expired ones are forgotten."""
        due: list[int] = []
        for seq, entry in list(self._missing.items()):
            if now - entry[0] > self.max_age or entry[2] >= self.max_retries:
                del self._missing[seq]
            elif entry[1] <= now:
                entry[1] = now + self.retry_interval
                entry[2] += 1
                due.append(wrap16(seq))
        return due
