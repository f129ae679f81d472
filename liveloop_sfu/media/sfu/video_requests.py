"""What each subscriber asked to be sent of the others' videos (``set-video-quality``).

A browser tells the node, per remote video, the tallest picture it shows (its tile's rendered
height) or ``off`` (a hidden page, a tile out of view) — LiveKit's "adaptive stream". The node
keeps the latest request per (subscriber, owner's participant id, owner's track id), so it
outlives the renegotiations and ICE restarts that rebuild a publication, and applies it:

- ``off`` pauses the subscription (:meth:`~.forwarder.Forwarder.set_paused`: nothing is sent,
  without a sequence gap; back on, it waits for a keyframe, which it asks for) — for every
  video, simulcast or not;
- a height caps the simulcast layer the allocation gives that video
  (:mod:`.simulcast_allocator`): the smallest layer at least that tall, never a larger one.

Requests are accepted only for a video the subscriber is sent now, so the table is bounded by
the room's tracks; an owner that leaves takes its entries along.
"""

from __future__ import annotations

from typing import Any

from liveloop_sfu.errors import InvalidPayload, NotInRoom
from liveloop_sfu.media.sfu.links import Publication
from liveloop_sfu.media.sfu.state import SessionState

__all__ = ["OFF", "VideoRequests"]

OFF = 0  # the max_height of a video the subscriber does not show at all


class VideoRequests:
    """The session's table of requests: ``{subscriber sid: {(participant id, track id):
    max height}}`` (:data:`OFF` = not shown)."""

    def __init__(self, state: SessionState) -> None:
        self._participants = state.participants
        self._table = state.table
        self._actions = state.actions
        self._requests: dict[str, dict[tuple[str, str], int]] = {}

    def set(
        self, now: float, sid: str, participant_id: str, track_id: str, max_height: int
    ) -> None:
        """Store a request of subscriber ``sid`` and pause or resume the subscription now."""
        if sid not in self._participants:
            raise NotInRoom("not a participant of this call")
        key = (participant_id, track_id)
        feeding = [p for p in self._table.feeding(sid) if self._names(p) == key]
        if not feeding or feeding[0].line.kind != "video":
            raise InvalidPayload(
                f"participant {participant_id!r} sends you no video track {track_id!r}"
            )
        mine = self._requests.setdefault(sid, {})
        mine[key] = max_height
        # Entries of tracks no longer sent to it (a screen share ended, an owner left) go.
        live = {self._names(p) for p in self._table.feeding(sid)}
        for key in [key for key in mine if key not in live]:
            del mine[key]
        self.apply(now, sid)

    def max_height(self, sid: str, publication: Publication) -> int | None:
        """What ``sid`` asked of ``publication``: a height, :data:`OFF`, or ``None`` (nothing
        asked: everything the estimate allows)."""
        return self._requests.get(sid, {}).get(self._names(publication))

    def apply(self, now: float, sid: str | None = None) -> None:
        """Pause the subscriptions asked ``off`` and resume the others — of ``sid``, or of
        everyone (after links were made: a new link starts unpaused)."""
        sids = [sid] if sid is not None else list(self._requests)
        for subscriber in sids:
            for publication in self._table.feeding(subscriber):
                if publication.line.kind != "video":
                    continue
                off = self.max_height(subscriber, publication) == OFF
                actions = publication.forwarder.set_paused(now, subscriber, off)
                self._actions.send(publication, actions)

    def layers(self, sid: str) -> list[dict[str, Any]]:
        """Each video ``sid`` is sent: the layer it gets now (its rid; "" without simulcast)
        and whether it asked it off."""
        out: list[dict[str, Any]] = []
        for publication in self._table.feeding(sid):
            if publication.line.kind != "video":
                continue
            forwarder = publication.forwarder
            layer, _ = forwarder.layer_of(sid)
            participant_id, track_id = self._names(publication)
            out.append(
                {
                    "participantId": participant_id,
                    "trackId": track_id,
                    "rid": forwarder.layers[layer].rid if forwarder.simulcast else "",
                    "off": self.max_height(sid, publication) == OFF,
                }
            )
        return out

    def forget(self, sid: str) -> None:
        """``sid`` left: its requests go (those about its tracks go with the others' next)."""
        self._requests.pop(sid, None)

    def _names(self, publication: Publication) -> tuple[str, str]:
        owner = self._participants.get(publication.owner)
        return (owner.participant_id if owner is not None else "", publication.track_id)
