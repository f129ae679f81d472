"""``liveloop-sfu bench`` end to end, tiny: 4 clients (2 calls) in 2 processes for 6 s against a
local sfu node it starts itself, run from outside the checkout. Checks that the command printed
its table, wrote JSON and charts, and that media really flowed — not the figures, which only
mean something in a full run on a quiet machine."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_bench_runs_a_local_node(tmp_path: Path) -> None:
    out = tmp_path / "out"
    command = [
        sys.executable, "-m", "liveloop_sfu", "bench", "--targets", "sfu", "--clients", "4",
        "--duration", "6", "--ramp-up", "1", "--processes", "2", "--out", str(out),
    ]  # fmt: skip
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "µs/pkt" in done.stdout and "bottleneck" in done.stdout
    assert "sfu-steady-4" in done.stderr  # the progress line

    result = json.loads((out / "bench.json").read_text())
    assert result["config"]["scenario"]["clients"] == 4
    (run,) = result["runs"]
    summary = run["summary"]
    assert summary["target"] == "sfu" and summary["streams"] == 4
    assert summary["calls"] == 4 and summary["errors"] == 0, run["errors"]
    assert summary["match_ms"]["count"] == 4 and summary["setup_ms"]["count"] == 4
    assert summary["fps"]["p50"] > 10  # published at 30 fps
    assert summary["node_cpu_pct"] is not None and summary["node_cpu_pct"] > 0
    assert summary["packets_per_s"] > 200  # ~170/s per stream
    assert any(i["fps"] for i in run["timeline"])
    assert run["node"] and run["node_source"] == "proc"
    for chart in ("node_cpu_vs_streams.png", "latency_histograms.png", "fps_over_time.png"):
        assert (out / chart).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", chart
