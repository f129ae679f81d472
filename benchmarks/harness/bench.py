"""``liveloop-sfu bench``: load a Live Loop service the way real users do and report what it costs.

    liveloop-sfu bench                                   # steady 1:1, sfu/relay/p2p(/janus)
    liveloop-sfu bench --scenario churn --clients 8 --duration 30
    liveloop-sfu bench --targets sfu,janus --capacity 2,4,8,12
    liveloop-sfu bench --url https://sfu.example.org --scenario group --clients 12
    liveloop-sfu bench --targets sfu --clients 32 --client aiortc      # the aiortc clients
    liveloop-sfu bench --targets sfu --clients 32 --browsers 2   # + 2 real Chromium pages
    liveloop-sfu bench compare before/bench.json after/bench.json --fail-if us_per_packet>10
    liveloop-sfu bench --worker --redis-url redis://R:6379/0   # one of several load machines
    liveloop-sfu bench --workers 2 --redis-url redis://R:6379/0 --url https://sfu.example.org

For each target (a node it starts itself on loopback, Janus in its own network namespace, or a
running service named by ``--url``) it runs the scenario (:mod:`benchmarks.harness.scenarios`) with
synthetic clients spread over several processes (:mod:`benchmarks.clients.load_generator`):
``--client cheap`` (the default, :mod:`benchmarks.clients.cheap_peer`: aiortc for the handshake,
compiled code per packet) or ``--client aiortc`` (every packet through aiortc, for fidelity
checks; p2p and Janus always use these),
samples the node's CPU and memory, and prints a progress line, then a summary table; it writes JSON
and PNG charts to ``--out``. ``--browsers N`` adds N real Chromium pages of the service as people
who report what they see (:mod:`benchmarks.harness.browsers`). Every process it starts is stopped
by its PID, and gets SIGTERM if the harness is killed (``dies_with_parent``). With
``--workers N`` it coordinates N ``--worker`` machines instead
(:mod:`benchmarks.harness.coordinator`).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import IO, Any

from benchmarks.clients.load_generator import CLIENT_KINDS
from benchmarks.harness.browsers import BrowserPanel, browsers_problem
from benchmarks.harness.processes import (
    TICKS_PER_SECOND,
    dies_with_parent,
    process_ticks,
    stop_process,
)
from benchmarks.harness.progress import Progress, render
from benchmarks.harness.scenarios import (
    SCENARIOS,
    ScenarioConfig,
    ScenarioError,
    by_process,
    expected_streams,
    plan,
)
from benchmarks.media.cache import (
    DEFAULT_CACHE_ROOT,
    VIDEO_CODECS,
    MediaSpec,
    layer_specs,
    load_or_build,
)
from benchmarks.nodes.targets import (
    SUPPORTED,
    TARGETS,
    NodeProbe,
    Target,
    start_target,
    unavailable,
)
from benchmarks.reports.bench import (
    TargetSummary,
    admission_summary,
    knee,
    node_cpu,
    node_series,
    summarize_target,
    table,
    timeline,
)
from benchmarks.reports.browsers import browser_table
from benchmarks.reports.csv_rows import bench_rows, to_csv
from benchmarks.suites.forwarding import machine

DEFAULT_OUT = Path("bench-out")
START_LEAD = 1.0  # seconds between "everybody ready" and the run's start
READY_TIMEOUT = 120.0  # starting Python + aiortc on a loaded machine can take a while
SETTLE = 3.0  # seconds after the ramp-up before the steady window opens
EXIT_GRACE = 60.0


@dataclass(frozen=True, slots=True)
class BenchConfig:
    scenario: ScenarioConfig
    targets: tuple[str, ...]
    url: str | None
    processes: int
    decode: int
    spec: MediaSpec
    capacity: tuple[int, ...]
    out: Path
    cache_dir: Path
    charts: bool
    client: str = "cheap"
    # --url's Prometheus /metrics when the node serves it elsewhere (its --metrics-listen).
    metrics_url: str | None = None
    # More flags for the nodes the harness starts (e.g. admission off, to see where quality
    # drops without it).
    node_flags: tuple[str, ...] = ()
    # Real Chromium pages that join each run as people (benchmarks/harness/browsers.py).
    browsers: int = 0


@dataclass
class LoadProc:
    process: subprocess.Popen[str]
    ticks: list[dict[str, Any]]
    result: dict[str, Any] | None
    log: IO[bytes]
    reader: threading.Thread
    ready: threading.Event


def _spawn(plan_path: Path, log_path: Path) -> LoadProc:
    log = log_path.open("wb")
    process = subprocess.Popen(
        dies_with_parent(
            [sys.executable, "-m", "benchmarks.clients.load_generator", str(plan_path)]
        ),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        bufsize=1,
    )
    proc = LoadProc(process, [], None, log, threading.Thread(daemon=True), threading.Event())

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            try:
                message = json.loads(line)
            except json.JSONDecodeError:
                continue
            if message.get("event") == "tick":
                proc.ticks.append(message)
            elif message.get("event") == "ready":
                proc.ready.set()
            elif message.get("event") == "result":
                proc.result = message

    proc.reader = threading.Thread(target=read, daemon=True)
    proc.reader.start()
    return proc


def _window(config: ScenarioConfig) -> tuple[float, float]:
    """The steady window, seconds since the start: after ramp-up and settling, before the end."""
    low, high = config.ramp_up + SETTLE, config.duration - 1.0
    if high - low < 2.0:
        low, high = config.ramp_up, config.duration
    return low, high


def run_once(config: BenchConfig, scenario: ScenarioConfig, kind: str) -> dict[str, Any]:
    """One scenario on one target: start it, load it, measure, stop everything."""
    label = f"{kind}-{scenario.kind}-{scenario.clients}"
    logs = config.out / "logs" / label
    logs.mkdir(parents=True, exist_ok=True)
    target = start_target(kind, logs, config.url, config.metrics_url, config.node_flags)
    procs: list[LoadProc] = []
    probe = NodeProbe(target)
    panel = None
    if config.browsers:
        panel = BrowserPanel(
            config.browsers, target.url, scenario.kind, config.spec, logs, config.cache_dir
        )
    browsers: tuple[list[dict[str, Any]], float | None] | None = None
    try:
        users = plan(scenario, config.processes)
        probe.start()  # from now on: the idle node until the clients start, then under load
        for index, mine in sorted(by_process(users).items()):
            plan_path = logs / f"plan-{index}.json"
            plan_path.write_text(json.dumps(_plan_json(config, scenario, target, mine, index)))
            procs.append(_spawn(plan_path, logs / f"clients-{index}.log"))
        idle_end = None
        if panel is not None:  # while the client processes start
            panel.open()
            idle_end = time.monotonic()  # 1:1 pages call before the load: the node is not idle
            panel.join_calls()
        start_at = _start(procs)
        if panel is not None:
            panel.start(start_at, scenario.ramp_up, sorted({u.room for u in users if u.room}))
        clients_cpu = _drive(config, scenario, target, procs, probe, start_at, len(users), label)
        if panel is not None:
            browsers = panel.results(_window(scenario))
    finally:
        for proc in procs:
            stop_process(proc.process)
            proc.reader.join(timeout=5)
            proc.log.close()
        if panel is not None:
            panel.stop()
        probe.stop()
        target.stop()
    return _summarize(
        config, scenario, target, procs, probe, start_at, clients_cpu, browsers, idle_end
    )


def _start(procs: list[LoadProc]) -> float:
    """Wait until every client process is ready, then give them one start time."""
    deadline = time.monotonic() + READY_TIMEOUT
    for proc in procs:
        if not proc.ready.wait(max(0.0, deadline - time.monotonic())):
            raise TimeoutError(f"client process {proc.process.pid} not ready in {READY_TIMEOUT} s")
    start_at = time.monotonic() + START_LEAD
    for proc in procs:
        assert proc.process.stdin is not None
        proc.process.stdin.write(f"{start_at}\n")
        proc.process.stdin.flush()
    return start_at


def client_for(config: BenchConfig, target_kind: str) -> str:
    """The client kind a target's run uses: p2p calls (one side answers the other's offer,
    which the cheap peer's fixed sending does not follow) use the aiortc one; Janus (which
    offers its subscribers) gets the cheap peer's answer."""
    return "aiortc" if target_kind == "p2p" else config.client


def _plan_json(
    config: BenchConfig,
    scenario: ScenarioConfig,
    target: Target,
    users: list[Any],
    index: int,
) -> dict[str, Any]:
    return {
        "target": target.client_target,
        "url": target.url,
        "host_address": target.host_address,
        "spec": asdict(config.spec),
        "cache_dir": str(config.cache_dir),
        "duration": scenario.duration,
        "scenario": scenario.kind,
        "client": client_for(config, target.kind),
        "decode": config.decode if index == 0 or config.decode > 1 else 0,
        "users": [asdict(u) for u in users],
    }


def _drive(
    config: BenchConfig,
    scenario: ScenarioConfig,
    target: Target,
    procs: list[LoadProc],
    probe: NodeProbe,
    start_at: float,
    users: int,
    label: str,
) -> float | None:
    """Wait for the clients, showing progress; returns the clients' CPU % over the window."""
    window = _window(scenario)
    progress = Progress()
    marks: dict[str, list[int]] = {}
    deadline = start_at + scenario.duration + EXIT_GRACE
    while time.monotonic() < deadline and any(p.process.poll() is None for p in procs):
        now = time.monotonic()
        for name, at in (("open", window[0]), ("close", window[1])):
            if name not in marks and now >= start_at + at:
                marks[name] = [_ticks(p) for p in procs]
        progress.show(_progress_line(label, scenario, procs, probe, start_at, users), now)
        time.sleep(0.5)
    progress.done()
    if "open" in marks and "close" in marks:
        used = sum(b - a for a, b in zip(marks["open"], marks["close"], strict=True))
        return 100.0 * used / TICKS_PER_SECOND / (window[1] - window[0])
    return None


def _ticks(proc: LoadProc) -> int:
    try:
        return process_ticks(proc.process.pid)
    except (OSError, ValueError):
        return 0


def _progress_line(
    label: str,
    scenario: ScenarioConfig,
    procs: list[LoadProc],
    probe: NodeProbe,
    start_at: float,
    users: int,
) -> str:
    now = time.monotonic()
    ticks = [p.ticks for p in procs]
    recent = timeline(ticks, max(start_at, now - 3.0), 1.0) if any(ticks) else []
    last = recent[-1] if recent else None
    latest = [t[-1] for t in ticks if t]
    return render(
        label,
        max(0.0, now - start_at),
        scenario.duration,
        matched=sum(int(t["matched"]) for t in latest),
        users=users,
        receiving=sum(int(t["receiving"]) for t in latest),
        fps=last.fps if last else None,
        loss_pct=last.loss_pct if last else None,
        node_cpu_pct=node_cpu(probe.samples, now - 3.0, now),
        errors=sum(int(t["errors"]) for t in latest),
    )


def _summarize(
    config: BenchConfig,
    scenario: ScenarioConfig,
    target: Target,
    procs: list[LoadProc],
    probe: NodeProbe,
    start_at: float,
    clients_cpu: float | None,
    browsers: tuple[list[dict[str, Any]], float | None] | None = None,
    idle_end: float | None = None,
) -> dict[str, Any]:
    window = _window(scenario)
    records = [r for p in procs if p.result for r in p.result["records"]]
    errors = [e for p in procs if p.result for e in p.result["errors"]]
    missing = sum(1 for p in procs if p.result is None)
    intervals = timeline([p.ticks for p in procs], start_at)
    rss = [s[2] for s in probe.samples if s[2]]
    summary = summarize_target(
        target=target.kind,
        scenario=scenario.kind,
        clients=scenario.clients,
        streams=expected_streams(scenario),
        records=records,
        errors=len(errors) + missing,
        refused=sum(1 for e in errors if "capacity" in e),
        stranded=sum(1 for e in errors if "no call was set up" in e),
        intervals=intervals,
        window=window,
        node_cpu_pct=node_cpu(probe.samples, start_at + window[0], start_at + window[1]),
        node_rss_mb_max=max(rss) / 1e6 if rss else None,
        node_idle_cpu_pct=node_cpu(probe.samples, 0.0, idle_end or start_at),
        clients_cpu_pct=clients_cpu,
        cores=os.cpu_count() or 1,
        published_fps=float(config.spec.fps),
        forwards=target.forwards,
        load_average=os.getloadavg()[0],
        browsers=browsers[0] if browsers else (),
        browsers_cpu_pct=browsers[1] if browsers else None,
    )
    return {
        "summary": summary,
        "client": client_for(config, target.kind),
        "timeline": [asdict(i) for i in intervals],
        "node": node_series(probe.samples, start_at),
        "node_source": probe.source if probe.samples else "none",
        "api_status": probe.status,
        "admission": admission_summary(probe.status, start_at),
        "load_average_at_end": os.getloadavg(),
        "records": records,
        "errors": errors[:50]
        + ([f"{missing} client process(es) gave no result"] if missing else []),
    }


def run(config: BenchConfig) -> dict[str, Any]:
    cache = load_or_build(config.spec, config.cache_dir)  # encoded once, before any client
    result: dict[str, Any] = {
        "benchmark": "liveloop-sfu bench",
        "machine": machine(),
        "media": {**asdict(config.spec), "measured_video_kbps": cache.video_kbps},
        "config": {
            "scenario": asdict(config.scenario),
            "targets": list(config.targets),
            "url": config.url,
            "processes": config.processes,
            "client": config.client,
            "node_flags": list(config.node_flags),
            "decoded_streams": config.decode,
            "capacity_steps": list(config.capacity),
            "browsers": config.browsers,
        },
        "runs": [],
        "skipped": {},
        "failed": {},
        "knees": [],
    }
    active: list[str] = []
    for kind in config.targets:
        why = _skip_reason(kind, config)
        if why is None:
            active.append(kind)
        else:
            result["skipped"][kind] = why
            print(f"skipping {kind}: {why}", file=sys.stderr)
    summaries: dict[str, list[TargetSummary]] = {kind: [] for kind in active}
    # Step by step, every target at each step in turn: noise from a shared machine then hits
    # all targets alike instead of whichever ran last.
    for clients in config.capacity or (config.scenario.clients,):
        for kind in list(active):
            scenario = replace(config.scenario, clients=clients)
            try:
                outcome = run_once(config, scenario, kind)
            except (OSError, RuntimeError, TimeoutError) as exc:
                # A target that cannot start or whose clients cannot start: say so, go on.
                result["failed"][f"{kind}-{clients}"] = f"{type(exc).__name__}: {exc}"
                print(f"{kind} with {clients} clients failed: {exc}", file=sys.stderr)
                active.remove(kind)
                continue
            summaries[kind].append(outcome["summary"])
            result["runs"].append({**outcome, "summary": outcome["summary"].to_json()})
            if config.capacity and (not outcome["summary"].healthy or outcome["summary"].refused):
                active.remove(kind)  # its knee is behind us (or it said it is full)
    if config.capacity:
        result["knees"] = [knee(kind, mine).to_json() for kind, mine in summaries.items()]
    result["ratios"] = ratios(result)
    return result


def _skip_reason(kind: str, config: BenchConfig) -> str | None:
    if config.scenario.kind not in SUPPORTED[kind]:
        return f"scenario {config.scenario.kind!r} is not supported on {kind}"
    return unavailable(kind)


def ratios(result: dict[str, Any]) -> dict[str, Any]:
    """ours ÷ Janus: µs per forwarded packet (goal < 1.0), from the capacity slopes when every
    target has one, else from the whole-node figures of the first runs (never a mix)."""
    by_target: dict[str, float] = {}
    for knee_json in result["knees"]:
        fit = knee_json.get("us_per_packet")
        if fit and fit["slope"] > 0:
            by_target[knee_json["target"]] = fit["slope"]
    method = "slope across capacity steps"
    if not by_target or len(by_target) < len(result["knees"]):
        by_target = {}
        method = "whole node at the run's load"
        for run_json in result["runs"]:
            us = run_json["summary"]["us_per_packet"]
            if us is not None:
                by_target.setdefault(run_json["summary"]["target"], us)
    ours = by_target.get("sfu", by_target.get("remote"))
    janus = by_target.get("janus")
    return {
        "us_per_packet": by_target,
        "method": method,
        "ours_over_janus": ours / janus if ours is not None and janus else None,
    }


def _argument_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="liveloop-sfu bench", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--url", help="load this running service instead of local nodes")
    parser.add_argument(
        "--metrics-url",
        help="with --url: where its Prometheus text is (its --metrics-listen address, e.g. "
        "http://10.0.0.5:9100/metrics); default URL/metrics",
    )
    parser.add_argument(
        "--targets", default="sfu,relay,p2p,janus", help=f"subset of {','.join(TARGETS)}"
    )
    parser.add_argument(
        "--node-flags",
        default="",
        help="more flags for the nodes the harness starts (not Janus), e.g. "
        "'--admission-cpu 0 --admission-lag-ms 0' (admission by the stream cap alone)",
    )
    parser.add_argument("--scenario", choices=SCENARIOS, default="steady")
    parser.add_argument("--clients", type=int, default=4, help="synthetic users")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per run")
    parser.add_argument("--ramp-up", type=float, default=2.0, help="seconds to start all users")
    parser.add_argument("--room-size", type=int, default=4, help="group scenario")
    parser.add_argument("--call-min", type=float, default=5.0, help="churn: shortest call, s")
    parser.add_argument("--call-max", type=float, default=15.0, help="churn: longest call, s")
    parser.add_argument("--bitrate", type=int, default=1000, help="video kbps")
    parser.add_argument("--resolution", default="640x480", help="WxH")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--processes", type=int, default=2, help="client processes")
    parser.add_argument(
        "--client",
        choices=CLIENT_KINDS,
        default="cheap",
        help="cheap: compiled media path (default); aiortc: every packet through aiortc",
    )
    parser.add_argument(
        "--codec",
        choices=VIDEO_CODECS,
        default="vp8",
        help="publishers' video codec (h264: constrained baseline; cheap clients, sfu or --url)",
    )
    parser.add_argument(
        "--simulcast",
        type=int,
        default=1,
        help="publishers' video encodings (2-3: simulcast, each half the size of the next; "
        "cheap clients, sfu or --url)",
    )
    parser.add_argument("--decode", type=int, default=1, help="receivers that decode (sample)")
    parser.add_argument(
        "--browsers",
        type=int,
        default=0,
        metavar="N",
        help="N real headless Chromium pages (/usr/bin/chromium) join each run as people and "
        "report what they see (1:1: they call each other in pairs; rooms: they join the rooms); "
        "--targets sfu or --url",
    )
    parser.add_argument(
        "--capacity", default="", help="capacity search: client counts, e.g. 2,4,8,16"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON, charts and logs")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_ROOT)
    parser.add_argument("--no-charts", action="store_true")
    from benchmarks.harness.fleet_cli import add_arguments  # here: it imports this module

    add_arguments(parser)
    return parser


def parse_args(argv: Sequence[str] | None) -> BenchConfig:
    parser = _argument_parser()
    args = parser.parse_args(argv)
    targets = (
        ("remote",) if args.url else tuple(t.strip() for t in args.targets.split(",") if t.strip())
    )
    if not targets or any(t not in (*TARGETS, "remote") for t in targets):
        parser.error(f"--targets takes a comma-separated subset of {','.join(TARGETS)}")
    try:
        width, height = (int(v) for v in args.resolution.lower().split("x"))
        capacity = tuple(int(v) for v in args.capacity.split(",") if v.strip())
        scenario = ScenarioConfig(
            args.scenario, args.clients, args.duration, args.ramp_up, args.room_size,
            args.call_min, args.call_max, args.seed,
        )  # fmt: skip
        for clients in capacity or (args.clients,):
            replace(scenario, clients=clients).validate()
    except (ValueError, ScenarioError) as exc:
        parser.error(str(exc))
    if args.metrics_url and not args.url:
        parser.error("--metrics-url goes with --url")
    if not (16 <= width <= 1920 and 16 <= height <= 1080 and width % 16 == 0 and height % 16 == 0):
        parser.error("--resolution must be WxH, multiples of 16, at most 1920x1080")
    if not 50 <= args.bitrate <= 8000 or not 5 <= args.fps <= 60:
        parser.error("--bitrate must be within 50..8000 kbps and --fps within 5..60")
    # The aiortc clients, the relay, p2p and Janus runs send the cached VP8 only.
    if args.codec != "vp8" and (args.client != "cheap" or set(targets) - {"sfu", "remote"}):
        parser.error(f"--codec {args.codec} needs --client cheap and --targets sfu (or --url)")
    if args.simulcast != 1 and (args.client != "cheap" or set(targets) - {"sfu", "remote"}):
        parser.error("--simulcast needs --client cheap and --targets sfu (or --url)")
    why = browsers_problem(args.browsers, targets, args.scenario, bool(args.worker or args.workers))
    if why is not None:
        parser.error(why)
    spec = MediaSpec(
        width=width,
        height=height,
        fps=args.fps,
        video_kbps=args.bitrate,
        keyframe_interval=2 * args.fps,
        codec=args.codec,
        simulcast=args.simulcast,
    )
    try:
        layer_specs(spec)
    except ValueError as exc:
        parser.error(f"--simulcast: {exc}")
    return BenchConfig(
        scenario=scenario,
        targets=targets,
        url=args.url,
        processes=max(1, min(args.processes, 16)),
        decode=max(0, args.decode),
        spec=spec,
        capacity=capacity,
        node_flags=tuple(shlex.split(args.node_flags)),
        out=args.out,
        cache_dir=args.cache_dir,
        charts=not args.no_charts,
        client=args.client,
        metrics_url=args.metrics_url,
        browsers=args.browsers,
    )


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # so every started process is stopped on the way out


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["compare"]:  # liveloop-sfu bench compare a.json b.json
        from benchmarks.reports.compare import main as compare_main

        return compare_main(args[1:])
    config = parse_args(args)
    from benchmarks.harness import fleet_cli  # here: it imports this module

    role = fleet_cli.fleet_role(_argument_parser(), args)
    if isinstance(role, fleet_cli.WorkerOptions):
        from benchmarks.harness.workers import run_worker

        return run_worker(role)
    signal.signal(signal.SIGTERM, _interrupt)
    config.out.mkdir(parents=True, exist_ok=True)
    if role is None:
        result = run(config)
    else:
        from benchmarks.harness.coordinator import run_coordinated

        result = run_coordinated(config, role)
    summaries = [TargetSummary(**run_json["summary"]) for run_json in result["runs"]]
    print(table(summaries))
    browser_runs = [(s.target, s.clients, s.browsers) for s in summaries if s.browsers]
    if browser_runs:
        cpu = ", ".join(
            "-" if s.browsers_cpu_pct is None else f"{s.browsers_cpu_pct:.0f} %"
            for s in summaries
            if s.browsers
        )
        print(f"\nreal Chromium pages (Chromium's CPU, all pages, % of a core: {cpu}):")
        print(browser_table(browser_runs))
    for summary, run_json in zip(summaries, result["runs"], strict=True):
        print(f"{summary.target} ({summary.clients} clients): bottleneck: {summary.bottleneck}")
        admission = run_json.get("admission")
        if admission and admission.get("lag_p95_ms_max") is not None:
            print(f"  admission: {_admission_line(summary, admission)}")
    for knee_json in result["knees"]:
        print(_knee_line(knee_json))
    fleet_cli.print_workers(result)
    ratio = result["ratios"]
    if ratio["us_per_packet"]:
        figures = ", ".join(f"{k} {v:.0f}" for k, v in ratio["us_per_packet"].items())
        line = f"node CPU µs per forwarded packet ({ratio['method']}): {figures}"
        if ratio["ours_over_janus"] is not None:
            line += f"; ours ÷ Janus = {ratio['ours_over_janus']:.2f} (goal < 1.0)"
        print(line)
    path = config.out / "bench.json"
    path.write_text(json.dumps(result, indent=1, default=str) + "\n")
    csv_path = path.with_suffix(".csv")
    csv_path.write_text(to_csv(bench_rows(result)))
    print(f"JSON written to {path}, CSV to {csv_path}")
    if config.charts:
        from benchmarks.reports.charts import write_charts

        for chart in write_charts(result, config.out):
            print(f"chart written to {chart}")
    return 0 if result["runs"] and not fleet_cli.any_dead(result) else 1


def _admission_line(summary: TargetSummary, admission: dict[str, Any]) -> str:
    refusing = admission["refusing_samples"]
    state = (
        f"refused {summary.refused} user(s); refusing from {admission['first_refusal_s']} s for "
        + ", ".join(f"{n} s ({reason})" for reason, n in refusing.items())
        if refusing
        else "took every call"
    )
    return (
        f"{state}; self-measured lag p95 up to {admission['lag_p95_ms_max']:.0f} ms, loop CPU "
        f"up to {100 * admission['loop_cpu_max']:.0f} %, at most "
        f"{admission['forwarded_streams_max']} streams counted against the cap"
    )


def _knee_line(knee_json: dict[str, Any]) -> str:
    fit = knee_json.get("cpu_pct_per_stream")
    slope = f"{fit['slope']:.2f} % of a core per stream" if fit else "no slope (one step)"
    per_core = knee_json.get("streams_per_core")
    stopped = {
        "quality": "first unhealthy at",
        "admission": f"the node refused {knee_json.get('refused', 0)} user(s) at",
    }.get(str(knee_json.get("stopped_by")), "stopped at")
    at_knee = ""
    if knee_json.get("knee_streams_per_core"):
        at_knee = (
            f"; at the knee {knee_json['knee_node_cpu_pct']:.0f} % CPU: "
            f"{knee_json['knee_streams_per_core']:.0f} streams and "
            f"{knee_json['knee_packets_per_s_per_core']:.0f} packets/s per core"
        )
    return (
        f"capacity {knee_json['target']}: healthy up to {knee_json['healthy_clients']} clients "
        f"({knee_json['healthy_streams']} streams), {stopped} "
        f"{knee_json['first_unhealthy_clients'] or 'none reached'}; {slope}"
        + (f", ≈ {per_core:.0f} streams per core" if per_core else "")
        + at_knee
    )
