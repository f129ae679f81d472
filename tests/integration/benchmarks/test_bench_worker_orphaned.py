"""A ``liveloop-sfu bench --worker`` whose coordinator disappears mid-run (killed by its PID)
stops its client processes and exits by itself: nobody is left loading the node."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.harness.processes import LOAD_TEST_LIMITS
from benchmarks.media.cache import MediaSpec, load_or_build
from tests.nodes import NodeFactory
from tests.redis_server import RedisServer

pytestmark = pytest.mark.slow

SPEC = MediaSpec(width=320, height=240, fps=30, video_kbps=300, keyframe_interval=60)
RUNNING = re.compile(r"joined 2/2 streams in 2 ")


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (every thread's list, /proc/PID/task/*/children)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def test_a_worker_stops_when_its_coordinator_is_gone(
    tmp_path: Path, redis_server: RedisServer, node_factory: NodeFactory
) -> None:
    cache = tmp_path / "cache"
    load_or_build(SPEC, cache)
    node = node_factory("--mode", "sfu", *LOAD_TEST_LIMITS)
    common = ["--redis-url", redis_server.url, "--run", f"orphan-{os.getpid()}",
              "--cache-dir", str(cache)]  # fmt: skip
    bench = [sys.executable, "-m", "liveloop_sfu", "bench"]
    logs = {name: (tmp_path / f"{name}.log").open("wb") for name in ("worker", "coordinator")}
    worker = subprocess.Popen(
        [*bench, "--worker", *common, "--worker-name", "w1", "--processes", "1",
         "--worker-timeout", "1", "--out", str(tmp_path / "w1")],
        stdout=logs["worker"], stderr=subprocess.STDOUT,
    )  # fmt: skip
    coordinator = subprocess.Popen(
        [*bench, "--workers", "1", *common, "--url", node.url, "--clients", "2",
         "--duration", "60", "--ramp-up", "0", "--resolution", "320x240", "--bitrate", "300",
         "--no-charts", "--out", str(tmp_path / "coordinator")],
        stdout=logs["coordinator"], stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while not RUNNING.search((tmp_path / "worker.log").read_text(errors="replace")):
            assert time.monotonic() < deadline, (tmp_path / "coordinator.log").read_text()
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()
            time.sleep(0.2)
        clients = children(worker.pid)
        assert clients  # its load generator process
        coordinator.kill()
        coordinator.wait(10)
        # The heartbeat key expires 5 s after its last renewal, the worker waits 1 s more: far
        # less than the 60 s run it was given.
        assert worker.wait(30) == 1
        log = (tmp_path / "worker.log").read_text()
        assert "the coordinator is gone" in log, log
        assert not any(Path(f"/proc/{pid}").exists() for pid in clients)
    finally:
        for process in (worker, coordinator):
            if process.poll() is None:
                process.kill()
                process.wait(10)
        for log_file in logs.values():
            log_file.close()
