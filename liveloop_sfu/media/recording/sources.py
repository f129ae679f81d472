"""A recorded track whose sender changes: a new SSRC is a new source (pure rules).

A participant who changes network restarts ICE from a new peer connection (media/sfu/ice_restart.py,
``SfuSession._restart_peer``): the node keeps its participant and m-line ids (``sid``, ``mid``),
so the recorder goes on with the same file and streams, but the new connection's RTP senders
start afresh — a new random SSRC, sequence number and timestamp base (RFC 3550 §5.1, §8). The
old source's numbers say nothing about the new one: unwrapping its timestamps against the old
ones would date its frames hours away (or before the file's last frame), and its sequence
numbers look like a huge loss. So a recorded track treats an RTP packet from an SSRC it has not
seen as a new source (:func:`classify_source`): a new frame assembler, which waits for a
keyframe as at the start, and a new :class:`~.timing.TrackClock`, anchored again on
arrival and then on the new source's sender reports. Packets of a source it already left
(``stale``) are dropped: they cannot be placed on the new timeline.

A new connection also has its own sender reports, so the participant's wallclock offset is
estimated again (:class:`SourceGenerations`): the first of a participant's tracks to change
source starts a new generation with a new :class:`~.timing.ParticipantClock`, and its
other tracks join that generation as their own first new packets arrive — until then they keep
the old one, so a track still on the old connection is never moved by the new one's reports.

Whatever the clocks say, a file's stream timestamps must increase (:func:`next_pts`): the
outage becomes a gap, never a step back.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Literal

from liveloop_sfu.media.recording.timing import ParticipantClock

__all__ = ["RETIRED_SOURCES", "SourceGenerations", "classify_source", "next_pts"]

RETIRED_SOURCES = 8  # SSRCs a track remembers having left (a few network changes per call)

SourceChange = Literal["same", "new", "stale"]


def classify_source(current: int | None, retired: Collection[int], ssrc: int) -> SourceChange:
    """Is a media packet from ``ssrc`` from the track's ``current`` source, a new one, or one
    the track has left (``retired``)? A track without a source yet takes the first it sees."""
    if current is None or ssrc == current:
        return "same"
    if ssrc in retired:
        return "stale"
    return "new"


class SourceGenerations:
    """One participant's wallclock estimates, one per generation of its sources."""

    __slots__ = ("clock", "generation")

    def __init__(self) -> None:
        self.generation = 0
        self.clock = ParticipantClock()

    def clock_for_new_source(self, track_generation: int) -> tuple[int, ParticipantClock]:
        """A track of generation ``track_generation`` changed source: the (generation, clock)
        it continues with. The first track to change starts a new generation; the others
        join it."""
        if track_generation >= self.generation:
            self.generation += 1
            self.clock = ParticipantClock()
        return self.generation, self.clock


def next_pts(when: float, started_at: float, last_pts: int) -> int:
    """A frame's timestamp in ms on the file's timeline (0 = ``started_at``): its capture time,
    but strictly after the stream's previous frame and never negative. Sender reports move a
    track's estimate by a few ms, and a new source is dated only roughly until its first
    report."""
    return max(round((when - started_at) * 1000), last_pts + 1, 0)
