"""benchmarks/suites/congestion_cost.py runs end to end and reports every case it measures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.suites import congestion_cost

pytestmark = pytest.mark.slow


def test_every_case_is_measured_against_its_plain_twin(tmp_path: Path) -> None:
    out = tmp_path / "cost.json"
    assert congestion_cost.main(["--packets", "400", "--repeat", "1", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert [(r["side"], r["case"]) for r in rows] == [
        ("ingress", "plain read"),
        ("ingress", "+ record"),
        ("ingress", "+ record + kernel time"),
        ("egress", "no transport-cc"),
        ("egress", "+ stamp and record"),
    ]
    assert all(r["us_per_packet"] > 0 for r in rows)
    assert rows[0]["ratio_to_plain"] == 1.0 and rows[3]["ratio_to_plain"] == 1.0
