"""Recording through a real node process: the admin API, ``--record all``, ``kill -9`` and the
disk guard, with aiortc clients speaking the wire contract (tests/integration/calls/wire_call)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.integration.calls.wire_call import WireCall
from tests.integration.conftest import Caller, call_pair
from tests.nodes import Node, NodeFactory
from tests.recording_files import decoded_counters, ffprobe, streams_by_type

pytestmark = pytest.mark.slow

TOKEN = "test-admin-token-0123456789"


def admin(
    node: Node, method: str, path: str, body: Any = None, token: str | None = TOKEN
) -> tuple[int, bytes]:
    """One admin request (blocking; tests call it through asyncio.to_thread)."""
    request = urllib.request.Request(
        node.url + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}"} if token else {},
    )
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


async def admin_json(node: Node, method: str, path: str, body: Any = None) -> dict[str, Any]:
    status, raw = await asyncio.to_thread(admin, node, method, path, body)
    assert status == 200, (status, raw)
    result: dict[str, Any] = json.loads(raw)
    return result


async def test_admin_api_starts_stops_lists_serves_and_deletes(
    node_factory: NodeFactory, caller: Caller, tmp_path: Path
) -> None:
    folder = tmp_path / "recordings"
    node = node_factory("--admin-token", TOKEN, "--recordings-dir", str(folder))
    # No token, a wrong one, another scheme: 401 with the error body, nothing leaks.
    for token in (None, "wrong-token-wrong-token", f"Basic {TOKEN}"):
        status, raw = await asyncio.to_thread(
            admin, node, "GET", "/api/admin/recordings", None, token
        )
        assert status == 401 and json.loads(raw)["error"]["code"] == "unauthorized"
        assert TOKEN.encode() not in raw

    alice, bob = await call_pair(node, caller)
    assert alice.match is not None and alice.match["recording"] is False
    room = alice.match["roomId"]
    started = await admin_json(
        node, "POST", f"/api/admin/rooms/{room}/recording", {"action": "start"}
    )
    for call in (alice, bob):
        assert (await call.wire.next("recording")) == {"active": True, "reason": "admin"}
    await alice.frames_from_partner(20)
    await asyncio.sleep(2.0)
    stopped = await admin_json(
        node, "POST", f"/api/admin/rooms/{room}/recording", {"action": "stop"}
    )
    assert stopped["recordingId"] == started["recordingId"]
    for call in (alice, bob):
        assert (await call.wire.next("recording")) == {"active": False, "reason": "admin"}
    # The call goes on after the recording stopped.
    seen = len(bob.peer.video_log.counters) if bob.peer else 0
    await bob.frames_from_partner(seen + 10)

    rid = started["recordingId"]
    listing = (await admin_json(node, "GET", "/api/admin/recordings"))["recordings"]
    assert [item["recordingId"] for item in listing] == [rid]
    manifest = listing[0]
    assert manifest["status"] == "stopped" and manifest["roomId"] == room
    assert sorted(p["userName"] for p in manifest["participants"]) == ["alice", "bob"]
    assert len(manifest["files"]) == 2
    # Recording started mid-call: it asked for a keyframe at once (the forwarder's merged,
    # throttled PLI path) instead of waiting for the encoder's next natural one.
    assert manifest["counters"]["keyframe-requests"] >= 2
    for item in manifest["files"]:
        assert [s["codec"] for s in item["streams"]] == ["opus", "vp8"]
        status, body = await asyncio.to_thread(
            admin, node, "GET", f"/api/admin/recordings/{rid}/files/{item['file']}"
        )
        assert status == 200 and body == (folder / rid / item["file"]).read_bytes()
        video = streams_by_type(ffprobe(folder / rid / item["file"]))["video"]
        assert video["codec_name"] == "vp8"
        assert float(video["start_time"]) < 1.0  # the first picture came within a second

    # Path traversal: encoded separators, dot segments, names the node never makes.
    (tmp_path / "secret.json").write_text("{}")
    for path in (
        f"/api/admin/recordings/{rid}/files/..%2F..%2Fsecret.json",
        f"/api/admin/recordings/{rid}/files/%2E%2E",
        "/api/admin/recordings/..%2Fsecret.json",
        f"/api/admin/recordings/{rid}/files/manifest.json.tmp",
        f"/api/admin/recordings/{rid}%2F..%2F..%2F/files/secret.json",
    ):
        status, raw = await asyncio.to_thread(admin, node, "GET", path)
        assert status == 404, (path, status, raw)
    status, _ = await asyncio.to_thread(admin, node, "DELETE", "/api/admin/recordings/..%2F..")
    assert status == 404
    assert (tmp_path / "secret.json").exists()

    status, raw = await asyncio.to_thread(
        admin, node, "POST", f"/api/admin/rooms/{room}/recording", {"action": "pause"}
    )
    assert status == 400 and json.loads(raw)["error"]["code"] == "invalid-payload"
    status, _ = await asyncio.to_thread(
        admin, node, "POST", "/api/admin/rooms/nope/recording", {"action": "start"}
    )
    assert status == 404
    await admin_json(node, "DELETE", f"/api/admin/recordings/{rid}")
    assert not (folder / rid).exists()
    assert TOKEN not in node.log()


async def test_kill_9_leaves_playable_files(
    node_factory: NodeFactory, caller: Caller, tmp_path: Path
) -> None:
    folder = tmp_path / "recordings"
    node = node_factory("--record", "all", "--recordings-dir", str(folder))
    alice, bob = await call_pair(node, caller)
    assert alice.match is not None and alice.match["recording"] is True
    await alice.frames_from_partner(10)
    await bob.frames_from_partner(10)
    await asyncio.sleep(4.0)
    os.kill(node.process.pid, signal.SIGKILL)
    node.process.wait(timeout=10)

    (recording,) = list(folder.iterdir())
    manifest = json.loads((recording / "manifest.json").read_text())
    assert manifest["stoppedAt"] is None  # it never stopped: interrupted
    files = sorted(recording.glob("*.webm"))
    assert len(files) == 2
    for path in files:
        streams = streams_by_type(ffprobe(path))
        assert streams["video"]["codec_name"] == "vp8"
        assert streams["audio"]["codec_name"] == "opus"
        # Clusters close every second: all but about the last second was on disk.
        assert int(streams["video"]["nb_read_frames"]) >= 30 * 2.5
        assert int(streams["audio"]["nb_read_frames"]) >= 50 * 2.5
        counters = decoded_counters(path)
        assert None not in counters and counters == sorted(counters)


async def test_disk_guard_refuses_to_record_and_the_call_goes_on(
    node_factory: NodeFactory, caller: Caller, tmp_path: Path
) -> None:
    folder = tmp_path / "recordings"
    node = node_factory(
        "--record",
        "all",
        "--recordings-dir",
        str(folder),
        "--recordings-min-free-mb",
        str(1 << 40),  # a petabyte: more than this disk has free
        "--admin-token",
        TOKEN,
    )
    alice, bob = await call_pair(node, caller)
    assert alice.match is not None and alice.match["recording"] is False
    assert alice.mode == "sfu"  # --record all: every call through the node
    await bob.frames_from_partner(20)
    status, raw = await asyncio.to_thread(
        admin,
        node,
        "POST",
        f"/api/admin/rooms/{alice.match['roomId']}/recording",
        {"action": "start"},
    )
    assert status == 503 and json.loads(raw)["error"]["code"] == "capacity"
    assert not folder.exists() or not list(folder.iterdir())


def test_recording_with_p2p_mode_is_a_configuration_error(node_factory: NodeFactory) -> None:
    with pytest.raises(RuntimeError, match="--mode p2p"):
        node_factory("--mode", "p2p", "--record", "all")


async def test_a_recorded_call_never_falls_back_to_p2p(
    node_factory: NodeFactory, caller: Caller, tmp_path: Path
) -> None:
    """In auto mode an unreachable node makes a call fall back to p2p — but not a recorded
    one: it ends with ``media-failed`` (DESIGN, Modes), and its recording is finalized."""
    folder = tmp_path / "recordings"
    node = node_factory(
        "--record", "all", "--recordings-dir", str(folder), "--media-connect-timeout", "2"
    )
    alice = WireCall(node.url, "alice", sfu_blocked=True)
    try:
        await alice.start()
        bob = await caller(node, "bob")
        await alice.matched()
        await bob.matched()
        assert alice.match is not None and alice.match["recording"] is True
        assert (await bob.event("partner-left"))["reason"] == "media-failed"
        assert not [event for event, _ in alice.events if event == "mode-changed"]
    finally:
        await alice.close()
    (recording,) = list(folder.iterdir())
    manifest = json.loads((recording / "manifest.json").read_text())
    assert manifest["stopReason"] == "call-ended" and manifest["stoppedAt"] is not None
