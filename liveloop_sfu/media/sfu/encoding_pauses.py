"""Tells publishers which of their simulcast encodings to pause (``set-video-layers``).

The session's glue around :class:`~.layer_pauses.TrackPauses`: one per published simulcast
track, kept by (owner, mid) so that it outlives a rebuilt publication (an ICE restart or a
renegotiation keeps the browser's encodings as they were set). After each allocation
(:mod:`.simulcast_allocator`) the layers given to someone are reported here; a change of the
paused set becomes one ``set-video-layers`` event to the owner, sent by the session task (the
allocation does not wait on signaling). The event carries the whole paused set, so a lost or
late one is repaired by the next.
"""

from __future__ import annotations

from typing import Any

from liveloop_sfu.media.session import Emit
from liveloop_sfu.media.sfu.layer_pauses import TrackPauses
from liveloop_sfu.media.sfu.links import Publication
from liveloop_sfu.media.sfu.state import SessionState

__all__ = ["EncodingPauses"]


class EncodingPauses:
    def __init__(self, state: SessionState, emit: Emit) -> None:
        self._participants = state.participants
        self._wake = state.wake
        self._emit = emit
        self._tracks: dict[tuple[str, str], TrackPauses] = {}
        self.pending: dict[tuple[str, str], dict[str, Any]] = {}  # events to send, by track

    def of(self, now: float, publication: Publication) -> TrackPauses:
        key = (publication.owner, publication.line.mid)
        pauses = self._tracks.get(key)
        layers = len(publication.forwarder.layers)
        if pauses is None or len(pauses.paused) != layers:
            pauses = self._tracks[key] = TrackPauses(layers, now)
        return pauses

    def update(self, now: float, publication: Publication, wanted: set[int]) -> None:
        """``wanted``: the layers the allocation gave someone (the recorder included)."""
        pauses = self.of(now, publication)
        if pauses.update(now, wanted, _smallest_heard(publication)):
            layers = publication.forwarder.layers
            self.pending[(publication.owner, publication.line.mid)] = {
                "mid": publication.line.mid,
                "trackId": publication.track_id,
                "paused": [layers[i].rid for i, paused in enumerate(pauses.paused) if paused],
            }
            self._wake()

    def prune(self) -> None:
        """Forget the tracks of owners who left. Not those of a publication merely gone for a
        moment (an ICE restart unpublishes, then publishes again): the browser keeps its
        encodings paused meanwhile, and a forgotten pause, its layer silent, would never be
        resumed."""
        for key in [key for key in self._tracks if key[0] not in self._participants]:
            del self._tracks[key]

    @property
    def count(self) -> int:
        """Layers paused now, over the session (a gauge)."""
        return sum(pauses.count for pauses in self._tracks.values())

    async def announce(self) -> None:
        pending, self.pending = self.pending, {}
        for (owner, _), payload in pending.items():
            if owner in self._participants:
                await self._emit(owner, "set-video-layers", payload)


def _smallest_heard(publication: Publication) -> int | None:
    """The index of the smallest layer the publisher has sent (by keyframe size, then rate)."""
    heard = [
        x for x in publication.forwarder.layers if x.stats is not None and x.stats.first_packet >= 0
    ]
    if not heard:
        return None
    return min(heard, key=lambda x: x.stats.rank() if x.stats is not None else (0, 0)).index
