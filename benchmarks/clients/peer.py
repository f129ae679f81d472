"""The benchmark clients' peer: an aiortc RTCPeerConnection that publishes cached, pre-encoded
media and counts (or, sampled, decodes) what it receives — cheap on purpose, so that the node,
not the clients, is what a run measures.

* publishers send PRE-ENCODED frames (:mod:`benchmarks.media.cache`): aiortc's sender only
  packetizes an ``av.Packet`` (``encoder.pack``), it never encodes. A keyframe request from the
  node (PLI/FIR) makes the track jump to the next cached keyframe.
* receivers count RTP packets per payload type and SSRC at the DTLS transport (sequence numbers,
  marker bits, RFC 3550 jitter) and never hand them to aiortc's jitter buffer and decoder —
  except "sampled" receivers, which decode their video to read the painted frame counters: the
  counter names the frame, the publisher's send time of that frame and the arrival time of its
  last packet give the latency the node added.

These hooks replace members of this process's own aiortc instances; they are benchmark code, not
product code.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import random
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

import av
from aiortc import (
    MediaStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc import sdp as aiortc_sdp
from aiortc.mediastreams import MediaStreamError

from benchmarks.media.cache import OPUS_FRAME_SAMPLES, OPUS_SAMPLE_RATE, MediaCache
from benchmarks.media.synthetic import VIDEO_CLOCK_RATE, read_counter
from benchmarks.reports.stats import JitterEstimator, RtpStreamCounter, StreamSnapshot
from liveloop_sfu.client import WireClient
from liveloop_sfu.media.core.rtp import ReportBlock, build_rr
from liveloop_sfu.media.settings import MediaSettings
from liveloop_sfu.media.transport.ice_gathering import restrict_gathering

ARRIVALS_KEPT = 512  # frames whose arrival time a sampled receiver remembers
RECEIVER_REPORT_INTERVAL = 1.0  # seconds, for receive-only peers (see _send_receiver_reports)
RtpHandler = Callable[[bytes, int], Awaitable[None]]


class CachedVideoTrack(MediaStreamTrack):
    """Cached VP8 frames as ``av.Packet``s at the cache's frame rate, looping. ``sent_at`` maps a
    frame's painted counter to when it was last handed to the sender (``time.monotonic``)."""

    kind = "video"

    def __init__(self, cache: MediaCache) -> None:
        super().__init__()
        self._cache = cache
        self._fps = cache.spec.fps
        self._index = 0
        self._sent = 0
        self._start: float | None = None
        self._keyframe_wanted = False
        self.keyframe_requests = 0
        self.sent_at: dict[int, float] = {}

    def request_keyframe(self) -> None:
        """Stands in for the sender's "encode the next frame as a keyframe"."""
        self._keyframe_wanted = True
        self.keyframe_requests += 1

    async def recv(self) -> av.Packet[Any]:
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        if self._start is None:
            self._start = now
        due = self._start + self._sent / self._fps
        if due > now:
            await asyncio.sleep(due - now)
        if self._keyframe_wanted:
            self._keyframe_wanted = False
            self._index = self._cache.next_keyframe(self._index)
        frame = self._cache.video[self._index]
        packet = av.Packet(frame.data)
        packet.pts = self._sent * (VIDEO_CLOCK_RATE // self._fps)
        packet.time_base = fractions.Fraction(1, VIDEO_CLOCK_RATE)
        self.sent_at[self._index & 0xFFFF] = time.monotonic()
        self._index = (self._index + 1) % len(self._cache.video)
        self._sent += 1
        return packet


class CachedAudioTrack(MediaStreamTrack):
    """Cached 20 ms Opus packets, paced in real time, looping."""

    kind = "audio"

    def __init__(self, cache: MediaCache) -> None:
        super().__init__()
        self._packets = cache.audio
        self._sent = 0
        self._start: float | None = None

    async def recv(self) -> av.Packet[Any]:
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        if self._start is None:
            self._start = now
        due = self._start + self._sent * OPUS_FRAME_SAMPLES / OPUS_SAMPLE_RATE
        if due > now:
            await asyncio.sleep(due - now)
        packet = av.Packet(self._packets[self._sent % len(self._packets)])
        packet.pts = self._sent * OPUS_FRAME_SAMPLES
        packet.time_base = fractions.Fraction(1, OPUS_SAMPLE_RATE)
        self._sent += 1
        return packet


@dataclass
class ReceiveLog:
    """Everything one peer received, by payload type, plus the sampled decoder's findings."""

    kinds: dict[int, str] = field(default_factory=dict)  # payload type -> video|audio|rtx|...
    # by (payload type, SSRC): a group subscriber gets several streams of one payload type
    streams: dict[tuple[int, int], RtpStreamCounter] = field(default_factory=dict)
    arrivals: OrderedDict[int, float] = field(default_factory=OrderedDict)  # RTP ts -> time
    latencies: list[float] = field(default_factory=list)  # seconds, in the current window
    jitter: dict[tuple[int, int], JitterEstimator] = field(default_factory=dict)  # like streams
    first_video_at: float | None = None  # time.monotonic() of the first complete video frame
    decoded: int = 0
    unreadable: int = 0

    def video_streams(self) -> int:
        """Video streams (SSRCs) that delivered at least one complete frame."""
        return sum(
            1
            for (pt, _ssrc), counter in self.streams.items()
            if self.kinds.get(pt) == "video" and counter.frames > 0
        )

    def jitter_ms(self, kind: str) -> float | None:
        values = [j.jitter for (pt, _), j in self.jitter.items() if self.kinds.get(pt) == kind]
        return 1000 * max(values) if values else None

    def totals(self, kind: str) -> StreamSnapshot:
        total = StreamSnapshot(0, 0, 0, 0)
        for (pt, _ssrc), counter in self.streams.items():
            if self.kinds.get(pt, "other") == kind:
                snap = counter.snapshot()
                total = StreamSnapshot(
                    total.packets + snap.packets,
                    total.octets + snap.octets,
                    total.frames + snap.frames,
                    total.expected + snap.expected,
                )
        return total


class BenchPeer:
    """An aiortc peer that publishes cached media and counts (or, sampled, decodes) what it
    receives."""

    def __init__(
        self,
        cache: MediaCache,
        *,
        decode: bool,
        publish: bool = True,
        host_address: str = "127.0.0.1",
    ) -> None:
        # max-bundle, as browsers offer it: every m-line on one transport from the start (with
        # aiortc's "balanced", a group client's second video m-line would get a transport of its
        # own that the BUNDLE step then stops).
        self.pc = RTCPeerConnection(
            RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
        )
        self.decode = decode
        self.host_address = host_address
        self.video = CachedVideoTrack(cache)
        self.audio = CachedAudioTrack(cache)
        if publish:
            self.pc.addTrack(self.audio)
            video_sender = self.pc.addTrack(self.video)
            # aiortc's sender answers PLI/FIR with _send_keyframe(), which only flags its
            # encoder — and there is no encoder here. Tell the cached track instead.
            if not hasattr(video_sender, "_send_keyframe"):
                raise RuntimeError("aiortc hook missing: RTCRtpSender._send_keyframe")
            setattr(video_sender, "_send_keyframe", self.video.request_keyframe)  # noqa: B010
        self.received = ReceiveLog()
        self.partner_sent_at: dict[int, float] = {}
        self.window_open = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._hooked: set[int] = set()
        self.pc.on("track", self._on_track)
        if not publish:
            self._start(self._send_receiver_reports())

    def _start(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send_receiver_reports(self, limit: int = 1_000_000) -> None:
        """A receive-only peer (fan-out audience) sends no media, and this client's receive path
        skips aiortc's receiver, which would send its RTCP. A browser sends receiver reports
        (RFC 3550 §6.4.2) about what it receives, and the node ends a peer it has not heard
        from within its media timeout: report once a second, as a browser would."""
        ssrc = random.getrandbits(32)
        for _ in range(limit):
            await asyncio.sleep(RECEIVER_REPORT_INTERVAL)
            if self.pc.connectionState in ("closed", "failed"):
                return
            transports = {
                id(t.receiver.transport): t.receiver.transport for t in self.pc.getTransceivers()
            }
            blocks = [
                ReportBlock(media_ssrc, 0, 0, (counter.highest_seq or 0) & 0xFFFFFFFF, 0, 0, 0)
                for (pt, media_ssrc), counter in list(self.received.streams.items())[:31]
                if self.received.kinds.get(pt) in ("video", "audio")
            ]
            for transport in transports.values():
                if transport.state == "connected":
                    with contextlib.suppress(ConnectionError):
                        await transport._send_rtp(build_rr(ssrc, blocks))

    async def create_offer(self) -> str:
        restrict_gathering(self.pc, MediaSettings(host_addresses=(self.host_address,)))
        await self.pc.setLocalDescription(await self.pc.createOffer())
        self._hook_transports()
        return str(self.pc.localDescription.sdp)

    async def answer(self, offer: str) -> str:
        """Answer a server's offer (Janus offers its subscribers their feeds)."""
        await self.pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        self._learn_kinds(offer)
        restrict_gathering(self.pc, MediaSettings(host_addresses=(self.host_address,)))
        self._hook_transports()
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        self._hook_transports()
        return str(self.pc.localDescription.sdp)

    def receive_pairs(self) -> int:
        """Receive-only audio + video pairs offered so far."""
        return sum(1 for t in self.pc.getTransceivers() if t.direction == "recvonly") // 2

    def ensure_receivers(self, others: int) -> None:
        """One receive-only audio + video m-line pair per other participant of a group room
        (the node only answers, so the offer must hold an m-line for each stream it sends)."""
        have = sum(1 for t in self.pc.getTransceivers() if t.direction == "recvonly") // 2
        for _ in range(max(0, others - have)):
            self.pc.addTransceiver("audio", direction="recvonly")
            self.pc.addTransceiver("video", direction="recvonly")

    async def connected(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.pc.connectionState != "connected":
            if self.pc.connectionState in ("failed", "closed") or time.monotonic() > deadline:
                raise RuntimeError(f"peer connection {self.pc.connectionState}, not connected")
            await asyncio.sleep(0.02)

    def _hook_transports(self) -> None:
        for transceiver in self.pc.getTransceivers():
            transport = transceiver.receiver.transport
            if id(transport) not in self._hooked:
                self._hooked.add(id(transport))
                self._hook_transport(transport)

    async def accept_answer(self, sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp, "answer"))
        self._learn_kinds(sdp)

    def _learn_kinds(self, sdp: str) -> None:
        for media in aiortc_sdp.SessionDescription.parse(sdp).media:
            for codec in media.rtp.codecs:
                name = codec.mimeType.split("/", 1)[1].lower()
                kind = "rtx" if name == "rtx" else media.kind
                if codec.payloadType is not None:
                    self.received.kinds.setdefault(codec.payloadType, kind)

    def _hook_transport(self, transport: Any) -> None:
        original: RtpHandler = transport._handle_rtp_data
        received = self.received

        async def handle_rtp_data(data: bytes, arrival_time_ms: int) -> None:
            if len(data) < 12:
                return
            now = time.monotonic()
            pt, marker = data[1] & 0x7F, data[1] >> 7
            key = (pt, int.from_bytes(data[8:12], "big"))
            counter = received.streams.get(key)
            if counter is None:
                counter = received.streams[key] = RtpStreamCounter()
            counter.add(int.from_bytes(data[2:4], "big"), len(data), bool(marker))
            kind = received.kinds.get(pt)
            if kind in ("video", "audio"):
                if marker and kind == "video" and received.first_video_at is None:
                    received.first_video_at = now
                jitter = received.jitter.get(key)
                if jitter is None:
                    rate = OPUS_SAMPLE_RATE if kind == "audio" else VIDEO_CLOCK_RATE
                    jitter = received.jitter[key] = JitterEstimator(rate)
                jitter.add(int.from_bytes(data[4:8], "big"), now)
            if self.decode and received.kinds.get(pt) in ("video", "rtx"):
                if marker:
                    received.arrivals[int.from_bytes(data[4:8], "big")] = now
                    if len(received.arrivals) > ARRIVALS_KEPT:
                        received.arrivals.popitem(last=False)
                await original(data, arrival_time_ms)

        if not hasattr(transport, "_handle_rtp_data"):
            raise RuntimeError("aiortc hook missing: RTCDtlsTransport._handle_rtp_data")
        transport._handle_rtp_data = handle_rtp_data

    def _on_track(self, track: MediaStreamTrack) -> None:
        if self.decode and track.kind == "video":
            self._start(self._read_video(track))

    async def _read_video(self, track: MediaStreamTrack, limit: int = 10_000_000) -> None:
        received = self.received
        mapper = self._timestamp_mapper(track)
        for _ in range(limit):
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if not isinstance(frame, av.VideoFrame):
                continue
            counter = read_counter(frame)
            received.decoded += 1
            if counter is None:
                received.unreadable += 1
                continue
            arrival = None
            if frame.pts is not None and mapper is not None and mapper._origin is not None:
                # aiortc numbers decoded frames from the first one's RTP timestamp on.
                arrival = received.arrivals.get((frame.pts + mapper._origin) & 0xFFFFFFFF)
            sent = self.partner_sent_at.get(counter)
            if self.window_open and arrival is not None and sent is not None:
                received.latencies.append(arrival - sent)

    def _timestamp_mapper(self, track: MediaStreamTrack) -> Any:
        """The receiver's RTP timestamp -> frame pts mapper (``pts = timestamp - origin``)."""
        for transceiver in self.pc.getTransceivers():
            receiver = transceiver.receiver
            if receiver.track is track:
                mapper = getattr(receiver, "_RTCRtpReceiver__timestamp_mapper", None)
                if mapper is None or not hasattr(mapper, "_origin"):
                    raise RuntimeError("aiortc hook missing: RTCRtpReceiver timestamp mapper")
                return mapper
        return None

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.pc.close()


class Offerer(Protocol):
    """A client peer that offers and applies the node's answer (BenchPeer, CheapPeer)."""

    async def create_offer(self) -> str: ...

    async def accept_answer(self, sdp: str) -> None: ...


async def negotiate(wire: WireClient, peer: Offerer) -> None:
    offer = await peer.create_offer()
    payload = {"sdp": {"type": "offer", "sdp": offer}}
    await wire.call("negotiation-call-offer", payload)
    answer = await wire.next("negotiation-call-answer", timeout=20)
    await peer.accept_answer(answer["sdp"]["sdp"])
