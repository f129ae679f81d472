"""``liveloop-sfu bench --url … --browsers 2`` against a node on another network: the node runs in
one lab namespace, the harness, its cheap clients and its Chromium in another (tests/lab), so
nothing reaches the node on loopback. The pages load the service's own client from the node's
plain-http lab origin (the bench treats that origin as secure, or the camera would not open),
call each other through the node while the cheap clients load it, and the report says what each
page saw. Checks the structure, not the figures (see test_bench_browsers.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.browser.test_bench_browsers import _processes_mentioning
from tests.integration.benchmarks.test_bench_remote import bench_url_from_another_network
from tests.lab import Lab

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CLIENTS = 4


async def test_bench_browsers_join_a_remote_node(lab: Lab, tmp_path: Path) -> None:
    loader, out, output = await bench_url_from_another_network(
        lab, tmp_path, "--clients", str(CLIENTS), "--browsers", "2", "--duration", "10"
    )
    assert "real Chromium pages" in output

    (run,) = json.loads((out / "bench.json").read_text())["runs"]
    summary = run["summary"]
    assert summary["target"] == "remote" and summary["errors"] == 0, run["errors"]
    assert summary["calls"] >= CLIENTS // 2
    # The pages called each other through the node on its lab address, and decoded video.
    browsers = {b["name"]: b for b in summary["browsers"]}
    assert set(browsers) == {"browser0", "browser1"}
    assert browsers["browser0"]["joined"] == "1:1 with browser1"
    assert browsers["browser1"]["joined"] == "1:1 with browser0"
    for name, browser in browsers.items():
        assert browser["errors"] == [], browser
        assert browser["frames_decoded"] > 0 and browser["kbps"] > 0, (name, browser)
        assert (browser["width"], browser["height"]) == (320, 240), browser
        assert name in output
    assert summary["browsers_cpu_pct"] is not None and summary["browsers_cpu_pct"] > 0
    # The cheap clients offered the loader's lab address; the node's CPU came from /metrics.
    plan = json.loads((out / "logs" / f"remote-steady-{CLIENTS}" / "plan-0.json").read_text())
    assert plan["host_address"] == loader.ipv4
    assert run["node_source"] == "metrics" and summary["node_cpu_pct"] is not None
    # Chromium and every process under it were stopped with the run.
    assert _processes_mentioning(str(out)) == []
