"""Media of one room through the node: every browser peers with the node, which forwards RTP.

:class:`SfuSession` implements :class:`~liveloop_sfu.media.session.MediaSession`. It owns one
:class:`~.aiortc_adapter.NodePeer` per participant and one :class:`~.forwarder.Forwarder` per
published track, wires publisher tracks to subscriber m-lines, and drives every timer of the room
(keyframe retries, upstream NACKs, sender reports, connect deadlines) from ONE task, aioquic style:
handle what is due, re-arm one wake-up at the earliest next deadline.
Its records and the bookkeeping of which publisher track is linked to which subscriber m-line
live in :mod:`.sfu_links` (plain state, no coroutines); this module is the coroutines.

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
drive ``active-speaker`` events (:mod:`.active_speaker`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from liveloop_sfu.errors import InvalidPayload, NotInRoom
from liveloop_sfu.media.core.drops import DropCounters
from liveloop_sfu.media.core.forwarder import Action, Forwarder, SendToPublisher
from liveloop_sfu.media.core.rtp import RtpParseError, SenderReport, build_rr, parse_rtcp
from liveloop_sfu.media.session import Emit, MediaFailure, Mode
from liveloop_sfu.media.settings import MediaSettings
from liveloop_sfu.media.sfu.active_speaker import (
    ActiveSpeakerDetector,
    read_audio_level,
)
from liveloop_sfu.media.sfu.dispatch.rtp_path import RtpPath
from liveloop_sfu.media.sfu.ice_restart import is_ice_restart
from liveloop_sfu.media.sfu.links import (
    LinkTable,
    Participant,
    Publication,
    learn_ssrc,
    offered_tracks,
    published_tracks,
    tracks_of,
)
from liveloop_sfu.media.sfu.slots import OfferedTrack, assign_slots
from liveloop_sfu.media.transport.peer import NodePeer, SendPlan

if TYPE_CHECKING:
    from liveloop_sfu.media.recording.recorder import RecorderTap

logger = logging.getLogger(__name__)

SENDER_REPORT_INTERVAL = 1.0  # seconds; RFC 3550 §6.2 minimum for a small session is 5 s, but
# libwebrtc sends ~1/s for video and uses SRs for A/V sync, so a call's first second matters.


class SfuSession:
    """All media of one room on this node. Every public coroutine is safe to call in any order;
    ``close`` is idempotent and cascades to every participant."""

    mode: Mode = "sfu"

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
        self._speakers = ActiveSpeakerDetector() if group else None
        self._speaker_to_announce: str | None = None
        self._settings = settings
        self._emit = emit
        self._on_failure = on_failure
        self._participants: dict[str, Participant] = {}
        # Who forwards what to whom (media/sfu/links.py), over the same participants.
        self._table = LinkTable(self._participants, self._execute, audio_levels=group)
        # (sid, peer, connection state) from the peers; a replaced peer's events are stale.
        self._events: list[tuple[str, NodePeer, str]] = []
        self._pending: list[tuple[Publication, list[Action]]] = []  # actions to send
        self._wake = asyncio.Event()
        self._armed = 0.0  # when the session task wakes up next (monotonic)
        self._next_sender_reports = 0.0
        self._closed = False
        self._task: asyncio.Task[None] | None = None
        self.counters: Counter[str] = Counter()
        self._recorder: RecorderTap | None = None  # recording hook (media/recording/recorder.py)
        # The per-packet path (compiled, dispatch/rtp_path.py), on this session's own records.
        self._rtp_path = RtpPath(
            self._participants,
            self.counters,
            learn_ssrc,
            self._on_audio_level,
            self._rearm,
        )

    # -- MediaSession ----------------------------------------------------------------------------

    async def add_participant(self, sid: str, participant_id: str) -> None:
        if self._closed or sid in self._participants:
            return
        peer = NodePeer(self._settings, label=f"{self.room_id}/{participant_id}")
        participant = Participant(sid, participant_id, peer)
        self._attach(participant)
        self._participants[sid] = participant
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
        if self._speakers is not None and self._speakers.speaker is not None:
            # A newcomer learns who is speaking now rather than at the next change.
            await self._emit(sid, "active-speaker", {"participantId": self._speakers.speaker})
        if not self.group:
            # Whoever already negotiated needs m-lines for the newcomer's (placeholder) tracks,
            # and only a new offer from the browser can add them (the node never offers). In a
            # 1:1 call both participants are added before either offers: this never fires there.
            # Group rooms ask once the newcomer's real tracks are known (on_offer).
            await self._ask_others_to_renegotiate(participant, "participant-joined")

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
            answer = await participant.peer.answer(sdp, self._send_plan(participant, assigned))
        finally:
            participant.restarting = None
        if self._participants.get(sid) is not participant:
            raise NotInRoom("left the call while the node was answering")
        if participant.deadline is None:
            participant.deadline = time.monotonic() + self._settings.connect_timeout
        participant.slots = {mid: track.ref for mid, track in assigned.items()}
        published = self._table.publish(participant)
        if restarted:
            # The restart rebuilt every publication, but the others' slots still carry the same
            # tracks (a browser's restartIce() keeps them): the links link_all makes below
            # continue their streams, so only new or gone tracks need their new offers.
            published = published_tracks(participant) != tracks_before
        now = time.monotonic()
        self._table.unlink_stale(participant)
        self._table.link_all(now, answered=participant)
        self._wake.set()
        await self._emit(sid, "negotiation-call-answer", {"sdp": {"type": "answer", "sdp": answer}})
        if self.group and published:
            reason = "participant-joined" if first_offer else "tracks-changed"
            await self._ask_others_to_renegotiate(participant, reason)

    async def on_answer(self, sid: str, sdp: str) -> None:
        self._member(sid)
        raise InvalidPayload("the node never makes offers: there is nothing to answer")

    async def on_candidate(self, sid: str, candidate: Mapping[str, Any] | None) -> None:
        await self._member(sid).peer.add_candidate(candidate)

    def hold(self, sid: str) -> None:
        participant = self._participants.get(sid)
        if participant is not None:
            participant.held = True

    def release(self, sid: str) -> None:
        participant = self._participants.get(sid)
        if participant is None or not participant.held:
            return
        participant.held = False
        # The media gets a whole timeout from now to come back (the old path may still work),
        # or for the browser's ICE restart offer to arrive (on_offer then sets a new deadline).
        now = time.monotonic()
        participant.last_heard = max(participant.last_heard, now)
        if participant.deadline is not None:
            participant.deadline = max(participant.deadline, now + self._settings.connect_timeout)
        self._wake.set()

    async def remove_participant(self, sid: str) -> None:
        participant = self._participants.get(sid)
        if participant is None:
            return
        # Unlink while still registered, so the subscribers keep their output streams (the next
        # track on the same slot continues them).
        self._table.unlink_participant(sid)
        del self._participants[sid]
        for publication in participant.publications.values():
            self._table.retire(publication.forwarder)
        if self._speakers is not None:
            self._speakers.remove(participant.participant_id)
        await participant.peer.close()
        if self.group and not self._closed:
            # The others' slots that carried its tracks go free with their next offer (the
            # answer makes them inactive, so the browsers end those tracks).
            await self._ask_others_to_renegotiate(participant, "participant-left")

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for sid in list(self._participants):
            await self.remove_participant(sid)
        self._events.clear()
        self._table.starting.clear()

    # -- recording hook (media/recording/recorder.py: Recordable) ------------------------------

    def attach_recorder(self, recorder: RecorderTap | None) -> None:
        """Feed every published RTP packet (RTX included) and participant RTCP to ``recorder``
        as well; ``None`` detaches it."""
        self._recorder = self._rtp_path.recorder = recorder

    def request_keyframe(self, sid: str, mid: str) -> None:
        """Ask the publisher of ``sid``'s track on ``mid`` for a keyframe, merged with every
        other request for it (the forwarder's keyframe-request manager throttles and retries)."""
        participant = self._participants.get(sid)
        publication = participant.publications.get(mid) if participant else None
        if publication is not None:
            self._execute(publication, publication.forwarder.request_keyframe(time.monotonic()))

    # -- observability ---------------------------------------------------------------------------

    @property
    def forwarded_streams(self) -> int:
        """Publisher-track -> subscriber links (what capacity is counted in)."""
        return len(self._table.links)

    @property
    def drops(self) -> DropCounters:
        """Dropped packets by reason, over every track this session ever forwarded."""
        return self._table.drops()

    def metrics(self) -> dict[str, int]:
        """Flat counters for /metrics and /api/status: ``forwarded-packets``, ``forwarded-bytes``,
        ``rtcp-out-<kind>``, ``retransmitted``, ``failures``... plus ``drop:<reason>`` for every
        dropped packet, ``forwarded-streams`` and ``srtp-errors``."""
        out = dict(self.counters)
        out.update({f"drop:{reason}": count for reason, count in self.drops.as_labels().items()})
        out["forwarded-streams"] = self.forwarded_streams
        # Datagrams that looked like SRTP but failed authentication (forged, replayed, garbage).
        out["srtp-errors"] = sum(p.peer.srtp_errors for p in self._participants.values())
        return out

    # -- negotiation -----------------------------------------------------------------------------

    def _member(self, sid: str) -> Participant:
        participant = self._participants.get(sid)
        if participant is None or self._closed:
            raise NotInRoom("not a participant of this call")
        return participant

    def _attach(self, participant: Participant) -> None:
        """Route the participant's current peer's packets and state changes to this session."""
        peer = participant.peer
        # partial, not a lambda: one Python frame less per packet
        peer.on_rtp = functools.partial(self._rtp_path.on_rtp, participant)
        peer.on_rtcp = functools.partial(self._on_rtcp, participant)
        peer.on_state = functools.partial(self._on_peer_state, participant.sid, peer)

    async def _restart_peer(self, participant: Participant) -> None:
        """Answer an ICE restart with a new connection (aiortc cannot restart ICE on one; see
        media/sfu/ice_restart.py). Its links end as when it leaves, so every output stream — the
        others', and its own, which the new connection sends with the old SSRCs — is kept in
        ``retired`` and continued by the links the answer makes: same SSRC, sequence numbers
        without a step back, a keyframe first (the forwarder's source switch). Its publications
        start again from the new connection's packets."""
        self._table.unpublish(participant)
        old = participant.peer
        # The same SSRCs towards the browser: a browser that kept its RTCPeerConnection
        # (restartIce) keeps its receive streams, which the retired subscriptions continue.
        ssrcs = {line.mid: (line.local_ssrc, line.local_rtx_ssrc) for line in old.media}
        participant.peer = NodePeer(self._settings, label=old.label, sender_ssrcs=ssrcs)
        self._attach(participant)
        participant.connected = False
        # The new connection's connect deadline, from now: also if this offer turns out unusable.
        participant.deadline = time.monotonic() + self._settings.connect_timeout
        self.counters["ice-restarts"] += 1
        logger.info("room %s: %s restarts ICE", self.room_id, participant.participant_id)
        await old.close()

    async def _ask_others_to_renegotiate(self, participant: Participant, reason: str) -> None:
        for other in [p for p in self._participants.values() if p is not participant]:
            if other.peer.media:
                await self._emit(other.sid, "renegotiate", {"reason": reason})

    def _send_plan(self, participant: Participant, assigned: dict[str, OfferedTrack]) -> SendPlan:
        """The adapter's slots -> msid labels; what was assigned is recorded in ``assigned``."""

        def plan(slots: Sequence[tuple[str, str]]) -> dict[str, tuple[str, str]]:
            tracks = offered_tracks(self._participants, participant, self.group)
            assigned.update(assign_slots(slots, participant.slots, tracks))
            return {mid: (t.stream_id, t.track_id) for mid, t in assigned.items()}

        return plan

    def _rearm(self, forwarder: Forwarder) -> None:
        """A forwarder's earliest deadline may have moved (e.g. a loss was just seen: its
        upstream NACK is due in 10 ms): wake the session task if it now sleeps too long. Asked
        only when the forwarder says so, never per packet."""
        forwarder.timer_changed = False
        timer = forwarder.get_timer()
        if timer is not None and timer < self._armed:
            self._wake.set()

    def _on_audio_level(self, publisher: Participant, ext_id: int, data: bytes, now: float) -> None:
        level = read_audio_level(data, ext_id)
        if level is None or self._speakers is None:
            return
        speaker = self._speakers.on_level(now, publisher.participant_id, level)
        if speaker is not None:
            # Announced by the session task: the packet path does not wait on signaling.
            self._speaker_to_announce = speaker
            self._wake.set()

    async def _announce_speaker(self) -> None:
        speaker, self._speaker_to_announce = self._speaker_to_announce, None
        if speaker is None:
            return
        self.counters["active-speaker-changes"] += 1
        for participant in list(self._participants.values()):
            await self._emit(participant.sid, "active-speaker", {"participantId": speaker})

    def _on_rtcp(self, sender: Participant, data: bytes, now: float) -> None:
        sender.last_heard = now
        try:
            packets = parse_rtcp(data)
        except RtpParseError:
            self.counters["rtcp-malformed"] += 1
            return
        self.counters["rtcp-in"] += 1
        if self._recorder is not None:
            self._recorder.on_rtcp(sender.sid, packets, now)
        for own in sender.publications.values():
            own.forwarder.on_publisher_rtcp(now, packets)
            for packet in packets:
                if isinstance(packet, SenderReport):
                    own.reception.on_sender_report(now, packet.ssrc, packet.ntp)
        for publication in self._table.feeding(sender.sid):
            actions = publication.forwarder.on_subscriber_rtcp(now, sender.sid, packets)
            self._act(publication, actions)
            if publication.forwarder.timer_changed:
                self._rearm(publication.forwarder)

    def _execute(self, publication: Publication, actions: list[Action]) -> None:
        """Queue actions produced outside a coroutine; the session task sends them."""
        if actions:
            self._pending.append((publication, actions))
            self._wake.set()

    async def _send_actions(self, publication: Publication, actions: list[Action]) -> None:
        self._act(publication, actions)

    def _act(self, publication: Publication, actions: list[Action]) -> None:
        """Send what the forwarder decided (synchronous: sends never wait)."""
        for action in actions:
            if isinstance(action, SendToPublisher):
                target = self._participants.get(publication.owner)
                self.counters[f"rtcp-out-{action.kind}"] += 1
            else:
                target = self._participants.get(action.subscriber_id)
                self.counters["retransmitted"] += 1
            if target is not None:
                target.peer.send_now(action.packet)

    # -- the session task ------------------------------------------------------------------------

    def _on_peer_state(self, sid: str, peer: NodePeer, state: str) -> None:
        self._events.append((sid, peer, state))
        self._wake.set()

    async def _run(self) -> None:
        """The one task of the session: everything time-driven happens here."""
        while not self._closed:
            now = time.monotonic()
            await self._tick(now)
            now = time.monotonic()
            delay = self._next_deadline(now)
            self._armed = now + delay
            self._wake.clear()
            if self._events or self._pending or self._speaker_to_announce:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    async def _tick(self, now: float) -> None:
        await self._handle_events(now)
        await self._start_renegotiated(now)
        await self._announce_speaker()
        pending, self._pending = self._pending, []
        for publication, actions in pending:
            if self._closed:
                return
            await self._send_actions(publication, actions)
        for publication in self._table.publications():
            timer = publication.forwarder.get_timer()
            if timer is not None and timer <= now:
                await self._send_actions(publication, publication.forwarder.handle_timer(now))
        if now >= self._next_sender_reports:
            self._next_sender_reports = now + SENDER_REPORT_INTERVAL
            await self._send_sender_reports(now)
            await self._send_receiver_reports(now)
        await self._check_deadlines(now)

    async def _start_renegotiated(self, now: float) -> None:
        due = [entry for entry in self._table.starting if entry[0] <= now]
        if not due:
            return
        self._table.starting = [entry for entry in self._table.starting if entry[0] > now]
        for _, publication, sid in due:
            if sid in publication.forwarder.subscriber_ids:
                actions = publication.forwarder.egress_ready(now, sid)
                await self._send_actions(publication, actions)

    def _next_deadline(self, now: float) -> float:
        deadlines = [self._next_sender_reports] + [entry[0] for entry in self._table.starting]
        watched = [p for p in self._participants.values() if not p.held]
        deadlines += [p.deadline for p in watched if p.deadline and not p.connected]
        deadlines += [p.last_heard + self._settings.media_timeout for p in watched if p.connected]
        for publication in self._table.publications():
            timer = publication.forwarder.get_timer()
            if timer is not None:
                deadlines.append(timer)
        return max(0.0, min(deadlines) - now)

    async def _handle_events(self, now: float) -> None:
        events, self._events = self._events, []
        for sid, peer, state in events:
            participant = self._participants.get(sid)
            if participant is None or participant.peer is not peer:
                continue  # gone, or an event of the connection an ICE restart replaced
            if state == "connected" and not participant.connected:
                participant.connected = True
                participant.last_heard = now
                await self._egress_ready(now, participant)
                for publication in list(participant.publications.values()):
                    actions = publication.forwarder.publisher_ready(now)
                    await self._send_actions(publication, actions)
            elif state == "failed" and participant.held:
                # Its resume may bring an ICE restart: the deadline counts from the resume.
                participant.connected = False
                participant.deadline = now
            elif state == "failed":
                await self._fail(participant, "connection to the node failed")
            else:
                # The browser closed its end (DTLS close_notify): it is hanging up, and its
                # stop-call or disconnect follows on the signaling channel. Not a media failure.
                self.counters["closed-by-peer"] += 1

    async def _egress_ready(self, now: float, subscriber: Participant) -> None:
        """The subscriber's DTLS is up: any keyframe sent before is lost, so ask again now."""
        for publication in self._table.feeding(subscriber.sid):
            actions = publication.forwarder.egress_ready(now, subscriber.sid)
            await self._send_actions(publication, actions)

    async def _send_sender_reports(self, now: float) -> None:
        wallclock = time.time()
        for link in list(self._table.links):
            publication = self._table.publication(link)
            subscriber = self._participants.get(link.subscriber)
            if publication is None or subscriber is None or not subscriber.connected:
                continue
            report = publication.forwarder.sender_report(now, wallclock, link.subscriber)
            if report is not None:
                await subscriber.peer.send(report)

    async def _send_receiver_reports(self, now: float) -> None:
        for participant in list(self._participants.values()):
            if not participant.connected:
                continue
            for publication in list(participant.publications.values()):
                block = publication.reception.report_block(now)
                if block is not None:
                    self.counters["rtcp-out-rr"] += 1
                    await participant.peer.send(build_rr(publication.line.local_ssrc, [block]))

    async def _check_deadlines(self, now: float) -> None:
        for participant in list(self._participants.values()):
            deadline = participant.deadline
            if participant.held:
                continue  # its resume grace decides (liveloop_sfu/rooms/resume.py)
            if not participant.connected and deadline is not None and now >= deadline:
                participant.deadline = None
                await self._fail(participant, "connection to the node timed out")
            elif (
                participant.connected
                and now >= participant.last_heard + self._settings.media_timeout
            ):
                # A vanished browser (network gone, ICE consent lost): end its media now rather
                # than after aioice's 30 s consent expiry. Once: it no longer counts as connected.
                participant.connected = False
                await self._fail(participant, "no media from the browser")

    async def _fail(self, participant: Participant, reason: str) -> None:
        if self._closed or self._participants.get(participant.sid) is not participant:
            return  # closed or removed meanwhile (perhaps by an earlier failure's handler)
        self.counters["failures"] += 1
        participant.deadline = None
        logger.info("room %s: %s: %s", self.room_id, participant.participant_id, reason)
        await self._on_failure(participant.sid, reason)
