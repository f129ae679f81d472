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

Layers: a simulcast track (``TrackConfig.rids``) arrives as one RTP stream per encoding, each a
:class:`~.layer.Layer` with its own input stage, NACKs, keyframe requests and sender reports; a
track without simulcast is one layer. Each subscription takes one layer at a time, on one
outgoing SSRC. :meth:`Forwarder.select_layer` moves it to another *at that layer's next
keyframe* (requested, throttled): until then it keeps the layer it has, so the picture never
stops, and nothing of the new layer reaches it before the keyframe's first packet. The switch
is seamless for the decoder (:meth:`.Subscription.switch_source`): the sequence numbers
continue without a gap, the timestamps continue on the old layer's timeline (mapped through both
layers' sender reports, else by elapsed time, never backwards), and VP8 PictureID/TL0PICIDX
continue (:class:`~liveloop_sfu.media.codecs.vp8.PictureIdRewriter`). The idea is mediasoup's
``SimulcastConsumer`` (switch on the target's keyframe, timestamps from sender reports), in our
own form.

Temporal layers: libwebrtc sends each VP8 simulcast encoding in temporal layers (three by
default; the TID in each packet's payload descriptor, RFC 7741 §4.2). When even a video's
smallest layer does not fit a subscriber, :meth:`Forwarder.select_temporal` limits the TIDs it
gets: the frames of higher layers are dropped where a frame begins (lowered at once, raised at a
layer-sync frame), their sequence numbers and PictureIDs closed up, so the decoder sees one
stream at a lower frame rate. :class:`~.simulcast.LayerStats` measures each temporal layer's
share of the bit rate for the allocation.

Every packet not sent is counted under a :class:`~.drops.DropReason`, in :attr:`Forwarder.drops`
and in the subscriber's :attr:`~.subscription.Subscription.drops`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from liveloop_sfu.media.codecs.h264 import keyframe_size as h264_keyframe_size
from liveloop_sfu.media.codecs.keyframes import KeyframeDetector, keyframe_detector
from liveloop_sfu.media.codecs.vp8 import keyframe_size, temporal_layer
from liveloop_sfu.media.core.drops import DropCounters, DropReason
from liveloop_sfu.media.core.keyframe_requests import KeyframeRequestManager
from liveloop_sfu.media.core.layer import (
    Layer,
    largest_layer,
    recording_layer,
    report_blocks,
    switch_layer,
)
from liveloop_sfu.media.core.remb import RembAggregator
from liveloop_sfu.media.core.rtp import (
    Fir,
    Nack,
    Pli,
    ReceiverReport,
    Remb,
    ReportBlock,
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
from liveloop_sfu.media.core.seq import add16
from liveloop_sfu.media.core.subscription import (
    ALL_TEMPORAL_LAYERS,
    SubscriberConfig,
    SubscriberStats,
    Subscription,
)

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
    """Send an RTCP packet upstream to the publisher of this track. A PLI says why it was
    asked (``reason``, counted in metrics): ``new-subscriber``, ``subscriber`` (its PLI or FIR),
    ``layer-switch``, ``resume`` (a paused subscription), ``recorder``, ``publisher-ready``
    or ``retry``."""

    packet: bytes
    kind: Literal["pli", "nack", "remb"]
    reason: str = field(default="", compare=False)  # what is sent is the same whatever the why


Action = SendToSubscriber | SendToPublisher


@dataclass(frozen=True, slots=True)
class TrackConfig:
    """What the publisher negotiated for this track.

    ``codecs`` maps the publisher's media payload types to codec names (``{96: "VP8"}``); RTX
    payload types go in ``rtx_payload_types`` (rtx pt -> media pt, from ``apt``). ``ssrc`` is the
    publisher's media SSRC, or ``None`` to latch the first one seen. ``feedback_ssrc`` is the sender
    SSRC the node writes in the RTCP it sends upstream (PLI, NACK, REMB). ``rids``: the simulcast
    layers (RFC 8851 rids, two or more, video), whose SSRCs :meth:`Forwarder.learn_layer` learns
    from the packets; ``ssrc`` is then unused.
    """

    kind: Literal["audio", "video"]
    ssrc: int | None
    clock_rate: int
    codecs: Mapping[int, str]
    header_extensions: Mapping[int, str] = field(default_factory=dict)
    rtx_payload_types: Mapping[int, int] = field(default_factory=dict)
    feedback_ssrc: int = 1
    rids: tuple[str, ...] = ()


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
        self._detectors: dict[int, KeyframeDetector | None] = {
            pt: keyframe_detector(name) if track.kind == "video" else None
            for pt, name in track.codecs.items()
        }
        self._subs: dict[str, Subscription] = {}
        # One Layer per incoming stream: the track, or each of its simulcast layers.
        self.simulcast = track.kind == "video" and len(track.rids) > 1
        if self.simulcast:
            self.layers = [
                Layer(i, rid, None, settings, simulcast=True, clock_rate=track.clock_rate)
                for i, rid in enumerate(track.rids)
            ]
        else:
            self.layers = [Layer(0, "", track.ssrc, settings, simulcast=False)]
        self._main = self.layers[0]
        self._by_ssrc: dict[int, Layer] = {}
        self._by_rtx_ssrc: dict[int, Layer] = {}
        self._recorded: Layer | None = None  # the layer a recording takes (see records())
        self._vp8_pts = frozenset(
            pt for pt, name in track.codecs.items() if self.simulcast and name.lower() == "vp8"
        )
        self._h264_pts = frozenset(
            pt for pt, name in track.codecs.items() if name.lower() == "h264"
        )
        self._remb = RembAggregator(
            settings.remb_expiry, settings.remb_min_interval, settings.remb_refresh_interval
        )

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
        layer: int = -1,
    ) -> list[Action]:
        """Start forwarding to a subscriber. Video waits for a keyframe, which this requests (the
        returned PLI) unless ``config.egress_ready`` is false: then :meth:`egress_ready` asks.

        ``transport_seq`` is the transport-wide sequence counter of the subscriber's transport
        (share one between all subscriptions on a transport); a private one is made if omitted.
        ``continue_from`` is a subscription returned by another forwarder's
        :meth:`remove_subscriber`: the subscriber's output stream (same SSRC) then continues
        seamlessly from it (see :meth:`Subscription.continue_from`). ``layer``: the simulcast
        layer to start on (index in ``TrackConfig.rids``); -1 takes the largest one seen.
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
            vp8_payload_types=self._vp8_pts,
        )
        if continue_from is not None:
            sub.continue_from(continue_from)
        start = self.layers[layer] if 0 <= layer < len(self.layers) else largest_layer(self.layers)
        sub.layer = start.index
        if start.publisher_sr is not None:
            sub.sender_report_state.on_publisher_sr(*start.publisher_sr)
        self._subs[config.subscriber_id] = sub
        start.subs.append(sub)
        if sub.gated and config.egress_ready:
            return self._request_keyframe(now, start, "new-subscriber")
        return []

    def remove_subscriber(self, subscriber_id: str) -> Subscription | None:
        """Stop forwarding; idempotent. Returns the removed subscription (``None`` if unknown),
        which another forwarder's :meth:`add_subscriber` may continue."""
        sub = self._subs.pop(subscriber_id, None)
        if sub is not None:
            self._cancel_switch(sub)
            self.layers[sub.layer].subs.remove(sub)
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
            return self._request_keyframes_for(now, sub, "new-subscriber")
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
                return self._request_keyframes_for(now, sub, "resume")
        return []

    # --- simulcast layers ----------------------------------------------------------------------

    def learn_layer(self, rid: str, ssrc: int, rtx: bool) -> bool:
        """The publisher sends layer ``rid`` (its RTX stream if ``rtx``) on ``ssrc``, as the
        packet's RID (or repaired-RID) extension says (RFC 8852 §3). False, and nothing learnt,
        when the track has no such layer or that layer already has another SSRC."""
        layer = next((x for x in self.layers if self.simulcast and x.rid == rid), None)
        if layer is None:
            return False
        known = layer.rtx_ssrc if rtx else layer.ssrc
        if known is not None:
            return known == ssrc
        if ssrc in self._by_ssrc or ssrc in self._by_rtx_ssrc:
            return False
        if rtx:
            layer.rtx_ssrc = ssrc
            self._by_rtx_ssrc[ssrc] = layer
        else:
            layer.ssrc = ssrc
            self._by_ssrc[ssrc] = layer
        return True

    def layer_of(self, subscriber_id: str) -> tuple[int, int]:
        """``(layer forwarded now, layer being switched to or -1)`` of a subscriber."""
        sub = self._subs[subscriber_id]
        return sub.layer, sub.target_layer

    def select_layer(
        self,
        now: float,
        subscriber_id: str,
        index: int,
        *,
        hold: bool = False,
        keyframe: bool = True,
    ) -> list[Action]:
        """Move a subscriber to layer ``index`` at that layer's next keyframe (requested now,
        throttled, unless ``keyframe`` is false: then the caller asks for it later with
        :meth:`request_switch_keyframe`); until then it keeps receiving the layer it has, or,
        with ``hold``, nothing (its downlink cannot carry the layer it has: what that layer sends
        would be lost and would only delay the new layer's keyframe behind it). Selecting the
        current layer cancels a pending switch."""
        sub = self._subs[subscriber_id]
        if not 0 <= index < len(self.layers):
            raise ValueError(f"no layer {index} (the track has {len(self.layers)})")
        if index == sub.target_layer:
            sub.holding = sub.holding or hold
            return []
        # Once frames of the current layer were held back, the decoder cannot take it up again
        # before its next keyframe.
        held = sub.holding
        self._cancel_switch(sub)
        if index == sub.layer:
            if not held:
                return []
            sub.resume_at_keyframe()
            layer = self.layers[index]
            return self._request_keyframe(now, layer, "layer-switch") if sub.egress_ready else []
        target = self.layers[index]
        target.joining.append(sub)
        sub.target_layer = index
        sub.holding = hold or held
        if not keyframe or not sub.egress_ready:
            return []
        return self._request_keyframe(now, target, "layer-switch")

    def request_switch_keyframe(self, now: float, subscriber_id: str) -> list[Action]:
        """The keyframe a subscriber's pending switch waits for (see :meth:`select_layer`'s
        ``keyframe``); nothing if it has no switch pending (any more)."""
        sub = self._subs.get(subscriber_id)
        if sub is None or sub.target_layer < 0 or not sub.egress_ready:
            return []
        return self._request_keyframe(now, self.layers[sub.target_layer], "layer-switch")

    def select_temporal(self, subscriber_id: str, highest: int) -> None:
        """Forward a subscriber the temporal layers up to TID ``highest`` (0: the base layer
        only; :data:`~.subscription.ALL_TEMPORAL_LAYERS`: all), from the next frame where the
        change is decodable (see "temporal layers" above)."""
        if not 0 <= highest <= ALL_TEMPORAL_LAYERS:
            raise ValueError(f"no temporal layer {highest}")
        self._subs[subscriber_id].temporal_target = highest

    def temporal_of(self, subscriber_id: str) -> tuple[int, int]:
        """``(highest TID forwarded now, highest wanted)`` of a subscriber."""
        sub = self._subs[subscriber_id]
        return sub.temporal, sub.temporal_target

    def records(self, ssrc: int) -> bool:
        """Does a recording of a simulcast track take the packets of ``ssrc`` (a layer's media or
        RTX SSRC)? A file holds one stream, so the recorder gets one layer, the largest, for
        the whole track: chosen once every layer the publisher sends (two at least) has shown a
        keyframe, nothing before. Without simulcast, every packet."""
        if not self.simulcast:
            return True
        layer = self._recorded
        if layer is None:
            layer = self._recorded = recording_layer(self.layers)
            if layer is None:
                return False
        return ssrc == layer.ssrc or ssrc == layer.rtx_ssrc

    def _cancel_switch(self, sub: Subscription) -> None:
        sub.holding = False
        if sub.target_layer >= 0:
            self.layers[sub.target_layer].joining.remove(sub)
            sub.target_layer = -1

    def _admit(self, now: float, layer: Layer, view: RtpView) -> None:
        """``view`` begins a keyframe of ``layer``: the subscriptions waiting for it switch now,
        before the packet is forwarded, so it is the first they get of this layer."""
        for sub in layer.joining:
            switch_layer(sub, self.layers[sub.layer], layer, now, view.ts, self.track.clock_rate)
        layer.joining.clear()

    # --- media from the publisher (hot path) ---------------------------------------------------

    def on_rtp(self, now: float, data: bytes) -> list[OutPacket]:
        """One RTP packet from the publisher -> ``[(subscriber_id, packet), ...]`` to send."""
        try:
            view = RtpView(data)
            elements = view.extensions() if view.ext_start else None
        except RtpParseError:
            self.drops.add(DropReason.MALFORMED)
            return []
        layer = self._main
        if view.ssrc != layer.ssrc:
            if layer.ssrc is None and not self.simulcast:
                layer.ssrc = view.ssrc  # latch the first SSRC seen
            else:
                found = self._by_ssrc.get(view.ssrc)
                if found is None:
                    self.drops.add(DropReason.WRONG_SSRC)
                    return []
                layer = found
        reception = layer.reception
        if reception is not None:  # a simulcast layer's (see Layer)
            reception.on_packet(now, view.ssrc, view.seq, view.ts)
        return self._forward(now, layer, view, elements)

    def on_rtx(self, now: float, data: bytes) -> list[OutPacket]:
        """One RTX packet (RFC 4588) from the publisher: unwrapped, then as :meth:`on_rtp`."""
        try:
            view = RtpView(data)
            apt = self.track.rtx_payload_types.get(view.pt)
            layer = self._by_rtx_ssrc.get(view.ssrc) if self.simulcast else self._main
            if apt is None or layer is None or layer.ssrc is None:
                self.drops.add(DropReason.UNKNOWN_PAYLOAD_TYPE)
                return []
            original = rtx_unwrap(view, apt, layer.ssrc)
            if original is None:
                self.drops.add(DropReason.PADDING_ONLY)
                return []
            view = RtpView(original)
            elements = view.extensions() if view.ext_start else None
        except RtpParseError:
            self.drops.add(DropReason.MALFORMED)
            return []
        return self._forward(now, layer, view, elements)

    def _forward(
        self, now: float, layer: Layer, view: RtpView, elements: list[tuple[int, int, int]] | None
    ) -> list[OutPacket]:
        self.packets_in += 1
        ext = layer.accept(view, self.drops)
        if ext < 0:
            return []
        nacks = layer.nacks
        if nacks is not None and nacks.on_packet(now, ext):
            self.timer_changed = True
        if view.payload_start == view.payload_end:
            self.drops.add(DropReason.PADDING_ONLY)
            layer.drop_for_all(ext, DropReason.PADDING_ONLY)
            return []
        if view.pt not in self._detectors:
            self.drops.add(DropReason.UNKNOWN_PAYLOAD_TYPE)
            layer.drop_for_all(ext, DropReason.UNKNOWN_PAYLOAD_TYPE)
            return []
        detector = self._detectors[view.pt]
        keyframe = detector is None or detector(view.data, view.payload_start, view.payload_end)
        if keyframe and detector is not None:
            layer.keyframes.on_keyframe(now)
            if layer.joining:
                self._admit(now, layer, view)
        tid = -1
        if view.pt in self._vp8_pts:
            tid = temporal_layer(view.data, view.payload_start, view.payload_end)
        stats = layer.stats
        if stats is not None:
            stats.on_packet(now, view.ts, len(view.data), tid)
            if keyframe:
                start, end = view.payload_start, view.payload_end
                if view.pt in self._h264_pts:
                    width, height = h264_keyframe_size(view.data, start, end)
                else:
                    width, height = keyframe_size(view.data, start, end)
                stats.on_keyframe(now, width, height)
        out: list[OutPacket] = []
        for sub in layer.subs:
            packet = sub.forward(now, view, ext, keyframe, elements, tid)
            if packet is not None:
                out.append((sub.subscriber_id, packet))
            else:
                self.drops.add(sub.last_drop)
        return out

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
                    actions.extend(self._request_keyframes_for(now, sub, "subscriber"))
            elif isinstance(packet, Fir):
                for ssrc, command_seq in packet.entries:
                    if ssrc == sub.ssrc and sub.count_keyframe_request(command_seq):
                        actions.extend(self._request_keyframes_for(now, sub, "subscriber"))
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
        sender reports are derived from (see :class:`~.sender_report.SenderReportState`), and,
        per simulcast layer, the mapping between the layers' timestamps at a switch."""
        for packet in packets:
            if not isinstance(packet, SenderReport):
                continue
            layer = self._main if packet.ssrc == self._main.ssrc else None
            if layer is None:
                layer = self._by_ssrc.get(packet.ssrc)
            if layer is None:
                continue
            layer.publisher_sr = (now, packet.rtp_ts)
            layer.publisher_ntp = (packet.ntp / 4294967296.0, packet.rtp_ts)
            if layer.reception is not None:
                layer.reception.on_sender_report(now, packet.ssrc, packet.ntp)
            for sub in layer.subs:
                sub.sender_report_state.on_publisher_sr(now, packet.rtp_ts)

    def layer_report_blocks(self, now: float) -> list[ReportBlock]:
        """A simulcast track's receiver report blocks, one per layer heard from (RFC 3550
        §6.4.2: one block per source); [] without simulcast (the session reports that stream)."""
        return report_blocks(self.layers, now)

    def publisher_ready(self, now: float) -> list[Action]:
        """The publisher's DTLS/SRTP is up: a keyframe request made before (a subscriber linked
        while the publisher was still connecting) was lost; repeat a pending one now."""
        if self.track.kind != "video":
            return []
        actions: list[Action] = []
        for layer in self.layers:
            # A simulcast layer not heard from yet cannot be asked (no SSRC); a plain track's
            # PLI goes out as it always did.
            askable = layer.ssrc is not None or not self.simulcast
            if askable and layer.keyframes.upstream_ready(now):
                self.timer_changed = True
                actions.append(self._pli(layer, "publisher-ready"))
        return actions

    def request_keyframe(self, now: float) -> list[Action]:
        """Someone beside the subscribers (the recorder) needs a keyframe: merged with every other
        request into one throttled, retried PLI (see :class:`KeyframeRequestManager`); of every
        layer of a simulcast track."""
        actions: list[Action] = []
        for layer in self.layers:
            actions += self._request_keyframe(now, layer, "recorder")
        return actions

    def _request_keyframes_for(self, now: float, sub: Subscription, reason: str) -> list[Action]:
        """A keyframe of the layer the subscriber gets, and of the one it is switching to."""
        actions = self._request_keyframe(now, self.layers[sub.layer], reason)
        if sub.target_layer >= 0:
            actions += self._request_keyframe(now, self.layers[sub.target_layer], reason)
        return actions

    def _request_keyframe(self, now: float, layer: Layer, reason: str) -> list[Action]:
        if self.track.kind != "video" or not layer.keyframes.request(now):
            return []
        self.timer_changed = True  # the retry is due keyframe_retry_interval from now
        # A layer whose SSRC is not known yet cannot be asked: its retry will, once it is.
        return [self._pli(layer, reason)] if layer.ssrc is not None or not self.simulcast else []

    def _pli(self, layer: Layer, reason: str) -> SendToPublisher:
        packet = build_pli(self.track.feedback_ssrc, layer.ssrc or 0)
        return SendToPublisher(packet, "pli", reason)

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
        # A simulcast publisher is not capped by its subscribers: each gets the layer that fits
        # it, and the publisher's own estimate (transport-cc) sizes what it sends.
        ssrc = self._main.ssrc
        if value is None or ssrc is None or self.simulcast:
            return []
        return [SendToPublisher(build_remb(self.track.feedback_ssrc, value, [ssrc]), "remb")]

    # --- timers and reports --------------------------------------------------------------------

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` must run next (keyframe retries, upstream NACKs) or None."""
        due: float | None = None
        for layer in self.layers:
            timers = [layer.keyframes.get_timer()]
            if layer.nacks is not None:
                timers.append(layer.nacks.get_timer())
            for timer in timers:
                if timer is not None and (due is None or timer < due):
                    due = timer
        return due

    def handle_timer(self, now: float) -> list[Action]:
        """Run what is due at ``now``; calling it early is harmless."""
        actions: list[Action] = []
        for layer in self.layers:
            ssrc = layer.ssrc
            due = layer.keyframes.handle_timer(now) and self.track.kind == "video"
            if due and (ssrc is not None or not self.simulcast):
                actions.append(self._pli(layer, "retry"))
            if layer.nacks is not None and ssrc is not None:
                seqs = layer.nacks.handle_timer(now)
                if seqs:
                    publisher_seqs = [add16(s, -layer.shift) for s in seqs]
                    packet = build_nack(self.track.feedback_ssrc, ssrc, publisher_seqs)
                    actions.append(SendToPublisher(packet, "nack"))
        return actions

    def sender_report(self, now: float, wallclock: float, subscriber_id: str) -> bytes | None:
        """The RTCP SR for a subscriber's stream (``wallclock`` = Unix time, for the NTP field), or
        ``None`` before anything was sent to it (RFC 3550 §6.4: only active senders send SRs)."""
        return self._subs[subscriber_id].sender_report(now, wallclock)

    @property
    def keyframe_requests(self) -> KeyframeRequestManager:
        """The keyframe requests of the track's (first) stream."""
        return self._main.keyframes
