"""Fan-out benchmark: group rooms through one node, 1 publisher -> N subscribers and N x N rooms.

``python -m benchmarks.suites.fanout --fanout 1,4,8 --mesh 2,3,4 --seconds 8 --json out.json``

For each scenario: start a node (``python -m liveloop_sfu --mode sfu``), start ONE client process
(``python -m benchmarks.clients.room_client ...``) whose participants join one group room over the
wire contract (``join-room``, offer, ``renegotiate``), publish PRE-ENCODED VP8 + Opus (the cached
media of :mod:`benchmarks.media.cache`, so the clients never encode) and count what they receive at
the DTLS transport per SSRC without decoding. After a warm-up, node CPU (``/proc/<pid>/stat``) and
received packets and video frames are measured over a window. Reported per scenario: node CPU,
forwarded streams (publisher track -> subscriber links), CPU per forwarded stream, CPU per
forwarded packet (node CPU seconds / packets the subscribers received) and the delivered video
frame rate per subscribed video stream (frames = RTP marker bits). Everything runs on this one
machine, so only the ratios within one run mean much.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.harness.processes import TICKS_PER_SECOND, CommandedChild, Node, process_ticks
from benchmarks.media.cache import DEFAULT_CACHE_ROOT, MediaSpec, load_or_build
from benchmarks.reports.stats import cpu_percent
from benchmarks.suites.forwarding import machine

DEFAULT_LOG_DIR = Path(__file__).resolve().parents[1] / "out" / "logs"
SETUP_TIMEOUT = 120.0
COMMAND_TIMEOUT = 30.0


# -- the driver ----------------------------------------------------------------------------------


class ClientProcess(CommandedChild):
    """The ``benchmarks.clients.room_client`` process; started and stopped by PID."""

    def __init__(self, url: str, publishers: int, subscribers: int, cache_dir: Path, log: Path):
        command = [
            sys.executable, "-m", "benchmarks.clients.room_client", "--url", url,
            "--publishers", str(publishers), "--subscribers", str(subscribers),
            "--cache-dir", str(cache_dir),
        ]  # fmt: skip
        super().__init__(command, "fan-out", log)


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str  # "fanout" or "mesh"
    size: int  # N

    @property
    def publishers(self) -> int:
        return 1 if self.name == "fanout" else self.size

    @property
    def subscribers(self) -> int:
        return self.size if self.name == "fanout" else 0

    @property
    def label(self) -> str:
        return f"1->{self.size}" if self.name == "fanout" else f"{self.size}x{self.size}"

    @property
    def forwarded_streams(self) -> int:
        """Publisher track -> subscriber links: audio + video from each publisher to each
        other participant."""
        receivers_per_publisher = self.publishers + self.subscribers - 1
        return 2 * self.publishers * receivers_per_publisher


@dataclass(frozen=True, slots=True)
class Result:
    scenario: str
    participants: int
    forwarded_streams: int
    window_s: float
    node_cpu_pct: float
    packets_per_s: float  # received by all subscribers (= forwarded, less loss, plus RTX)
    video_fps: float  # mean delivered frame rate per subscribed video stream
    video_streams_seen: int
    cpu_pct_per_stream: float | None
    cpu_us_per_packet: float | None


def idle_cpu(seconds: float, log_dir: Path) -> float:
    """CPU of a node nobody uses, over the same window: subtracted before dividing by streams."""
    node = Node("sfu", log_dir / "fanout-idle-node.log")
    try:
        node.wait_healthy()
        ticks, started = process_ticks(node.pid), time.monotonic()
        time.sleep(seconds)
        return cpu_percent(
            process_ticks(node.pid) - ticks, TICKS_PER_SECOND, time.monotonic() - started
        )
    finally:
        node.stop()


def run_scenario(
    scenario: Scenario, seconds: float, warmup: float, log_dir: Path, idle: float
) -> Result:
    node = Node("sfu", log_dir / f"fanout-{scenario.label}-node.log")
    client: ClientProcess | None = None
    try:
        node.wait_healthy()
        client = ClientProcess(
            node.url,
            scenario.publishers,
            scenario.subscribers,
            DEFAULT_CACHE_ROOT,
            log_dir / f"fanout-{scenario.label}-client.log",
        )
        client.command("setup", SETUP_TIMEOUT)
        time.sleep(warmup)
        ticks = process_ticks(node.pid)
        started = time.monotonic()
        client.command("start", COMMAND_TIMEOUT)
        time.sleep(seconds)
        window = client.command("end", COMMAND_TIMEOUT)
        elapsed = time.monotonic() - started
        cpu = cpu_percent(process_ticks(node.pid) - ticks, TICKS_PER_SECOND, elapsed)
        return _result(scenario, window, elapsed, cpu, idle)
    finally:
        if client is not None:
            client.stop()
        node.stop()


def _result(
    scenario: Scenario, window: dict[str, Any], elapsed: float, cpu: float, idle: float
) -> Result:
    seconds = float(window["seconds"])
    packets = frames = streams = 0
    for receiver in window["receivers"]:
        for kind in ("audio", "video", "rtx"):
            packets += receiver.get(kind, {}).get("packets", 0)
        frames += receiver.get("video", {}).get("frames", 0)
        streams += receiver.get("video", {}).get("streams", 0)
    pps = packets / seconds if seconds > 0 else 0.0
    links = scenario.forwarded_streams
    work = max(0.0, cpu - idle)  # what forwarding added to the idle node
    return Result(
        scenario=scenario.label,
        participants=scenario.publishers + scenario.subscribers,
        forwarded_streams=links,
        window_s=round(elapsed, 2),
        node_cpu_pct=round(cpu, 2),
        packets_per_s=round(pps, 1),
        video_fps=round(frames / seconds / streams, 2) if streams and seconds else 0.0,
        video_streams_seen=streams,
        cpu_pct_per_stream=round(work / links, 3) if links else None,
        cpu_us_per_packet=round(work / 100 / pps * 1e6, 1) if pps else None,
    )


def table(results: Sequence[Result]) -> str:
    head = (
        f"{'scenario':<9} {'people':>6} {'streams':>7} {'node CPU%':>9} {'%/stream':>8} "
        f"{'pkts/s':>8} {'us/pkt':>7} {'video fps':>9}"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        per_stream = f"{r.cpu_pct_per_stream:.2f}" if r.cpu_pct_per_stream is not None else "-"
        per_packet = f"{r.cpu_us_per_packet:.0f}" if r.cpu_us_per_packet is not None else "-"
        lines.append(
            f"{r.scenario:<9} {r.participants:>6} {r.forwarded_streams:>7} "
            f"{r.node_cpu_pct:>9.1f} {per_stream:>8} {r.packets_per_s:>8.0f} "
            f"{per_packet:>7} {r.video_fps:>9.1f}"
        )
    return "\n".join(lines)


def slope(points: Sequence[tuple[float, float]]) -> float | None:
    """Least-squares slope of y over x (None with fewer than two distinct x)."""
    if len({x for x, _ in points}) < 2:
        return None
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    num = sum((x - mean_x) * (y - mean_y) for x, y in points)
    den = sum((x - mean_x) ** 2 for x, _ in points)
    return num / den


def marginal_costs(results: Sequence[Result]) -> dict[str, dict[str, float | None]]:
    """Per family (fan-out, mesh): the slope of node CPU over forwarded streams (% of a core per
    extra stream) and over delivered packets (microseconds of CPU per extra packet)."""
    out: dict[str, dict[str, float | None]] = {}
    for family, marker in (("fanout", "->"), ("mesh", "x")):
        rows = [r for r in results if marker in r.scenario]
        per_stream = slope([(r.forwarded_streams, r.node_cpu_pct) for r in rows])
        per_pps = slope([(r.packets_per_s, r.node_cpu_pct) for r in rows])
        out[family] = {
            "cpu_pct_per_extra_stream": round(per_stream, 3) if per_stream is not None else None,
            "cpu_us_per_extra_packet": round(per_pps / 100 * 1e6, 1) if per_pps else None,
        }
    return out


def _sizes(text: str) -> tuple[int, ...]:
    values = tuple(int(part) for part in text.split(",") if part.strip())
    if any(not 1 <= v <= 16 for v in values):
        raise argparse.ArgumentTypeError("sizes must be between 1 and 16")
    return values


def _print_results(results: Sequence[Result], idle: float) -> dict[str, dict[str, float | None]]:
    """The table and the marginal costs on stdout; returns the marginal costs."""
    print(table(results))
    marginal = marginal_costs(results)
    for family, costs in marginal.items():
        print(
            f"{family}: slope {costs['cpu_pct_per_extra_stream']} % CPU per extra forwarded "
            f"stream, {costs['cpu_us_per_extra_packet']} us CPU per extra delivered packet"
        )
    print(
        f"\nidle node {idle:.1f}% CPU; %/stream and us/pkt are (node CPU - idle) divided by the "
        "forwarded streams / by the packets the subscribers received per second."
    )
    return marginal


def _write_json(
    args: argparse.Namespace,
    idle: float,
    results: Sequence[Result],
    marginal: dict[str, dict[str, float | None]],
) -> None:
    """``--json``: the results with the machine, the media, the config and the definitions."""
    report = {
        "benchmark": "fanout",
        "machine": machine(),
        "media": asdict(MediaSpec()),
        "config": {"seconds": args.seconds, "warmup": args.warmup},
        "idle_node_cpu_pct": round(idle, 2),
        "definitions": {
            "forwarded_streams": "publisher track -> subscriber links (audio and video)",
            "cpu_pct_per_stream": "(node CPU % - idle node CPU %) / forwarded streams",
            "cpu_us_per_packet": "(node CPU - idle) seconds per packet received by subscribers",
            "video_fps": "RTP marker bits per second per subscribed video stream",
        },
        "results": [asdict(r) for r in results],
        "marginal": marginal,
    }
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"\nJSON written to {args.json}")


def driver_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.suites.fanout", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--fanout", type=_sizes, default=(1, 4, 8), help="1 -> N subscribers")
    parser.add_argument("--mesh", type=_sizes, default=(2, 3, 4), help="N x N rooms")
    parser.add_argument("--seconds", type=float, default=8.0, help="measurement window")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--log-dir", type=Path, default=DEFAULT_LOG_DIR)
    args = parser.parse_args(list(argv))
    if not 0 < args.seconds <= 600 or not 0 <= args.warmup <= 600:
        parser.error("--seconds must be in (0, 600], --warmup in [0, 600]")
    load_or_build(MediaSpec(), DEFAULT_CACHE_ROOT)  # encode once, before any client needs it
    # The nodes (children of this process) take rooms as large as the largest scenario.
    largest = max([n + 1 for n in args.fanout] + list(args.mesh) + [2])
    os.environ["LIVELOOP_MAX_ROOM_PARTICIPANTS"] = str(largest)
    args.log_dir.mkdir(parents=True, exist_ok=True)
    scenarios = [Scenario("fanout", n) for n in args.fanout]
    scenarios += [Scenario("mesh", n) for n in args.mesh if n >= 2]
    idle = idle_cpu(args.seconds, args.log_dir)
    print(f"  idle node: {idle:.1f}% CPU", file=sys.stderr, flush=True)
    results = []
    for scenario in scenarios:
        result = run_scenario(scenario, args.seconds, args.warmup, args.log_dir, idle)
        print(
            f"  {result.scenario}: node {result.node_cpu_pct:.1f}% CPU, {result.video_fps:.1f} fps",
            file=sys.stderr,
            flush=True,
        )
        results.append(result)
    marginal = _print_results(results, idle)
    _write_json(args, idle, results, marginal)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return driver_main(list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
