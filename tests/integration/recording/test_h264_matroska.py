"""H.264 (RFC 6184) through the recorder's depacketizer into Matroska, which WebM cannot hold.

The test encodes painted frames with libx264 and packetizes them itself, as a browser would:
SPS + PPS aggregated in a STAP-A, large NAL units fragmented into FU-As, the marker bit on an
access unit's last packet; packets arrive slightly reordered. The node side only depacketizes
and muxes (no codec is opened)."""

from __future__ import annotations

import fractions
import random
from pathlib import Path

import av
import pytest

from benchmarks.media.synthetic import paint_counter
from liveloop_sfu.media.recording.depacketizer import FrameAssembler
from liveloop_sfu.media.recording.depacketizer_h264 import H264Parser, parameter_sets
from liveloop_sfu.media.recording.writer import (
    CloseFile,
    OpenFile,
    StreamSpec,
    WritePacket,
    WriterThread,
)
from tests.recording_files import decoded_counters, ffprobe, streams_by_type

pytestmark = pytest.mark.slow

MTU = 1000
FRAMES = 45


def encode_h264(count: int) -> list[bytes]:
    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height, encoder.pix_fmt = 320, 240, "yuv420p"
    encoder.time_base = fractions.Fraction(1, 30)
    encoder.options = {"preset": "ultrafast", "tune": "zerolatency", "bframes": "0"}
    out: list[bytes] = []
    for i in range(count):
        frame = paint_counter(100 + i, 320, 240)
        frame.pts = i
        out += [bytes(p) for p in encoder.encode(frame)]
    out += [bytes(p) for p in encoder.encode(None)]
    return out


def packetize(access_unit: bytes) -> list[bytes]:
    """RFC 6184 mode 1, the test's own packetizer."""
    # Annex B: 3- or 4-byte start codes; a NAL unit ends with its RBSP stop bit, never 0x00.
    nals = [n.rstrip(b"\x00") for n in access_unit.split(b"\x00\x00\x01")]
    nals = [n for n in nals if n]
    params = [n for n in nals if n[0] & 0x1F in (7, 8)]
    payloads: list[bytes] = []
    if params:
        payloads.append(bytes([0x78]) + b"".join(len(n).to_bytes(2, "big") + n for n in params))
    for nal in (n for n in nals if n[0] & 0x1F not in (7, 8)):
        if len(nal) <= MTU:
            payloads.append(nal)
            continue
        body = nal[1:]
        chunks = [body[i : i + MTU] for i in range(0, len(body), MTU)]
        for index, chunk in enumerate(chunks):
            start, end = index == 0, index == len(chunks) - 1
            header = (0x80 if start else 0) | (0x40 if end else 0) | (nal[0] & 0x1F)
            payloads.append(bytes([(nal[0] & 0xE0) | 28, header]) + chunk)
    return payloads


def test_h264_is_depacketized_and_muxed_into_matroska(tmp_path: Path) -> None:
    packets: list[tuple[int, int, bool, bytes]] = []
    seq = 65530  # wraps during the test
    for index, access_unit in enumerate(encode_h264(FRAMES)):
        payloads = packetize(access_unit)
        for k, payload in enumerate(payloads):
            packets.append((seq & 0xFFFF, index * 3000, k == len(payloads) - 1, payload))
            seq += 1
    rng = random.Random(7)
    order = sorted(range(1, len(packets)), key=lambda i: i + rng.uniform(0, 4))
    assembler = FrameAssembler(H264Parser(), video=True)
    frames = []
    for i in [0, *order]:
        frames += assembler.push(0.0, *packets[i])
    frames += assembler.flush()
    assert len(frames) == FRAMES and frames[0].keyframe

    extradata = parameter_sets(frames[0].data)
    assert extradata is not None
    writer = WriterThread("h264")
    path = tmp_path / "alice.mkv"
    spec = StreamSpec("video", "h264", 320, 240, extradata=extradata)
    writer.submit(OpenFile("alice", path, "matroska", (spec,)))
    for frame in frames:
        pts = round(frame.rtp_ts / 90)  # 90 kHz -> ms
        writer.submit(WritePacket("alice", 0, pts, frame.keyframe, frame.data))
    writer.submit(CloseFile("alice"))
    writer.stop()
    assert not writer.codecs_opened and not writer.counters["write-errors"]

    probe = ffprobe(path)
    video = streams_by_type(probe)["video"]
    assert video["codec_name"] == "h264" and (video["width"], video["height"]) == (320, 240)
    assert int(video["nb_read_frames"]) == FRAMES
    assert "matroska" in probe["format"]["format_name"]
    assert decoded_counters(path) == list(range(100, 100 + FRAMES))
