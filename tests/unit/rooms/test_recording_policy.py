"""Pure rules of the recording service: names, traversal-proof paths, retention, disk guard."""

from __future__ import annotations

from pathlib import Path

import pytest

from liveloop_sfu.errors import NotFound
from liveloop_sfu.rooms.recording_policy import (
    MB,
    disk_decision,
    expired,
    recording_id,
    resolve_inside,
)

RID = "20261127T215000Z-abcDEF_-123"


def test_recording_id_sorts_by_start_time() -> None:
    assert recording_id("room_1-X", 0.0) == "19700101T000000Z-room_1-X"
    assert recording_id("r", 1_800_000_000) < recording_id("r", 1_800_000_001)


@pytest.mark.parametrize(
    ("free_mb", "threshold_mb", "decision"),
    [
        (2048, 1024, "ok"),
        (1024, 1024, "ok"),  # exactly at the threshold is still enough
        (1023, 1024, "stop"),
        (0, 0, "ok"),  # threshold 0: the guard is off
        (10, 1 << 40, "stop"),
    ],
)
def test_disk_decision(free_mb: int, threshold_mb: int, decision: str) -> None:
    assert disk_decision(free_mb * MB, threshold_mb) == decision


@pytest.mark.parametrize(
    ("max_age", "active", "expected"),
    [
        (0.0, set(), []),  # keep forever
        (100.0, set(), ["old"]),
        (100.0, {"old"}, []),  # never delete a running recording
        (10.0, set(), ["mid", "old"]),
        (1000.0, set(), []),
    ],
)
def test_retention(max_age: float, active: set[str], expected: list[str]) -> None:
    recordings = [("new", 995.0), ("mid", 950.0), ("old", 800.0)]
    assert expired(recordings, 1000.0, max_age, active) == expected


@pytest.mark.parametrize(
    ("recording", "name"),
    [
        ("..", None),
        (".", None),
        ("../etc", None),
        (RID + "/..", None),
        ("", None),
        ("no-timestamp", None),
        (RID, "../manifest.json"),
        (RID, ".."),
        (RID, "manifest.json.tmp"),
        (RID, ".hidden.webm"),
        (RID, "a/b.webm"),
        (RID, "x.exe"),
        (RID, "x.webm\x00.json"),
    ],
)
def test_untrusted_names_never_resolve(tmp_path: Path, recording: str, name: str | None) -> None:
    with pytest.raises(NotFound):
        resolve_inside(tmp_path, recording, name)


def test_names_the_node_makes_resolve_inside_the_root(tmp_path: Path) -> None:
    assert resolve_inside(tmp_path, RID) == (tmp_path / RID).resolve()
    assert resolve_inside(tmp_path, RID, "bob.webm") == (tmp_path / RID / "bob.webm").resolve()


def test_a_symlink_out_of_the_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "recordings"
    (root / RID).mkdir(parents=True)
    (tmp_path / "secret.json").write_text("{}")
    (root / RID / "manifest.json").symlink_to(tmp_path / "secret.json")
    with pytest.raises(NotFound):
        resolve_inside(root, RID, "manifest.json")
