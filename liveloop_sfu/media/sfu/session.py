"""Media of one room through the node: every browser peers with the node, which forwards RTP.

:class:`SfuSession` implements :class:`~liveloop_sfu.media.session.MediaSession`. It owns one
:class:`~liveloop_sfu.media.transport.peer.NodePeer` per participant and one
:class:`~liveloop_sfu.media.core.forwarder.Forwarder` per published track, wires publisher
tracks to subscriber m-lines, and drives every timer of the room (keyframe retries, upstream
NACKs, sender reports, connect deadlines) from ONE task, aioquic style: handle what is due,
re-arm one wake-up at the earliest next deadline.
Its records and the bookkeeping of which publisher track is linked to which subscriber m-line
live in :mod:`.links` (plain state, no coroutines); each other responsibility is a small class
of its own that the session composes (sharing :class:`~.state.SessionState`) and its task
drives: :mod:`.peers` (each participant's connection, ICE restart, connect and silence
deadlines), :mod:`.actions` (what the forwarders decide, sent), :mod:`.feedback`
(participants' RTCP, sender and receiver reports), :mod:`.transport_cc` (transport-wide
feedback to publishers), :mod:`.renegotiation` (slot plans,
``renegotiate``), :mod:`.speaker_announcer` (``active-speaker``). The per-packet path is
compiled (:mod:`.dispatch.rtp_path`). This module is the use of them: the
:class:`~liveloop_sfu.media.session.MediaSession` API and the one task.

Negotiation (DESIGN: in sfu the browser always offers, the node answers): every m-line a browser
can receive on is a *slot*; :func:`~.slots.assign_slots` decides which other participant's track
each slot carries (stable across renegotiations) and the answer labels it with the msid
``<owner participantId> <owner's track id>``. In a 1:1 call each browser offers sendrecv audio +
video, so each m-line both publishes the browser's own track and receives the partner's — even
before the partner has offered (a placeholder slot, see :mod:`.slots`), so no renegotiation is
ever needed in 1:1.

Group rooms (``group=True``, see :mod:`liveloop_sfu.rooms.groups`): no placeholders; whenever a
participant's published tracks change (its first offer, a screen share started or stopped) or a
participant leaves, everyone else who has negotiated gets ``renegotiate`` so its next offer
receives (or releases) those tracks; and the audio levels of the publishers' packets (RFC 6464)
drive ``active-speaker`` events (:mod:`.active_speaker`, :mod:`.speaker_announcer`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from liveloop_sfu.errors import InvalidPayload, NotInRoom
from liveloop_sfu.media.core.drops import DropCounters
from liveloop_sfu.media.core.forwarder import Forwarder
from liveloop_sfu.media.session import Emit, MediaFailure, QualitySink
from liveloop_sfu.media.settings import MediaSettings
from liveloop_sfu.media.sfu.actions import ActionSender
from liveloop_sfu.media.sfu.active_speaker import ActiveSpeakerDetector
from liveloop_sfu.media.sfu.dispatch.rtp_path import RtpPath
from liveloop_sfu.media.sfu.encoding_pauses import EncodingPauses
from liveloop_sfu.media.sfu.feedback import FeedbackRelay
from liveloop_sfu.media.sfu.ice_restart import is_ice_restart
from liveloop_sfu.media.sfu.links import (
    LinkTable,
    MediaParticipant,
    learn_ssrc,
    published_tracks,
    tracks_of,
)
from liveloop_sfu.media.sfu.peers import PeerLifecycle
from liveloop_sfu.media.sfu.probes import BandwidthProbes
from liveloop_sfu.media.sfu.renegotiation import Renegotiation
from liveloop_sfu.media.sfu.simulcast_allocator import LayerAllocator
from liveloop_sfu.media.sfu.slots import OfferedTrack
from liveloop_sfu.media.sfu.speaker_announcer import SpeakerAnnouncer
from liveloop_sfu.media.sfu.state import SessionState
from liveloop_sfu.media.sfu.transport_cc import TransportCcFeedback
from liveloop_sfu.media.sfu.video_requests import VideoRequests
from liveloop_sfu.modes import CallMode

if TYPE_CHECKING:
    from liveloop_sfu.media.recording.recorder import RecorderTap

__all__ = ["SfuSession"]


class SfuSession:
    """All media of one room on this node. Every public coroutine is safe to call in any order;
    ``close`` is idempotent and cascades to every participant."""

    mode: CallMode = "sfu"

    def __init__(
        self,
        room_id: str,
        settings: MediaSettings,
        emit: Emit,
        on_failure: MediaFailure,
        *,
        group: bool = False,
    ) -> None:
        self.room_id = room_id
        self.group = group
        self._settings = settings
        self._emit = emit
        self._on_failure = on_failure
        self._participants: dict[str, MediaParticipant] = {}
        self._wake = asyncio.Event()
        self._armed = 0.0  # when the session task wakes up next (monotonic)
        self._closed = False
        self._task: asyncio.Task[None] | None = None
        self.counters: Counter[str] = Counter()
        participants, counters, wake = self._participants, self.counters, self._wake.set
        self._actions = ActionSender(participants, counters, wake)
        # Who forwards what to whom (media/sfu/links.py), over the same participants.
        self._table = LinkTable(participants, self._actions.queue, audio_levels=group)
        state = SessionState(room_id, participants, self._table, self._actions, counters, wake)
        self._feedback = FeedbackRelay(state, self._rearm, emit)
        self._transport_cc = TransportCcFeedback(state)
        self._renegotiation = Renegotiation(state, emit, group=group)
        detector = ActiveSpeakerDetector() if group else None
        self._speakers = SpeakerAnnouncer(state, detector, emit)
        # What each subscriber asked to be sent (set-video-quality), and the simulcast layers
        # paused at their publishers because nobody is given them (set-video-layers).
        self._requests = VideoRequests(state)
        self._pauses = EncodingPauses(state, emit)
        # Subscribers held below what they asked for: padding probes of their downlinks.
        self._probes = BandwidthProbes(state)
        self._feedback.probes = self._probes
        # Simulcast videos: each subscriber's layers from its downlink estimate, every ~100 ms.
        self._layers = LayerAllocator(
            state,
            lambda: detector.speaker if detector else None,
            self._requests,
            self._pauses,
            recording=lambda: self._feedback.recorder is not None,
            probes=self._probes,
        )
        self._feedback.bandwidth.on_fall = self._layers.run_soon
        # The per-packet path (compiled, dispatch/rtp_path.py), on this session's own records.
        self._rtp_path = RtpPath(
            participants, counters, learn_ssrc, self._speakers.on_audio_level, self._rearm
        )
        self._peers = PeerLifecycle(
            state,
            settings,
            on_failure,
            on_rtp=self._rtp_path.on_rtp,
            on_rtcp=self._feedback.on_rtcp,
        )

    # -- MediaSession ----------------------------------------------------------------------------

    async def add_participant(self, sid: str, participant_id: str) -> None:
        if self._closed or sid in self._participants:
            return
        participant = self._peers.create(sid, participant_id)
        self._participants[sid] = participant
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
        await self._speakers.greet(sid)
        if not self.group:
            # Whoever already negotiated needs m-lines for the newcomer's (placeholder) tracks,
            # and only a new offer from the browser can add them (the node never offers). In a
            # 1:1 call both participants are added before either offers: this never fires there.
            # Group rooms ask once the newcomer's real tracks are known (on_offer).
            await self._renegotiation.ask_others(participant, "participant-joined")

    async def on_offer(self, sid: str, sdp: str) -> None:
        participant = self._member(sid)
        restarted = is_ice_restart(participant.peer.remote_sdp, sdp)
        tracks_before = published_tracks(participant)
        if restarted:
            participant.restarting = tracks_of(participant)
            await self._restart_peer(participant)
        first_offer = not participant.peer.media and not restarted
        assigned: dict[str, OfferedTrack] = {}
        try:
            plan = self._renegotiation.send_plan(participant, assigned)
            answer = await participant.peer.answer(sdp, plan)
        finally:
            participant.restarting = None
        if self._participants.get(sid) is not participant:
            raise NotInRoom("left the call while the node was answering")
        self._peers.answered(participant)
        participant.slots = {mid: track.ref for mid, track in assigned.items()}
        published = self._table.publish(participant)
        self._transport_cc.configure(participant)
        if restarted:
            # The restart rebuilt every publication, but the others' slots still carry the same
            # tracks (a browser's restartIce() keeps them): the links link_all makes below
            # continue their streams, so only new or gone tracks need their new offers.
            published = published_tracks(participant) != tracks_before
        now = time.monotonic()
        self._table.unlink_stale(participant)
        self._table.link_all(now, answered=participant)
        self._requests.apply(now)  # a new link starts unpaused: a video asked off stays off
        self._wake.set()
        await self._emit(sid, "negotiation-call-answer", {"sdp": {"type": "answer", "sdp": answer}})
        if self.group and published:
            reason = "participant-joined" if first_offer else "tracks-changed"
            await self._renegotiation.ask_others(participant, reason)

    async def on_answer(self, sid: str, sdp: str) -> None:
        self._member(sid)
        raise InvalidPayload("the node never makes offers: there is nothing to answer")

    async def on_candidate(self, sid: str, candidate: Mapping[str, Any] | None) -> None:
        await self._member(sid).peer.add_candidate(candidate)

    def hold(self, sid: str) -> None:
        participant = self._participants.get(sid)
        if participant is not None:
            self._peers.hold(participant)

    def release(self, sid: str) -> None:
        participant = self._participants.get(sid)
        if participant is not None and participant.held:
            self._peers.release(participant)

    def media_lost(self, sid: str) -> bool:
        participant = self._participants.get(sid)
        return participant is not None and not participant.held and not participant.connected

    def last_heard(self, sid: str) -> float | None:
        participant = self._participants.get(sid)
        return (
            participant.last_heard if participant is not None and participant.last_heard else None
        )

    def set_video_quality(
        self, sid: str, participant_id: str, track_id: str, max_height: int
    ) -> None:
        self._requests.set(time.monotonic(), sid, participant_id, track_id, max_height)
        self._wake.set()  # the allocation takes it into account at its next run

    def video_layers(self, sid: str) -> list[dict[str, Any]]:
        self._member(sid)
        return self._requests.layers(sid)

    async def remove_participant(self, sid: str) -> None:
        participant = self._participants.get(sid)
        if participant is None:
            return
        # Unlink while still registered, so the subscribers keep their output streams (the next
        # track on the same slot continues them).
        self._table.unlink_participant(sid)
        del self._participants[sid]
        self._feedback.bandwidth.forget(sid)
        self._probes.forget(sid)
        self._requests.forget(sid)
        for publication in participant.publications.values():
            self._table.retire(publication.forwarder)
        self._speakers.remove(participant.participant_id)
        await participant.peer.close()
        if self.group and not self._closed:
            # The others' slots that carried its tracks go free with their next offer (the
            # answer makes them inactive, so the browsers end those tracks).
            await self._renegotiation.ask_others(participant, "participant-left")

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = self._peers.closed = True
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for sid in list(self._participants):
            await self.remove_participant(sid)
        self._peers.events.clear()
        self._table.starting.clear()

    # -- recording hook (media/recording/recorder.py: Recordable) ------------------------------

    def attach_recorder(self, recorder: RecorderTap | None) -> None:
        """Feed every published RTP packet (RTX included) and participant RTCP to ``recorder``
        as well; ``None`` detaches it."""
        self._feedback.recorder = self._rtp_path.recorder = recorder

    def request_keyframe(self, sid: str, mid: str) -> None:
        """Ask the publisher of ``sid``'s track on ``mid`` for a keyframe, merged with every
        other request for it (the forwarder's keyframe-request manager throttles and retries)."""
        self._feedback.request_keyframe(sid, mid)

    # -- observability ---------------------------------------------------------------------------

    @property
    def forwarded_streams(self) -> int:
        """Publisher-track -> subscriber links (what capacity is counted in)."""
        return len(self._table.links)

    @property
    def drops(self) -> DropCounters:
        """Dropped packets by reason, over every track this session ever forwarded."""
        return self._table.drops()

    def report_quality(self, sink: QualitySink) -> None:
        """Hand every RTCP report block of this session to ``sink`` (call-quality metrics)."""
        self._feedback.quality = sink

    def metrics(self) -> dict[str, int]:
        """Flat counters for /metrics and /api/status: ``forwarded-packets``, ``forwarded-bytes``,
        ``rtcp-out-<kind>``, ``keyframe-request:<reason>``, ``retransmitted``, ``failures``... plus
        ``drop:<reason>`` for every dropped packet, ``srtp-errors``, and two gauges:
        ``forwarded-streams`` and ``simulcast-paused-layers``."""
        out = dict(self.counters)
        out.update({f"drop:{reason}": count for reason, count in self.drops.as_labels().items()})
        out["forwarded-streams"] = self.forwarded_streams
        out["simulcast-paused-layers"] = self._pauses.count
        # Datagrams that looked like SRTP but failed authentication (forged, replayed, garbage).
        out["srtp-errors"] = sum(p.peer.srtp_errors for p in self._participants.values())
        return out

    def take_estimate_samples(self) -> list[tuple[str, int]]:
        """Bandwidth samples since the last call, for the /metrics histograms: once a second,
        ``("publisher", bit/s)`` per published video track (the target the node last sent it)
        and ``("subscriber", bit/s)`` per subscriber connection whose estimate is a limit."""
        return self._feedback.bandwidth.take_samples()

    # -- internals -------------------------------------------------------------------------------

    def _member(self, sid: str) -> MediaParticipant:
        participant = self._participants.get(sid)
        if participant is None or self._closed:
            raise NotInRoom("not a participant of this call")
        return participant

    async def _restart_peer(self, participant: MediaParticipant) -> None:
        """Answer an ICE restart with a new connection (:meth:`.PeerLifecycle.restart`)."""
        await self._peers.restart(participant)

    def _rearm(self, forwarder: Forwarder) -> None:
        """A forwarder's earliest deadline may have moved (e.g. a loss was just seen: its
        upstream NACK is due in 10 ms): wake the session task if it now sleeps too long. Asked
        only when the forwarder says so, never per packet."""
        forwarder.timer_changed = False
        timer = forwarder.get_timer()
        if timer is not None and timer < self._armed:
            self._wake.set()

    # -- the session task ------------------------------------------------------------------------

    async def _run(self) -> None:
        """The one task of the session: everything time-driven happens here."""
        while not self._closed:
            now = time.monotonic()
            await self._tick(now)
            now = time.monotonic()
            delay = self._next_deadline(now)
            self._armed = now + delay
            self._wake.clear()
            busy = self._actions.pending or self._speakers.pending or self._pauses.pending
            if self._peers.events or busy:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    async def _tick(self, now: float) -> None:
        await self._peers.handle_events(now)
        self._renegotiation.start_due(now)
        await self._speakers.announce()
        await self._pauses.announce()
        for publication, actions in self._actions.take():
            if self._closed:
                return
            self._actions.send(publication, actions)
        for publication in self._table.publications():
            timer = publication.forwarder.get_timer()
            if timer is not None and timer <= now:
                self._actions.send(publication, publication.forwarder.handle_timer(now))
        self._transport_cc.send_due(now)
        self._layers.run(now)
        self._probes.run(now)
        await self._feedback.send_reports(now)
        await self._peers.check_deadlines(now)

    def _next_deadline(self, now: float) -> float:
        deadlines = [self._feedback.next_reports, *self._renegotiation.deadlines()]
        deadlines += self._peers.deadlines()
        transport_cc = self._transport_cc.deadline()
        if transport_cc is not None:
            deadlines.append(transport_cc)
        layers = self._layers.deadline()
        if layers is not None:
            deadlines.append(layers)
        probes = self._probes.deadline()
        if probes is not None:
            deadlines.append(probes)
        for publication in self._table.publications():
            timer = publication.forwarder.get_timer()
            if timer is not None:
                deadlines.append(timer)
        return max(0.0, min(deadlines) - now)
