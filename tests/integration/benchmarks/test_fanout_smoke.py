"""The fan-out benchmark end to end, tiny: a 1 -> 2 room and a 2 x 2 room, a 2 s window. Checks
the command's JSON and that video really reached every subscriber — not the figures, which only
mean something in a full run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.nodes import ROOT

pytestmark = pytest.mark.slow


def test_fanout_benchmark_runs_both_shapes(tmp_path: Path) -> None:
    out = tmp_path / "fanout.json"
    command = [
        sys.executable, "-m", "benchmarks.suites.fanout", "--fanout", "2", "--mesh", "2",
        "--seconds", "2", "--warmup", "0.5", "--json", str(out), "--log-dir", str(tmp_path),
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "scenario" in done.stdout and "1->2" in done.stdout
    report = json.loads(out.read_text())
    assert report["benchmark"] == "fanout"
    by_name = {r["scenario"]: r for r in report["results"]}
    assert set(by_name) == {"1->2", "2x2"}
    assert by_name["1->2"]["forwarded_streams"] == 4 and by_name["2x2"]["forwarded_streams"] == 4
    for result in by_name.values():
        assert result["video_streams_seen"] == 2  # each subscriber sees each publisher's video
        assert result["video_fps"] > 10 and result["packets_per_s"] > 100
        assert result["node_cpu_pct"] > 0
