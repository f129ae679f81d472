"""Matchmaking benchmark: the in-memory and the Redis matchmaker side by side, at the API.

``python -m benchmarks.suites.matchmaking --callers 1,16,64 --seconds 3 --json out.json``

Two figures, reported apart: the matchmaker API (below) and end to end through socket.io
(:mod:`benchmarks.suites.matchmaking_e2e`: request-room → match-done with wire clients against
real node processes, memory and Redis, one and two nodes; ``--e2e-clients 0`` skips it).

For each caller count N, each backend in turn: N concurrent callers (asyncio tasks, spread over
``--processes`` OS processes for Redis) call ``match_or_enqueue`` in a loop, each call a new user
with no mode preference, so every second call is a match. After a warm-up, a window of
``--seconds`` is measured: matches per second, and p50/p99 latency of the calls that returned a
match (the time a user waits for the matchmaker's answer once a partner is there). The Redis
backend runs against ``--redis-url`` or, by default, a throwaway ``redis-server`` on a free
loopback port without persistence, started and stopped by PID. Every run uses its own hash tag,
so runs never see each other's queue. A benchmark, not a test: it prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.reports.stats import percentile
from benchmarks.suites import matchmaking_e2e
from liveloop_sfu.matchmaking.base import Matchmaker
from liveloop_sfu.matchmaking.memory import MemoryMatchmaker
from liveloop_sfu.matchmaking.redis import RedisMatchmaker
from liveloop_sfu.matchmaking.rules import Waiter

TARGET_MATCHES_PER_S = 5_000
TARGET_P99_MS = 10.0


@dataclass(frozen=True, slots=True)
class Window:
    """What the callers of one process saw inside the measured window."""

    calls: int
    match_latencies_ms: list[float]
    seconds: float


@dataclass(frozen=True, slots=True)
class Result:
    backend: str
    callers: int
    processes: int
    calls: int
    matches: int
    seconds: float
    matches_per_s: float
    p50_ms: float
    p99_ms: float


async def _caller(
    mm: Matchmaker, name: str, start: float, stop: float, latencies: list[float], calls: list[int]
) -> None:
    serial = 0
    while (now := time.time()) < stop:
        serial += 1
        began = time.perf_counter()
        partner = await mm.match_or_enqueue(Waiter(f"{name}-{serial}", now))
        took_ms = (time.perf_counter() - began) * 1000
        if now >= start:
            calls[0] += 1
            if partner is not None:
                latencies.append(took_ms)


async def measure(mm: Matchmaker, callers: int, start: float, stop: float, tag: str) -> Window:
    """Run ``callers`` tasks from now until ``stop`` (wall clock), counting from ``start``."""
    latencies: list[float] = []
    calls = [0]
    await asyncio.gather(
        *(_caller(mm, f"{tag}-c{i}", start, stop, latencies, calls) for i in range(callers))
    )
    return Window(calls[0], latencies, stop - start)


async def _redis_worker(
    url: str, hash_tag: str, node: str, callers: int, start: float, stop: float
) -> Window:
    mm = RedisMatchmaker(url, node_id=node, hash_tag=hash_tag, entry_ttl=60.0)
    try:
        await mm.heartbeat(time.time())
        mm.start()
        return await measure(mm, callers, start, stop, node)
    finally:
        await mm.close()


def _spawn_workers(
    url: str, hash_tag: str, callers: int, processes: int, start: float, stop: float
) -> list[Window]:
    shares = [
        callers // processes + (1 if i < callers % processes else 0) for i in range(processes)
    ]
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "benchmarks.suites.matchmaking", "--worker", url, hash_tag,
             f"n{i}", str(share), repr(start), repr(stop)],
            stdout=subprocess.PIPE,
        )
        for i, share in enumerate(shares)
        if share > 0
    ]  # fmt: skip
    windows = []
    for worker in workers:
        out, _ = worker.communicate(timeout=stop - time.time() + 60)
        if worker.returncode != 0:
            raise RuntimeError(f"benchmark worker exited with {worker.returncode}")
        windows.append(Window(**json.loads(out)))
    return windows


def summarize(backend: str, callers: int, processes: int, windows: Sequence[Window]) -> Result:
    latencies = [ms for window in windows for ms in window.match_latencies_ms]
    seconds = windows[0].seconds
    return Result(
        backend=backend,
        callers=callers,
        processes=processes,
        calls=sum(w.calls for w in windows),
        matches=len(latencies),
        seconds=seconds,
        matches_per_s=len(latencies) / seconds,
        p50_ms=percentile(latencies, 50) or 0.0,
        p99_ms=percentile(latencies, 99) or 0.0,
    )


async def run_memory(callers: int, warmup: float, seconds: float) -> Result:
    start = time.time() + warmup
    window = await measure(MemoryMatchmaker(), callers, start, start + seconds, "m")
    return summarize("memory", callers, 1, [window])


def run_redis(url: str, callers: int, processes: int, warmup: float, seconds: float) -> Result:
    # Workers get a second to start and import before the warm-up begins.
    start = time.time() + 1.0 + warmup
    hash_tag = f"bench-{uuid.uuid4().hex[:8]}"
    used = min(processes, callers)
    windows = _spawn_workers(url, hash_tag, callers, used, start, start + seconds)
    return summarize("redis", callers, used, windows)


def table(results: Sequence[Result]) -> str:
    header = ("callers", "backend", "procs", "matches/s", "p50 ms", "p99 ms")
    lines = ["{:>7}  {:<7} {:>5} {:>10} {:>8} {:>8}".format(*header)]
    for r in results:
        lines.append(
            f"{r.callers:>7}  {r.backend:<7} {r.processes:>5} {r.matches_per_s:>10.0f} "
            f"{r.p50_ms:>8.3f} {r.p99_ms:>8.3f}"
        )
    return "\n".join(lines)


def verdict(results: Sequence[Result]) -> str:
    redis = [r for r in results if r.backend == "redis"]
    meets = [
        r for r in redis if r.matches_per_s >= TARGET_MATCHES_PER_S and r.p99_ms < TARGET_P99_MS
    ]
    target = f"target >= {TARGET_MATCHES_PER_S} matches/s with p99 < {TARGET_P99_MS:g} ms (Redis)"
    if meets:
        best = max(meets, key=lambda r: r.matches_per_s)
        at = f"{best.callers} callers ({best.matches_per_s:.0f}/s, p99 {best.p99_ms:.2f} ms)"
        return f"{target}: met at {at}"
    return f"{target}: NOT met in this run"


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.suites.matchmaking", description=__doc__
    )
    parser.add_argument("--callers", default="1,8,32,64", help="comma-separated caller counts")
    parser.add_argument("--processes", type=int, default=2, help="Redis caller processes")
    parser.add_argument("--seconds", type=float, default=3.0, help="measured window per run")
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--redis-url", help="use this Redis instead of a throwaway redis-server")
    parser.add_argument(
        "--e2e-clients", default="8,32", help="wire client counts end to end (0 = skip)"
    )
    parser.add_argument("--e2e-seconds", type=float, default=3.0)
    parser.add_argument("--json", type=Path, help="write the results here")
    return parser.parse_args(argv)


async def _memory_runs(counts: Sequence[int], warmup: float, seconds: float) -> list[Result]:
    return [await run_memory(n, warmup, seconds) for n in counts]


def _e2e_runs(args: argparse.Namespace, url: str, workdir: Path) -> list[Any]:
    counts = [int(n) for n in args.e2e_clients.split(",") if int(n) > 0]
    if not counts:
        return []
    print("end to end through socket.io (request-room -> match-done, p2p nodes):", flush=True)
    results = []
    for n in counts:
        for setup in matchmaking_e2e.SETUPS:
            result = matchmaking_e2e.run_setup(setup, url, n, 1.0, args.e2e_seconds, workdir)
            results.append(result)
            text = matchmaking_e2e.table([result])
            print(text if len(results) == 1 else text.split("\n", 1)[1], flush=True)
    print("matchmaker API:", flush=True)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    args_list = sys.argv[1:] if argv is None else list(argv)
    if args_list[:1] == ["--worker"]:
        url, hash_tag, node, callers, start, stop = args_list[1:7]
        window = asyncio.run(
            _redis_worker(url, hash_tag, node, int(callers), float(start), float(stop))
        )
        print(json.dumps(asdict(window)))
        return 0
    args = _parse(args_list)
    counts = [int(n) for n in args.callers.split(",")]
    with tempfile.TemporaryDirectory(prefix="liveloop-bench-redis-") as workdir:
        server = None
        url = args.redis_url
        if url is None:
            from tests.redis_server import RedisServer  # the same launcher the tests use

            server = RedisServer(Path(workdir))
            server.start()
            url = server.url
        try:
            e2e = _e2e_runs(args, url, Path(workdir))
            memory = asyncio.run(_memory_runs(counts, args.warmup, args.seconds))
            results: list[Result] = []
            for n, mem in zip(counts, memory, strict=True):
                results += [mem, run_redis(url, n, args.processes, args.warmup, args.seconds)]
                print(
                    table(results[-2:]).split("\n", 1)[1] if results[:-2] else table(results[-2:]),
                    flush=True,
                )
        finally:
            if server is not None:
                server.stop()
    print(verdict(results))
    if args.json:
        report: dict[str, Any] = {
            "benchmark": "matchmaking",
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            "targets": {"matches_per_s": TARGET_MATCHES_PER_S, "p99_ms": TARGET_P99_MS},
            "results": [asdict(r) for r in results],
            "verdict": verdict(results),
            "end_to_end": [asdict(r) for r in e2e],
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
