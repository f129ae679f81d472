"""``liveloop-sfu bench compare``: differences between two bench results, and its exit codes
(0 within thresholds, 1 on a regression beyond one, 2 on unusable input); the CSV beside the
JSON."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from benchmarks.harness.bench import main as bench_main
from benchmarks.reports.bench import TargetSummary
from benchmarks.reports.compare import differences, parse_threshold, worse_pct
from benchmarks.reports.csv_rows import bench_rows, to_csv

BASE = TargetSummary(
    target="sfu",
    scenario="steady",
    clients=32,
    streams=32,
    calls=16,
    errors=0,
    match_ms={"p50": 300.0, "p95": 700.0},
    setup_ms={"p50": 2000.0, "p95": 2400.0},
    fps={"p50": 30.0, "min": 29.0},
    loss_pct=0.1,
    jitter_ms={"p95": 4.0},
    rtt_ms={"p50": 3.0},
    latency_ms={"p50": 10.0, "p95": 40.0, "p99": 80.0},
    node_cpu_pct=14.0,
    node_rss_mb_max=210.0,
    clients_cpu_pct=11.0,
    packets_per_s=5300.0,
    us_per_packet=26.0,
    streams_per_core=230.0,
    healthy=True,
    bottleneck="none (the node kept up)",
)


def _result(summary: TargetSummary, knee_streams: int | None = None) -> dict[str, Any]:
    knees = []
    if knee_streams is not None:
        knees = [{"target": "sfu", "healthy_streams": knee_streams, "streams_per_core": None}]
    return {"runs": [{"summary": summary.to_json()}], "knees": knees}


def _write(tmp_path: Path, name: str, result: dict[str, Any]) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(result))
    return str(path)


def test_worse_follows_each_figures_good_direction() -> None:
    assert worse_pct(20.0, 25.0, lower_is_better=True) == pytest.approx(25.0)
    assert worse_pct(100.0, 80.0, lower_is_better=False) == pytest.approx(20.0)
    assert worse_pct(100.0, 120.0, lower_is_better=False) == pytest.approx(-20.0)
    assert worse_pct(None, 1.0, lower_is_better=True) is None
    assert worse_pct(0.0, 1.0, lower_is_better=True) is None


def test_thresholds_parse_and_unknown_figures_are_refused() -> None:
    assert parse_threshold("us_per_packet>10") == ("us_per_packet", 10.0)
    assert parse_threshold(" latency_p95 > 2.5% ") == ("latency_p95", 2.5)
    with pytest.raises(ValueError, match="unknown figure"):
        parse_threshold("speed>10")
    with pytest.raises(ValueError, match="FIGURE>PERCENT"):
        parse_threshold("us_per_packet<10")


def test_differences_match_runs_and_knees() -> None:
    after = replace(BASE, us_per_packet=39.0, latency_ms={"p50": 9.0, "p95": 40.0, "p99": 80.0})
    diffs = {(d.where, d.figure): d for d in differences(_result(BASE, 96), _result(after, 48))}
    assert diffs[("sfu steady 32", "us_per_packet")].worse_pct == pytest.approx(50.0)
    assert diffs[("sfu steady 32", "latency_p50")].worse_pct == pytest.approx(-10.0)
    assert diffs[("sfu knee", "knee_streams")].worse_pct == pytest.approx(50.0)
    # A run of another client count is not compared with this one.
    other = replace(BASE, clients=16)
    assert differences(_result(BASE), _result(other)) == []


def test_compare_exits_1_on_a_regression_beyond_the_threshold(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _write(tmp_path, "a.json", _result(BASE, 96))
    slower = _write(tmp_path, "b.json", _result(replace(BASE, us_per_packet=30.0), 96))
    # 15 % more CPU per packet: within 20 %, beyond 10 %.
    assert bench_main(["compare", before, slower, "--fail-if", "us_per_packet>20"]) == 0
    assert bench_main(["compare", before, slower, "--fail-if", "us_per_packet>10"]) == 1
    out = capsys.readouterr().out
    assert "us_per_packet" in out and "15.4% worse" in out
    assert "regression: us_per_packet (sfu steady 32) 26 -> 30" in out
    # Better is never a regression, whatever the threshold.
    faster = _write(tmp_path, "c.json", _result(replace(BASE, us_per_packet=20.0), 96))
    assert bench_main(["compare", before, faster, "--fail-if", "us_per_packet>0"]) == 0
    # A lower knee fails a knee threshold.
    lower_knee = _write(tmp_path, "d.json", _result(BASE, 64))
    assert bench_main(["compare", before, lower_knee, "--fail-if", "knee_streams>10"]) == 1


def test_compare_exits_2_on_unusable_input(tmp_path: Path) -> None:
    before = _write(tmp_path, "a.json", _result(BASE))
    assert bench_main(["compare", before, str(tmp_path / "missing.json")]) == 2
    (tmp_path / "junk.json").write_text("{not json")
    assert bench_main(["compare", before, str(tmp_path / "junk.json")]) == 2
    other = _write(tmp_path, "b.json", _result(replace(BASE, target="janus")))
    assert bench_main(["compare", before, other]) == 2  # nothing in common
    assert bench_main(["compare", before, before, "--fail-if", "speed>1"]) == 2


def test_csv_has_one_flat_row_per_run() -> None:
    result = {
        "runs": [{"summary": BASE.to_json()}, {"summary": replace(BASE, clients=16).to_json()}]
    }
    rows = list(csv.DictReader(io.StringIO(to_csv(bench_rows(result)))))
    assert [r["clients"] for r in rows] == ["32", "16"]
    assert rows[0]["latency_ms_p95"] == "40.0" and rows[0]["us_per_packet"] == "26.0"
    assert rows[0]["node_idle_cpu_pct"] == ""  # None stays an empty cell
