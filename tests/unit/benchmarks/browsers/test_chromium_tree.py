"""The bench's Chromium is counted and stopped as a process tree: what ``process_tree`` finds
under a real parent, and the flags a page of a remote plain-http service needs."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

from benchmarks.browsers.chromium import process_tree
from benchmarks.harness.browsers import _chromium_flags


def test_a_tree_holds_the_children_of_children() -> None:
    # sh starts a sleep, which is sh's child; both are under this test's Popen.
    parent = subprocess.Popen(["sh", "-c", "sleep 30 & wait"])
    tree: dict[int, int] = {}
    try:
        deadline = time.monotonic() + 10
        while len(tree) < 2 and time.monotonic() < deadline:
            tree = process_tree(parent.pid)
            time.sleep(0.05)
        assert parent.pid in tree and len(tree) == 2, tree
        (child,) = set(tree) - {parent.pid}
        assert "sleep" in Path(f"/proc/{child}/cmdline").read_bytes().decode()
        assert all(ticks >= 0 for ticks in tree.values())
    finally:
        for pid in set(tree) - {parent.pid}:  # the sleep, by its PID (sh would orphan it)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        parent.kill()
        parent.wait(5)
    assert process_tree(parent.pid) == {}  # gone: nothing to count or stop


def test_a_remote_plain_http_origin_is_made_a_secure_context(tmp_path: Path) -> None:
    camera = tmp_path / "camera.y4m"
    local = _chromium_flags("http://127.0.0.1:8080", camera)
    assert local == [f"--use-file-for-fake-video-capture={camera}"]
    assert _chromium_flags("https://sfu.example.org", camera) == local
    remote = _chromium_flags("http://10.0.0.5:8080", camera)
    assert remote[1] == "--unsafely-treat-insecure-origin-as-secure=http://10.0.0.5:8080"
