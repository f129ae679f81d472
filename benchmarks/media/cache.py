"""Pre-encoded benchmark media: VP8 (or H.264) video and Opus audio, encoded once with ``av`` and
reused.

Benchmark clients must stay cheap so that the node, not the clients, is what a run measures: they
send these packets as they are (aiortc's sender only packetizes an ``av.Packet``) and never run an
encoder. Every video frame carries its index painted as a block grid
(:func:`benchmarks.media.synthetic.paint_counter`), so a receiver that decodes a frame knows which
one it got and, with the publisher's send times, how late it is. Moving noise over the whole picture
keeps the encoder at its target bitrate (a still picture would need almost no bits); the block grid
survives it because the reader averages the centre of each block. The cache is verified once after
encoding: every frame must decode to its own index.
"""

from __future__ import annotations

import fractions
import json
import math
import os
import struct
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import av
import numpy as np

from benchmarks.media.synthetic import paint_counter, read_counter

CACHE_VERSION = 1


def user_cache_root(env: Mapping[str, str] = os.environ) -> Path:
    """The user's cache folder (XDG Base Directory: ``$XDG_CACHE_HOME``, else ``~/.cache``), so
    that nothing is written beside the sources or into an installed package."""
    base = env.get("XDG_CACHE_HOME") or ""
    # The spec ignores a relative XDG_CACHE_HOME.
    root = Path(base) if os.path.isabs(base) else Path.home() / ".cache"
    return root / "liveloop-sfu" / "media"


DEFAULT_CACHE_ROOT = user_cache_root()
OPUS_SAMPLE_RATE = 48_000
OPUS_FRAME_SAMPLES = 960  # 20 ms
NOISE_AMPLITUDE = 40
_RECORD = struct.Struct(">BI")  # keyframe flag, length


@dataclass(frozen=True, slots=True)
class MediaSpec:
    """What to encode. The defaults are the benchmark's stream: 640x480 VP8 at ~1 Mbps, 30 fps,
    a keyframe every 2 s, plus 32 kbps Opus."""

    width: int = 640
    height: int = 480
    fps: int = 30
    video_kbps: int = 1000
    seconds: int = 10
    keyframe_interval: int = 60  # frames
    audio_kbps: int = 32
    codec: str = "vp8"  # vp8 | h264 (constrained baseline, as browsers offer it first)
    # Simulcast encodings (1: none): the others are this one at half, quarter... the size and a
    # quarter, a sixteenth... the bitrate, each cached on its own (:func:`layer_specs`).
    simulcast: int = 1

    @property
    def frames(self) -> int:
        return self.fps * self.seconds

    def key(self) -> str:
        return (
            f"v{CACHE_VERSION}-{self.codec}-{self.width}x{self.height}-{self.fps}fps-{self.video_kbps}k-"
            f"g{self.keyframe_interval}-{self.seconds}s-opus{self.audio_kbps}k"
        )


@dataclass(frozen=True, slots=True)
class EncodedFrame:
    data: bytes
    keyframe: bool


@dataclass(frozen=True, slots=True)
class MediaCache:
    spec: MediaSpec
    video: tuple[EncodedFrame, ...]  # frame i shows counter i
    audio: tuple[bytes, ...]  # 20 ms Opus packets
    # With spec.simulcast > 1: the smaller encodings, smallest first (frame i shows counter i
    # in each); ``video`` is the largest.
    layers: tuple[tuple[EncodedFrame, ...], ...] = ()

    @property
    def video_kbps(self) -> float:
        bits = 8 * sum(len(frame.data) for frame in self.video)
        return bits / (len(self.video) / self.spec.fps) / 1000

    def next_keyframe(self, index: int) -> int:
        """The first keyframe at or after ``index`` (wrapping: frame 0 is always one)."""
        for offset in range(len(self.video)):
            candidate = (index + offset) % len(self.video)
            if self.video[candidate].keyframe:
                return candidate
        return 0


MAX_SIMULCAST = 3  # layers, as browsers send at most (Chromium: 3 from 960x540 up)
MIN_LAYER_BITRATE = 50  # kbps


def layer_specs(spec: MediaSpec) -> list[MediaSpec]:
    """The simulcast encodings of ``spec``, smallest first, the last ``spec`` itself: each one
    half the width and height of the next and a quarter of its bitrate (about the pixels'
    share, as Chromium scales its layers by 4, 2, 1)."""
    if not 1 <= spec.simulcast <= MAX_SIMULCAST:
        raise ValueError(f"simulcast: 1..{MAX_SIMULCAST} layers")
    layers = []
    for level in range(spec.simulcast - 1, -1, -1):
        scale = 1 << level
        width, height = spec.width // scale, spec.height // scale
        if width % 2 or height % 2 or width < 64 or height < 48:
            raise ValueError(f"{spec.width}x{spec.height} is too small for {spec.simulcast} layers")
        kbps = max(MIN_LAYER_BITRATE, spec.video_kbps >> (2 * level))
        layers.append(replace(spec, width=width, height=height, video_kbps=kbps, simulcast=1))
    layers[-1] = spec
    return layers


def load_or_build(spec: MediaSpec, root: Path = DEFAULT_CACHE_ROOT) -> MediaCache:
    """The cached media for ``spec``, encoding (and verifying) it first if it is not there; with
    simulcast, each smaller encoding too (cached on its own: a layer is a stream of its own)."""
    cache = _load_or_build_one(replace(spec, simulcast=1), root)
    if spec.simulcast == 1:
        return cache
    smaller = [_load_or_build_one(s, root).video for s in layer_specs(spec)[:-1]]
    return replace(cache, spec=spec, layers=tuple(smaller))


def _load_or_build_one(spec: MediaSpec, root: Path) -> MediaCache:
    folder = root / spec.key()
    meta = folder / "meta.json"
    if meta.exists():
        return MediaCache(spec, tuple(_read_frames(folder / "video.bin")), _read_audio(folder))
    cache = MediaCache(spec, tuple(encode_video(spec)), tuple(encode_audio(spec)))
    verify(cache)
    folder.mkdir(parents=True, exist_ok=True)
    _write_frames(folder / "video.bin", cache.video)
    _write_frames(folder / "audio.bin", [EncodedFrame(p, True) for p in cache.audio])
    # meta.json last: its presence marks a complete cache.
    meta.write_text(json.dumps({**asdict(spec), "measured_video_kbps": cache.video_kbps}))
    return cache


def noisy_counter_frame(index: int, width: int, height: int) -> av.VideoFrame:
    """Frame ``index``: its painted counter plus seeded moving noise (deterministic)."""
    planes = paint_counter(index, width, height).to_ndarray()  # yuv420p: luma rows, then chroma
    noise = np.random.default_rng(index).integers(
        -NOISE_AMPLITUDE, NOISE_AMPLITUDE + 1, size=(height, width), dtype=np.int16
    )
    luma = planes[:height].astype(np.int16) + noise
    planes[:height] = np.clip(luma, 0, 255).astype(np.uint8)
    return av.VideoFrame.from_ndarray(planes, format="yuv420p")


VIDEO_CODECS = ("vp8", "h264")


def encode_video(spec: MediaSpec) -> Iterator[EncodedFrame]:
    if spec.codec not in VIDEO_CODECS:
        raise ValueError(f"video codec {spec.codec!r}: one of {', '.join(VIDEO_CODECS)}")
    if spec.codec == "h264":
        yield from _encode_h264(spec)
        return
    codec = _video_encoder(av.CodecContext.create("libvpx", "w"), spec)
    codec.gop_size = spec.keyframe_interval
    # Real-time settings as a WebRTC sender uses them: no look-ahead (every input frame yields
    # exactly one output packet, so frame i carries counter i) and error resilience.
    codec.options = {
        "deadline": "realtime",
        "cpu-used": "8",
        "lag-in-frames": "0",
        "error-resilient": "1",
        # Cap a keyframe at 3 average frames, as real-time senders do, so the bitrate is spread
        # over the frames instead of sitting in rare huge keyframes.
        "max-intra-rate": "300",
        "kf-max-dist": str(spec.keyframe_interval),
    }
    yield from _encoded_frames(codec, spec)


def _encode_h264(spec: MediaSpec) -> Iterator[EncodedFrame]:
    """H.264 as a WebRTC sender makes it: constrained baseline (no B-frames: every input frame
    yields one access unit at once), Annex B, SPS and PPS before every IDR (RFC 6184 receivers
    joining late need them), a keyframe every ``keyframe_interval`` frames."""
    codec = _video_encoder(av.CodecContext.create("libx264", "w"), spec)
    interval = spec.keyframe_interval
    codec.options = {
        "preset": "veryfast",
        "tune": "zerolatency",
        "profile": "baseline",
        "x264-params": f"keyint={interval}:min-keyint={interval}:scenecut=0:repeat-headers=1:"
        f"bframes=0:vbv-maxrate={spec.video_kbps}:vbv-bufsize={spec.video_kbps // 2}",
    }
    yield from _encoded_frames(codec, spec)


def _video_encoder(codec: av.VideoCodecContext, spec: MediaSpec) -> av.VideoCodecContext:
    """What every video encoder here is set to: the spec's size, frame rate and bitrate."""
    codec.width, codec.height = spec.width, spec.height
    codec.pix_fmt = "yuv420p"
    codec.time_base = fractions.Fraction(1, spec.fps)
    codec.framerate = fractions.Fraction(spec.fps, 1)
    codec.bit_rate = spec.video_kbps * 1000
    return codec


def _encoded_frames(codec: av.VideoCodecContext, spec: MediaSpec) -> Iterator[EncodedFrame]:
    """Frame i of the counter pictures in, exactly one encoded frame out (no look-ahead, so
    frame i carries counter i)."""
    for index in range(spec.frames):
        frame = noisy_counter_frame(index, spec.width, spec.height)
        frame.pts = index
        frame.time_base = codec.time_base
        packets = codec.encode(frame)
        if len(packets) != 1:
            raise RuntimeError(f"{spec.codec} frame {index}: {len(packets)} packets, expected 1")
        packet = packets[0]
        yield EncodedFrame(bytes(packet), index == 0 or bool(packet.is_keyframe))


def encode_audio(spec: MediaSpec) -> Iterator[bytes]:
    codec = av.CodecContext.create("libopus", "w")
    codec.sample_rate = OPUS_SAMPLE_RATE
    codec.layout = "stereo"
    codec.format = "s16"
    codec.bit_rate = spec.audio_kbps * 1000
    codec.time_base = fractions.Fraction(1, OPUS_SAMPLE_RATE)
    count = spec.seconds * OPUS_SAMPLE_RATE // OPUS_FRAME_SAMPLES
    for index in range(count):
        t = (np.arange(OPUS_FRAME_SAMPLES) + index * OPUS_FRAME_SAMPLES) / OPUS_SAMPLE_RATE
        tone = (np.sin(2 * math.pi * 440.0 * t) * 8000).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(
            np.repeat(tone, 2).reshape(1, -1), format="s16", layout="stereo"
        )
        frame.sample_rate = OPUS_SAMPLE_RATE
        frame.pts = index * OPUS_FRAME_SAMPLES
        frame.time_base = codec.time_base
        for packet in codec.encode(frame):
            yield bytes(packet)


def verify(cache: MediaCache) -> None:
    """Decode every cached video frame once: each must show its own index."""
    name = cache.spec.codec
    decoder = (
        av.CodecContext.create("h264", "r")
        if name == "h264"
        else av.CodecContext.create("vp8", "r")
    )
    decoder.thread_count = 1  # frame threads would hold frames back: one in, one out
    for index, encoded in enumerate(cache.video):
        frames = decoder.decode(av.Packet(encoded.data))
        if len(frames) != 1 or read_counter(frames[0]) != index & 0xFFFF:
            raise RuntimeError(f"cached {name} frame {index} does not decode to its counter")
    if not cache.video[0].keyframe:
        raise RuntimeError(f"cached {name} stream must start with a keyframe")
    if not cache.audio:
        raise RuntimeError("no Opus packets were produced")


def _write_frames(path: Path, frames: tuple[EncodedFrame, ...] | list[EncodedFrame]) -> None:
    with path.open("wb") as out:
        for frame in frames:
            out.write(_RECORD.pack(int(frame.keyframe), len(frame.data)))
            out.write(frame.data)


def _read_frames(path: Path) -> Iterator[EncodedFrame]:
    data = path.read_bytes()
    offset = 0
    while offset < len(data):
        flag, length = _RECORD.unpack_from(data, offset)
        offset += _RECORD.size
        yield EncodedFrame(data[offset : offset + length], bool(flag))
        offset += length


def _read_audio(folder: Path) -> tuple[bytes, ...]:
    return tuple(frame.data for frame in _read_frames(folder / "audio.bin"))
