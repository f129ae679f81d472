"""A real call through the node's sfu session, recorded: aiortc clients publish painted frame
counters and a tone; the files must hold exactly those frames, in order, for the call's length,
and no encoder or decoder may exist on the node's side."""

from __future__ import annotations

import asyncio
import itertools
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from benchmarks.media.synthetic import SyntheticPeer
from liveloop_sfu.media.recording.recorder import RoomRecorder
from tests.integration.in_process import Room, count_codecs
from tests.recording_files import decoded_counters, ffprobe, packet_times, streams_by_type

pytestmark = pytest.mark.slow

FPS = 30
SECONDS = 4.0


async def until_decoded(peer: SyntheticPeer, counter: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not peer.video_log.counters or peer.video_log.counters[-1] < counter:
        assert time.monotonic() < deadline, f"frame {counter} never arrived"
        await asyncio.sleep(0.02)


async def test_a_recorded_call_holds_each_participants_frames_in_order(
    room: Room, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = count_codecs(monkeypatch)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        await room.join("A", "alice", first_frame=1000)
        await room.join("B", "bob", first_frame=5000)
        started = time.monotonic()
        recorder = RoomRecorder("rec-1", directory, room.session, started)
        recorder.start()
        await room.connect("A")
        await room.connect("B")
        await asyncio.sleep(SECONDS)
        wall = time.monotonic() - started  # the recording's length on the node's clock
        # What each publisher had produced by then (its tracks count frames) ...
        produced = {
            sid: (peer.video_track.counter, peer.audio_track._sent // 960)
            for sid, peer in room.peers.items()
            if peer.video_track is not None and peer.audio_track is not None
        }
        # ... has passed the node once the partner decoded it (on a loaded machine that can
        # take a while; waiting on the event, not on a sleep).
        await until_decoded(room.peers["B"], 1000 + produced["A"][0] - 1)
        await until_decoded(room.peers["A"], 5000 + produced["B"][0] - 1)
        stopped = time.monotonic() - started
        await recorder.stop()

        # Two clients x (audio + video): every encoder and decoder is on the client side.
        assert sorted(created) == sorted(
            [f"{w}:{m}" for w in ("enc", "dec") for m in ("audio/opus", "video/VP8")] * 2
        )
        assert not recorder.codecs_opened
        for participant in room.session._participants.values():
            for transceiver in participant.peer._pc.getTransceivers():
                assert transceiver.receiver._RTCRtpReceiver__decoder_thread is None
                assert transceiver.sender._RTCRtpSender__rtp_task is None
        files = {item["participantId"]: item for item in recorder.files()}
        assert sorted(files) == ["alice", "bob"]
        print("\nrecorder metrics:", recorder.metrics())
        for sid, name, first in (("A", "alice", 1000), ("B", "bob", 5000)):
            video_produced, audio_produced = produced[sid]
            path = directory / files[name]["file"]
            assert path.suffix == ".webm"
            probe = ffprobe(path)
            streams = streams_by_type(probe)
            assert streams["video"]["codec_name"] == "vp8"
            assert streams["audio"]["codec_name"] == "opus"
            duration = float(probe["format"]["duration"])
            # pts 0 is the start of the recording (before the clients connected).
            print(f"{name}: duration {duration:.3f} s, recorded for {wall:.3f}-{stopped:.3f} s")
            # The file's timeline is the media clock: when a starved client (busy test machine)
            # produced fewer than 30 frames a second, its media covers less than the wall time.
            media_time = video_produced / 30
            lower = min(wall, media_time) - 0.3
            assert lower <= duration <= stopped + 0.1, (duration, wall, media_time, stopped)
            # Every frame the publisher produced is in the file, from its first (the recording
            # began before the call) to the last it had produced when we looked.
            frames = int(streams["video"]["nb_read_frames"])
            counters = decoded_counters(path)
            assert len(counters) == frames
            assert None not in counters, "a frame that is not the publisher's"
            assert counters[0] == first
            assert counters == sorted(counters) and len(set(counters)) == len(counters)
            assert counters[-1] - counters[0] + 1 - frames <= 2  # hardly any gaps
            assert counters[-1] >= first + video_produced - 1
            audio = int(streams["audio"]["nb_read_frames"])
            assert audio >= audio_produced - 5  # 20 ms Opus frames; a few may be in flight
            # Both tracks begin when the client connects: their first frames are together. How
            # sender reports align tracks to 40 ms and better is checked with exact values in
            # tests/unit/media/recording/test_timing.py; here the reference is loose, because
            # aiortc's reports pair an RTP timestamp with the time its packet was *sent*, so a
            # client's encoding delay (large on a loaded machine) shifts its video.
            video, audio_times = packet_times(path, "video"), packet_times(path, "audio")
            assert abs(video[0] - audio_times[0]) < 0.15, (video[0], audio_times[0])
            # The file's timeline follows the media clocks: 1/30 s per painted frame, 20 ms per
            # Opus frame, without drift or jumps added by the recorder. (It may move by the
            # small corrections of the clock estimates: tolerance 150 ms on a loaded machine.)
            video_span = video[-1] - video[0]
            nominal = (counters[-1] - counters[0]) / FPS
            assert abs(video_span - nominal) < 0.15, (video_span, nominal)
            audio_span = audio_times[-1] - audio_times[0]
            nominal = (len(audio_times) - 1) * 0.02
            assert abs(audio_span - nominal) < 0.15, (audio_span, nominal)
            # No jump in the timeline (a frame interval is 33 ms).
            assert max(b - a for a, b in itertools.pairwise(video)) < 0.25


async def test_disk_guard_stops_recording_cleanly_and_the_call_goes_on(
    room: Room, tmp_path: Path
) -> None:
    """Free space falls below the threshold mid-call: the files are finalized (ffprobe sees a
    duration, which only a closed file has), everyone is told, forwarding continues."""
    from liveloop_sfu.config import RecordingSettings
    from liveloop_sfu.rooms.recordings import RecordingService
    from liveloop_sfu.rooms.records import Participant
    from liveloop_sfu.rooms.records import Room as CallRoom

    free = {"bytes": 10 << 30}
    events: list[tuple[str, str, dict[str, Any]]] = []

    async def emit(sid: str, event: str, payload: Any) -> None:
        events.append((sid, event, dict(payload)))

    settings = RecordingSettings(record="all", recordings_dir=tmp_path, recordings_min_free_mb=1024)
    service = RecordingService(settings, emit, disk_free=lambda path: free["bytes"])
    alice = await room.join("A", "alice")
    bob = await room.join("B", "bob")
    call = CallRoom("room-1", "sfu", room.session, time.time(), ["A", "B"])
    members = [Participant("A", "alice", 0.0, "alice"), Participant("B", "bob", 0.0, "bob")]
    await service.room_opened(call, members)
    assert call.recording
    await room.connect("A")
    await room.connect("B")
    await asyncio.sleep(2.0)
    assert await service.check_disk() == 0  # plenty of space: nothing happens

    free["bytes"] = 512 << 20  # 512 MB < 1024 MB
    assert await service.check_disk() == 1
    assert not call.recording
    assert [(sid, event, p) for sid, event, p in events] == [
        (sid, "recording", {"active": False, "reason": "disk-space"}) for sid in ("A", "B")
    ]
    (listed,) = await service.recordings()
    assert listed["status"] == "stopped" and listed["stopReason"] == "disk-space"
    for item in listed["files"]:
        probe = ffprobe(tmp_path / listed["recordingId"] / item["file"])
        assert float(probe["format"]["duration"]) > 1.0
    seen = len(bob.video_log.counters), len(alice.video_log.counters)
    await asyncio.sleep(1.0)
    assert len(bob.video_log.counters) > seen[0] + 15
    assert len(alice.video_log.counters) > seen[1] + 15
    await service.close()


async def test_a_room_recorded_twice_in_one_second_gets_two_recordings(
    room: Room, tmp_path: Path
) -> None:
    from liveloop_sfu.config import RecordingSettings
    from liveloop_sfu.rooms.recordings import RecordingService
    from liveloop_sfu.rooms.records import Participant
    from liveloop_sfu.rooms.records import Room as CallRoom

    async def emit(sid: str, event: str, payload: Any) -> None:
        pass

    service = RecordingService(
        RecordingSettings(recordings_dir=tmp_path, recordings_min_free_mb=0), emit
    )
    await room.join("A", "alice")
    call = CallRoom("room-1", "sfu", room.session, time.time(), ["A"])
    members = [Participant("A", "alice", 0.0, "alice")]
    first = await service.start(call, members, reason="admin")
    await service.stop("room-1", reason="admin", notify=False)
    second = await service.start(call, members, reason="admin")
    await service.stop("room-1", reason="admin", notify=False)
    assert first != second
    assert {m["recordingId"] for m in await service.recordings()} == {first, second}
