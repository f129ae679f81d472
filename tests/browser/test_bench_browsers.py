"""``liveloop-sfu bench --browsers 2``: two real Chromium pages of the node's own client call each
other while 4 cheap clients load the node, and the report says what each page saw. Checks the
structure (both pages decoded video, at a nonzero rate and size, and the JSON, the CSV and the
printed table carry them; Chromium's CPU is counted apart; no Chromium process outlives the
run), not the figures: on a shared 2-core machine they only mean something in a full run."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _processes_mentioning(text: str) -> list[int]:
    """PIDs whose command line holds ``text`` (this test's own temporary folder)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and text in (entry / "cmdline").read_bytes().decode(
                errors="replace"
            ):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_bench_reports_what_two_real_pages_saw(tmp_path: Path) -> None:
    out = tmp_path / "out"
    command = [
        sys.executable, "-m", "liveloop_sfu", "bench", "--targets", "sfu", "--clients", "4",
        "--browsers", "2", "--duration", "10", "--ramp-up", "1", "--processes", "1",
        "--no-charts", "--out", str(out),
    ]  # fmt: skip
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=150)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "real Chromium pages" in done.stdout

    (run,) = json.loads((out / "bench.json").read_text())["runs"]
    summary = run["summary"]
    assert summary["errors"] == 0, run["errors"]
    browsers = {b["name"]: b for b in summary["browsers"]}
    assert set(browsers) == {"browser0", "browser1"}
    assert browsers["browser0"]["joined"] == "1:1 with browser1"
    assert browsers["browser1"]["joined"] == "1:1 with browser0"
    for name, browser in browsers.items():
        assert browser["frames_decoded"] > 0, (name, browser)
        assert browser["kbps"] > 0 and browser["width"] > 0 and browser["height"] > 0, browser
        assert browser["streams"] == 1 and browser["seconds"] > 0, browser
        assert browser["setup_ms"] is not None and browser["setup_ms"] > 0, browser
        assert browser["errors"] == [], browser
        assert name in done.stdout
    assert summary["browsers_cpu_pct"] is not None and summary["browsers_cpu_pct"] > 0

    with (out / "bench.csv").open() as file:
        (row,) = csv.DictReader(file)
    for index in (0, 1):
        assert int(row[f"browser{index}_frames_decoded"]) > 0, row
        assert float(row[f"browser{index}_kbps"]) > 0 and int(row[f"browser{index}_width"]) > 0
    # Chromium and every process under it were stopped with the run.
    assert _processes_mentioning(str(out)) == []
