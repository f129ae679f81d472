"""``liveloop-sfu bench --url`` against a node on another network: the node runs in one lab
namespace, the harness and its cheap clients in another (tests/lab), so nothing reaches the node
on loopback. The clients must gather ICE candidates on the address that routes to the node, and
the node's CPU and memory must come from its ``/metrics`` (``process_*``), since the harness
cannot see the node's process."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from benchmarks.harness.processes import LOAD_TEST_LIMITS
from tests.lab import Lab, Network

pytestmark = pytest.mark.slow

CLIENTS = 4
DURATION = 12.0


async def bench_url_from_another_network(
    lab: Lab, tmp_path: Path, *flags: str
) -> tuple[Network, Path, str]:
    """``liveloop-sfu bench --url`` run in a lab network (``loader``) against a node in another,
    with small media and one client process; ``flags`` add to it. Returns the loader, the
    ``--out`` folder and what bench printed, once it has exited 0."""
    node = lab.node("--mode", "sfu", *LOAD_TEST_LIMITS)
    loader = lab.public("loader")
    out = tmp_path / "out"
    url = node.url_for(loader).rstrip("/")
    argv = [sys.executable, "-m", "liveloop_sfu", "bench", "--url", url, *flags,
            "--ramp-up", "1", "--processes", "1", "--resolution", "320x240", "--bitrate", "300",
            "--no-charts", "--out", str(out), "--cache-dir", str(tmp_path / "cache")]  # fmt: skip
    with (tmp_path / "bench.log").open("wb") as log:
        bench = loader.popen(argv, log)
        code = await asyncio.to_thread(bench.wait, 240)
    output = (tmp_path / "bench.log").read_text(errors="replace")
    assert code == 0, output[-3000:]
    return loader, out, output


async def test_bench_url_loads_a_node_on_another_network(lab: Lab, tmp_path: Path) -> None:
    loader, out, _ = await bench_url_from_another_network(
        lab, tmp_path, "--clients", str(CLIENTS), "--duration", str(DURATION)
    )

    result = json.loads((out / "bench.json").read_text())
    (run,) = result["runs"]
    summary = run["summary"]
    # Every call went through the node, with media both ways.
    assert summary["target"] == "remote" and summary["errors"] == 0, run["errors"]
    assert summary["calls"] >= CLIENTS // 2
    assert summary["fps"]["p50"] is not None and summary["fps"]["p50"] > 0
    assert all(r["video_packets"] > 0 and r["audio_packets"] > 0 for r in run["records"])
    # The clients offered the loader's own lab address, not loopback.
    plan = json.loads((out / "logs" / f"remote-steady-{CLIENTS}" / "plan-0.json").read_text())
    assert plan["host_address"] == loader.ipv4
    # The node's CPU and memory came from its /metrics.
    assert run["node_source"] == "metrics"
    assert summary["node_cpu_pct"] is not None and summary["node_cpu_pct"] > 0
    assert summary["node_rss_mb_max"] is not None and summary["node_rss_mb_max"] > 10
    # The CSV beside the JSON holds the same run.
    assert (out / "bench.csv").read_text().splitlines()[1].startswith("remote,steady,4,")
