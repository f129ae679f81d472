"""A recorded call in which one participant changes network: its new peer connection publishes
with new SSRCs, random new RTP timestamp bases and restarted sequence numbers (an ICE restart
through the node, sfu/session.py ``_restart_peer``). The recording must carry on across it: one
file per participant, both tracks, a timeline that only moves forward and shows the outage as a
gap of about its length — not a jump of hours from the new timestamp base."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.helpers import until
from tests.integration.calls.wire_call import WireCall
from tests.integration.recording.test_recording_node import TOKEN, admin_json
from tests.nodes import NodeFactory
from tests.recording_files import decoded_counters, ffprobe, packet_times, streams_by_type

pytestmark = pytest.mark.slow


@pytest.fixture
async def calls() -> AsyncIterator[list[WireCall]]:
    made: list[WireCall] = []
    yield made
    for call in made:
        await call.close()


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


async def test_a_network_change_mid_recording_continues_the_files(
    node_factory: NodeFactory, calls: list[WireCall], tmp_path: Path
) -> None:
    folder = tmp_path / "recordings"
    node = node_factory(
        "--mode",
        "sfu",
        "--record",
        "all",
        "--recordings-dir",
        str(folder),
        "--admin-token",
        TOKEN,
        "--resume-grace",
        "15",
        "--media-timeout",
        "2",
    )
    alice = WireCall(node.url, "alice", resumable=True)
    bob = WireCall(node.url, "bob", resumable=True)
    calls += [alice, bob]
    await alice.start()
    await bob.start()
    match = await alice.matched()
    await bob.matched()
    assert match["recording"] is True
    await alice.frames_from_partner(10)
    await bob.frames_from_partner(10)
    await asyncio.sleep(2.0)  # a stretch of call before the change

    changed_at = time.time()
    await alice.change_network(node_sees_close=True)
    await asyncio.sleep(1.5)  # offline: longer than any stall of a loaded test machine
    await alice.resume(node.url)
    resumed_at = time.time()
    # Media flows again both ways; bob decodes alice's new peer's counters.
    await alice.frames_from_partner(10, timeout=20)
    assert bob.peer is not None
    bob_log = bob.peer.video_log
    await until(lambda: sum(c >= alice.first_frame for c in bob_log.counters) >= 30, 20)
    await asyncio.sleep(2.0)  # a stretch of call after the change
    last_seen = time.time()

    stopped = await admin_json(
        node, "POST", f"/api/admin/rooms/{match['roomId']}/recording", {"action": "stop"}
    )
    (recording,) = list(folder.iterdir())
    assert stopped["recordingId"] == recording.name
    manifest = json.loads((recording / "manifest.json").read_text())
    print("\nmanifest counters:", manifest["counters"])
    assert manifest["stopReason"] == "admin" and manifest["stoppedAt"] is not None
    assert sorted(p["userName"] for p in manifest["participants"]) == ["alice", "bob"]
    counters = manifest["counters"]
    assert not {k: v for k, v in counters.items() if "error" in k}, counters
    # Alice's new connection: each of her tracks saw one new source (media/recording/sources.py).
    assert counters["new-source:video"] == counters["new-source:audio"] == 1, counters
    files = {item["participantId"]: item for item in manifest["files"]}
    assert len(files) == 2
    started_at = float(manifest["startedAt"])
    call_length = last_seen - started_at
    # File time t is wall time startedAt + t (pts 0 is the start of the recording).
    outage = (changed_at - started_at, resumed_at - started_at)

    ids = {p["userName"]: p["participantId"] for p in manifest["participants"]}
    for item in files.values():
        path = recording / item["file"]
        assert [s["codec"] for s in item["streams"]] == ["opus", "vp8"]
        probe = ffprobe(path)
        streams = streams_by_type(probe)
        assert streams["video"]["codec_name"] == "vp8"
        assert streams["audio"]["codec_name"] == "opus"
        assert item["frames"]["video"] == int(streams["video"]["nb_read_frames"])
        assert item["frames"]["audio"] == int(streams["audio"]["nb_read_frames"])
        duration = float(probe["format"]["duration"])
        print(f"{item['participantId']}: duration {duration:.3f} s, call {call_length:.3f} s")
        # The whole call, before and after the change, and nothing like an hour.
        assert call_length - 2.0 <= duration <= call_length + 1.0, (duration, call_length)
        video, audio = packet_times(path, "video"), packet_times(path, "audio")
        for times in (video, audio):
            assert times[0] >= 0.0
            assert all(step > 0 for step in gaps(times)), "a timestamp that does not move on"
            # Frames 20 ms (Opus) or 33 ms (30 fps) apart: a run of 1 ms steps is frames the
            # recorder could not date, pushed one after the other behind the last good one.
            crammed = [step for step in gaps(times) if step < 0.005]
            assert len(crammed) <= max(3, len(times) // 20), (len(crammed), len(times))
            assert times[-1] >= outage[1] + 1.0  # media after the change is in the file
            assert times[0] <= outage[0] - 1.0  # and media before it
        pictures = decoded_counters(path)
        assert None not in pictures and pictures == sorted(pictures)
        assert len(set(pictures)) == len(pictures)

    alice_file = recording / files[ids["alice"]]["file"]
    bob_file = recording / files[ids["bob"]]["file"]
    for kind in ("video", "audio"):
        steps = gaps(packet_times(bob_file, kind))
        assert max(steps) < 1.0, (kind, max(steps))  # bob never stopped publishing
        times = packet_times(alice_file, kind)
        steps = gaps(times)
        biggest = max(steps)
        hole = steps.index(biggest)
        assert 1.0 <= biggest <= 10.0, (kind, biggest)  # offline 1.5 s, then renegotiating
        # The one hole is the outage: it begins around the change and ends after the resume.
        assert outage[0] - 1.0 <= times[hole] <= outage[1], (kind, times[hole], outage)
        assert outage[0] < times[hole + 1] <= outage[1] + 5.0, (kind, times[hole + 1], outage)
        assert sorted(steps)[-2] < 1.0, (kind, sorted(steps)[-3:])
    # Both of alice's peer connections are in her file: her new peer paints on from the count
    # her old one reached.
    pictures = decoded_counters(alice_file)
    assert pictures[0] < alice.first_frame <= pictures[-1]
