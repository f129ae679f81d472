"""Retention through the recording service: old recordings' folders go, recent ones stay."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from liveloop_sfu.config import RecordingSettings
from liveloop_sfu.rooms.recording_policy import recording_id
from liveloop_sfu.rooms.recordings import RecordingService

pytestmark = pytest.mark.slow


def make_recording(root: Path, room: str, started: float, stopped: bool) -> str:
    rid = recording_id(room, started)
    folder = root / rid
    folder.mkdir(parents=True)
    manifest = {
        "recordingId": rid,
        "roomId": room,
        "startedAt": started,
        "stoppedAt": started + 60 if stopped else None,
        "participants": [],
        "files": [],
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    (folder / "alice.webm").write_bytes(b"\x1a\x45\xdf\xa3")
    return rid


async def test_sweep_deletes_only_recordings_older_than_max_age(tmp_path: Path) -> None:
    async def emit(sid: str, event: str, payload: Any) -> None:
        raise AssertionError("retention tells nobody")

    now = time.time()
    old = make_recording(tmp_path, "roomA", now - 3 * 86400, stopped=True)
    crashed = make_recording(tmp_path, "roomB", now - 2 * 86400, stopped=False)
    recent = make_recording(tmp_path, "roomC", now - 3600, stopped=True)
    (tmp_path / "unrelated-folder").mkdir()
    settings = RecordingSettings(recordings_dir=tmp_path, recordings_max_age=86400.0)
    service = RecordingService(settings, emit)

    listed = {m["recordingId"]: m["status"] for m in await service.recordings()}
    assert listed == {old: "stopped", crashed: "interrupted", recent: "stopped"}
    assert sorted(await service.sweep(now)) == sorted([old, crashed])
    left = await asyncio.to_thread(lambda: sorted(p.name for p in tmp_path.iterdir()))
    assert left == sorted([recent, "unrelated-folder"])
    assert await service.sweep(now) == []
