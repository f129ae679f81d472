"""Recording benchmark: the node's CPU cost of recording a stream next to forwarding it.

``python -m benchmarks.suites.recording --calls 2 --seconds 8 --rounds 2 --json out.json``

In one run, alternately (so machine noise hits all alike), three node processes are measured
under the same client load (:mod:`benchmarks.clients.call_client`: 1:1 calls publishing pre-encoded
640x480 VP8 ~1 Mbit/s + Opus, cheap receivers):

- ``idle``: the node with no calls (its baseline: socket.io pings, timers);
- ``forward``: ``--mode sfu``, K calls, every published track forwarded to the partner;
- ``record``: the same plus ``--record all``: every published track also depacketized and
  muxed into WebM on disk (writer thread included: CPU is the whole process from /proc).

A 1:1 call publishes 4 tracks (audio + video each way); each is forwarded once and recorded once,
so per stream: forwarding = (forward - idle) / streams, recording = (record - forward) / streams.
The verdict is their ratio (target <= 2). A benchmark, not a test: it prints a table and writes
JSON; only ratios within one run mean anything on a shared, noisy machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.harness.processes import (
    TICKS_PER_SECOND,
    Client,
    Node,
    process_ticks,
)
from benchmarks.media.cache import DEFAULT_CACHE_ROOT, MediaSpec, load_or_build
from benchmarks.reports.stats import cpu_percent

SETUP_TIMEOUT = 90.0
COMMAND_TIMEOUT = 20.0
VARIANTS = ("idle", "forward", "record")
TARGET_RATIO = 2.0


@dataclass(frozen=True, slots=True)
class Sample:
    variant: str
    round: int
    node_cpu_pct: float
    window_s: float
    video_fps: float  # mean frames/s per receiver (0 when idle)
    recorded_bytes: int


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def measure(variant: str, round_: int, args: argparse.Namespace, work: Path) -> Sample:
    recordings = work / f"recordings-{variant}-{round_}"
    extra = ["--record", "all", "--recordings-dir", str(recordings)] if variant == "record" else []
    # The disk guard would stop a recording on a nearly full test disk: not what is measured.
    extra += ["--recordings-min-free-mb", "0"] if extra else []
    node = Node("sfu", work / f"{variant}-{round_}-node.log", extra=extra)
    client: Client | None = None
    try:
        node.wait_healthy()
        if variant != "idle":
            log = work / f"{variant}-{round_}-client.log"
            client = Client(node.url, args.calls, 0, f"{variant}{round_}", args.cache_dir, log)
            client.command("setup", SETUP_TIMEOUT)
        time.sleep(args.warmup)
        before, bytes_before = process_ticks(node.process.pid), folder_bytes(recordings)
        started = time.monotonic()
        if client is not None:
            client.command("start", COMMAND_TIMEOUT)
        time.sleep(args.seconds)
        window = client.command("end", COMMAND_TIMEOUT) if client is not None else None
        elapsed = time.monotonic() - started
        used = process_ticks(node.process.pid) - before
        fps = 0.0
        if window is not None:
            frames = [r["video"]["frames"] for r in window["receivers"]]
            fps = statistics.mean(frames) / window["seconds"] if frames else 0.0
        return Sample(
            variant,
            round_,
            cpu_percent(used, TICKS_PER_SECOND, elapsed),
            elapsed,
            fps,
            folder_bytes(recordings) - bytes_before,
        )
    finally:
        if client is not None:
            client.stop()
        node.stop()


def summarize(samples: list[Sample], streams: int) -> dict[str, Any]:
    cpu = {
        v: statistics.median(s.node_cpu_pct for s in samples if s.variant == v) for v in VARIANTS
    }
    forwarding = (cpu["forward"] - cpu["idle"]) / streams
    recording = (cpu["record"] - cpu["forward"]) / streams
    ratio = recording / forwarding if forwarding > 0 else float("inf")
    return {
        "node_cpu_pct_median": cpu,
        "streams": streams,
        "forwarding_pct_per_stream": forwarding,
        "recording_pct_per_stream": recording,
        "recording_to_forwarding_ratio": ratio,
        "target_ratio": TARGET_RATIO,
        "meets_target": ratio <= TARGET_RATIO,
    }


def table(samples: list[Sample], summary: dict[str, Any]) -> str:
    lines = [
        f"{'variant':<8} {'round':>5} {'node CPU %':>10} {'video fps':>9} {'written kB/s':>12}",
    ]
    for s in samples:
        rate = s.recorded_bytes / s.window_s / 1000
        lines.append(
            f"{s.variant:<8} {s.round:>5} {s.node_cpu_pct:>10.1f} {s.video_fps:>9.1f} {rate:>12.1f}"
        )
    lines += [
        "",
        f"streams (published tracks, each forwarded once and recorded once): {summary['streams']}",
        f"forwarding: {summary['forwarding_pct_per_stream']:.2f}% of a core per stream",
        f"recording:  {summary['recording_pct_per_stream']:.2f}% of a core per stream",
        f"recording / forwarding = {summary['recording_to_forwarding_ratio']:.2f}x "
        f"(target <= {TARGET_RATIO:g}x: {'met' if summary['meets_target'] else 'NOT met'})",
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.suites.recording", description=__doc__
    )
    parser.add_argument("--calls", type=int, default=2, help="1:1 calls (4 tracks each)")
    parser.add_argument("--seconds", type=float, default=8.0, help="measured window")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=2, help="alternating repetitions")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_ROOT)
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    args = parser.parse_args(argv)
    if not 1 <= args.calls <= 20 or not 1 <= args.rounds <= 10 or not 1 <= args.seconds <= 120:
        parser.error("need 1 <= calls <= 20, 1 <= rounds <= 10, 1 <= seconds <= 120")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    spec = MediaSpec()
    load_or_build(spec, args.cache_dir)  # encoded once, before any client needs it
    samples: list[Sample] = []
    with tempfile.TemporaryDirectory(prefix="liveloop-recording-bench-") as tmp:
        for round_ in range(args.rounds):
            for variant in VARIANTS:
                sample = measure(variant, round_, args, Path(tmp))
                print(f"  {variant:<8} round {round_}: node {sample.node_cpu_pct:5.1f}% CPU",
                      file=sys.stderr, flush=True)  # fmt: skip
                samples.append(sample)
    summary = summarize(samples, streams=4 * args.calls)
    print(table(samples, summary))
    if args.json is not None:
        result = {
            "benchmark": "recording",
            "media": asdict(spec),
            "config": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
            "samples": [asdict(s) for s in samples],
            "summary": summary,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
