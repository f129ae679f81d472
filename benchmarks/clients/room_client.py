"""The client process of the fan-out benchmark (:mod:`benchmarks.suites.fanout`): one group room.

``python -m benchmarks.clients.room_client --url http://127.0.0.1:P --publishers P --subscribers S``

Its participants join the room ``bench`` over the wire contract (``join-room``, offer, the node's
``negotiation-call-answer``, a new offer on every ``renegotiate``). Publishers send the cached
pre-encoded VP8 + Opus of :mod:`benchmarks.media.cache` (no encoder runs); every participant
offers one receive-only audio + video pair per other publisher and counts what arrives at its DTLS
transport per SSRC (packets, and video frames by RTP marker bit) without decoding. Driven by JSON
lines on stdin (``setup``, ``start``, ``end``, ``stop``), one JSON line answered on stdout each.
These hooks replace members of this process's own aiortc instances: benchmark code.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiortc import RTCBundlePolicy, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc import sdp as aiortc_sdp

from benchmarks.clients.call_client import CachedAudioTrack, CachedVideoTrack, serve
from benchmarks.media.cache import DEFAULT_CACHE_ROOT, MediaCache, MediaSpec, load_or_build
from benchmarks.reports.stats import RtpStreamCounter
from liveloop_sfu.client import WireClient
from liveloop_sfu.media.settings import MediaSettings
from liveloop_sfu.media.transport.ice_gathering import restrict_gathering

log = logging.getLogger("benchmarks.clients.room_client")

FLOWING_TIMEOUT = 60.0


# -- the client process --------------------------------------------------------------------------


class GroupPeer:
    """An aiortc peer in a group room: publishes cached media (or nothing) and offers
    ``receivers`` receive-only audio + video pairs; counts received RTP per SSRC."""

    def __init__(self, cache: MediaCache, *, publish: bool, receivers: int) -> None:
        self.pc = RTCPeerConnection(
            RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
        )
        if publish:
            self.pc.addTrack(CachedAudioTrack(cache))
            video = CachedVideoTrack(cache)
            sender = self.pc.addTrack(video)
            # No encoder here: a keyframe request jumps to the next cached keyframe.
            setattr(sender, "_send_keyframe", video.request_keyframe)  # noqa: B010
        for _ in range(receivers):
            self.pc.addTransceiver("audio", direction="recvonly")
            self.pc.addTransceiver("video", direction="recvonly")
        self.kinds: dict[int, str] = {}  # payload type -> audio | video | rtx
        self.streams: dict[int, RtpStreamCounter] = {}  # by SSRC
        self.stream_kinds: dict[int, str] = {}
        self._hooked: set[int] = set()

    async def offer(self) -> str:
        restrict_gathering(self.pc, MediaSettings(host_addresses=("127.0.0.1",)))
        await self.pc.setLocalDescription(await self.pc.createOffer())
        for transceiver in self.pc.getTransceivers():
            transport = transceiver.receiver.transport
            if id(transport) not in self._hooked:
                self._hooked.add(id(transport))
                self._count_at(transport)
        return str(self.pc.localDescription.sdp)

    async def accept(self, sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp, "answer"))
        for media in aiortc_sdp.SessionDescription.parse(sdp).media:
            for codec in media.rtp.codecs:
                name = codec.mimeType.split("/", 1)[1].lower()
                if codec.payloadType is not None:
                    self.kinds[codec.payloadType] = "rtx" if name == "rtx" else media.kind

    def _count_at(self, transport: Any) -> None:
        """Count at the DTLS transport and never decode (benchmark code: our own instances)."""

        async def handle_rtp_data(data: bytes, arrival_time_ms: int) -> None:
            if len(data) < 12:
                return
            ssrc = int.from_bytes(data[8:12], "big")
            counter = self.streams.get(ssrc)
            if counter is None:
                counter = self.streams[ssrc] = RtpStreamCounter()
                self.stream_kinds[ssrc] = self.kinds.get(data[1] & 0x7F, "other")
            counter.add(int.from_bytes(data[2:4], "big"), len(data), bool(data[1] >> 7))

        if not hasattr(transport, "_handle_rtp_data"):
            raise RuntimeError("aiortc hook missing: RTCDtlsTransport._handle_rtp_data")
        transport._handle_rtp_data = handle_rtp_data

    def totals(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for ssrc, counter in self.streams.items():
            kind = self.stream_kinds[ssrc]
            entry = out.setdefault(kind, {"packets": 0, "frames": 0, "streams": 0})
            entry["packets"] += counter.packets
            entry["frames"] += counter.frames
            entry["streams"] += 1
        return out


@dataclass
class Member:
    name: str
    wire: WireClient
    peer: GroupPeer
    publishes: bool
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    pump: asyncio.Task[None] | None = None

    async def negotiate(self) -> None:
        async with self.lock:
            offer = await self.peer.offer()
            await self.wire.call("negotiation-call-offer", {"sdp": {"type": "offer", "sdp": offer}})
            answer = await self.wire.next("negotiation-call-answer", timeout=30)
            await self.peer.accept(answer["sdp"]["sdp"])

    async def renegotiations(self) -> None:
        while True:
            await self.wire.next("renegotiate", timeout=3600)
            while self.wire.pending("renegotiate"):
                await self.wire.next("renegotiate")
            await self.negotiate()


class GroupClientProcess:
    def __init__(self, url: str, publishers: int, subscribers: int, cache: MediaCache) -> None:
        self.url, self.cache = url, cache
        self.publishers, self.subscribers = publishers, subscribers
        self.members: list[Member] = []
        self._start: dict[str, dict[str, dict[str, int]]] = {}
        self._started_at = 0.0

    async def setup(self) -> dict[str, Any]:
        started = time.monotonic()
        total = self.publishers + self.subscribers
        for index in range(total):
            publishes = index < self.publishers
            # Room for every other publisher's audio + video.
            receivers = self.publishers - (1 if publishes else 0)
            member = Member(
                f"m{index}",
                WireClient(self.url, timeout=30),
                GroupPeer(self.cache, publish=publishes, receivers=receivers),
                publishes,
            )
            await member.wire.connect()
            await member.wire.call("join-room", {"roomId": "bench", "userName": member.name})
            member.pump = asyncio.create_task(member.renegotiations())
            await member.negotiate()
            self.members.append(member)
        await self._wait_flowing()
        return {"event": "ready", "seconds": time.monotonic() - started}

    def _expected_video_streams(self, member: Member) -> int:
        return self.publishers - (1 if member.publishes else 0)

    async def _wait_flowing(self) -> None:
        deadline = time.monotonic() + FLOWING_TIMEOUT
        while True:
            waiting = [
                m.name
                for m in self.members
                if m.peer.totals().get("video", {}).get("streams", 0)
                < self._expected_video_streams(m)
            ]
            if not waiting:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"no video from every publisher at {', '.join(waiting)}")
            await asyncio.sleep(0.2)

    def start(self) -> dict[str, Any]:
        self._started_at = time.monotonic()
        self._start = {m.name: m.peer.totals() for m in self.members}
        return {"event": "started"}

    def end(self) -> dict[str, Any]:
        seconds = time.monotonic() - self._started_at
        receivers = []
        for member in self.members:
            now, before = member.peer.totals(), self._start[member.name]
            window = {
                kind: {
                    key: values[key] - before.get(kind, {}).get(key, 0)
                    for key in ("packets", "frames")
                }
                | {"streams": values["streams"]}
                for kind, values in now.items()
            }
            receivers.append({"name": member.name, "publishes": member.publishes, **window})
        return {"event": "window", "seconds": seconds, "receivers": receivers}

    async def stop(self) -> dict[str, Any]:
        for member in self.members:
            if member.pump is not None:
                member.pump.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await member.pump
            with contextlib.suppress(Exception):
                await asyncio.wait_for(member.peer.pc.close(), 5)
            with contextlib.suppress(Exception):
                await member.wire.close()
        return {"event": "stopped"}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.clients.room_client")
    parser.add_argument("--url", required=True)
    parser.add_argument("--publishers", type=int, required=True)
    parser.add_argument("--subscribers", type=int, required=True)
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_ROOT)
    args = parser.parse_args(None if argv is None else list(argv))
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    cache = load_or_build(MediaSpec(), args.cache_dir)
    asyncio.run(serve(GroupClientProcess(args.url, args.publishers, args.subscribers, cache)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
