"""Synthetic media for tests and benchmarks: frames that carry their own number.

:class:`CounterVideoTrack` paints a frame counter into every frame as a grid of black/white blocks
(16 bits of the counter, then 16 bits of its complement, so a misread is detected rather than
trusted). Blocks survive lossy VP8/H.264 coding at any sane bitrate. :func:`read_counter` reads the
number back from a decoded frame, so a subscriber can check that what it sees is the publisher's
frames, in order, complete and at the expected rate. :class:`ToneAudioTrack` is a sine tone, so
audio packets flow without a microphone.
"""

from __future__ import annotations

import asyncio
import fractions
import itertools
import math
import time
from dataclasses import dataclass, field

import av
import numpy as np
from aiortc import (
    MediaStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc import sdp as aiortc_sdp
from aiortc.mediastreams import MediaStreamError

from liveloop_sfu.media.settings import MediaSettings
from liveloop_sfu.media.transport.ice_gathering import restrict_gathering

VIDEO_CLOCK_RATE = 90_000
GRID_COLUMNS = 8
GRID_ROWS = 4
BITS = 16


def paint_counter(counter: int, width: int, height: int) -> av.VideoFrame:
    """A yuv420p frame whose luma carries ``counter`` (mod 2**16) as a block grid."""
    value = counter & 0xFFFF
    word = value | ((~value & 0xFFFF) << BITS)
    bits = np.array([(word >> i) & 1 for i in range(GRID_COLUMNS * GRID_ROWS)], dtype=np.uint8)
    cells = (bits.reshape(GRID_ROWS, GRID_COLUMNS) * 255).astype(np.uint8)
    cell_h, cell_w = height // GRID_ROWS, width // GRID_COLUMNS
    luma = np.full((height, width), 128, dtype=np.uint8)
    luma[: cell_h * GRID_ROWS, : cell_w * GRID_COLUMNS] = np.kron(
        cells, np.ones((cell_h, cell_w), dtype=np.uint8)
    )
    chroma = np.full((height // 2, width), 128, dtype=np.uint8)  # U and V planes, stacked
    return av.VideoFrame.from_ndarray(np.vstack([luma, chroma]), format="yuv420p")


def read_counter(frame: av.VideoFrame) -> int | None:
    """The counter painted by :func:`paint_counter`, or ``None`` if the frame does not carry a
    consistent one (its two halves disagree)."""
    luma = frame.to_ndarray(format="gray")
    height, width = luma.shape
    cell_h, cell_w = height // GRID_ROWS, width // GRID_COLUMNS
    word = 0
    for index in range(GRID_COLUMNS * GRID_ROWS):
        row, column = divmod(index, GRID_COLUMNS)
        # The centre half of each cell: edges blur under lossy coding.
        y0, x0 = row * cell_h + cell_h // 4, column * cell_w + cell_w // 4
        patch = luma[y0 : y0 + cell_h // 2, x0 : x0 + cell_w // 2]
        if float(patch.mean()) > 128:
            word |= 1 << index
    value, check = word & 0xFFFF, word >> BITS
    return value if check == (~value & 0xFFFF) else None


class CounterVideoTrack(MediaStreamTrack):
    """Video frames numbered ``first``, ``first + 1``, ... at ``fps``, paced in real time (give
    each publisher its own ``first`` to tell their streams apart)."""

    kind = "video"

    def __init__(self, width: int = 320, height: int = 240, fps: int = 30, first: int = 0) -> None:
        super().__init__()
        self.width, self.height, self.fps = width, height, fps
        self.first = first
        self.counter = 0  # frames produced so far
        self._start: float | None = None

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        if self._start is None:
            self._start = now
        due = self._start + self.counter / self.fps
        if due > now:
            await asyncio.sleep(due - now)
        frame = paint_counter(self.first + self.counter, self.width, self.height)
        frame.pts = self.counter * VIDEO_CLOCK_RATE // self.fps
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK_RATE)
        self.counter += 1
        return frame


class ToneAudioTrack(MediaStreamTrack):
    """A 440 Hz tone in 20 ms mono s16 frames at 48 kHz, paced in real time."""

    kind = "audio"
    SAMPLE_RATE = 48_000
    SAMPLES = 960

    def __init__(self, frequency: float = 440.0, amplitude: int = 8000) -> None:
        super().__init__()
        self._frequency = frequency
        self._amplitude = amplitude
        self._sent = 0
        self._start: float | None = None

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        if self._start is None:
            self._start = now
        due = self._start + self._sent / self.SAMPLE_RATE
        if due > now:
            await asyncio.sleep(due - now)
        t = (np.arange(self.SAMPLES) + self._sent) / self.SAMPLE_RATE
        samples = (np.sin(2 * math.pi * self._frequency * t) * self._amplitude).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = self.SAMPLE_RATE
        frame.pts = self._sent
        frame.time_base = fractions.Fraction(1, self.SAMPLE_RATE)
        self._sent += self.SAMPLES
        return frame


@dataclass
class CounterLog:
    """What a subscriber saw: (counter or None, monotonic arrival time) per decoded frame."""

    frames: list[tuple[int | None, float]] = field(default_factory=list)

    @property
    def counters(self) -> list[int]:
        return [c for c, _ in self.frames if c is not None]

    @property
    def unreadable(self) -> int:
        return sum(1 for c, _ in self.frames if c is None)

    def in_order(self) -> bool:
        counters = self.counters
        return all(b > a for a, b in itertools.pairwise(counters))

    def rate(self) -> float:
        """Frames per second over the observed span."""
        if len(self.frames) < 2:
            return 0.0
        span = self.frames[-1][1] - self.frames[0][1]
        return (len(self.frames) - 1) / span if span > 0 else 0.0

    def gaps(self) -> int:
        """How many counter values are missing between the first and the last one seen."""
        counters = self.counters
        if not counters:
            return 0
        return counters[-1] - counters[0] + 1 - len(set(counters))


async def read_frames(track: MediaStreamTrack, log: CounterLog, limit: int = 100_000) -> None:
    """Decode-side loop: read frames from ``track`` into ``log`` until the track ends (or
    ``limit`` frames, a bound for runaway loops). Cancel it to stop early."""
    for _ in range(limit):
        try:
            frame = await track.recv()
        except MediaStreamError:
            return
        assert isinstance(frame, av.VideoFrame)
        log.frames.append((read_counter(frame), time.monotonic()))


class SyntheticPeer:
    """A browser stand-in: an ordinary aiortc peer that publishes a :class:`CounterVideoTrack`
    and a :class:`ToneAudioTrack`, decodes what it receives and logs the counters it reads.

    Signaling-agnostic (offer / answer / candidates as plain values) so tests drive it directly and
    benchmarks through socket.io. It gathers candidates on loopback only and asks no STUN server.
    """

    def __init__(
        self,
        *,
        video: bool = True,
        audio: bool = True,
        width: int = 320,
        height: int = 240,
        fps: int = 30,
        host: str = "127.0.0.1",
        extra_receivers: int = 0,
        first_frame: int = 0,
        tone_amplitude: int = 8000,
    ) -> None:
        # max-bundle, as browsers do in effect: with aiortc's default "balanced" policy a second
        # m-line of a kind stays on a transport that BUNDLE negotiation then stops.
        self.pc = RTCPeerConnection(
            RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
        )
        self.host = host
        self.video_track = CounterVideoTrack(width, height, fps, first_frame) if video else None
        # A tone of this amplitude (of 32767): 8000 is about -15 dBov, speech-loud; 30 is about
        # -63 dBov, quieter than any speech threshold (active-speaker tests).
        self.audio_track = ToneAudioTrack(amplitude=tone_amplitude) if audio else None
        for track in (self.audio_track, self.video_track):
            if track is not None:
                self.pc.addTrack(track)
        # Group rooms: one more receive-only audio + video pair per further participant.
        for _ in range(extra_receivers):
            self.pc.addTransceiver("audio", direction="recvonly")
            self.pc.addTransceiver("video", direction="recvonly")
        self.video_log = CounterLog()
        self.video_logs: list[CounterLog] = [self.video_log]
        self.logs_by_track: dict[str, CounterLog] = {}  # remote track id (msid) -> its log
        self.audio_frames = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing: asyncio.Task[None] | None = None
        self._video_tracks = 0
        self.pc.on("track", self._on_track)

    async def create_offer(self) -> str:
        restrict_gathering(self.pc, MediaSettings(host_addresses=(self.host,)))
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def accept_answer(self, sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp, "answer"))
        self._route_rtx(sdp)

    def _route_rtx(self, sdp: str) -> None:
        """Deliver RFC 4588 retransmissions the way a browser does. aiortc 1.16 gives its RTP
        router only the media SSRCs of an m-line, and routes a packet of an unknown SSRC by
        payload type only when a single receiver has that type: with several video receivers on
        one bundled transport (a group room) it drops every RTX packet, so no loss is ever
        repaired and its jitter buffer waits for the missing packet until 512 packets later
        (about 30 s of small video). Browsers route RTX by the answer's ``a=ssrc-group:FID``."""
        transceivers = {str(t.mid): t for t in self.pc.getTransceivers()}
        for media in aiortc_sdp.SessionDescription.parse(sdp).media:
            transceiver = transceivers.get(str(media.rtp.muxId))
            fid = next((g.items for g in media.ssrc_group if g.semantic == "FID"), None)
            if transceiver is None or fid is None or len(fid) != 2:
                continue
            router = transceiver.receiver.transport._rtp_router
            router.ssrc_table[int(fid[1])] = transceiver.receiver

    async def wait_connected(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while self.pc.connectionState != "connected":
            if time.monotonic() > deadline or self.pc.connectionState in ("failed", "closed"):
                raise TimeoutError(f"peer is {self.pc.connectionState}")
            await asyncio.sleep(0.02)

    def remote_msids(self) -> dict[str, tuple[str, str]]:
        """``{mid: (msid stream id, msid track id)}`` of every m-line of the remote (node's)
        description that sends to this peer: who owns what this peer receives."""
        description = self.pc.remoteDescription
        if description is None:
            return {}
        out = {}
        for media in aiortc_sdp.SessionDescription.parse(description.sdp).media:
            parts = str(media.msid or "").split()
            if len(parts) == 2 and media.direction in ("sendonly", "sendrecv"):
                out[str(media.rtp.muxId)] = (parts[0], parts[1])
        return out

    def video_logs_by_owner(self) -> dict[str, CounterLog]:
        """Decoded video by its owner (the msid stream id the node labelled it with)."""
        msids = self.remote_msids()
        out = {}
        for transceiver in self.pc.getTransceivers():
            track = transceiver.receiver.track
            owner = msids.get(str(transceiver.mid))
            if track is not None and owner is not None and track.id in self.logs_by_track:
                out[owner[0]] = self.logs_by_track[track.id]
        return out

    def _on_track(self, track: MediaStreamTrack) -> None:
        """The first remote video goes to :attr:`video_log`, further ones (group rooms) to new
        logs appended to :attr:`video_logs`."""
        if track.kind == "video":
            self._video_tracks += 1
            if self._video_tracks > 1:
                self.video_logs.append(CounterLog())
            self.logs_by_track[track.id] = self.video_logs[-1]
            reader = read_frames(track, self.video_logs[-1])
        else:
            reader = self._count(track)
        task = asyncio.get_running_loop().create_task(reader)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _count(self, track: MediaStreamTrack, limit: int = 1_000_000) -> None:
        for _ in range(limit):
            try:
                await track.recv()
            except MediaStreamError:
                return
            self.audio_frames += 1

    async def close(self) -> None:
        """Close once, however many callers ask, and let none of them cancel it.

        aiortc's second close() awaits the first one's future. A caller cancelled there (a
        test's teardown stopping the task that was closing) cancels that shared future, and
        every later close() raises CancelledError. So one task closes, and callers wait on it
        shielded: cancelling a caller leaves the close running."""
        if self._closing is None:
            self._closing = asyncio.get_running_loop().create_task(self._close())
        await asyncio.shield(self._closing)

    async def _close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.pc.close()
