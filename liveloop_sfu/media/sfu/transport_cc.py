"""Transport-wide congestion control feedback to publishers
(draft-holmer-rmcat-transport-wide-cc-extensions-01).

A browser's sender estimates its uplink from the arrival times its receiver reports for every
packet it sent (Google congestion control, send side). Through the node, that receiver is the
node: where a browser negotiated transport-cc (media/transport/peer.py answers it wherever the
browser offers it), the per-packet path (:mod:`.dispatch.rtp_path`) records the transport-wide
sequence number and arrival time of every packet the browser sends, RTX and padding probes
included, and :class:`TransportCcFeedback`, driven by the session task, sends what arrived as
transport feedback (RTPFB FMT 15) every :data:`FEEDBACK_INTERVAL`. Without it the browser's
sender only has the other browser's REMB, relayed, to go by, and ramps up slowly
(docs/architecture.md, "Transport-wide feedback to publishers").
"""

from __future__ import annotations

from liveloop_sfu.media.core.rewriter import TRANSPORT_CC_URI
from liveloop_sfu.media.core.transport_feedback import TransportFeedbackBuilder
from liveloop_sfu.media.sfu.links import MediaParticipant
from liveloop_sfu.media.sfu.state import SessionState

# Seconds between two feedback rounds. libwebrtc's receiver sends every 50 ms at the rates a
# call reaches (its interval stretches to 250 ms only at very low rates), mediasoup every 100 ms.
FEEDBACK_INTERVAL = 0.05


class TransportCcFeedback:
    """Transport feedback from the node to each publisher that negotiated transport-cc."""

    def __init__(self, state: SessionState) -> None:
        self._participants = state.participants
        self._counters = state.counters
        self.next_due = 0.0  # when the next feedback round is due (monotonic)

    def configure(self, participant: MediaParticipant) -> None:
        """After each answer: record arrivals for feedback when the browser negotiated the
        transport-wide sequence number on an m-line it sends on (its id is the same on all of
        them: one BUNDLE transport)."""
        ext_id = 0
        for line in participant.peer.media:
            found = line.extension_id(TRANSPORT_CC_URI) if line.receives else None
            if found:
                ext_id = found
                break
        if not ext_id:
            participant.transport_feedback = None
        elif participant.transport_feedback is None:
            participant.transport_feedback = TransportFeedbackBuilder()
        # The packet path records each arrival as it leaves the socket (srtp/packet_io.py).
        participant.peer.record_transport_wide(ext_id, participant.transport_feedback)

    def deadline(self) -> float | None:
        """When the session task must run :meth:`send_due` next; None while nobody needs it."""
        if any(p.transport_feedback is not None for p in self._participants.values()):
            return self.next_due
        return None

    def send_due(self, now: float) -> None:
        """Build and send each publisher's feedback, once every :data:`FEEDBACK_INTERVAL`."""
        if now < self.next_due:
            return
        self.next_due = now + FEEDBACK_INTERVAL
        now_us = int(now * 1_000_000)
        for participant in list(self._participants.values()):
            builder = participant.transport_feedback
            if builder is None or not builder.pending:
                continue
            sender_ssrc, media_ssrc = _feedback_ssrcs(participant)
            for packet in builder.build(now_us, sender_ssrc, media_ssrc):
                if participant.peer.send_now(packet):
                    self._counters["rtcp-out-transport-feedback"] += 1
                else:
                    self._counters["send-failed"] += 1


def _feedback_ssrcs(participant: MediaParticipant) -> tuple[int, int]:
    """(sender SSRC, media SSRC) of a feedback packet: the node's own SSRC on the browser's first
    sending m-line (video first) and the browser's media SSRC there. The feedback is about the
    whole transport; libwebrtc reads it whatever media SSRC it names."""
    lines = sorted(
        (line for line in participant.peer.media if line.receives),
        key=lambda line: line.kind != "video",
    )
    for line in lines:
        publication = participant.publications.get(line.mid)
        ssrc = line.remote_ssrc
        if ssrc is None and publication is not None:
            routes = participant.ssrc_routes.items()
            learned = (s for s, (p, rtx) in routes if p is publication and not rtx)
            ssrc = next(learned, None)
        if ssrc is not None:
            return line.local_ssrc, ssrc
    return (lines[0].local_ssrc if lines else 0), 0
