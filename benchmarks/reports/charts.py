"""PNG charts of a ``liveloop-sfu bench`` result (matplotlib, Agg backend: no display needed):

* ``node_cpu_vs_streams.png`` — node CPU (% of one core) against forwarded streams, a line per
  target across capacity steps (one point per target for a single run);
* ``latency_histograms.png`` — match latency, call setup (request → first remote frame) and frame
  latency on the decoded samples, per target;
* ``fps_over_time.png`` — delivered fps per receiving user and node CPU over time, per run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.ticker import NullFormatter


def write_charts(result: dict[str, Any], out: Path) -> list[Path]:
    runs = result["runs"]
    if not runs:
        return []
    return [_cpu_vs_streams(runs, out), _histograms(runs, out), _fps_over_time(runs, out)]


def _by_target(runs: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        out.setdefault(run["summary"]["target"], []).append(run)
    return out


def _cpu_vs_streams(runs: list[dict[str, Any]], out: Path) -> Path:
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for target, mine in _by_target(runs).items():
        points = [
            (r["summary"]["streams"] or r["summary"]["clients"], r["summary"]["node_cpu_pct"])
            for r in mine
            if r["summary"]["node_cpu_pct"] is not None
        ]
        if points:
            xs, ys = zip(*sorted(points), strict=True)
            axes.plot(xs, ys, marker="o", label=target)
        bad = [
            (r["summary"]["streams"] or r["summary"]["clients"], r["summary"]["node_cpu_pct"])
            for r in mine
            if r["summary"]["node_cpu_pct"] is not None and not r["summary"]["healthy"]
        ]
        if bad:
            bad_x, bad_y = zip(*bad, strict=True)
            axes.scatter(bad_x, bad_y, marker="x", s=90, color="red", zorder=3)
    axes.scatter([], [], marker="x", color="red", label="unhealthy run (loss > 1 % or fps down)")
    axes.set_xlabel("streams forwarded by the node (p2p: clients)")
    axes.set_xlim(left=0)
    axes.set_ylim(bottom=0)
    axes.set_ylabel("node CPU, % of one core")
    axes.set_title("Node CPU vs streams")
    axes.grid(alpha=0.3)
    axes.legend()
    path = out / "node_cpu_vs_streams.png"
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def _histograms(runs: list[dict[str, Any]], out: Path) -> Path:
    figure, panels = plt.subplots(1, 3, figsize=(13, 4))
    metrics = (
        ("match_s", 1000.0, "match / join latency (ms)"),
        ("setup_s", 1000.0, "call setup: request → first remote frame (ms)"),
        ("latencies_ms", 1.0, "frame latency, decoded samples (ms)"),
    )
    for axes, (key, scale, title) in zip(panels, metrics, strict=True):
        by_target = {target: _values(mine, key, scale) for target, mine in _by_target(runs).items()}
        everything = [v for values in by_target.values() for v in values if v > 0]
        if everything:
            # Log-spaced bins: a saturated relay's seconds and a forwarder's milliseconds
            # share one axis.
            low, high = min(everything), max(everything)
            bins = np.geomspace(low, high * 1.0001 if high > low else low * 2, 30)
            for target, values in by_target.items():
                if values:
                    axes.hist(values, bins=bins, alpha=0.5, label=f"{target} (n={len(values)})")
            axes.set_xscale("log")
            axes.xaxis.set_minor_formatter(NullFormatter())
        axes.set_title(title, fontsize=10)
        axes.set_ylabel("count")
        axes.grid(alpha=0.3)
        if axes.has_data():
            axes.legend(fontsize=8)
    path = out / "latency_histograms.png"
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def _values(runs: list[dict[str, Any]], key: str, scale: float) -> list[float]:
    values: list[float] = []
    for run in runs:
        for record in run["records"]:
            value = record.get(key)
            if isinstance(value, list):
                values += [float(v) * scale for v in value if v > 0]
            elif value is not None and value > 0:
                values.append(float(value) * scale)
    return values


def _fps_over_time(runs: list[dict[str, Any]], out: Path) -> Path:
    figure, (fps_axes, cpu_axes) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    for run in runs:
        summary = run["summary"]
        label = f"{summary['target']} {summary['clients']} clients"
        times = [i["t"] for i in run["timeline"] if i["fps"] is not None]
        fps = [i["fps"] for i in run["timeline"] if i["fps"] is not None]
        if times:
            fps_axes.plot(times, fps, label=label)
        if run["node"]:
            cpu_axes.plot(
                [n["t"] for n in run["node"]], [n["cpu_pct"] for n in run["node"]], label=label
            )
    fps_axes.set_ylabel("delivered fps per receiver")
    fps_axes.set_title("Delivered fps and node CPU over time")
    cpu_axes.set_ylabel("node CPU, % of one core")
    cpu_axes.set_xlabel("seconds since start")
    for axes in (fps_axes, cpu_axes):
        axes.grid(alpha=0.3)
        if axes.has_data():
            axes.legend(fontsize=8)
    path = out / "fps_over_time.png"
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
