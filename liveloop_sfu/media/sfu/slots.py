"""Which published track the node sends on which of a subscriber's m-lines (its *slots*).

In sfu the browser always offers (DESIGN.md), so the browser decides how many m-lines it can
receive on, and the node decides, in its answer, what each carries: the answer's ``a=msid``
of that m-line names the owner (``<participantId> <owner's track id>``), which is how the
browser maps tracks to tiles and recognises a screen share. Pure: plain values in, a mapping out.

Rules, in order:

1. **Stable.** A slot keeps the track it carried in the previous answer while that track is still
   published: renegotiating never moves a running stream to another m-line.
2. **Placeholders become the real thing.** In a 1:1 call the node answers the first browser
   before the partner has offered, so the partner's audio and video are *placeholders* (no m-line
   yet, track id ``<participantId>-<kind>``); once the partner publishes, a slot holding a
   placeholder keeps carrying that partner's first track of the kind — no renegotiation needed.
3. **Fill in order.** Free slots take the remaining tracks of their kind in the order given
   (participants in join order, each one's tracks in m-line order). Tracks without a free slot
   are not sent until the browser offers more m-lines; slots without a track carry nothing (the
   answer makes them ``inactive``/``recvonly``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["OfferedTrack", "TrackRef", "assign_slots", "placeholder_tracks"]


@dataclass(frozen=True, slots=True)
class TrackRef:
    """A published track: its owner (socket id) and the owner's m-line (``None``: a placeholder
    for an owner that has not offered yet)."""

    owner: str
    mid: str | None
    kind: str


@dataclass(frozen=True, slots=True)
class OfferedTrack:
    """A track a subscriber can be sent, and the msid the node's answer labels it with."""

    ref: TrackRef
    stream_id: str  # the owner's participantId
    track_id: str  # the owner's track id, as in the owner's offer


def placeholder_tracks(owner: str, participant_id: str) -> list[OfferedTrack]:
    """The audio and video an owner that has not offered yet is expected to publish."""
    return [
        OfferedTrack(TrackRef(owner, None, kind), participant_id, f"{participant_id}-{kind}")
        for kind in ("audio", "video")
    ]


def assign_slots(
    slots: Sequence[tuple[str, str]],
    previous: Mapping[str, TrackRef],
    tracks: Sequence[OfferedTrack],
) -> dict[str, OfferedTrack]:
    """``slots`` = the subscriber's m-lines the node may send on, as ``(mid, kind)`` in m-line
    order; ``previous`` = what each carried after the last answer; ``tracks`` = what the
    subscriber can receive now. Returns ``{mid: track}`` for the slots that carry something."""
    by_ref = {track.ref: track for track in tracks}
    taken: set[TrackRef] = set()
    result: dict[str, OfferedTrack] = {}
    for mid, kind in slots:
        track = _kept(previous.get(mid), kind, by_ref, tracks, taken)
        if track is not None:
            result[mid] = track
            taken.add(track.ref)
    pending: dict[str, list[OfferedTrack]] = {}
    for free in tracks:
        if free.ref not in taken:
            pending.setdefault(free.ref.kind, []).append(free)
    for mid, kind in slots:
        queue = pending.get(kind)
        if mid not in result and queue:
            result[mid] = queue.pop(0)
    return result


def _kept(
    ref: TrackRef | None,
    kind: str,
    by_ref: Mapping[TrackRef, OfferedTrack],
    tracks: Sequence[OfferedTrack],
    taken: set[TrackRef],
) -> OfferedTrack | None:
    if ref is None or ref.kind != kind or ref in taken:
        return None
    track = by_ref.get(ref)
    if track is not None:
        return track
    if ref.mid is None:  # a placeholder: the owner's first real track of the kind, if free
        return next(
            (
                t
                for t in tracks
                if t.ref.owner == ref.owner and t.ref.kind == kind and t.ref not in taken
            ),
            None,
        )
    return None
