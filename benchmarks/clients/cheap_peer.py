"""The cheap load client: a real WebRTC handshake, then no Python per packet.

:class:`CheapPeer` negotiates with the node like :class:`benchmarks.clients.peer.BenchPeer` does
(the wire protocol through :class:`~liveloop_sfu.client.WireClient`, aiortc's ICE and DTLS), so
ICE credentials and SRTP keys come from a real handshake. Once DTLS is up it takes the media
over from aiortc:

* publishing: the cached encoded frames were cut into RTP payloads once per process
  (:func:`packetized`); per frame, one call into compiled code
  (:class:`~benchmarks.clients.native.media_sender.StreamSender`) numbers, SRTP-protects and
  sends the frame's packets through the node's own packet path
  (:class:`~liveloop_sfu.media.transport.srtp.packet_io.PeerIo`);
* receiving: the socket is taken off asyncio's selector and drained from the same timer by
  compiled code (:class:`~benchmarks.clients.native.header_counter.MediaReceiver`) that counts
  from the clear RTP header and decrypts only a sample; sampled video frames are matched byte
  for byte against the cached frames (whose pictures carry their frame number, verified when
  the cache was built), which names the frame for the order and latency checks;
* feedback, as a browser sends it: receiver reports (RFC 3550 §6.4.2) and sender reports
  (§6.4.1) once a second, generic NACKs for sequence gaps (RFC 4585 §6.2.1), a PLI (§6.3.1)
  when a loss could not be repaired; the node's NACKs are answered from a packet history (RTX,
  RFC 4588, when negotiated) and its PLIs/FIRs by jumping to the next cached keyframe.

One :class:`Ticker` per process runs every :data:`TICK` seconds and drives all its peers in one
call into compiled code (:func:`~benchmarks.clients.native.pump.run_all`: frames due, sockets
drained); Python runs once per tick for the whole process, and for a peer only when it has RTCP,
a sampled frame, NACKs or reports to handle — whatever the packet rate.

Transport-wide congestion control (draft-holmer-rmcat-transport-wide-cc-extensions-01), which
aiortc does not offer, is offered as a browser offers it (:func:`offer_transport_cc`): the
publishers stamp a transport-wide sequence number on every packet they send (the node records
their arrivals and sends them transport feedback), and the receivers send transport feedback
about what the node sends them, with each packet's kernel receive time.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import time
from dataclasses import dataclass, field
from typing import Any, cast

from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc import sdp as aiortc_sdp
from aiortc.rtcdtlstransport import State as DtlsState

from benchmarks.clients.native.header_counter import MediaReceiver
from benchmarks.clients.native.media_sender import (
    StreamSender,
    TransportSequence,
    annexb_reference,
    packetize,
    packetize_h264,
)
from benchmarks.clients.native.pump import MediaPump, run_all
from benchmarks.media.cache import OPUS_SAMPLE_RATE, MediaCache
from benchmarks.media.synthetic import VIDEO_CLOCK_RATE
from benchmarks.reports.stats import StreamSnapshot
from liveloop_sfu.client import WireClient
from liveloop_sfu.media.core.rewriter import REPAIRED_RID_URI, RID_URI, TRANSPORT_CC_URI
from liveloop_sfu.media.core.rtp import (
    ONE_BYTE_PROFILE,
    Fir,
    Nack,
    Pli,
    ReceiverReport,
    RtpParseError,
    RtpView,
    SenderReport,
    build_extension_block,
    build_nack,
    build_pli,
    build_rr,
    build_sr,
    parse_rtcp,
    rtx_wrap,
)
from liveloop_sfu.media.core.rtp_common import ntp_from_unix, ntp_middle32
from liveloop_sfu.media.core.transport_feedback import TransportFeedback
from liveloop_sfu.media.settings import MediaSettings
from liveloop_sfu.media.transport.hooks import override
from liveloop_sfu.media.transport.ice_gathering import raw_socket, restrict_gathering
from liveloop_sfu.media.transport.srtp.packet_io import PeerIo, SrtpContext

TICK = 0.02  # seconds between two runs of the timer: one Opus packet, 0.6 of a 30 fps frame
# aiortc's VP8 packetizer fills 1300-byte payloads, descriptor included: the same packets per
# frame as the aiortc clients, so both kinds compare at equal packets per second.
VIDEO_MAX_PAYLOAD = 1300 - 4
REPORT_INTERVAL = 1.0  # RTCP reports, as browsers send them about once a second
PLI_INTERVAL = 1.0  # at most one PLI per second per stream
TRANSPORT_CC_ID = 5  # free in aiortc's offers (mid 1, audio level 2, abs-send-time 3)
SAMPLE_EVERY = 64  # authenticate and decrypt one packet in this many
FRAME_EVERY = 16  # and every packet of one video frame in this many (content and latency)
CONNECT_TIMEOUT = 20.0
RTT_KEPT = 64
BACKWARDS = 8  # sampled frames this close behind the previous one are out of order


@dataclass(frozen=True)
class PacketizedMedia:
    """The cached media cut into RTP payloads once: ``video[i]`` are frame i's chunks."""

    fps: int
    video: list[list[bytes]]
    keyframes: list[bool]
    audio: list[list[bytes]]
    index_of: dict[bytes, int]  # a cached frame's bytes -> its number (painted in its picture)
    codec: str = "vp8"  # vp8: chunks get a VP8 descriptor; h264: RFC 6184 payloads already
    # Simulcast (--simulcast): the smaller encodings' frames as chunks, smallest first, and the
    # RIDs of every encoding, ``video``'s last. Empty: no simulcast.
    layers: tuple[list[list[bytes]], ...] = ()
    rids: tuple[str, ...] = ()
    layer_of: dict[bytes, int] = field(default_factory=dict)  # a frame's bytes -> its encoding


SIMULCAST_RIDS = ("q", "h", "f")  # quarter, half, full: as browsers' examples name them


def packetized(cache: MediaCache) -> PacketizedMedia:
    h264 = cache.spec.codec == "h264"
    encodings = [*cache.layers, cache.video]  # smallest first
    chunks: list[list[list[bytes]]] = []
    index_of: dict[bytes, int] = {}
    layer_of: dict[bytes, int] = {}
    for layer, frames in enumerate(encodings):
        if h264:
            chunks.append([packetize_h264(frame.data, VIDEO_MAX_PAYLOAD) for frame in frames])
            # What the receiver rebuilds from the payloads (start codes made uniform).
            reference = [annexb_reference(frame.data) for frame in frames]
        else:
            chunks.append([packetize(frame.data, VIDEO_MAX_PAYLOAD) for frame in frames])
            reference = [frame.data for frame in frames]
        for index, data in enumerate(reference):
            index_of[data] = index
            layer_of[data] = layer
    # A keyframe request makes every encoding jump to the next frame that is a keyframe in all
    # of them (frame 0 is one in each): one schedule for all.
    keyframes = [all(frames[i].keyframe for frames in encodings) for i in range(len(cache.video))]
    simulcast = len(encodings) > 1
    return PacketizedMedia(
        fps=cache.spec.fps,
        video=chunks[-1],
        keyframes=keyframes,
        audio=[[packet] for packet in cache.audio],
        index_of=index_of,
        codec=cache.spec.codec,
        layers=tuple(chunks[:-1]),
        rids=SIMULCAST_RIDS[-len(encodings) :] if simulcast else (),
        layer_of=layer_of if simulcast else {},
    )


class CheapVideoSource:
    """The publisher's video as the load generator sees it: when each cached frame was last
    sent, keyframe requests. The schedule itself is the compiled pump's."""

    def __init__(self) -> None:
        self.keyframe_requests = 0
        self.sent_at: dict[int, float] = {}  # frame number -> wall clock of its sending
        self.pump: MediaPump | None = None

    def request_keyframe(self) -> None:
        self.keyframe_requests += 1
        if self.pump is not None:
            self.pump.request_keyframe()


@dataclass
class CheapReceiveLog:
    """What a cheap peer received, in the shape the load generator reads from ``BenchPeer``."""

    receiver: MediaReceiver | None = None
    latencies: list[float] = field(default_factory=list)  # seconds, sampled frames
    counters: list[int] = field(default_factory=list)  # frame numbers of sampled frames
    decoded: int = 0  # sampled frames that matched a cached frame byte for byte
    unreadable: int = 0  # sampled frames that matched none
    incomplete: int = 0  # sampled frames with a packet missing (not checked)
    out_of_order: int = 0  # sampled frames whose number went backwards
    late: int = 0  # sampled frames older (by RTP timestamp) than one checked before
    last_ts: int = -1  # RTP timestamp of the last sampled frame checked in order
    layers: dict[str, int] = field(default_factory=dict)  # simulcast: sampled frames by RID

    @property
    def first_video_at(self) -> float | None:
        """time.monotonic() of the first complete video frame (to within one tick)."""
        if self.receiver is None or self.receiver.first_video_at == 0.0:
            return None
        return self.receiver.first_video_at

    def totals(self, kind: str) -> StreamSnapshot:
        packets = octets = frames = expected = 0
        if self.receiver is not None:
            for stream in self.receiver.streams.values():
                if stream.kind == kind:
                    packets += stream.packets + stream.repaired
                    octets += stream.octets
                    frames += stream.frames
                    expected += stream.expected()
        return StreamSnapshot(packets, octets, frames, expected)

    def video_streams(self) -> int:
        if self.receiver is None:
            return 0
        return sum(1 for s in self.receiver.streams.values() if s.kind == "video" and s.frames)

    def jitter_ms(self, kind: str) -> float | None:
        if self.receiver is None:
            return None
        values = [
            1000 * s.jitter / s.clock_rate
            for s in self.receiver.streams.values()
            if s.kind == kind and s.packets
        ]
        return max(values) if values else None


class Ticker:
    """One timer per process driving every cheap peer's pump; :meth:`CheapPeer.attend` runs
    only for the peers the pumps flag. A plain callback the event loop calls at each tick's time
    (``call_at``), not a task that sleeps: no future, task step or sleep per tick."""

    def __init__(self) -> None:
        self.pumps: list[MediaPump] = []
        self.ticks = 0
        self._timer: asyncio.TimerHandle | asyncio.Handle | None = None

    def add(self, pump: MediaPump) -> None:
        self.pumps.append(pump)
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_soon(self._tick)

    def remove(self, pump: MediaPump | None) -> None:
        with contextlib.suppress(ValueError):
            self.pumps.remove(pump)  # type: ignore[arg-type]

    def _tick(self) -> None:
        self._timer = None
        if not self.pumps:
            return
        loop = asyncio.get_running_loop()
        now, wallclock = time.monotonic(), time.time()
        try:
            for pump in run_all(self.pumps, now, wallclock):
                pump.owner.attend(now, wallclock)
        finally:
            # Even after a failure (which the loop's exception handler logs): the other peers'
            # media goes on. The loop's clock is time.monotonic's.
            self.ticks += 1
            if self.pumps:
                self._timer = loop.call_at(now + TICK, self._tick)

    async def stop(self) -> None:
        self.pumps.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


async def _noop_start(parameters: object) -> None:
    """Stands in for aiortc's RTCRtpSender.send / RTCRtpReceiver.receive: no encoder, decoder
    or RTCP tasks — the cheap peer sends and reports itself."""


class CheapPeer:
    """A load client's peer connection: aiortc for the handshake, compiled code for media."""

    def __init__(
        self,
        media: PacketizedMedia,
        ticker: Ticker,
        *,
        decode: bool,
        publish: bool = True,
        host_address: str = "127.0.0.1",
        sample_every: int = SAMPLE_EVERY,
        frame_every: int = FRAME_EVERY,
    ) -> None:
        """``decode``: check sampled frames' content (and latency); all receivers count."""
        self.pc = RTCPeerConnection(
            RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
        )
        self.media = media
        self.ticker = ticker
        self.decode = decode
        self.publish = publish
        self.host_address = host_address
        self.sample_every = sample_every
        self.frame_every = frame_every if decode else 0
        self.video = CheapVideoSource()
        self.received = CheapReceiveLog()
        self.partner_sent_at: dict[int, float] = {}
        self.window_open = False
        self.rtcp_ssrc = random.getrandbits(32)
        self.drop_every = 0  # tests: publishers leave out every Nth packet (a lossy link)
        self.forget_dropped = False  # tests: and cannot retransmit them
        self.batch_frames = True  # a frame's packets in one system call (UDP GSO) where it works
        # Offer transport-wide congestion control as browsers do (the node then stamps what it
        # sends us and expects our transport feedback; we send no stamps of our own).
        self.transport_cc = True
        self.transport_cc_id = 0  # the extension's id as the node answered it (0: not answered)
        self.answer_sdp = ""
        # The transport-wide sequence numbers of what we send (when the node answered the
        # extension): one counter for every stream of the peer connection.
        self.transport_seq = TransportSequence(random.getrandbits(16))
        self.io: PeerIo | None = None
        self.receiver: MediaReceiver | None = None
        self.pump: MediaPump | None = None
        self.senders: dict[str, StreamSender] = {}  # "video" / "audio"
        self.layer_senders: list[StreamSender] = []  # simulcast: the smaller video encodings
        self.paused_rids: set[str] = set()  # encodings paused at the node's request
        self.rtx: dict[str, tuple[int, int]] = {}  # kind -> (RTX payload type, RTX SSRC)
        self.rtt: list[float] = []  # seconds, from the node's reports about our streams
        self.sent_nacks = self.sent_plis = self.sent_reports = self.answered_nacks = 0
        self._rtx_seq = random.getrandbits(16)
        self._kinds: dict[int, str] = {}
        self._clock_rates: dict[int, int] = {}
        self._codecs: dict[int, str] = {}
        self._rtx_ssrcs: dict[int, int] = {}
        self._given_up = 0
        self._last_pli = 0.0
        self._task: asyncio.Task[None] | None = None
        self._hooked: set[int] = set()
        if publish:
            self.pc.addTransceiver("audio", direction="sendrecv")
            self.pc.addTransceiver("video", direction="sendrecv")

    def _prefer_codec(self) -> None:
        """Offer only the cached media's video codec (and its RTX), as a browser told to
        prefer one does (setCodecPreferences)."""
        wanted = f"video/{self.media.codec}"
        codecs = [
            c
            for c in RTCRtpSender.getCapabilities("video").codecs
            if c.mimeType.lower() in (wanted, "video/rtx")
        ]
        for transceiver in self.pc.getTransceivers():
            if transceiver.kind == "video":
                transceiver.setCodecPreferences(codecs)

    # --- negotiation (aiortc) -----------------------------------------------------------------
    def receive_pairs(self) -> int:
        """Receive-only audio + video pairs offered so far."""
        return sum(1 for t in self.pc.getTransceivers() if t.direction == "recvonly") // 2

    def ensure_receivers(self, others: int) -> None:
        """One receive-only audio + video pair per other participant of a group room."""
        have = sum(1 for t in self.pc.getTransceivers() if t.direction == "recvonly") // 2
        for _ in range(max(0, others - have)):
            self.pc.addTransceiver("audio", direction="recvonly")
            self.pc.addTransceiver("video", direction="recvonly")

    async def create_offer(self) -> str:
        if not self.pc.getTransceivers():  # receive-only (fan-out audience)
            self.pc.addTransceiver("audio", direction="recvonly")
            self.pc.addTransceiver("video", direction="recvonly")
        self._hook()
        self._prefer_codec()
        restrict_gathering(self.pc, MediaSettings(host_addresses=(self.host_address,)))
        await self.pc.setLocalDescription(await self.pc.createOffer())
        sdp = str(self.pc.localDescription.sdp)
        if self.publish and self.media.rids:
            sdp = offer_simulcast(sdp, self.media.rids)
        return offer_transport_cc(sdp) if self.transport_cc else sdp

    async def answer(self, offer: str) -> str:
        """Answer a server's offer (Janus VideoRoom offers its subscribers their feeds): the
        receive side as after :meth:`accept_answer`; what the server sends is in its offer."""
        await self.pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        self._hook()
        restrict_gathering(self.pc, MediaSettings(host_addresses=(self.host_address,)))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        self._learn(offer)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._start_when_connected())
        return str(self.pc.localDescription.sdp)

    def _hook(self) -> None:
        """No aiortc media tasks: this peer sends and receives through the compiled path."""
        for transceiver in self.pc.getTransceivers():
            if id(transceiver) not in self._hooked:
                self._hooked.add(id(transceiver))
                override(transceiver.sender, "send", _noop_start)
                override(transceiver.receiver, "receive", _noop_start)

    async def accept_answer(self, sdp: str) -> None:
        self.answer_sdp = sdp  # as the node wrote it (aiortc's copy drops a=rid, a=simulcast)
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp, "answer"))
        self._learn(sdp)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._start_when_connected())

    def _learn(self, sdp: str) -> None:
        """Payload types, clock rates and RTX SSRCs of what the node sends (its answer), and
        whether it answered transport-cc."""
        for media in aiortc_sdp.SessionDescription.parse(sdp).media:
            for extension in media.rtp.headerExtensions:
                if extension.uri == TRANSPORT_CC_URI and self.transport_cc:
                    self.transport_cc_id = extension.id
            for codec in media.rtp.codecs:
                if codec.payloadType is None:
                    continue
                rtx = codec.mimeType.lower().endswith("/rtx")
                self._kinds[codec.payloadType] = "rtx" if rtx else media.kind
                self._clock_rates[codec.payloadType] = codec.clockRate
                self._codecs[codec.payloadType] = codec.mimeType.split("/")[-1].lower()
            for group in media.ssrc_group:
                if group.semantic == "FID" and len(group.items) == 2:
                    self._rtx_ssrcs[int(group.items[1])] = int(group.items[0])
        if self.receiver is not None:
            self._configure(self.receiver)

    def _configure(self, receiver: MediaReceiver) -> None:
        receiver.transport_cc_id = self.transport_cc_id
        receiver.kinds.update(self._kinds)
        receiver.clock_rates.update(self._clock_rates)
        receiver.codecs.update(self._codecs)
        receiver.rtx_ssrcs.update(self._rtx_ssrcs)

    async def connected(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.pc.connectionState != "connected":
            if self.pc.connectionState in ("failed", "closed") or time.monotonic() > deadline:
                raise RuntimeError(f"peer connection {self.pc.connectionState}, not connected")
            await asyncio.sleep(0.02)

    async def _start_when_connected(self) -> None:
        await self.connected(CONNECT_TIMEOUT)
        transport = self.pc.getTransceivers()[0].receiver.transport
        for _ in range(int(CONNECT_TIMEOUT / 0.01)):  # the keys follow DTLS "connected"
            if transport._rx_srtp is not None and transport._tx_srtp is not None:
                break
            await asyncio.sleep(0.01)
        pump = self._take_over(transport)
        self.ticker.add(pump)

    def _take_over(self, transport: Any) -> MediaPump:
        """From aiortc to the compiled path: sends through ``PeerIo``; the socket leaves
        asyncio's selector and is drained by the ticker (STUN and DTLS still reach aioice)."""
        connection = transport.transport._connection
        pair = connection._nominated[1]
        sock = raw_socket(pair.protocol)
        if sock is None:
            raise RuntimeError("the nominated pair's socket is not one restrict_gathering bound")
        io = PeerIo(f"cheap {id(self):x}", DtlsState.CONNECTED, _locate)
        io.transport, io.nominated = transport, connection._nominated
        loop = asyncio.get_running_loop()
        if not isinstance(loop, asyncio.SelectorEventLoop):
            raise RuntimeError("the cheap client needs asyncio's selector event loop")
        # The private variant: the public remove_reader refuses an fd a transport owns. The
        # transport stays (aioice sends with it); only its reads move to the ticker.
        cast(Any, loop)._remove_reader(sock.fileno())
        receiver = MediaReceiver(
            sock,
            transport._rx_srtp,
            pair.protocol.datagram_received,
            sample_every=self.sample_every,
            frame_every=self.frame_every,
        )
        receiver.remote = pair.remote_addr
        receiver.enable_stamps()
        self._configure(receiver)
        self.io, self.receiver, self.received.receiver = io, receiver, receiver
        media = self.media
        pump = MediaPump(
            self, receiver, media.fps, media.video, media.keyframes, media.audio, self.video.sent_at
        )
        self.pump = self.video.pump = pump
        pump.io, pump.rtcp_ssrc = io, self.rtcp_ssrc  # it sends the transport feedback
        if self.publish:
            self._make_senders(io)
            pump.video_sender = self.senders.get("video")
            pump.audio_sender = self.senders.get("audio")
            pump.layer_senders = self.layer_senders
            pump.layer_video = list(media.layers)
            self.pause_encodings(self.paused_rids)  # asked before the senders existed
        return pump

    def _make_senders(self, io: PeerIo) -> None:
        for transceiver in self.pc.getTransceivers():
            if transceiver.currentDirection not in ("sendrecv", "sendonly"):
                continue
            kind = transceiver.kind
            if kind in self.senders or not transceiver._codecs:
                continue
            codecs = transceiver._codecs
            codec = next(c for c in codecs if not c.mimeType.lower().endswith("/rtx"))
            if codec.payloadType is None:
                continue
            mid_id = next(
                (e.id for e in transceiver._headerExtensions if e.uri.endswith("sdes:mid")), None
            )
            elements: list[tuple[int, bytes]] = []
            if self.transport_cc_id:
                elements.append((self.transport_cc_id, b"\0\0"))  # first: at a fixed place
            if mid_id is not None:
                elements.append((mid_id, str(transceiver.mid).encode()))
            rids = self.media.rids if kind == "video" else ()
            for layer, rid in enumerate(rids):
                # Each encoding its own SSRC, told apart by its RID (RFC 8852), as browsers
                # announce no SSRC for them; the last one is "video".
                sender = self._sender(
                    io, kind, codec, random.getrandbits(32), [*elements, (RID_ID, rid.encode())]
                )
                if layer < len(rids) - 1:
                    self.layer_senders.append(sender)
                else:
                    self.senders[kind] = sender
            if rids:
                continue  # no RTX: a NACKed packet of an encoding is sent again as it was
            self.senders[kind] = self._sender(io, kind, codec, transceiver.sender._ssrc, elements)
            rtx = next(
                (
                    c
                    for c in codecs
                    if c.mimeType.lower().endswith("/rtx")
                    and c.parameters.get("apt") == codec.payloadType
                ),
                None,
            )
            if rtx is not None and rtx.payloadType is not None:
                self.rtx[kind] = (rtx.payloadType, transceiver.sender._rtx_ssrc)

    def _sender(
        self, io: PeerIo, kind: str, codec: Any, ssrc: int, elements: list[tuple[int, bytes]]
    ) -> StreamSender:
        extensions, transport_at = _extension_block(elements, bool(self.transport_cc_id))
        sender = StreamSender(
            io,
            codec.payloadType,
            ssrc,
            extensions,
            vp8=codec.mimeType.lower() == "video/vp8",
            seq=random.getrandbits(16),
            marker=kind == "video",
            transport=self.transport_seq,
            transport_at=transport_at,
        )
        sender.drop_every, sender.forget_dropped = self.drop_every, self.forget_dropped
        if self.batch_frames:
            sock, datagrams, addr = _locate(io.nominated[1])
            srtp = SrtpContext(io.transport._tx_srtp)
            sender.batch_through(srtp, sock, datagrams, addr, DtlsState.CONNECTED)
        return sender

    def follow_layers(self, wire: WireClient) -> None:
        """Pause and resume the simulcast encodings as the node asks (``set-video-layers``:
        ``{mid, trackId, paused: [rid, ...]}``, the whole paused set each time), as the browser
        client does with each encoding's ``active``."""

        async def on_layers(payload: Any = None) -> None:
            paused = payload.get("paused") if isinstance(payload, dict) else None
            if isinstance(paused, list):
                self.pause_encodings({str(rid) for rid in paused})

        wire.sio.on("set-video-layers", on_layers)

    def pause_encodings(self, paused: set[str]) -> None:
        """Exactly the encodings named by RID paused, the others sent."""
        video = self.senders.get("video")
        encodings = [*self.layer_senders, *([video] if video is not None else [])]
        for rid, sender in zip(self.media.rids, encodings, strict=False):
            sender.paused = rid in paused
        self.paused_rids = {r for r in self.media.rids if r in paused}

    def _all_senders(self) -> list[tuple[str, StreamSender]]:
        """(kind, sender) of every stream sent, simulcast encodings included."""
        return [*self.senders.items(), *(("video", s) for s in self.layer_senders)]

    # --- what the pump flags -----------------------------------------------------------------
    def attend(self, now: float, wallclock: float) -> None:
        """Called by the ticker when this peer's pump has something for Python: RTCP from the
        node, sampled frames to check, NACKs to send, reports due."""
        receiver, pump = self.receiver, self.pump
        if receiver is None or pump is None:
            return
        if receiver.rtcp:
            self._on_rtcp(now, wallclock)
        if receiver.frames:
            self._check_frames()
        if receiver.gaps:
            self._send_nacks(now)
        if now >= pump.next_report:
            pump.next_report = now + REPORT_INTERVAL
            self._send_reports(now, wallclock)

    def _send(self, packet: bytes) -> None:
        if self.io is not None:
            self.io.send(packet)

    def _send_nacks(self, now: float) -> None:
        assert self.receiver is not None
        for ssrc, seqs in self.receiver.due_nacks(now):
            self._send(build_nack(self.rtcp_ssrc, ssrc, seqs))
            self.sent_nacks += 1
        given_up = sum(s.given_up for s in self.receiver.streams.values() if s.kind == "video")
        if given_up > self._given_up and now - self._last_pli >= PLI_INTERVAL:
            # A loss NACKs could not repair: the decoder would stall until a keyframe.
            self._given_up, self._last_pli = given_up, now
            for stream in self.receiver.streams.values():
                if stream.kind == "video":
                    self._send(build_pli(self.rtcp_ssrc, stream.ssrc))
                    self.sent_plis += 1

    def _send_reports(self, now: float, wallclock: float) -> None:
        assert self.receiver is not None
        blocks = []
        for stream in list(self.receiver.streams.values())[:31]:
            block = stream.reception.report_block(now)
            if block is not None and stream.kind in ("video", "audio"):
                stream.jitter = block.jitter
                blocks.append(block)
        ntp = ntp_from_unix(wallclock)
        for kind, sender in self._all_senders():
            assert self.pump is not None
            rate = VIDEO_CLOCK_RATE if kind == "video" else OPUS_SAMPLE_RATE
            since = now - (self.pump.next_video if kind == "video" else self.pump.next_audio)
            rtp_ts = sender.last_ts + int(max(0.0, since) * rate)
            self._send(build_sr(sender.ssrc, ntp, rtp_ts, sender.packets, sender.octets))
            self.sent_reports += 1
        if blocks or not self.senders:
            self._send(build_rr(self.rtcp_ssrc, blocks))
            self.sent_reports += 1

    def _on_rtcp(self, now: float, wallclock: float) -> None:
        assert self.receiver is not None
        compounds, self.receiver.rtcp = self.receiver.rtcp, []
        for data in compounds:
            try:
                packets = parse_rtcp(data)
            except RtpParseError:
                continue
            for packet in packets:
                self._on_rtcp_packet(packet, now, wallclock)

    def _on_rtcp_packet(self, packet: object, now: float, wallclock: float) -> None:
        assert self.receiver is not None
        if isinstance(packet, SenderReport):
            stream = self.receiver.streams.get(packet.ssrc)
            if stream is not None:
                stream.reception.on_sender_report(now, packet.ssrc, packet.ntp)
        if isinstance(packet, SenderReport | ReceiverReport):
            ours = {s.ssrc for _, s in self._all_senders()}
            for block in packet.reports:
                if block.ssrc in ours and block.lsr:
                    # RFC 3550 §6.4.1: RTT = A - LSR - DLSR, in 1/65536 s.
                    middle = ntp_middle32(ntp_from_unix(wallclock))
                    rtt = ((middle - block.lsr - block.dlsr) & 0xFFFFFFFF) / 65536
                    if rtt < 60:
                        self.rtt = [*self.rtt[-RTT_KEPT:], rtt]
        elif isinstance(packet, Nack):
            self._retransmit(packet)
        elif isinstance(packet, TransportFeedback):
            # In a compound with other RTCP (alone, the receiver counted it already): a
            # browser's congestion controller reads these; a load client sends its cached
            # bitrate whatever they say, and only counts them.
            self.receiver.transport_feedback += 1
        elif isinstance(packet, Pli):
            if packet.media_ssrc in self._video_ssrcs():
                self.video.request_keyframe()
        elif isinstance(packet, Fir) and any(
            ssrc in self._video_ssrcs() for ssrc, _ in packet.entries
        ):
            self.video.request_keyframe()

    def _video_ssrcs(self) -> set[int]:
        return {sender.ssrc for kind, sender in self._all_senders() if kind == "video"}

    def _retransmit(self, nack: Nack) -> None:
        for kind, sender in self._all_senders():
            if sender.ssrc != nack.media_ssrc:
                continue
            rtx = self.rtx.get(kind)
            for seq in nack.seqs:
                packet = sender.packet(seq)
                if packet is None:
                    continue
                if rtx is not None:
                    self._rtx_seq = (self._rtx_seq + 1) & 0xFFFF
                    packet = rtx_wrap(RtpView(packet), rtx[0], rtx[1], self._rtx_seq)
                self._send(sender.restamp(packet))
                self.answered_nacks += 1

    def _check_frames(self) -> None:
        assert self.receiver is not None
        frames, self.receiver.frames = self.receiver.frames, []
        log = self.received
        for frame in frames:
            if not frame.complete:
                log.incomplete += 1
                continue
            index = self.media.index_of.get(frame.data)
            if index is None:
                log.unreadable += 1
                continue
            log.decoded += 1
            if self.media.rids:
                rid = self.media.rids[self.media.layer_of[frame.data]]
                log.layers[rid] = log.layers.get(rid, 0) + 1
            if log.last_ts >= 0 and (frame.ts - log.last_ts) & 0xFFFFFFFF >= 0x80000000:
                # An older frame than the last one checked: a retransmission completed it
                # late (a one-packet frame is whole in its repair). Its content is checked,
                # its place in the order is not the publisher's.
                log.late += 1
                continue
            if log.counters and not _follows(log.counters[-1], index, len(self.media.video)):
                log.out_of_order += 1
            log.counters.append(index)
            log.last_ts = frame.ts
            sent = self.partner_sent_at.get(index)
            if self.window_open and sent is not None and frame.arrival >= sent:
                log.latencies.append(frame.arrival - sent)

    @property
    def sent_feedback(self) -> int:
        """Transport feedback packets sent to the node (by the pump)."""
        return self.pump.sent_feedback if self.pump is not None else 0

    @property
    def received_feedback(self) -> int:
        """Transport feedback from the node about what we send."""
        return self.receiver.transport_feedback if self.receiver is not None else 0

    def rtt_ms(self) -> float | None:
        return 1000 * max(self.rtt) if self.rtt else None

    async def close(self) -> None:
        self.ticker.remove(self.pump)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self.pc.close()


def _follows(previous: int, index: int, loop: int) -> bool:
    """``index`` comes after ``previous`` in the looping cache: the same frame again, or one of
    the :data:`BACKWARDS` before it, is out of order; any other is a step forward (a keyframe
    request makes the publisher skip ahead to the next keyframe, never back)."""
    return 0 < (index - previous) % loop <= loop - BACKWARDS


def _extension_block(elements: list[tuple[int, bytes]], transport: bool) -> tuple[bytes, int]:
    """The whole header-extension block of a stream's packets (RFC 8285: profile, length,
    elements) and where in it the first element's value starts when ``transport`` (the
    transport-wide sequence number, rewritten per packet), else -1."""
    profile, block = build_extension_block(elements)
    if not block:
        return b"", -1
    head = profile.to_bytes(2, "big") + (len(block) // 4).to_bytes(2, "big")
    # One-byte form: an element's header is one byte (RFC 8285 §4.2), two-byte form two (§4.3).
    at = len(head) + (1 if profile == ONE_BYTE_PROFILE else 2)
    return head + block, at if transport else -1


def _locate(pair: Any) -> tuple[Any, Any, Any]:
    """Where ``PeerIo`` sends: our raw socket, asyncio's datagram transport, the node."""
    protocol = pair.protocol
    return raw_socket(protocol), protocol.transport, pair.remote_addr


RID_ID, REPAIRED_RID_ID = 10, 11  # free in aiortc's offers, as TRANSPORT_CC_ID


def offer_simulcast(sdp: str, rids: tuple[str, ...]) -> str:
    """An aiortc offer as a browser makes it for simulcast (RFC 8853 ``a=simulcast``, RFC 8851
    ``a=rid``, the RID header extensions of RFC 8852) on its sending video m-line, whose SSRCs
    it then does not announce (Chromium and Safari do not: the node learns them from the RIDs);
    aiortc 1.16 offers no simulcast."""
    out: list[str] = []
    sending_video = done = False
    for line in sdp.splitlines():
        if line.startswith("m="):
            sending_video = line.startswith("m=video") and not done
        if sending_video and line.startswith(("a=ssrc:", "a=ssrc-group:")):
            continue
        if line in ("a=recvonly", "a=inactive"):
            sending_video = False  # a receive-only pair of a group room (before its a=mid)
        out.append(line)
        if sending_video and line.startswith("a=mid:"):
            done = True
            out += [
                f"a=extmap:{RID_ID} {RID_URI}",
                f"a=extmap:{REPAIRED_RID_ID} {REPAIRED_RID_URI}",
                *(f"a=rid:{rid} send" for rid in rids),
                f"a=simulcast:send {';'.join(rids)}",
            ]
    return "\r\n".join(out) + "\r\n"


def offer_transport_cc(sdp: str) -> str:
    """An aiortc offer as a browser makes it for transport-wide congestion control
    (draft-holmer-rmcat-transport-wide-cc-extensions-01): the transport-wide sequence number
    extension on every m-line and ``a=rtcp-fb:<pt> transport-cc`` on every codec but RTX
    (aiortc 1.16 offers neither)."""
    out = []
    for line in sdp.splitlines():
        out.append(line)
        if line.startswith("a=mid:"):
            out.append(f"a=extmap:{TRANSPORT_CC_ID} {TRANSPORT_CC_URI}")
        rtpmap = re.match(r"a=rtpmap:(\d+) (\S+)/", line)
        if rtpmap and rtpmap.group(2).lower() != "rtx":
            out.append(f"a=rtcp-fb:{rtpmap.group(1)} transport-cc")
    return "\r\n".join(out) + "\r\n"
