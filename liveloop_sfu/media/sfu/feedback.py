"""RTCP between a session's participants and its forwarders: what the participants send in
(feedback of subscribers, sender reports of publishers), and the reports the node owes each side.

:class:`FeedbackRelay`, driven by :class:`~.session.SfuSession` and its task, hands each
participant's RTCP to the forwarders it concerns (its own publications, and those forwarded to
it), taps it for the recorder, merges keyframe requests, and sends the sender reports (RFC 3550
§6.4.1) and receiver reports (§6.4.2) once a second. What the forwarders decide in return
(PLI, NACK, REMB, RTX) goes out through :class:`~.actions.ActionSender`. A subscriber's transport
feedback (about what the node sent it) goes to its bandwidth estimate
(:class:`~.bandwidth.SubscriberBandwidth`), which sets the targets of the publishers it receives.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from liveloop_sfu.media.core.forwarder import Forwarder
from liveloop_sfu.media.core.rtp import (
    Fir,
    Nack,
    Pli,
    ReceiverReport,
    RtcpPacket,
    RtpParseError,
    SenderReport,
    build_rr,
    parse_rtcp,
)
from liveloop_sfu.media.core.transport_feedback import TransportFeedback
from liveloop_sfu.media.session import Emit, QualitySample, QualitySink
from liveloop_sfu.media.sfu.bandwidth import SubscriberBandwidth
from liveloop_sfu.media.sfu.links import MediaParticipant, Publication
from liveloop_sfu.media.sfu.probes import BandwidthProbes
from liveloop_sfu.media.sfu.state import SessionState

if TYPE_CHECKING:
    from liveloop_sfu.media.recording.recorder import RecorderTap

SENDER_REPORT_INTERVAL = 1.0  # seconds; RFC 3550 §6.2 minimum for a small session is 5 s, but
# libwebrtc sends ~1/s for video and uses SRs for A/V sync, so a call's first second matters.


class FeedbackRelay:
    """The RTCP of one session: participants' RTCP in, reports out. ``rearm`` is told when a
    forwarder's earliest deadline may have moved."""

    def __init__(self, state: SessionState, rearm: Callable[[Forwarder], None], emit: Emit) -> None:
        self._participants = state.participants
        self._table = state.table
        self._actions = state.actions
        self._counters = state.counters
        self._rearm = rearm
        self.bandwidth = SubscriberBandwidth(state)
        self._emit = emit
        self.recorder: RecorderTap | None = None  # recording hook (media/recording/recorder.py)
        self.quality: QualitySink | None = None  # call-quality metrics (http/metrics.py)
        self.probes: BandwidthProbes | None = None  # bandwidth probes (media/sfu/probes.py)
        self.next_reports = 0.0  # when the next sender and receiver reports are due (monotonic)

    def on_rtcp(self, sender: MediaParticipant, data: bytes, now: float) -> None:
        """One decrypted RTCP compound packet from a participant's browser."""
        sender.last_heard = now
        try:
            packets = parse_rtcp(data)
        except RtpParseError:
            self._counters["rtcp-malformed"] += 1
            return
        self._counters["rtcp-in"] += 1
        self._count_kinds(packets)
        for packet in packets:
            if isinstance(packet, TransportFeedback):
                # About what the node sent this browser (media/transport/peer.py negotiates it):
                # its downlink estimate, and the targets of the publishers it receives.
                self._counters["rtcp-in-transport-feedback"] += 1
                if self.probes is not None:  # a probe's result first: the estimate uses it
                    self.probes.on_feedback(sender, now, packet.base_sequence, packet.arrivals)
                self.bandwidth.on_feedback(sender, now, packet.base_sequence, packet.arrivals)
        if self.recorder is not None:
            self.recorder.on_rtcp(sender.sid, packets, now)
        for own in sender.publications.values():
            own.forwarder.on_publisher_rtcp(now, packets)
            for packet in packets:
                if isinstance(packet, SenderReport):
                    own.reception.on_sender_report(now, packet.ssrc, packet.ntp)
        for publication in self._table.feeding(sender.sid):
            if self.quality is not None:
                self._egress_quality(publication, sender.sid, packets, now, self.quality)
            actions = publication.forwarder.on_subscriber_rtcp(now, sender.sid, packets)
            self._actions.send(publication, actions)
            if publication.forwarder.timer_changed:
                self._rearm(publication.forwarder)

    def _count_kinds(self, packets: Iterable[object]) -> None:
        """Participants' reports and feedback by kind (``rtcp-in-sr``, ``-rr``, ``-nack``,
        ``-pli``, ``-fir``): whether each browser (or load client) gives the feedback a
        browser gives (RFC 3550 §6.4, RFC 4585 §6.2.1 and §6.3.1, RFC 5104 §4.3.1)."""
        counters = self._counters
        for packet in packets:
            if isinstance(packet, SenderReport):
                counters["rtcp-in-sr"] += 1
            elif isinstance(packet, ReceiverReport):
                counters["rtcp-in-rr"] += 1
            elif isinstance(packet, Nack):
                counters["rtcp-in-nack"] += 1
            elif isinstance(packet, Pli):
                counters["rtcp-in-pli"] += 1
            elif isinstance(packet, Fir):
                counters["rtcp-in-fir"] += 1

    @staticmethod
    def _egress_quality(
        publication: Publication,
        sid: str,
        packets: list[RtcpPacket],
        now: float,
        sink: QualitySink,
    ) -> None:
        """The subscriber's report blocks about the stream the node forwards it (RFC 3550
        §6.4.1-2): loss, jitter, and the round trip from LSR/DLSR against our sender reports."""
        try:
            sub = publication.forwarder.subscriber(sid)
        except KeyError:
            return
        track = publication.forwarder.track
        for packet in packets:
            if not isinstance(packet, ReceiverReport | SenderReport):
                continue
            for block in packet.reports:
                if block.ssrc == sub.ssrc:
                    rtt = sub.sender_report_state.rtt(now, block.lsr, block.dlsr)
                    loss, jitter = block.fraction_lost / 256, block.jitter / track.clock_rate
                    sink(QualitySample("egress", track.kind, loss, jitter, rtt))

    def request_keyframe(self, sid: str, mid: str) -> None:
        """Ask the publisher of ``sid``'s track on ``mid`` for a keyframe, merged with every
        other request for it (the forwarder's keyframe-request manager throttles and retries)."""
        participant = self._participants.get(sid)
        publication = participant.publications.get(mid) if participant else None
        if publication is not None:
            actions = publication.forwarder.request_keyframe(time.monotonic())
            self._actions.queue(publication, actions)

    async def send_reports(self, now: float) -> None:
        """Sender and receiver reports, once every :data:`SENDER_REPORT_INTERVAL`."""
        if now >= self.next_reports:
            self.next_reports = now + SENDER_REPORT_INTERVAL
            participants = list(self._participants.values())
            self.bandwidth.sample(participants)
            await self._send_sender_reports(now)
            await self._send_receiver_reports(now)
            for sid, payload in self.bandwidth.changed_reports(participants):
                await self._emit(sid, "bandwidth-estimate", payload)

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
                forwarder = publication.forwarder
                if forwarder.simulcast:  # one block per layer (core/layer.py)
                    blocks = forwarder.layer_report_blocks(now)
                else:
                    block = publication.reception.report_block(now)
                    blocks = [] if block is None else [block]
                if blocks:
                    self._counters["rtcp-out-rr"] += 1
                    if self.quality is not None:
                        track = forwarder.track
                        for block in blocks:
                            loss = block.fraction_lost / 256
                            jitter = block.jitter / track.clock_rate
                            self.quality(QualitySample("ingress", track.kind, loss, jitter))
                    await participant.peer.send(build_rr(publication.line.local_ssrc, blocks))
