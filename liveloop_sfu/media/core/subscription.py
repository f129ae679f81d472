"""One subscriber's copy of one track: gate, rewriting, history and sender-report state.

The forwarder owns these; the adapter reads :class:`SubscriberConfig` (what the subscriber
negotiated) going in and :class:`SubscriberStats` / :attr:`Subscription.drops` coming out.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from liveloop_sfu.media.codecs.vp8 import PictureIdRewriter, layer_sync, starts_frame
from liveloop_sfu.media.core.drops import DropCounters, DropReason
from liveloop_sfu.media.core.history import RetransmissionHistory
from liveloop_sfu.media.core.rewriter import ExtensionPlan, SeqRewriter, TransportSequence
from liveloop_sfu.media.core.rtp import (
    ReportBlock,
    RtpParseError,
    RtpView,
    build_sr,
    ntp_from_unix,
    rtx_wrap,
)
from liveloop_sfu.media.core.sender_report import SenderReportState
from liveloop_sfu.media.core.seq import add16, diff16, gt32

if TYPE_CHECKING:
    from liveloop_sfu.media.core.forwarder import ForwarderSettings

__all__ = [
    "ALL_TEMPORAL_LAYERS",
    "SOURCE_SWITCH_SEQ_GAP",
    "SubscriberConfig",
    "SubscriberStats",
    "Subscription",
]

# A temporal-layer limit above any TID (RFC 7741 §4.2: 2 bits): every temporal layer is sent.
ALL_TEMPORAL_LAYERS = 3

_HEADER = struct.Struct("!BBHII")

# A padding-only packet's padding (RFC 3550 §5.1: the last octet counts the padding octets,
# itself included; at most 255). One constant, shared by every probe packet.
PADDING_SIZE = 255
_PADDING = bytes(PADDING_SIZE - 1) + bytes([PADDING_SIZE])

# A continued stream (another source on the same SSRC, see Subscription.continue_from) skips this
# many sequence numbers. The node cannot know which of the previous source's last packets the
# receiver took: some are lost, some arrive after the browser applied an answer that stopped that
# m-line (and are thrown away), and none can be repaired once the previous source is gone. A
# seamless continuation would leave the receiver waiting for them in front of the new source's
# keyframe (aiortc's jitter buffer waits in order until 512 packets later, about 30 s of small
# video). A jump declares them lost instead, and the receiver starts clean at the keyframe:
# - more than aiortc's 512-packet jitter buffer, which a farther packet resets;
# - more than libwebrtc's 1000-packet NACK list, which a larger gap clears (asking for a
#   keyframe instead of NACKing packets that never existed for this source);
# - less than RFC 3550 A.1's MAX_DROPOUT (3000): still "in order, with permissible gap", the
#   same source, no probation that would throw the keyframe's first packets away.
SOURCE_SWITCH_SEQ_GAP = 2000

# How long (output packets) after a layer switch NACKs are checked against it: far more than a
# NACK's life (the history keeps ~1 s), far less than half the 16-bit space.
STALE_NACK_WINDOW = 8192


@dataclass(frozen=True, slots=True)
class SubscriberConfig:
    """What one subscriber negotiated for its copy of the track.

    - ``ssrc``: the SSRC the node sends this stream with (the subscriber's SDP announces it).
    - ``payload_types``: publisher pt -> subscriber pt; publisher pts missing here are dropped as
      ``unknown-payload-type``.
    - ``header_extensions``: URI -> the subscriber's negotiated id; ``mid``: the mid of the
      subscriber's transceiver, written into every packet when the mid extension is negotiated.
    - ``rtx_ssrc`` + ``rtx_payload_types`` (subscriber media pt -> subscriber RTX pt): answer NACKs
      with RFC 4588 RTX; without them, NACKed packets are resent as they were.
    - ``initial_seq`` / ``initial_ts``: the first output sequence number / timestamp; ``None`` picks
      random ones (RFC 3550 §5.1 recommends random initial values).
    - ``egress_ready``: ``False`` while the subscriber's DTLS is not up; packets are then dropped as
      ``egress-not-ready`` until :meth:`Forwarder.egress_ready`.
    """

    subscriber_id: str
    ssrc: int
    payload_types: Mapping[int, int]
    header_extensions: Mapping[str, int] = field(default_factory=dict)
    mid: str | None = None
    rtx_ssrc: int | None = None
    rtx_payload_types: Mapping[int, int] = field(default_factory=dict)
    initial_seq: int | None = None
    initial_ts: int | None = None
    egress_ready: bool = True


@dataclass(slots=True)
class SubscriberStats:
    """Counters of one subscription (what was sent, what NACKs and keyframe requests did)."""

    packets_sent: int = 0
    bytes_sent: int = 0
    nacked: int = 0
    retransmitted: int = 0
    nack_misses: int = 0
    nack_throttled: int = 0
    resend_over_budget: int = 0  # NACKed packets not resent: the transport's resend budget
    nack_stale: int = 0  # NACKed packets not resent: before a layer switch, nothing decodes them
    keyframe_requests: int = 0
    rtt: float | None = None


class Subscription:
    """State of one subscriber for one track. Created by :meth:`Forwarder.add_subscriber`."""

    def __init__(
        self,
        config: SubscriberConfig,
        publisher_extensions: Mapping[int, str],
        clock_rate: int,
        settings: ForwarderSettings,
        *,
        gated: bool,
        transport_seq: TransportSequence | None,
        vp8_payload_types: frozenset[int] = frozenset(),
    ) -> None:
        """``vp8_payload_types``: a simulcast track's VP8 payload types, whose PictureID and
        TL0PICIDX are rewritten to stay continuous across layer switches (none otherwise)."""
        self.config = config
        self.subscriber_id = config.subscriber_id
        self.ssrc = config.ssrc
        self.gated = gated
        self.paused = False
        # Waiting for another simulcast layer's keyframe with nothing of the current one sent
        # (Forwarder.select_layer's ``hold``); cleared by the switch.
        self.holding = False
        self.egress_ready = config.egress_ready
        self.drops = DropCounters()
        self.last_drop = DropReason.MALFORMED
        self.stats = SubscriberStats()
        self._pt_map = dict(config.payload_types)
        initial_seq = config.initial_seq
        self._seq = SeqRewriter(
            random.getrandbits(16) if initial_seq is None else initial_seq,
            settings.reorder_window,
        )
        self._initial_ts = (
            random.getrandbits(32) if config.initial_ts is None else config.initial_ts
        )
        self._ts_offset = 0
        self._plan = ExtensionPlan(publisher_extensions, config.header_extensions, config.mid)
        self._transport_seq = transport_seq or TransportSequence()
        self._stamps_transport_seq = self._plan.transport_seq_offset >= 0
        self.history = RetransmissionHistory(
            settings.history_max_age, settings.history_max_packets, settings.resend_interval
        )
        self.sender_report_state = SenderReportState(clock_rate)
        self._clock_rate = clock_rate
        self._rtx_seq = random.getrandbits(16)
        # The output sequence number of the first packet after the last simulcast layer switch
        # (-1: none recent): NACKs for packets before it are not answered (see retransmit).
        self._resend_floor = -1
        # Probe padding goes on the RTX stream (see padding()): any of its payload types will do.
        rtx_pts = sorted(config.rtx_payload_types.values())
        self._padding_pt = rtx_pts[0] if rtx_pts and config.rtx_ssrc is not None else -1
        self._last_fir_seq: int | None = None
        self._continue_ts: tuple[int, float] | None = None  # (last output ts, when sent)
        # Simulcast (the forwarder's "layers"): the layer forwarded now, the one it switches to.
        self.layer = 0
        self.target_layer = -1
        self._vp8_pts = vp8_payload_types
        self._vp8 = PictureIdRewriter() if vp8_payload_types else None
        # Temporal layers (the forwarder's "temporal layers"): the highest TID wanted, and the
        # highest forwarded now (it follows the target at frame boundaries, see _temporal_allows).
        self.temporal_target = ALL_TEMPORAL_LAYERS
        self.temporal = ALL_TEMPORAL_LAYERS

    def continue_from(self, previous: Subscription) -> None:
        """Take over the output stream of ``previous`` (same subscriber, same SSRC, another
        source: e.g. a visitor's slot given to the next one, a track replaced): sequence numbers
        continue after a deliberate gap of :data:`SOURCE_SWITCH_SEQ_GAP` (why: see there), the
        timestamp continues by the time elapsed since the last packet (at this stream's clock
        rate), and history, sender-report counts and the RTX counter carry on."""
        if previous.ssrc != self.ssrc or previous._clock_rate != self._clock_rate:
            raise ValueError("a continued stream keeps its SSRC and clock rate")
        self._seq.restart(previous._seq.next_output + SOURCE_SWITCH_SEQ_GAP)
        last = previous.sender_report_state.last_sent
        if last is not None:
            self._continue_ts = last
        self.history = previous.history
        self.sender_report_state = previous.sender_report_state
        self.sender_report_state.forget_publisher()
        self.stats = previous.stats
        self._rtx_seq = previous._rtx_seq

    def switch_source(self, now: float, ts: int, ts_delta: int | None) -> None:
        """The next packet, of timestamp ``ts``, begins a keyframe of another simulcast layer of
        the same track (see :class:`~.forwarder.Forwarder`, "layers"); make it continue this
        output stream seamlessly: its sequence number follows the last one sent, with no gap;
        its timestamp is the old layer's timeline (``ts_delta`` maps the new layer's timestamps
        onto the old one's, from sender reports) or, without a mapping or if the mapping would
        not move forward, the last timestamp sent plus the time elapsed since (at least one
        tick: timestamps never go back); VP8 picture numbers follow the last ones sent."""
        self._seq.restart(self._seq.next_output)
        self._resend_floor = self._seq.next_output
        self.holding = False
        if self._vp8 is not None:
            self._vp8.switch()
        last = self.sender_report_state.last_sent
        if last is None:
            return  # nothing sent yet: the stream simply starts with this layer
        last_ts, last_now = last
        candidate = -1
        if ts_delta is not None:
            candidate = (ts + self._ts_offset + ts_delta) & 0xFFFFFFFF
        if candidate < 0 or not gt32(candidate, last_ts):
            candidate = last_ts + max(1, round((now - last_now) * self._clock_rate))
        self._initial_ts = candidate & 0xFFFFFFFF
        self._continue_ts = None

    def resume_at_keyframe(self) -> None:
        """Frames of the current layer were held back (a switch that was cancelled): take it up
        again at its next keyframe, its VP8 picture numbers following the last ones sent."""
        self.gated = True
        if self._vp8 is not None:
            self._vp8.switch()

    # --- hot path ------------------------------------------------------------------------------

    def forward(
        self,
        now: float,
        view: RtpView,
        ext: int,
        keyframe: bool,
        elements: list[tuple[int, int, int]] | None,
        tid: int = -1,
    ) -> bytes | None:
        """The rewritten packet for this subscriber, or ``None`` (reason in :attr:`last_drop`,
        already counted in :attr:`drops`). ``tid``: the packet's temporal layer (VP8 TID of a
        simulcast track), -1 when it has none (never dropped for its layer)."""
        if self.paused or self.holding or not self.egress_ready or (self.gated and not keyframe):
            self.skip(ext, self._blocked_reason())
            return None
        if tid > 0 and not self._temporal_allows(view, tid, keyframe):
            # Gap-free for the decoder: the sequence numbers and the PictureIDs after this
            # picture close up over it.
            self.skip(ext, DropReason.TEMPORAL_LAYER)
            if self._vp8 is not None:
                self._vp8.drop(view.data, view.payload_start, view.payload_end)
            return None
        out_pt = self._pt_map.get(view.pt)
        if out_pt is None:
            self.skip(ext, DropReason.UNKNOWN_PAYLOAD_TYPE)
            return None
        first = not self._seq.started
        out_seq = self._seq.forward(ext)
        if out_seq < 0:
            self._count(DropReason.TOO_OLD)
            return None
        if first:
            initial_ts = self._initial_ts
            if self._continue_ts is not None:
                last_ts, last_now = self._continue_ts
                initial_ts = last_ts + max(1, round((now - last_now) * self._clock_rate))
            self._ts_offset = initial_ts - view.ts
        self.gated = False
        out_ts = (view.ts + self._ts_offset) & 0xFFFFFFFF  # = add32(...), inlined: per packet
        packet = self._build(now, view, out_pt, out_seq, out_ts, elements)
        if self._stamps_transport_seq:
            self._transport_seq.record_last(now, len(packet))
        self.history.store(now, out_seq, packet)
        payload_size = view.payload_end - view.payload_start
        self.sender_report_state.on_sent(now, out_ts, payload_size)
        stats = self.stats
        stats.packets_sent += 1
        stats.bytes_sent += len(packet)
        return packet

    def _build(
        self,
        now: float,
        view: RtpView,
        out_pt: int,
        out_seq: int,
        out_ts: int,
        elements: list[tuple[int, int, int]] | None,
    ) -> bytes:
        data = view.data
        mv = memoryview(data)
        # Padding is not forwarded (P cleared): it is the publisher's, sized for its own needs.
        b0 = 0x80 | view.csrc_count
        ext_block = (
            b"" if self._plan.empty else self._plan.block(now, data, elements, self._transport_seq)
        )
        if ext_block:
            b0 |= 0x10
        header = _HEADER.pack(b0, (view.marker << 7) | out_pt, out_seq, out_ts, self.ssrc)
        if self._vp8 is not None and view.pt in self._vp8_pts:
            descriptor = self._vp8.rewrite(data, view.payload_start, view.payload_end)
            if descriptor:
                rest = mv[view.payload_start + len(descriptor) : view.payload_end]
                return b"".join((header, mv[12 : view.csrc_end], ext_block, descriptor, rest))
        return b"".join(
            (header, mv[12 : view.csrc_end], ext_block, mv[view.payload_start : view.payload_end])
        )

    def _temporal_allows(self, view: RtpView, tid: int, keyframe: bool) -> bool:
        """Is a packet of temporal layer ``tid`` (> 0) forwarded? The limit changes only where a
        frame begins, so no frame is cut: down at once (a lower layer never references a higher
        one); up at a keyframe, or one layer at a time at a frame with the layer-sync bit (RFC
        7741 §4.2 Y: it references only the base layer, which the subscriber has), as mediasoup's
        VP8 handling does."""
        current = self.temporal
        target = self.temporal_target
        if current != target:
            data = view.data
            start = view.payload_start
            if keyframe or starts_frame(data[start]):
                if keyframe or target < current:
                    self.temporal = current = target
                elif current < tid <= target and layer_sync(data, start, view.payload_end):
                    self.temporal = current = tid
        return tid <= current

    def _blocked_reason(self) -> DropReason:
        if self.paused:
            return DropReason.SUBSCRIBER_PAUSED
        if self.holding:
            return DropReason.LAYER_TOO_LARGE
        if not self.egress_ready:
            return DropReason.EGRESS_NOT_READY
        return DropReason.WAITING_FOR_KEYFRAME

    def skip(self, ext: int, reason: DropReason) -> None:
        """The node does not send this packet to this subscriber: close the sequence gap."""
        self._seq.drop(ext)
        self._count(reason)

    def _count(self, reason: DropReason) -> None:
        self.drops.add(reason)
        self.last_drop = reason

    # --- feedback ------------------------------------------------------------------------------

    def retransmit(self, now: float, seqs: Iterable[int]) -> list[bytes]:
        """Packets answering a NACK: RTX-wrapped when RTX was negotiated, else as first sent."""
        out: list[bytes] = []
        rtx_ssrc = self.config.rtx_ssrc
        rtx_pts = self.config.rtx_payload_types
        stats = self.stats
        floor = self._resend_floor
        if floor >= 0 and diff16(self._seq.next_output, floor) > STALE_NACK_WINDOW:
            floor = self._resend_floor = -1  # long past: every NACK is about the new layer
        for seq in seqs:
            stats.nacked += 1
            if self.holding or (floor >= 0 and diff16(seq, floor) < 0):
                # The old layer's packets: after a switch (or while held back for one) the
                # decoder starts again at the new layer's keyframe and never needs them. On a
                # downlink that just became too narrow (why layers switch down) they are many,
                # and resending them would crowd out that keyframe (lab: a 3.7 s freeze).
                stats.nack_stale += 1
                continue
            packet = self.history.lookup(now, seq)
            if packet is None:
                if self.history.last_miss_throttled:
                    stats.nack_throttled += 1
                else:
                    stats.nack_misses += 1
                continue
            if rtx_ssrc is not None:
                try:
                    view = RtpView(packet)
                except RtpParseError:  # pragma: no cover - we built it ourselves
                    continue
                rtx_pt = rtx_pts.get(view.pt)
                if rtx_pt is not None:
                    packet = rtx_wrap(view, rtx_pt, rtx_ssrc, self._rtx_seq)
                    self._rtx_seq = add16(self._rtx_seq, 1)
            if self._stamps_transport_seq:
                if not self._transport_seq.allow_resend(now, len(packet)):
                    stats.resend_over_budget += 1
                    continue
                packet = self._renumber(now, packet)
            stats.retransmitted += 1
            out.append(packet)
        return out

    @property
    def can_pad(self) -> bool:
        """Can :meth:`padding` make probe packets for this subscriber (RTX negotiated, and the
        transport-wide number stamped, without which the feedback would not cover them)?"""
        return self._padding_pt >= 0 and self._stamps_transport_seq

    def padding(self, now: float, count: int) -> list[bytes]:
        """``count`` padding-only packets on this subscription's RTX stream, for a bandwidth
        probe (media/sfu/probes.py); none when :attr:`can_pad` is false.

        RFC 4588 §4 RTX packets with an empty payload and RFC 3550 §5.1 padding, as libwebrtc
        pads its own probes: on RTX, because a browser ignores them there (an RTX packet without
        an OSN carries nothing to restore) while still counting them in its transport feedback,
        which it does only for a stream it knows (an unknown SSRC fails demultiplexing and is
        dropped before the bandwidth estimator sees it); never on the media stream, whose
        sequence numbers the decoder follows. Each packet takes the next transport-wide number
        and is recorded in the transport's ring like any other, with the RTX sequence and
        the timestamp of the last media sent."""
        if self._padding_pt < 0 or not self._stamps_transport_seq:
            return []
        rtx_ssrc = self.config.rtx_ssrc
        if rtx_ssrc is None:  # pragma: no cover - _padding_pt says it is there
            return []
        last = self.sender_report_state.last_sent
        ts = last[0] if last is not None else self._initial_ts
        out: list[bytes] = []
        for _ in range(count):
            ext_block = self._plan.block(now, b"", None, self._transport_seq)
            b0 = 0xA0 | (0x10 if ext_block else 0)
            header = _HEADER.pack(b0, self._padding_pt, self._rtx_seq, ts, rtx_ssrc)
            self._rtx_seq = add16(self._rtx_seq, 1)
            packet = b"".join((header, ext_block, _PADDING))
            self._transport_seq.record_last(now, len(packet))
            out.append(packet)
        return out

    def _renumber(self, now: float, packet: bytes) -> bytes:
        """A resent packet (plain or RTX: same header layout) takes a new transport-wide
        number: every packet on the transport has its own (draft-holmer-rmcat-transport-wide-cc-
        extensions-01 §2), and the feedback about it then tells the estimator about the resend."""
        buf = bytearray(packet)
        at = 12 + 4 * (buf[0] & 0x0F) + self._plan.transport_seq_offset
        if at + 2 > len(buf):  # pragma: no cover - we built it ourselves
            return packet
        seq = self._transport_seq.next()
        buf[at] = seq >> 8
        buf[at + 1] = seq & 0xFF
        self._transport_seq.record(seq, now, len(buf))
        return bytes(buf)

    def count_keyframe_request(self, fir_seq: int | None) -> bool:
        """Count a PLI (``fir_seq=None``) or FIR; ``False`` for a repeated FIR (RFC 5104 §4.3.1.2:
        the same command sequence number is a retransmission of the same request)."""
        if fir_seq is not None:
            if fir_seq == self._last_fir_seq:
                return False
            self._last_fir_seq = fir_seq
        self.stats.keyframe_requests += 1
        return True

    def on_report_block(self, now: float, block: ReportBlock) -> None:
        """A receiver report about our stream: RTT from LSR/DLSR (RFC 3550 §6.4.1) tunes the
        resend throttle."""
        rtt = self.sender_report_state.rtt(now, block.lsr, block.dlsr)
        if rtt is not None:
            self.stats.rtt = rtt
            self.history.set_rtt(rtt)

    def sender_report(self, now: float, wallclock: float) -> bytes | None:
        state = self.sender_report_state
        rtp_ts = state.rtp_timestamp_at(now, self._ts_offset)
        if rtp_ts is None:
            return None
        ntp = ntp_from_unix(wallclock)
        state.on_report_sent(now, ntp)
        return build_sr(self.ssrc, ntp, rtp_ts, state.packet_count, state.octet_count)
