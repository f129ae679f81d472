"""One benchmark client process: several 1:1 calls through a node, cheap on purpose.

``python -m benchmarks.bench_client --url http://127.0.0.1:P --calls K [--decode D]``

Each call is two participants of this process (so a publisher and its subscriber share one clock)
that speak the wire contract (:class:`~liveloop_sfu.client.WireClient`: ``request-room``, offer,
the node's answer) with an ordinary aiortc peer each. To keep the clients cheap, so that the node
is what a run measures:

* publishers send PRE-ENCODED frames (:mod:`benchmarks.media_cache`): aiortc's sender only
  packetizes an ``av.Packet`` (``encoder.pack``), it never encodes. A keyframe request from the
  node (PLI/FIR) makes the track jump to the next cached keyframe.
* receivers count RTP packets per payload type at the DTLS transport (sequence numbers, marker
  bits) and never hand them to aiortc's jitter buffer and decoder — except ``D`` "sampled"
  receivers, which decode their video to read the painted frame counters: the counter names the
  frame, the publisher's send time of that frame and the arrival time of its last packet give the
  latency the node added.

These hooks replace members of this process's own aiortc instances; they are benchmark code, not
product code. The process is driven by JSON lines on stdin (``setup``, ``start``, ``end``,
``stop``) and answers each with one JSON line on stdout; logs go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fractions
import json
import logging
import random
import sys
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
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

from benchmarks.janus_client import (
    JanusSession,
    create_room_body,
    publish_body,
    subscribe,
)
from benchmarks.media_cache import (
    DEFAULT_CACHE_ROOT,
    OPUS_FRAME_SAMPLES,
    OPUS_SAMPLE_RATE,
    MediaCache,
    MediaSpec,
    load_or_build,
)
from benchmarks.stats import JitterEstimator, RtpStreamCounter, StreamSnapshot
from benchmarks.synthetic import read_counter
from liveloop_sfu.client import WireClient
from liveloop_sfu.media.aiortc_adapter import restrict_gathering
from liveloop_sfu.media.settings import MediaSettings

log = logging.getLogger("benchmarks.bench_client")

VIDEO_CLOCK_RATE = 90_000
ARRIVALS_KEPT = 512  # frames whose arrival time a sampled receiver remembers
FLOWING_TIMEOUT = 30.0
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
            task = asyncio.get_running_loop().create_task(self._read_video(track))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

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


@dataclass
class Participant:
    """One user of a call. ``peer`` receives (and, on our node, also publishes); on Janus the
    media is published on a second peer connection, ``publisher``."""

    name: str
    wire: WireClient | None
    peer: BenchPeer
    publisher: BenchPeer | None = None
    janus: JanusSession | None = None

    @property
    def sender(self) -> BenchPeer:
        return self.publisher or self.peer

    def partner_left(self) -> int:
        if self.wire is not None:
            return self.wire.pending("partner-left")
        return self.janus.hangups() if self.janus is not None else 0

    async def close(self) -> None:
        for peer in (self.peer, self.publisher):
            if peer is not None:
                with contextlib.suppress(Exception):
                    await peer.close()
        if self.wire is not None:
            with contextlib.suppress(Exception):
                await self.wire.close()
        if self.janus is not None:
            with contextlib.suppress(Exception):
                await self.janus.destroy()


async def negotiate(wire: WireClient, peer: BenchPeer) -> None:
    offer = await peer.create_offer()
    payload = {"sdp": {"type": "offer", "sdp": offer}}
    await wire.call("negotiation-call-offer", payload)
    answer = await wire.next("negotiation-call-answer", timeout=20)
    await peer.accept_answer(answer["sdp"]["sdp"])


async def open_call(url: str, cache: MediaCache, name: str, decode: int) -> list[Participant]:
    """Two participants matched with each other (the caller makes sure nobody else is queued
    meanwhile) and negotiated with the node. ``decode`` of them (0-2) decode their video."""
    names = [f"{name}{side}" for side in "ab"]
    wires = [WireClient(url, timeout=20) for _ in names]
    peers = [BenchPeer(cache, decode=i < decode) for i in range(len(names))]
    participants = [Participant(n, w, p) for n, w, p in zip(names, wires, peers, strict=True)]
    for wire in wires:
        await wire.connect()
    for wire, user in zip(wires, names, strict=True):
        await wire.request_room(user)
    for me, partner in ((0, 1), (1, 0)):
        match = await wires[me].next("match-done", timeout=20)
        if match["peer"].get("userName") != names[partner]:
            raise RuntimeError(
                f"{names[me]} was matched with {match['peer']}, not {names[partner]}"
            )
        peers[me].partner_sent_at = peers[partner].video.sent_at
    for wire, peer in zip(wires, peers, strict=True):
        await negotiate(wire, peer)
    return participants


async def open_janus_call(
    url: str,
    http: aiohttp.ClientSession,
    cache: MediaCache,
    name: str,
    decode: int,
    host_address: str,
) -> list[Participant]:
    """The same call on Janus VideoRoom: a room of two, each participant publishing on one peer
    connection and subscribing to the other's feed on a second (see benchmarks.janus_client)."""
    participants: list[Participant] = []
    feeds: list[int] = []
    room = random.randrange(1, 1 << 40)
    for i, side in enumerate("ab"):
        session = JanusSession(url, http)
        await session.create()
        publisher = BenchPeer(cache, decode=False, host_address=host_address)
        peer = BenchPeer(cache, decode=i < decode, publish=False, host_address=host_address)
        participants.append(Participant(f"{name}{side}", None, peer, publisher, session))
        handle = await session.attach()
        if i == 0:
            await session.request(handle, create_room_body(room, publishers=2))
        offer = await publisher.create_offer()
        event = await session.send(
            handle,
            publish_body(room, f"{name}{side}"),
            {"type": "offer", "sdp": offer, "trickle": False},
        )
        feeds.append(int(event["plugindata"]["data"]["id"]))
        await publisher.accept_answer(event["jsep"]["sdp"])
    # VideoRoom refuses subscriptions to a publisher whose PeerConnection is not up yet.
    for participant in participants:
        await participant.sender.connected(timeout=20)
    partners = list(reversed(participants))
    for me, partner_feed, partner in zip(participants, reversed(feeds), partners, strict=True):
        assert me.janus is not None
        me.peer.partner_sent_at = partner.sender.video.sent_at
        handle = await me.janus.attach()
        event = await subscribe(me.janus, handle, room, [partner_feed])
        answer = await me.peer.answer(event["jsep"]["sdp"])
        await me.janus.send(handle, {"request": "start"}, {"type": "answer", "sdp": answer})
    return participants


class ClientProcess:
    def __init__(
        self,
        url: str,
        calls: int,
        decode: int,
        cache: MediaCache,
        name: str,
        target: str = "liveloop",
        host_address: str = "127.0.0.1",
    ) -> None:
        self.url, self.calls, self.decode, self.cache, self.name = url, calls, decode, cache, name
        self.target, self.host_address = target, host_address
        self.participants: list[Participant] = []
        self._start: dict[str, dict[str, StreamSnapshot]] = {}
        self._start_time = 0.0
        self._http: aiohttp.ClientSession | None = None

    async def setup(self) -> dict[str, Any]:
        started = time.monotonic()
        for index in range(self.calls):
            decode = min(2, max(0, self.decode - 2 * index))
            call_name = f"{self.name}-{index}"
            if self.target == "janus":
                if self._http is None:
                    self._http = aiohttp.ClientSession()
                self.participants += await open_janus_call(
                    self.url, self._http, self.cache, call_name, decode, self.host_address
                )
            else:
                self.participants += await open_call(self.url, self.cache, call_name, decode)
        await self._wait_flowing()
        return {"event": "ready", "seconds": time.monotonic() - started}

    async def _wait_flowing(self) -> None:
        deadline = time.monotonic() + FLOWING_TIMEOUT
        while True:
            waiting = [p.name for p in self.participants if not self._flowing(p.peer)]
            if not waiting:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"no media for {', '.join(waiting)}")
            await asyncio.sleep(0.1)

    @staticmethod
    def _flowing(peer: BenchPeer) -> bool:
        received = peer.received
        frames = received.totals("video").frames
        return (
            frames >= 3
            and received.totals("audio").packets >= 3
            and (not peer.decode or received.decoded >= 1)
        )

    def start(self) -> dict[str, Any]:
        self._start_time = time.monotonic()
        for participant in self.participants:
            received = participant.peer.received
            received.latencies.clear()
            participant.peer.window_open = True
            self._start[participant.name] = {
                kind: received.totals(kind) for kind in ("video", "audio", "rtx")
            }
        return {"event": "started"}

    def end(self) -> dict[str, Any]:
        seconds = time.monotonic() - self._start_time
        receivers = []
        for participant in self.participants:
            peer = participant.peer
            peer.window_open = False
            window = {
                kind: peer.received.totals(kind).minus(self._start[participant.name][kind])
                for kind in ("video", "audio", "rtx")
            }
            receivers.append(
                {
                    "name": participant.name,
                    "decodes": peer.decode,
                    "connection": peer.pc.connectionState,
                    "partner_left": participant.partner_left(),
                    "keyframe_requests": participant.sender.video.keyframe_requests,
                    "decoded_total": peer.received.decoded,
                    "unreadable_total": peer.received.unreadable,
                    "latencies": list(peer.received.latencies),
                    **{
                        kind: {
                            "packets": snap.packets,
                            "expected": snap.expected,
                            "frames": snap.frames,
                            "octets": snap.octets,
                        }
                        for kind, snap in window.items()
                    },
                }
            )
        return {"event": "window", "seconds": seconds, "receivers": receivers}

    async def stop(self) -> dict[str, Any]:
        for participant in self.participants:
            await participant.close()
        if self._http is not None:
            await self._http.close()
        return {"event": "stopped"}


def _reply(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def serve(process: ClientProcess, max_commands: int = 100) -> None:
    """Answer commands from stdin until ``stop`` (or end of input)."""
    loop = asyncio.get_running_loop()
    try:
        for _ in range(max_commands):
            line = await loop.run_in_executor(None, sys.stdin.readline)
            command = line.strip()
            if command == "setup":
                _reply(await process.setup())
            elif command == "start":
                _reply(process.start())
            elif command == "end":
                _reply(process.end())
            elif command in ("stop", ""):
                break
            else:
                _reply({"event": "error", "message": f"unknown command {command!r}"})
    except Exception as exc:
        log.exception("client failed")
        _reply({"event": "error", "message": f"{type(exc).__name__}: {exc}"})
    finally:
        _reply(await process.stop())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--calls", type=int, required=True)
    parser.add_argument("--decode", type=int, default=1, help="receivers that decode video")
    parser.add_argument("--name", default="bench")
    parser.add_argument("--target", choices=("liveloop", "janus"), default="liveloop")
    parser.add_argument("--host-address", default="127.0.0.1", help="where peers gather ICE")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_ROOT)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    cache = load_or_build(MediaSpec(), args.cache_dir)
    process = ClientProcess(
        args.url, args.calls, args.decode, cache, args.name, args.target, args.host_address
    )
    asyncio.run(serve(process))
    return 0


if __name__ == "__main__":
    sys.exit(main())
