"""``liveloop-sfu bench`` killed mid-run by SIGKILL (no cleanup code runs): the node it started
and its client processes stop by themselves (benchmarks/harness/processes.py
``dies_with_parent``), so nothing is left loading the machine or holding the node's port."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.benchmarks.test_bench_worker_orphaned import children

pytestmark = pytest.mark.slow

RUNNING = re.compile(r"joined 2/2 streams in 2 ")


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting for its reaper (proc(5): state Z)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def test_a_killed_harness_leaves_no_node_or_clients(tmp_path: Path) -> None:
    log_path = tmp_path / "bench.log"
    with log_path.open("wb") as log:
        bench = subprocess.Popen(
            [sys.executable, "-m", "liveloop_sfu", "bench", "--targets", "sfu", "--clients", "2",
             "--duration", "120", "--ramp-up", "0", "--processes", "1",
             "--resolution", "320x240", "--bitrate", "300", "--no-charts",
             "--out", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache")],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    started: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while not RUNNING.search(log_path.read_text(errors="replace")):
            assert time.monotonic() < deadline, log_path.read_text()
            assert bench.poll() is None, log_path.read_text()
            time.sleep(0.2)
        started = children(bench.pid)
        lines = [_command_line(pid) for pid in started]
        assert any("-m liveloop_sfu --host" in line for line in lines), lines  # the node
        assert any("load_generator" in line for line in lines), lines  # its clients

        os.kill(bench.pid, signal.SIGKILL)
        bench.wait(10)
        # The node drains for at most a second (the harness starts it with --drain-timeout 1);
        # far less than the 120 s run it was given.
        deadline = time.monotonic() + 30
        while any(_alive(pid) for pid in started):
            assert time.monotonic() < deadline, [_command_line(p) for p in started if _alive(p)]
            time.sleep(0.2)
    finally:
        if bench.poll() is None:
            bench.kill()
            bench.wait(10)
        for pid in started:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
