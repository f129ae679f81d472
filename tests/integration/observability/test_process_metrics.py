"""``/metrics`` of a real node process: ``process_*`` metrics of the node itself, served on a
private address of its own with ``--metrics-listen`` (and then not on the public listener), and
``liveloop-sfu bench --url``'s probe reading the node's CPU and memory from them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from benchmarks.harness.processes import TICKS_PER_SECOND, process_ticks
from benchmarks.nodes.targets import NodeProbe, start_target
from benchmarks.reports.stats import prometheus_value, rss_bytes
from tests.nodes import ROOT, NodeFactory, free_port

pytestmark = pytest.mark.slow


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return int(error.code), ""


def _started_at(pid: int) -> float:
    """Unix time the process started: boot time (/proc/stat btime) + its start in clock ticks
    after boot (/proc/<pid>/stat field 22, counted after the command name's parenthesis)."""
    btime = next(
        float(line.split()[1])
        for line in Path("/proc/stat").read_text().splitlines()
        if line.startswith("btime ")
    )
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return btime + int(fields[19]) / TICKS_PER_SECOND


def test_metrics_listen_serves_process_metrics_that_bench_reads(
    node_factory: NodeFactory, tmp_path: Path
) -> None:
    port = free_port()
    node = node_factory("--mode", "p2p", "--metrics-listen", f"127.0.0.1:{port}")
    metrics_url = f"http://127.0.0.1:{port}/metrics"
    pid = node.process.pid

    # Private address only: the public listener has no /metrics, the private one nothing else.
    assert _get(node.url + "/metrics")[0] == 404
    assert _get(f"http://127.0.0.1:{port}/readyz")[0] == 404
    status, text = _get(metrics_url)
    assert status == 200
    assert prometheus_value(text, "liveloop_connected_sockets") == 0
    # The node's own process: its start time and open descriptors, as /proc shows them.
    start = prometheus_value(text, "process_start_time_seconds")
    assert start is not None and abs(start - _started_at(pid)) < 0.1
    fds = prometheus_value(text, "process_open_fds")
    assert fds is not None and fds > 0
    assert fds == pytest.approx(len(os.listdir(f"/proc/{pid}/fd")), abs=10)

    # bench --url: the probe knows the node only by URL and reads CPU and memory from /metrics.
    target = start_target("remote", tmp_path, node.url, metrics_url)
    assert target.pid is None
    probe = NodeProbe(target)
    assert probe.source == "metrics"
    busy_until = time.monotonic() + 1.0
    while time.monotonic() < busy_until:  # some CPU for the node: serve the page, many times
        _get(node.url + "/health")
    before = process_ticks(pid) / TICKS_PER_SECOND
    sample = probe.sample()
    after = process_ticks(pid) / TICKS_PER_SECOND
    assert sample is not None
    _, cpu, rss = sample
    # The same CPU time /proc/<pid>/stat shows for the node, to the clock tick (and the scrape's
    # own work between the two readings).
    assert before - 1 / TICKS_PER_SECOND <= cpu <= after + 1 / TICKS_PER_SECOND
    assert cpu > 0
    proc_rss = rss_bytes(Path(f"/proc/{pid}/status").read_text())
    assert rss == pytest.approx(proc_rss, rel=0.1)


def test_a_taken_metrics_address_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "liveloop_sfu", "--port", str(free_port()), "--mode", "p2p",
             "--metrics-listen", f"127.0.0.1:{port}"],
            cwd=ROOT, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert done.returncode == 1
    assert "cannot listen" in done.stderr and "address already in use" in done.stderr
    assert "Traceback" not in done.stderr
