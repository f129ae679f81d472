"""The forwarding benchmark end to end, tiny: 2 streams (one call) through each node type, a 3 s
window. Checks the command's JSON, and that frames really went through both nodes — not figures,
which only mean something in a full run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.nodes import ROOT

pytestmark = pytest.mark.slow

POINT_FIELDS = {
    "node",
    "streams",
    "window_s",
    "node_cpu_pct",
    "clients_cpu_pct",
    "packets_per_s",
    "node_us_per_packet",
    "video_fps_mean",
    "video_fps_min",
    "video_kbps_mean",
    "loss_pct",
    "latency_ms_p50",
    "latency_ms_p99",
    "latency_samples",
    "decoded_frames",
    "unreadable_frames",
    "disconnected",
}


def test_forwarding_benchmark_runs_both_nodes(tmp_path: Path) -> None:
    out = tmp_path / "forwarding.json"
    command = [
        sys.executable, "-m", "benchmarks.suites.forwarding", "--streams", "2", "--seconds", "3",
        "--warmup", "1", "--json", str(out), "--log-dir", str(tmp_path / "logs"),
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "µs/pkt" in done.stdout  # the table was printed

    result = json.loads(out.read_text())
    assert {"definitions", "machine", "media", "config", "points", "summary", "comparison"} <= set(
        result
    )
    points = {point["node"]: point for point in result["points"]}
    assert set(points) == {"sfu", "relay"}
    for node, point in points.items():
        assert set(point) >= POINT_FIELDS, node
        assert point["streams"] == 2
        assert point["node_cpu_pct"] > 0, node
        assert point["packets_per_s"] > 100, node  # ~170/s per stream: video + audio
        assert point["video_fps_mean"] > 10, node  # published at 30 fps
        assert point["decoded_frames"] > 0 and point["unreadable_frames"] == 0, node
        assert point["latency_samples"] > 0 and point["latency_ms_p50"] is not None, node
        assert point["disconnected"] == 0, node
    # One stream count: no slope yet, and the report says so instead of inventing one.
    assert result["summary"]["sfu"]["cpu_pct_per_stream"] is None
    assert result["comparison"]["per_stream_ratio_relay_over_sfu"] is None
