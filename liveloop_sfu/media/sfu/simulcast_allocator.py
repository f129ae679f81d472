"""Every ~100 ms, each subscriber's simulcast videos get the layers that fit its downlink.

The glue between the subscriber's bandwidth estimate (:mod:`.bandwidth`), the layers each
forwarder measures (:class:`~liveloop_sfu.media.core.simulcast.LayerStats`) and the rule
(:func:`.layer_allocation.allocate`): for every subscriber that receives at least one simulcast
video, the videos' layer bit rates and current layers go in, and a layer that changes becomes a
:meth:`~liveloop_sfu.media.core.forwarder.Forwarder.select_layer` (switched at the target's
keyframe, which it requests). The active speaker's video comes first. When even the smallest
layers overrun the estimate, temporal layers are dropped (:mod:`.temporal_allocation`,
:meth:`~liveloop_sfu.media.core.forwarder.Forwarder.select_temporal`). Interpreted: it runs ten
times a second, not per packet.

What each subscriber asked (:mod:`.video_requests`) caps its videos' layers, and a video it
asked ``off`` is left out (its subscription is paused). The layers wanted — given to someone,
or the largest someone's request allows (its estimate may not, for now), and the top layer of a
recorded track (a recording is always at full resolution) — are reported to
:mod:`.encoding_pauses`, which pauses the others at the publisher (as LiveKit's dynacast: a
layer stops when nobody asks for it, never because a downlink is short); a paused layer counts
at the bit rate it had (:meth:`~.layer_pauses.TrackPauses.bitrate`), so it can be chosen and
resumed.

When a subscriber's downlink suddenly cannot carry its layers (each held back,
``select_layer(hold=True)``), the smaller layers' keyframes are asked for one per run, the active
speaker's first, not all at once: a keyframe is a burst many times a frame's size, and two at
once overran a 400 kbit/s link's queue in the lab (the second lost packets and waited for their
retransmission). Spaced, the longest freeze at such a cut went from 0.71-0.98 s to 0.34-0.74 s
(docs/networks.md).

A subscriber held below what it asked for by its estimate is probed (:mod:`.probes`): the
allocation tells it the estimate everything it asked for needs
(:func:`.layer_allocation.upgrade_need`, :func:`.temporal_allocation.temporal_need`), and a
probe that comes through raises the estimate so that the next run takes the steps it now
allows.
"""

from __future__ import annotations

from collections.abc import Callable

from liveloop_sfu.media.core.forwarder import Forwarder
from liveloop_sfu.media.core.simulcast import TEMPORAL_LAYERS
from liveloop_sfu.media.sfu.bandwidth import AUDIO_RESERVE_BPS
from liveloop_sfu.media.sfu.encoding_pauses import EncodingPauses
from liveloop_sfu.media.sfu.layer_allocation import VideoLayers, allocate, upgrade_need
from liveloop_sfu.media.sfu.links import MediaParticipant, Publication
from liveloop_sfu.media.sfu.probes import BandwidthProbes
from liveloop_sfu.media.sfu.state import SessionState
from liveloop_sfu.media.sfu.temporal_allocation import (
    TemporalLayers,
    temporal_limits,
    temporal_need,
)
from liveloop_sfu.media.sfu.video_requests import OFF, VideoRequests

__all__ = ["ALLOCATION_INTERVAL", "LayerAllocator"]

ALLOCATION_INTERVAL = 0.1
# A track's layers start one after the other (browsers ramp their encodings up with their own
# estimate): its subscribers keep the layer they have until it has been heard for this long,
# instead of being moved off a layer that merely has not started yet, and back.
WARM_UP = 1.0
# The layers take this share of a subscriber's estimate, not all of it. The estimate probes
# upwards and settles near the link's rate (in the lab, 375-386 kbit/s on a 400 kbit/s link),
# and layers are coarse steps with keyframes and base-layer frames above their mean rate: filled
# to the estimate, a limited link ran with its queue full, and each upward step of the estimate
# lost packets and froze a 4 fps picture for 0.6-0.9 s. libwebrtc's rate control backs off to
# 0.85 x what got through for the same reason.
VIDEO_HEADROOM = 0.85
# Between the keyframe requests of one subscriber's held-back switches (see the docstring): a
# 400 kbit/s link drains a 5 KB keyframe from a 100 ms queue in about this long.
KEYFRAME_SPACING = 0.1


class LayerAllocator:
    """Runs :func:`.layer_allocation.allocate` for each subscriber, at most every
    :data:`ALLOCATION_INTERVAL`. ``speaker`` gives the active speaker's participant id."""

    def __init__(
        self,
        state: SessionState,
        speaker: Callable[[], str | None],
        requests: VideoRequests | None = None,
        pauses: EncodingPauses | None = None,
        recording: Callable[[], bool] = lambda: False,
        probes: BandwidthProbes | None = None,
    ) -> None:
        """``requests``: what subscribers asked (none by default); ``pauses``: where unused
        layers are reported (``None``: layers are never paused); ``recording``: is the room
        being recorded (its tracks' top layers are always wanted); ``probes``: where the
        subscribers held back are reported (``None``: never probed)."""
        self._participants = state.participants
        self._table = state.table
        self._actions = state.actions
        self._counters = state.counters
        self._speaker = speaker
        self._requests = requests if requests is not None else VideoRequests(state)
        self._pauses = pauses
        self._recording = recording
        self._probes = probes
        self.next_run = 0.0
        self._wake = state.wake
        # Per subscriber: the held-back switches whose keyframe is still to be asked for, in
        # order (see the module's docstring), and when the last one was asked.
        self._keyframes_due: dict[str, list[Publication]] = {}
        self._keyframe_asked: dict[str, float] = {}

    def run_soon(self) -> None:
        """A subscriber's estimate fell: allocate at the session task's next turn (a session
        without simulcast, every 1:1 call, has nothing to allocate and is not woken)."""
        if self.next_run > 0.0 and self.deadline() is not None:
            self.next_run = 0.0
            self._wake()

    def deadline(self) -> float | None:
        """When :meth:`run` is due; ``None`` while nobody publishes simulcast (a session without
        it, every 1:1 call, is not woken for it)."""
        if any(p.forwarder.simulcast for p in self._table.publications()):
            return self.next_run
        return None

    def run(self, now: float) -> None:
        if now < self.next_run:
            return
        self.next_run = now + ALLOCATION_INTERVAL
        speaker = self._speaker()
        wanted: dict[int, set[int]] = {}  # id(publication) -> layers given to someone
        for sid in [sid for sid in self._keyframes_due if sid not in self._participants]:
            del self._keyframes_due[sid]
            self._keyframe_asked.pop(sid, None)
        for subscriber in list(self._participants.values()):
            self._allocate(now, subscriber, speaker, wanted)
        for sid, due in self._keyframes_due.items():
            if due:  # the next held-back keyframe is asked for on time, not at the next turn
                self.next_run = min(self.next_run, self._keyframe_asked[sid] + KEYFRAME_SPACING)
        self._update_pauses(now, wanted)

    def _update_pauses(self, now: float, wanted: dict[int, set[int]]) -> None:
        if self._pauses is None:
            return
        recording = self._recording()
        for publication in self._table.publications():
            forwarder = publication.forwarder
            if not forwarder.simulcast or not _warm(now, forwarder) or not _heard(now, forwarder):
                continue  # a silent publisher (its path died, restarting) is not judged
            layers = wanted.get(id(publication), set())
            if recording:
                layers.add(self._video(now, publication, "", None).order[-1])
            self._pauses.update(now, publication, layers)
        self._pauses.prune()

    def _allocate(
        self,
        now: float,
        subscriber: MediaParticipant,
        speaker: str | None,
        wanted: dict[int, set[int]],
    ) -> None:
        feeding = self._table.feeding(subscriber.sid)
        simulcast = [
            p
            for p in feeding
            if p.forwarder.simulcast
            and _warm(now, p.forwarder)
            and self._requests.max_height(subscriber.sid, p) != OFF
        ]
        due = self._keyframes_due.setdefault(subscriber.sid, [])
        spaced = now - self._keyframe_asked.get(subscriber.sid, float("-inf")) >= KEYFRAME_SPACING
        if spaced and self._ask_next_keyframe(now, subscriber.sid, due):
            spaced = False
        if not simulcast:
            return
        estimate = subscriber.estimator.estimate if subscriber.estimator is not None else None
        budget = None
        audios = sum(1 for p in feeding if p.line.kind == "audio")
        if estimate is not None:
            budget = max(0, int(estimate * VIDEO_HEADROOM) - audios * AUDIO_RESERVE_BPS)
        videos = [self._video(now, p, subscriber.sid, speaker) for p in simulcast]
        chosen = allocate(budget, videos)
        # The active speaker's switch first: its keyframe is the one asked for at once.
        for k in sorted(range(len(videos)), key=lambda k: videos[k].priority):
            publication, video, layer = simulcast[k], videos[k], chosen[k]
            forwarder = publication.forwarder
            # Wanted: the layer it gets, and the largest its request allows — a downlink that
            # is short for a while pauses nothing (the layer is back as soon as it fits).
            wanted.setdefault(id(publication), set()).update((layer, allocate(None, [video])[0]))
            if layer != video.current:
                hold = _beyond_budget(budget, video, forwarder.layer_of(subscriber.sid))
                at_once = not hold or spaced  # spaced: nothing is due (asked above)
                actions = forwarder.select_layer(
                    now, subscriber.sid, layer, hold=hold, keyframe=at_once
                )
                if hold and at_once:
                    spaced = False
                    self._keyframe_asked[subscriber.sid] = now
                elif hold:
                    due.append(publication)
                self._counters["simulcast-layer-switches"] += 1
                self._actions.send(publication, actions)
        forwarders = [p.forwarder for p in simulcast]
        ladders = _limit_temporal(subscriber.sid, budget, forwarders, videos, chosen)
        if self._probes is not None and budget is not None:
            # What every layer asked needs (the temporal layers come with the largest spatial
            # ones), in the estimate's terms: the audio is set aside from it first (see above).
            need = upgrade_need(budget, videos)
            if need is None:
                need = temporal_need(budget, ladders)
            goal = None
            if need is not None:
                goal = int((need + audios * AUDIO_RESERVE_BPS) / VIDEO_HEADROOM)
            self._probes.want(now, subscriber, goal)

    def _ask_next_keyframe(self, now: float, sid: str, due: list[Publication]) -> bool:
        """Ask for the next keyframe a held-back switch of ``sid`` still waits for (one whose
        switch was cancelled or completed since is passed over); True if one was asked."""
        while due:
            publication = due.pop(0)
            actions = publication.forwarder.request_switch_keyframe(now, sid)
            if actions:
                self._actions.send(publication, actions)
                self._keyframe_asked[sid] = now
                return True
        return False

    def _video(
        self, now: float, publication: Publication, sid: str, speaker: str | None
    ) -> VideoLayers:
        forwarder: Forwarder = publication.forwarder
        layer, target = forwarder.layer_of(sid) if sid else (0, -1)
        pauses = self._pauses.of(now, publication) if self._pauses is not None else None
        bitrates: list[int] = []
        ranks: list[tuple[int, int]] = []
        heights: list[int] = []
        for x in forwarder.layers:
            stats = x.stats
            measured = stats.current_bitrate(now) if stats is not None else 0
            bitrates.append(
                pauses.bitrate(now, x.index, measured) if pauses is not None else measured
            )
            ranks.append(stats.rank() if stats is not None else (0, 0))
            heights.append(stats.height if stats is not None else 0)
        order = tuple(sorted(range(len(ranks)), key=lambda i: ranks[i]))
        owner = self._participants.get(publication.owner)
        first = owner is not None and owner.participant_id == speaker
        return VideoLayers(
            tuple(bitrates),
            order,
            target if target >= 0 else layer,
            0 if first else 1,
            tuple(heights),
            self._requests.max_height(sid, publication) if sid else None,
        )


def _beyond_budget(budget: int | None, video: VideoLayers, layers: tuple[int, int]) -> bool:
    """Does the layer forwarded now (``layers[0]``) alone take more than the subscriber's whole
    budget? Then its downlink cannot carry it (a limit that just appeared): it is held back
    until the smaller layer's keyframe, which would otherwise queue behind it and be lost
    (in the lab, a 400 kbit/s cut under two 1.4 Mbit/s layers froze a video for 3 s)."""
    return budget is not None and video.bitrates[layers[0]] > budget


def _limit_temporal(
    sid: str,
    budget: int | None,
    forwarders: list[Forwarder],
    videos: list[VideoLayers],
    chosen: list[int],
) -> list[TemporalLayers]:
    """The temporal layers each video's chosen layer keeps (:mod:`.temporal_allocation`): all
    of them unless even the smallest layers overrun the budget. Returns the ladders used."""
    ladders: list[TemporalLayers] = []
    for forwarder, video, layer in zip(forwarders, videos, chosen, strict=True):
        stats = forwarder.layers[layer].stats
        rates = tuple(stats.temporal_bitrate(t) for t in range(TEMPORAL_LAYERS)) if stats else (0,)
        ladders.append(TemporalLayers(rates, forwarder.temporal_of(sid)[1], video.priority))
    for forwarder, highest in zip(forwarders, temporal_limits(budget, ladders), strict=True):
        forwarder.select_temporal(sid, highest)
    return ladders


def _heard(now: float, forwarder: Forwarder) -> bool:
    """Is any layer of the track being sent now?"""
    return any(x.stats is not None and x.stats.active(now) for x in forwarder.layers)


def _warm(now: float, forwarder: Forwarder) -> bool:
    """Has the track been heard for :data:`WARM_UP`?"""
    starts = [x.stats.first_packet for x in forwarder.layers if x.stats is not None]
    heard = [t for t in starts if t >= 0]
    return bool(heard) and now - min(heard) >= WARM_UP
