"""The recorder fed exact RTP packets (Opus: every packet a frame), writing real files: what a
retransmission and a change of source (a new SSRC, RTP timestamp base and sequence) become."""

from __future__ import annotations

import itertools
import struct
from pathlib import Path

import av
import pytest

from liveloop_sfu.media.core.forwarder import TrackConfig
from liveloop_sfu.media.recording.recorder import RecorderTap, RoomRecorder
from tests.recording_files import ffprobe, packet_times, streams_by_type

pytestmark = pytest.mark.slow

AUDIO = TrackConfig("audio", None, 48000, {111: "opus"}, rtx_payload_types={112: 111})


class Session:
    """The media-session side of :class:`~.recording.recorder.Recordable`: these tests
    play the publisher themselves, so this only keeps what the recorder asks of a session."""

    def __init__(self) -> None:
        self.recorder: RecorderTap | None = None
        self.keyframe_requests: list[tuple[str, str]] = []

    def attach_recorder(self, recorder: RecorderTap | None) -> None:
        self.recorder = recorder

    def request_keyframe(self, sid: str, mid: str) -> None:
        self.keyframe_requests.append((sid, mid))


def rtp(pt: int, seq: int, ts: int, ssrc: int, payload: bytes) -> bytes:
    return struct.pack("!BBHII", 0x80, 0x80 | pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc) + payload


def opus(n: int) -> bytes:
    return bytes([0xFC]) + n.to_bytes(4, "big") + bytes(30)  # a TOC byte, then 'frame n'


def feed(recorder: RoomRecorder, packet: bytes, now: float, rtx: bool = False) -> None:
    recorder.on_rtp("sid-a", "alice", "0", AUDIO, packet, rtx, now)


def payloads(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux(audio=0) if p.size]


async def test_a_retransmitted_packet_is_recorded_with_its_own_payload(tmp_path: Path) -> None:
    recorder = RoomRecorder("rec-rtx", tmp_path, Session(), started_at=0.0)
    recorder.start()
    ssrc, rtx_ssrc = 0x1111, 0x2222
    for n in range(150):
        if n == 5:
            continue  # lost on the way; its RTX copy (RFC 4588: OSN + payload) comes next
        feed(recorder, rtp(111, 1000 + n, 960 * n, ssrc, opus(n)), 0.02 * n)
        if n == 6:
            osn = struct.pack("!H", 1005)
            feed(recorder, rtp(112, 7, 960 * 5, rtx_ssrc, osn + opus(5)), 0.13, rtx=True)
    await recorder.stop()
    (item,) = recorder.files()
    assert payloads(tmp_path / item["file"]) == [opus(n) for n in range(150)]
    assert recorder.metrics()["recovered-packets"] == 1


async def test_a_new_source_continues_the_file_after_a_gap(tmp_path: Path) -> None:
    """Alice's first connection sends 3 s of audio; she changes network, and 2 s later her new
    connection sends from a new SSRC whose timestamps start half the 32-bit range away and
    whose sequence numbers restart. A late packet of the old connection is dropped."""
    recorder = RoomRecorder("rec-src", tmp_path, Session(), started_at=0.0)
    recorder.start()
    for n in range(150):  # 0 .. 3 s
        feed(recorder, rtp(111, 60000 + n, 4000 + 960 * n, 0xA, opus(n)), 0.02 * n)
    old_base, new_base = 4000, 4000 + (1 << 31) + 12345
    for n in range(100):  # 5 .. 7 s
        feed(recorder, rtp(111, 7 + n, new_base + 960 * n, 0xB, opus(1000 + n)), 5.0 + 0.02 * n)
        if n == 3:
            feed(recorder, rtp(111, 60150, old_base + 960 * 150, 0xA, opus(150)), 5.07)
    await recorder.stop()

    (item,) = recorder.files()
    path = tmp_path / item["file"]
    assert payloads(path) == [opus(n) for n in range(150)] + [opus(1000 + n) for n in range(100)]
    times = packet_times(path, "audio")
    steps = [b - a for a, b in itertools.pairwise(times)]
    assert times[0] == pytest.approx(0.0, abs=0.002)
    assert times[149] == pytest.approx(2.98, abs=0.002)
    assert times[150] == pytest.approx(5.0, abs=0.002)  # anchored on its arrival
    assert times[-1] == pytest.approx(6.98, abs=0.002)
    assert all(step == pytest.approx(0.02, abs=0.002) for i, step in enumerate(steps) if i != 149)
    probe = ffprobe(path)
    assert streams_by_type(probe)["audio"]["codec_name"] == "opus"
    assert float(probe["format"]["duration"]) == pytest.approx(7.0, abs=0.05)
    metrics = recorder.metrics()
    assert metrics["new-source:audio"] == 1 and metrics["stale-source-packets"] == 1
    assert not [key for key in metrics if "lost" in key or "error" in key], metrics


async def test_a_new_source_with_another_codec_cannot_continue_the_stream(tmp_path: Path) -> None:
    recorder = RoomRecorder("rec-codec", tmp_path, Session(), started_at=0.0)
    recorder.start()
    config = TrackConfig("audio", None, 48000, {111: "opus", 0: "pcmu"})
    for n in range(120):
        recorder.on_rtp(
            "sid-a", "alice", "0", config, rtp(111, n, 960 * n, 0xA, opus(n)), False, 0.02 * n
        )
    for n in range(10):  # the new connection negotiated G.711 on this m-line
        recorder.on_rtp(
            "sid-a",
            "alice",
            "0",
            config,
            rtp(0, n, 160 * n, 0xB, bytes(160)),
            False,
            3.0 + 0.02 * n,
        )
    await recorder.stop()
    (item,) = recorder.files()
    assert payloads(tmp_path / item["file"]) == [opus(n) for n in range(120)]
    assert recorder.metrics()["new-source-other-codec"] == 10
