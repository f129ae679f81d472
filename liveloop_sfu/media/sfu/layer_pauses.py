"""Which simulcast layers a publisher may stop sending: the rule, pure.

A layer that no subscriber has wanted for :data:`PAUSE_AFTER` seconds (given it, or asked for
it: :mod:`.simulcast_allocator` says which) is paused at the publisher (its encoding set
``active = false``, which stops its encoder: the CPU and uplink it took are saved), and resumed
as soon as someone wants it again (LiveKit calls this dynacast; mediasoup leaves it to the
application). Two layers are never paused:

- the smallest one heard: it keeps the track alive (a newcomer's first picture comes at once,
  and the allocation always has a layer to fall back on), and costs little;
- a layer never heard: its bit rate is unknown, so the allocation could not choose it once
  paused (a layer the publisher's own estimate has not started yet stays the browser's to start).

A paused layer sends nothing, so its measured bit rate falls to zero; the allocation must still
see it as available (after a resume), so :meth:`TrackPauses.bitrate` answers with the rate it
had while it was sent — also for :data:`RESUME_GRACE` after a resume, while its encoder ramps up
again.
"""

from __future__ import annotations

__all__ = ["PAUSE_AFTER", "RESUME_GRACE", "WATCH_GAP", "TrackPauses"]

# Long enough that a subscriber moving between layers (a tile resized, an estimate dipping)
# does not pause and resume the publisher's encoder each time; short enough to save its CPU soon.
PAUSE_AFTER = 3.0
# A resumed encoding's first packets take a signaling round trip and an encoder start.
RESUME_GRACE = 3.0
# Updates further apart than this (the allocation runs every 100 ms) mean nobody watched in
# between — the publisher was silent (its path died, an ICE restart) or the node's process was
# stopped: the time since a layer was last wanted starts again rather than counting the gap.
WATCH_GAP = 1.0


class TrackPauses:
    """The paused layers of one simulcast track (by layer index)."""

    __slots__ = ("last_update", "last_wanted", "paused", "remembered", "resumed_at")

    def __init__(self, layers: int, now: float) -> None:
        self.last_update = now
        self.last_wanted = [now] * layers
        self.paused = [False] * layers
        self.remembered = [0] * layers  # each layer's bit rate while it was last sent
        self.resumed_at = [float("-inf")] * layers  # never resumed

    def bitrate(self, now: float, index: int, measured: int) -> int:
        """The bit rate the allocation counts for a layer: what it sends, or, paused (or
        resumed less than :data:`RESUME_GRACE` ago), at least what it sent before. A resumed
        encoder starts low and ramps up: counted at its first second's rate, a layer that
        will soon send 200 kbit/s looked like 30 (lab: a subscriber cut to 400 kbit/s was
        moved onto two just-resumed middle layers, and froze 1.3 s before they overflowed it)."""
        resuming = now - self.resumed_at[index] < RESUME_GRACE
        if measured > 0 and not resuming:
            if not self.paused[index]:
                self.remembered[index] = measured
            return measured
        if self.paused[index] or resuming:
            return max(measured, self.remembered[index])
        return 0

    def update(self, now: float, wanted: set[int], keep: int | None) -> bool:
        """The layers given to someone now (``wanted``) and the smallest heard (``keep``, never
        paused); True when the paused set changed (the publisher must be told)."""
        changed = False
        if now - self.last_update > WATCH_GAP:
            self.last_wanted = [now] * len(self.last_wanted)
        self.last_update = now
        for index in range(len(self.paused)):
            if index in wanted or index == keep:
                self.last_wanted[index] = now
                if self.paused[index]:
                    self.paused[index] = False
                    self.resumed_at[index] = now
                    changed = True
            elif (
                not self.paused[index]
                and self.remembered[index] > 0
                and now - self.last_wanted[index] >= PAUSE_AFTER
            ):
                self.paused[index] = True
                changed = True
        return changed

    @property
    def count(self) -> int:
        return sum(self.paused)
