"""Forwarding benchmark: our RTP-forwarding node against a decode/re-encode relay, in one run.

``python -m benchmarks.suites.forwarding --streams 0,2,4,8 --seconds 8 --json out.json``

For each stream count, alternately for each node type (so machine noise hits both alike): start
the node (``python -m liveloop_sfu --mode sfu``, or ``benchmarks.nodes.relay``: the same app with
aiortc ``MediaRelay`` media), start client processes that open N/2 1:1 calls over the wire
contract and publish pre-encoded VP8 + Opus (:mod:`benchmarks.clients.call_client`), wait for
media to flow, warm up, then measure over a window: node and client CPU from ``/proc/<pid>/stat``,
packets and frames counted by the receivers, latency on decoded sample streams. Then stop every
process by PID. The per-stream and per-packet costs are slopes across the stream counts
(:mod:`benchmarks.reports.forwarding`). A benchmark, not a test: it prints a table and writes
JSON; only ratios within one run mean anything on a shared, noisy machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

from benchmarks.harness.processes import TICKS_PER_SECOND, Client, Node, process_ticks
from benchmarks.media.cache import DEFAULT_CACHE_ROOT, MediaSpec, load_or_build
from benchmarks.nodes.janus import JanusNode
from benchmarks.reports.forwarding import (
    DEFINITIONS,
    Point,
    bottleneck_lines,
    comparison,
    point_from_windows,
    summarize,
    summary_lines,
    table,
)
from benchmarks.reports.stats import cpu_percent
from liveloop_sfu.media.native import compiled

DEFAULT_LOG_DIR = Path(__file__).resolve().parents[1] / "out" / "logs"
SETUP_TIMEOUT = 90.0
COMMAND_TIMEOUT = 20.0


@dataclass(frozen=True, slots=True)
class RunConfig:
    streams: tuple[int, ...]
    seconds: float
    warmup: float
    nodes: tuple[str, ...]
    client_processes: int
    decode_per_process: int
    cache_dir: Path
    log_dir: Path


def split_calls(calls: int, processes: int) -> list[int]:
    """Calls per client process, as even as possible, no empty process."""
    processes = max(1, min(processes, calls))
    return [calls // processes + (1 if i < calls % processes else 0) for i in range(processes)]


def run_point(config: RunConfig, node_kind: str, streams: int) -> Point:
    tag = f"{node_kind}-{streams}"
    node_log = config.log_dir / f"{tag}-node.log"
    node: Node | JanusNode = (
        JanusNode(node_log) if node_kind == "janus" else Node(node_kind, node_log)
    )
    target = "janus" if node_kind == "janus" else "liveloop"
    host_address = node.client_address if isinstance(node, JanusNode) else "127.0.0.1"
    clients: list[Client] = []
    try:
        node.wait_healthy()
        calls_per_process = split_calls(streams // 2, config.client_processes) if streams else []
        for index, calls in enumerate(calls_per_process):
            name = f"{tag}-c{index}"
            log_path = config.log_dir / f"{name}.log"
            clients.append(
                Client(
                    node.url,
                    calls,
                    config.decode_per_process,
                    name,
                    config.cache_dir,
                    log_path,
                    target,
                    host_address,
                )
            )
        # One process at a time: a call's two participants must be matched with each other.
        for client in clients:
            client.command("setup", SETUP_TIMEOUT)
        time.sleep(config.warmup)
        return _measure(config, node, clients, streams)
    finally:
        for client in clients:
            client.stop()
        node.stop()


def _measure(
    config: RunConfig, node: Node | JanusNode, clients: list[Client], streams: int
) -> Point:
    node_ticks = process_ticks(node.pid)
    client_ticks = [process_ticks(c.pid) for c in clients]
    started = time.monotonic()
    for client in clients:
        client.command("start", COMMAND_TIMEOUT)
    time.sleep(config.seconds)
    windows = [client.command("end", COMMAND_TIMEOUT) for client in clients]
    window = time.monotonic() - started
    node_used = process_ticks(node.pid) - node_ticks
    clients_used = sum(process_ticks(c.pid) - t for c, t in zip(clients, client_ticks, strict=True))
    return point_from_windows(
        node=node.kind,
        streams=streams,
        node_window_s=window,
        node_cpu_pct=cpu_percent(node_used, TICKS_PER_SECOND, window),
        clients_cpu_pct=cpu_percent(clients_used, TICKS_PER_SECOND, window),
        windows=windows,
    )


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "aiortc": version("aiortc"),
        "av": version("av"),
        "load_average": os.getloadavg(),
        # The sfu node imports the same tree: mypyc-compiled packet path or plain Python.
        "sfu_packet_path_compiled": compiled(),
    }


def run(config: RunConfig) -> dict[str, Any]:
    spec = MediaSpec()
    cache = load_or_build(spec, config.cache_dir)  # encoded once, before any client needs it
    config.log_dir.mkdir(parents=True, exist_ok=True)
    points: list[Point] = []
    for streams in config.streams:
        for node_kind in config.nodes:
            point = run_point(config, node_kind, streams)
            print(
                f"  {node_kind:<5} {streams:>3} streams: node {point.node_cpu_pct:5.1f}% CPU, "
                f"{point.video_fps_mean:4.1f} fps, clients {point.clients_cpu_pct:5.1f}% CPU",
                file=sys.stderr,
                flush=True,
            )
            points.append(point)
    summaries = [summarize(kind, points) for kind in config.nodes]
    by_kind = {s.node: s for s in summaries}
    compared = comparison(by_kind, points)
    return {
        "benchmark": "forwarding",
        "definitions": DEFINITIONS,
        "machine": machine(),
        "media": {**asdict(spec), "measured_video_kbps": cache.video_kbps},
        "config": {
            "streams": list(config.streams),
            "seconds": config.seconds,
            "warmup": config.warmup,
            "nodes": list(config.nodes),
            "client_processes": config.client_processes,
            "decoded_streams_per_client_process": config.decode_per_process,
        },
        "points": [p.to_json() for p in points],
        "summary": {s.node: s.to_json() for s in summaries},
        "comparison": compared,
        "bottleneck": bottleneck_lines(points, os.cpu_count() or 1),
        "_points": points,
        "_summaries": summaries,
    }


def _streams(text: str) -> tuple[int, ...]:
    values = tuple(sorted({int(part) for part in text.split(",") if part.strip()}))
    if not any(values) or any(v < 0 or v % 2 for v in values):
        raise argparse.ArgumentTypeError(
            "stream counts must be even numbers (N/2 calls; 0 = the idle node), one of them > 0"
        )
    return values


def parse_args(argv: Sequence[str] | None) -> tuple[RunConfig, Path | None]:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.suites.forwarding", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--streams", type=_streams, default=(0, 2, 4, 8), help="e.g. 0,2,4,8 (0 = idle node)"
    )
    parser.add_argument("--seconds", type=float, default=8.0, help="measurement window")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before the window")
    parser.add_argument("--nodes", default="sfu,relay", help="sfu, relay or both")
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--decode", type=int, default=1, help="decoded streams per client process")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_ROOT)
    parser.add_argument("--log-dir", type=Path, default=DEFAULT_LOG_DIR)
    args = parser.parse_args(argv)
    nodes = tuple(n.strip() for n in args.nodes.split(",") if n.strip())
    if not nodes or any(n not in ("sfu", "relay", "janus") for n in nodes):
        parser.error("--nodes takes a comma-separated subset of sfu, relay, janus")
    if not 0 < args.seconds <= 600 or not 0 <= args.warmup <= 600:
        parser.error("--seconds must be in (0, 600], --warmup in [0, 600]")
    config = RunConfig(
        streams=args.streams,
        seconds=args.seconds,
        warmup=args.warmup,
        nodes=nodes,
        client_processes=max(1, args.client_processes),
        decode_per_process=max(0, args.decode),
        cache_dir=args.cache_dir,
        log_dir=args.log_dir,
    )
    json_path: Path | None = args.json
    return config, json_path


def main(argv: Sequence[str] | None = None) -> int:
    config, json_path = parse_args(argv)
    result = run(config)
    points: list[Point] = result.pop("_points")
    summaries = result.pop("_summaries")
    print(table(points))
    print()
    for line in summary_lines(summaries, result["comparison"]):
        print(line)
    for line in result["bottleneck"]:
        print(line)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(result, indent=2) + "\n")
        print(f"\nJSON written to {json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
