"""The sans-I/O forwarding core: one :class:`Forwarder` per published track.

No asyncio, no aiortc, no clock: every entry point takes ``now`` (seconds, any monotonic epoch, the
same for every call) and returns what to send. The adapter (``media/transport/peer.py``) feeds it
and acts, aioquic style::

    fwd = Forwarder(TrackConfig(kind="video", ssrc=pub_ssrc, clock_rate=90000, codecs={96: "VP8"},
                                header_extensions={4: MID_URI, 2: ABS_SEND_TIME_URI}))
    actions = fwd.add_subscriber(now, SubscriberConfig("bob", ssrc=1234, payload_types={96: 98},
                                                       header_extensions={MID_URI: 1}, mid="0"))
    for subscriber_id, packet in fwd.on_rtp(now, rtp_bytes):   # hot path: per packet
        transports[subscriber_id].send_rtp(packet)
    actions += fwd.on_subscriber_rtcp(now, "bob", parse_rtcp(rtcp_bytes))
    actions += fwd.handle_timer(now)                           # when now >= fwd.get_timer()
    for action in actions:
        match action:
            case SendToSubscriber(sid, packet): transports[sid].send_rtp(packet)   # RTX / resend
            case SendToPublisher(packet, _): publisher_transport.send_rtcp(packet)  # PLI/NACK/REMB
    sr = fwd.sender_report(now, time.time(), "bob")             # every ~1 s per subscriber

What the forwarder does, per packet and per subscriber (see :mod:`.subscription`):

- rewrites SSRC, payload type (input pt -> the subscriber's negotiated pt), sequence number
  (gap-free across packets the node drops, real upstream gaps preserved so the subscriber NACKs
  them; :class:`~.rewriter.SeqRewriter`), timestamp (offset modulo 2^32) and header extensions
  (ids remapped by URI, mid/abs-send-time/transport-cc written by the node;
  :class:`~.rewriter.ExtensionPlan`);
- gates video: a new, resumed or not-yet-ready subscription forwards nothing until a packet that
  begins a keyframe (:mod:`.keyframes`), and asks the publisher for one;
- merges keyframe requests into one throttled, retried PLI upstream
  (:class:`~.keyframe_requests.KeyframeRequestManager`);
- keeps the rewritten packets for about 2 s to answer NACKs, as RTX when negotiated
  (:class:`~.history.RetransmissionHistory`);
- keeps truthful sender-report state (:class:`~.sender_report.SenderReportState`);
- optionally NACKs upstream losses (:class:`~.nack_generator.NackGenerator`) and sends the
  publisher its target upstream as REMB: the minimum over the subscribers of the node's own
  estimate of their downlink (:meth:`Forwarder.on_subscriber_estimate`) or, for subscribers
  without transport feedback, their REMB (:class:`~.remb.RembAggregator`).

Every packet not sent is counted under a :class:`~.drops.DropReason`, in :attr:`Forwarder.drops`
and in the subscriber's :attr:`~.subscription.Subscription.drops`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from liveloop_sfu.media.codecs.keyframes import KeyframeDetector, keyframe_detector
from liveloop_sfu.media.core.drops import DropCounters, DropReason
from liveloop_sfu.media.core.keyframe_requests import KeyframeRequestManager
from liveloop_sfu.media.core.nack_generator import NackGenerator
from liveloop_sfu.media.core.remb import RembAggregator
from liveloop_sfu.media.core.rtp import (
    Fir,
    Nack,
    Pli,
    ReceiverReport,
    Remb,
    RtcpPacket,
    RtpParseError,
    RtpView,
    SenderReport,
    build_nack,
    build_pli,
    build_remb,
    rtx_unwrap,
)
from liveloop_sfu.media.core.sent_packets import TransportSequence
from liveloop_sfu.media.core.seq import add16, wrap16
from liveloop_sfu.media.core.subscription import SubscriberConfig, SubscriberStats, Subscription

__all__ = [
    "Action",
    "Forwarder",
    "ForwarderSettings",
    "OutPacket",
    "SendToPublisher",
    "SendToSubscriber",
    "SubscriberConfig",
    "SubscriberStats",
    "TrackConfig",
]

OutPacket = tuple[str, bytes]
"""``(subscriber_id, rtp_packet)`` returned by :meth:`Forwarder.on_rtp`: plain tuples, because the
hot path makes one per packet per subscriber."""


@dataclass(frozen=True, slots=True)
class SendToSubscriber:
    """Send an RTP packet (a retransmission, plain or RTX) to one subscriber."""

    subscriber_id: str
    packet: bytes


@dataclass(frozen=True, slots=True)
class SendToPublisher:
    """Send an RTCP packet upstream to the publisher of this track."""

    packet: bytes
    kind: Literal["pli", "nack", "remb"]


Action = SendToSubscriber | SendToPublisher


@dataclass(frozen=True, slots=True)
class TrackConfig:
    """What the publisher negotiated for this track.

    ``codecs`` maps the publisher's media payload types to codec names (``{96: "VP8"}``); RTX
    payload types go in ``rtx_payload_types`` (rtx pt -> media pt, from ``apt``). ``ssrc`` is the
    publisher's media SSRC, or ``None`` to latch the first one seen. ``feedback_ssrc`` is the sender
    SSRC the node writes in the RTCP it sends upstream (PLI, NACK, REMB).
    """

    kind: Literal["audio", "video"]
    ssrc: int | None
    clock_rate: int
    codecs: Mapping[int, str]
    header_extensions: Mapping[int, str] = field(default_factory=dict)
    rtx_payload_types: Mapping[int, int] = field(default_factory=dict)
    feedback_ssrc: int = 1


@dataclass(frozen=True, slots=True)
class ForwarderSettings:
    """Tunables; the defaults are what the node uses.

    - ``reorder_window``: input packets older than this many sequence numbers behind the newest are
      dropped as ``too-old`` (also bounds the duplicate filter).
    - ``keyframe_min_interval`` / ``keyframe_retry_interval`` / ``keyframe_max_attempts``: at most
      one PLI upstream per 300 ms; retried every 1 s until a keyframe arrives, 10 attempts at most.
    - ``history_max_age`` / ``history_max_packets``: retransmission history per subscriber, by time
      (2 s) and count (2048, ~5 Mbit/s of 1200-byte packets for 2 s).
    - ``resend_interval``: the same packet is resent at most once per this interval (or per the
      measured RTT once receiver reports give one).
    - ``generate_nacks``: NACK upstream losses ourselves (disable when aiortc's receiver does it).
    - ``remb_*``: see :class:`~.remb.RembAggregator`.
    """

    reorder_window: int = 1024
    keyframe_min_interval: float = 0.3
    keyframe_retry_interval: float = 1.0
    keyframe_max_attempts: int = 10
    history_max_age: float = 2.0
    history_max_packets: int = 2048
    resend_interval: float = 0.1
    generate_nacks: bool = True
    remb_expiry: float = 5.0
    remb_min_interval: float = 0.2
    remb_refresh_interval: float = 1.0


class Forwarder:
    """Forwards one published track to its subscribers. Not thread-safe; one event loop owns it."""

    def __init__(self, track: TrackConfig, settings: ForwarderSettings | None = None) -> None:
        self.track = track
        self.settings = settings = settings or ForwarderSettings()
        self.drops = DropCounters()
        self.packets_in = 0
        # Set when a call may have made get_timer() earlier (a loss seen, a keyframe requested);
        # the owner re-arms its timer then and clears it, instead of asking get_timer() per packet.
        self.timer_changed = False
        self._ssrc = track.ssrc
        self._detectors: dict[int, KeyframeDetector | None] = {
            pt: keyframe_detector(name) if track.kind == "video" else None
            for pt, name in track.codecs.items()
        }
        self._subs: dict[str, Subscription] = {}
        self._sub_list: list[Subscription] = []
        # Input stage: extended (unwrapped) sequence numbers and a ring of recently seen ones.
        self._max_ext = -1
        self._shift = 0  # added to input seqs after a publisher restarted its sequence
        self._probation = -1  # RFC 3550 A.1: a far-off seq, confirmed if the next one follows it
        self._window = settings.reorder_window
        self._seen = [-1] * settings.reorder_window
        self._keyframes = KeyframeRequestManager(
            settings.keyframe_min_interval,
            settings.keyframe_retry_interval,
            settings.keyframe_max_attempts,
        )
        self._nacks = NackGenerator() if settings.generate_nacks else None
        self._remb = RembAggregator(
            settings.remb_expiry, settings.remb_min_interval, settings.remb_refresh_interval
        )
        self._publisher_sr: tuple[float, int] | None = None  # (now at arrival, publisher RTP ts)

    # --- subscribers ---------------------------------------------------------------------------

    @property
    def subscriber_ids(self) -> list[str]:
        return list(self._subs)

    def add_subscriber(
        self,
        now: float,
        config: SubscriberConfig,
        *,
        transport_seq: TransportSequence | None = None,
        continue_from: Subscription | None = None,
    ) -> list[Action]:
        """Start forwarding to a subscriber. Video waits for a keyframe, which this requests (the
        returned PLI) unless ``config.egress_ready`` is false: then :meth:`egress_ready` asks.

        ``transport_seq`` is the transport-wide sequence counter of the subscriber's transport
        (share one between all subscriptions on a transport); a private one is made if omitted.
        ``continue_from`` is a subscription returned by another forwarder's
        :meth:`remove_subscriber`: the subscriber's output stream (same SSRC) then continues
        seamlessly from it (see :meth:`Subscription.continue_from`).
        """
        if config.subscriber_id in self._subs:
            raise ValueError(f"subscriber {config.subscriber_id!r} already added")
        sub = Subscription(
            config,
            self.track.header_extensions,
            self.track.clock_rate,
            self.settings,
            gated=self.track.kind == "video",
            transport_seq=transport_seq,
        )
        if continue_from is not None:
            sub.continue_from(continue_from)
        if self._publisher_sr is not None:
            sub.sender_report_state.on_publisher_sr(*self._publisher_sr)
        self._subs[config.subscriber_id] = sub
        self._sub_list.append(sub)
        if sub.gated and config.egress_ready:
            return self._request_keyframe(now)
        return []

    def remove_subscriber(self, subscriber_id: str) -> Subscription | None:
        """Stop forwarding; idempotent. Returns the removed subscription (``None`` if unknown),
        which another forwarder's :meth:`add_subscriber` may continue."""
        sub = self._subs.pop(subscriber_id, None)
        if sub is not None:
            self._sub_list.remove(sub)
            self._remb.remove(subscriber_id)
        return sub

    def subscriber(self, subscriber_id: str) -> Subscription:
        """The subscription state (stats, drops); ``KeyError`` if unknown."""
        return self._subs[subscriber_id]

    def egress_ready(self, now: float, subscriber_id: str) -> list[Action]:
        """The subscriber's DTLS/SRTP is up: close its gate and ask for a fresh keyframe, since any
        keyframe sent before this moment was lost."""
        sub = self._subs[subscriber_id]
        sub.egress_ready = True
        if self.track.kind == "video":
            sub.gated = True
            return self._request_keyframe(now)
        return []

    def set_paused(self, now: float, subscriber_id: str, paused: bool) -> list[Action]:
        """Pause or resume a subscription. Paused packets are dropped without sequence gaps; a
        resumed video subscription waits for (and requests) a keyframe."""
        sub = self._subs[subscriber_id]
        if sub.paused == paused:
            return []
        sub.paused = paused
        if not paused and self.track.kind == "video":
            sub.gated = True
            if sub.egress_ready:
                return self._request_keyframe(now)
        return []

    # --- media from the publisher (hot path) ---------------------------------------------------

    def on_rtp(self, now: float, data: bytes) -> list[OutPacket]:
        """One RTP packet from the publisher -> ``[(subscriber_id, packet), ...]`` to send."""
        try:
            view = RtpView(data)
            elements = view.extensions() if view.ext_start else None
        except RtpParseError:
            self.drops.add(DropReason.MALFORMED)
            return []
        return self._forward(now, view, elements)

    def on_rtx(self, now: float, data: bytes) -> list[OutPacket]:
        """One RTX packet (RFC 4588) from the publisher: unwrapped, then as :meth:`on_rtp`."""
        try:
            view = RtpView(data)
            apt = self.track.rtx_payload_types.get(view.pt)
            if apt is None or self._ssrc is None:
                self.drops.add(DropReason.UNKNOWN_PAYLOAD_TYPE)
                return []
            original = rtx_unwrap(view, apt, self._ssrc)
            if original is None:
                self.drops.add(DropReason.PADDING_ONLY)
                return []
            view = RtpView(original)
            elements = view.extensions() if view.ext_start else None
        except RtpParseError:
            self.drops.add(DropReason.MALFORMED)
            return []
        return self._forward(now, view, elements)

    def _forward(
        self, now: float, view: RtpView, elements: list[tuple[int, int, int]] | None
    ) -> list[OutPacket]:
        ext = self._accept(view)
        if ext < 0:
            return []
        if self._nacks is not None and self._nacks.on_packet(now, ext):
            self.timer_changed = True
        if view.payload_start == view.payload_end:
            return self._drop_for_all(ext, DropReason.PADDING_ONLY)
        if view.pt not in self._detectors:
            return self._drop_for_all(ext, DropReason.UNKNOWN_PAYLOAD_TYPE)
        detector = self._detectors[view.pt]
        keyframe = detector is None or detector(view.data, view.payload_start, view.payload_end)
        if keyframe and detector is not None:
            self._keyframes.on_keyframe(now)
        out: list[OutPacket] = []
        for sub in self._sub_list:
            packet = sub.forward(now, view, ext, keyframe, elements)
            if packet is not None:
                out.append((sub.subscriber_id, packet))
            else:
                self.drops.add(sub.last_drop)
        return out

    def _accept(self, view: RtpView) -> int:
        """Input stage: SSRC check, sequence unwrap, duplicate and reorder-window filter.
        Returns the extended sequence number, or -1 when the packet is dropped."""
        if self._ssrc is None:
            self._ssrc = view.ssrc
        elif view.ssrc != self._ssrc:
            self.drops.add(DropReason.WRONG_SSRC)
            return -1
        self.packets_in += 1
        seq = (view.seq + self._shift) & 0xFFFF  # = add16(view.seq, self._shift), inlined
        if self._max_ext < 0:
            # One cycle up, so packets sent just before the first one to arrive (reordered
            # across the 16-bit wrap, e.g. a keyframe at 65535 behind a packet at 0) still get a
            # non-negative extended number instead of being dropped as too old.
            ext = seq + 0x10000
        else:
            # Unwrap relative to the newest: the nearest extended value with these low 16 bits.
            # = extend16(self._max_ext, seq), inlined: this runs per packet.
            ext = self._max_ext + (((seq - self._max_ext + 0x8000) & 0xFFFF) - 0x8000)
            if ext <= self._max_ext - self._window or ext < 0:
                ext = self._far_off(view.seq)
                if ext < 0:
                    self.drops.add(DropReason.TOO_OLD)
                    return -1
        slot = ext % self._window
        if self._seen[slot] == ext:
            self.drops.add(DropReason.DUPLICATE)
            return -1
        self._seen[slot] = ext
        if ext > self._max_ext:
            self._max_ext = ext
        return ext

    def _far_off(self, seq: int) -> int:
        """A sequence number far outside the window: RFC 3550 A.1 treats two consecutive ones as
        a restarted sequence (a publisher that reset its encoder keeps its SSRC). Then input is
        re-based so the new sequence continues the old one and subscribers see no jump."""
        if seq != self._probation:
            self._probation = add16(seq, 1)
            return -1
        self._probation = -1
        # The previous far-off packet (seq - 1) was dropped: it becomes the missing max_ext + 1.
        self._shift = wrap16(self._max_ext + 2 - seq)
        if self._nacks is not None:
            self._nacks.reset()
        return self._max_ext + 2

    def _drop_for_all(self, ext: int, reason: DropReason) -> list[OutPacket]:
        self.drops.add(reason)
        for sub in self._sub_list:
            sub.skip(ext, reason)
        return []

    # --- RTCP ----------------------------------------------------------------------------------

    def on_subscriber_rtcp(
        self, now: float, subscriber_id: str, packets: Iterable[RtcpPacket]
    ) -> list[Action]:
        """RTCP from a subscriber (already parsed with :func:`~.rtp.parse_rtcp`). Packets about
        other SSRCs are ignored, so the adapter may pass a whole compound packet to every
        forwarder the subscriber receives from."""
        sub = self._subs.get(subscriber_id)
        if sub is None:
            return []
        actions: list[Action] = []
        for packet in packets:
            if isinstance(packet, Nack):
                if packet.media_ssrc == sub.ssrc:
                    actions.extend(
                        SendToSubscriber(subscriber_id, p) for p in sub.retransmit(now, packet.seqs)
                    )
            elif isinstance(packet, Pli):
                if packet.media_ssrc == sub.ssrc and sub.count_keyframe_request(None):
                    actions.extend(self._request_keyframe(now))
            elif isinstance(packet, Fir):
                for ssrc, command_seq in packet.entries:
                    if ssrc == sub.ssrc and sub.count_keyframe_request(command_seq):
                        actions.extend(self._request_keyframe(now))
            elif isinstance(packet, Remb):
                if sub.ssrc in packet.ssrcs:
                    actions.extend(self._on_remb(now, subscriber_id, packet.bitrate))
            elif isinstance(packet, ReceiverReport | SenderReport):
                for block in packet.reports:
                    if block.ssrc == sub.ssrc:
                        sub.on_report_block(now, block)
        return actions

    def on_publisher_rtcp(self, now: float, packets: Iterable[RtcpPacket]) -> None:
        """RTCP from the publisher: its sender reports give the NTP<->RTP mapping the node's own
        sender reports are derived from (see :class:`~.sender_report.SenderReportState`)."""
        for packet in packets:
            if isinstance(packet, SenderReport) and packet.ssrc == self._ssrc:
                self._publisher_sr = (now, packet.rtp_ts)
                for sub in self._sub_list:
                    sub.sender_report_state.on_publisher_sr(now, packet.rtp_ts)

    def publisher_ready(self, now: float) -> list[Action]:
        """The publisher's DTLS/SRTP is up: a keyframe request made before (a subscriber linked
        while the publisher was still connecting) was lost; repeat a pending one now."""
        if self.track.kind != "video" or not self._keyframes.upstream_ready(now):
            return []
        self.timer_changed = True
        return [self._pli()]

    def request_keyframe(self, now: float) -> list[Action]:
        """Someone beside the subscribers (the recorder) needs a keyframe: merged with every other
        request into one throttled, retried PLI (see :class:`KeyframeRequestManager`)."""
        return self._request_keyframe(now)

    def _request_keyframe(self, now: float) -> list[Action]:
        if self.track.kind != "video" or not self._keyframes.request(now):
            return []
        self.timer_changed = True  # the retry is due keyframe_retry_interval from now
        return [self._pli()]

    def _pli(self) -> SendToPublisher:
        return SendToPublisher(build_pli(self.track.feedback_ssrc, self._ssrc or 0), "pli")

    def on_subscriber_estimate(
        self, now: float, subscriber_id: str, bitrate: int | None
    ) -> list[Action]:
        """The node's own estimate of what this track may take on the subscriber's downlink
        (``None``: no limit; see :mod:`.bandwidth_estimator`). From then on it replaces the
        subscriber's REMB in the target sent upstream (:class:`~.remb.RembAggregator`)."""
        if subscriber_id not in self._subs:
            return []
        return self._send_remb(self._remb.update_estimate(now, subscriber_id, bitrate))

    @property
    def publisher_target(self) -> int | None:
        """The bit rate last asked of the publisher (REMB), ``None`` before the first."""
        return self._remb.last_sent

    def _on_remb(self, now: float, subscriber_id: str, bitrate: int) -> list[Action]:
        return self._send_remb(self._remb.update(now, subscriber_id, bitrate))

    def _send_remb(self, value: int | None) -> list[Action]:
        if value is None or self._ssrc is None:
            return []
        return [SendToPublisher(build_remb(self.track.feedback_ssrc, value, [self._ssrc]), "remb")]

    # --- timers and reports --------------------------------------------------------------------

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` must run next (keyframe retries, upstream NACKs) or None."""
        timers = [self._keyframes.get_timer()]
        if self._nacks is not None:
            timers.append(self._nacks.get_timer())
        due = [t for t in timers if t is not None]
        return min(due) if due else None

    def handle_timer(self, now: float) -> list[Action]:
        """Run what is due at ``now``; calling it early is harmless."""
        actions: list[Action] = []
        if self._keyframes.handle_timer(now) and self.track.kind == "video":
            actions.append(self._pli())
        if self._nacks is not None and self._ssrc is not None:
            seqs = self._nacks.handle_timer(now)
            if seqs:
                publisher_seqs = [add16(s, -self._shift) for s in seqs]
                packet = build_nack(self.track.feedback_ssrc, self._ssrc, publisher_seqs)
                actions.append(SendToPublisher(packet, "nack"))
        return actions

    def sender_report(self, now: float, wallclock: float, subscriber_id: str) -> bytes | None:
        """The RTCP SR for a subscriber's stream (``wallclock`` = Unix time, for the NTP field), or
        ``None`` before anything was sent to it (RFC 3550 §6.4: only active senders send SRs)."""
        return self._subs[subscriber_id].sender_report(now, wallclock)

    @property
    def keyframe_requests(self) -> KeyframeRequestManager:
        return self._keyframes
