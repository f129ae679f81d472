"""Soak: bounded connect / match / next / disconnect churn against a node, watching for leaks.

``python -m benchmarks.suites.soak --minutes 10 [--users 6] [--redis-url redis://...]``
``[--json out.json]``

A node process is started (sfu mode, load-test limits), optionally sharing a Redis. ``--users``
aiortc clients (:class:`benchmarks.media.synthetic.SyntheticPeer`, small video) churn for the whole
run: connect, ``request-room``, negotiate with the node, talk a second or two, then either Next
(``stop-call`` + ``request-room`` on the same socket) or hang up and reconnect; some drop their
socket without a word. Meanwhile the node is sampled every ``--interval`` seconds: its RSS and
open file descriptors (``/proc``), ``/api/status`` (sockets, waiting users, rooms), ``/metrics``
(peer connections, asyncio tasks) and, with Redis, the number of keys under the node's prefix.

At the end every client leaves, the node settles, and the verdict checks that nothing leaked:
no sockets, rooms, waiting users or peer connections left; asyncio tasks and file descriptors
back to (about) their idle baseline; no Redis keys beyond the baseline (except the daily
counters); and memory flat — the median RSS of the last quarter of the churn exceeds the median
of the second quarter (after warm-up) by at most ``--rss-growth-mb``. A table and JSON are
printed; the exit status is 1 when the verdict fails.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from redis.asyncio import Redis

from benchmarks.harness.processes import Node
from benchmarks.media.synthetic import SyntheticPeer
from liveloop_sfu.client import WireClient, WireError

KEY_PREFIX = "{liveloop}:"
# Keys a node keeps by design after a run: the daily counters (the seed's metrics:daily) and
# the report list. Per-user keys, queues, rooms and blocks must all be gone.
ALLOWED_LEFTOVER = (KEY_PREFIX + "metrics:daily", KEY_PREFIX + "reports")
TASK_SLACK = 3  # tasks: the scrape itself, and aiohttp/engineio housekeeping that comes and goes
FD_SLACK = 4


@dataclass
class Sample:
    t: float
    rss_mb: float
    fds: int
    sockets: int
    waiting: int
    rooms: int
    peer_connections: int
    tasks: int
    redis_keys: int | None


@dataclass
class ChurnCounts:
    connects: int = 0
    requests: int = 0
    calls: int = 0  # media connected to the node
    nexts: int = 0
    hangups: int = 0
    drops: int = 0  # sockets closed without stop-call
    failures: dict[str, int] = field(default_factory=dict)

    def fail(self, what: str) -> None:
        self.failures[what] = self.failures.get(what, 0) + 1


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def open_fds(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


def parse_metrics(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            with contextlib.suppress(ValueError):
                out[name] = float(value)
    return out


async def redis_keys(redis: Redis | None) -> set[str] | None:
    if redis is None:
        return None
    return {str(key) async for key in redis.scan_iter(match=KEY_PREFIX + "*", count=1000)}


async def sample(
    http: aiohttp.ClientSession, node: Node, redis: Redis | None, start: float
) -> Sample:
    async with http.get(node.url + "/api/status") as response:
        status = await response.json()
    async with http.get(node.url + "/metrics") as response:
        metrics = parse_metrics(await response.text())
    keys = await redis_keys(redis)
    return Sample(
        t=round(time.monotonic() - start, 1),
        rss_mb=round(rss_mb(node.pid), 1),
        fds=open_fds(node.pid),
        sockets=int(status["connectedSockets"]),
        waiting=int(status["waitingUsers"]),
        rooms=int(sum(status["activeRooms"].values())),
        peer_connections=int(metrics.get("liveloop_peer_connections", -1)),
        tasks=int(metrics.get("liveloop_asyncio_tasks", -1)),
        redis_keys=None if keys is None else len(keys),
    )


def drain(wire: WireClient, *events: str) -> None:
    """Forget events of an earlier call still queued on this socket."""
    for event in events:
        queue = wire._queues[event]
        while not queue.empty():
            queue.get_nowait()


async def one_call(wire: WireClient, rng: random.Random, counts: ChurnCounts) -> None:
    """request-room, and if matched: offer, the node's answer, media, a short talk."""
    drain(wire, "match-done", "negotiation-call-answer", "partner-left")
    counts.requests += 1
    await wire.request_room("soak")
    try:
        match = await wire.next("match-done", timeout=rng.uniform(2.0, 5.0))
    except TimeoutError:
        return  # nobody came; the caller moves on (Next or hang up)
    if match.get("mode") != "sfu":
        counts.fail("not-sfu")
        return
    peer = SyntheticPeer(width=160, height=120, fps=10)
    try:
        offer = await peer.create_offer()
        await wire.call("negotiation-call-offer", {"sdp": {"type": "offer", "sdp": offer}})
        answer = await wire.next("negotiation-call-answer", timeout=10)
        await peer.accept_answer(answer["sdp"]["sdp"])
        await peer.wait_connected(10)
        counts.calls += 1
        with contextlib.suppress(TimeoutError):  # the partner may leave first
            await wire.next("partner-left", timeout=rng.uniform(0.5, 2.5))
    except (TimeoutError, WireError) as exc:
        # The partner left during set-up (its call is over: not-in-room) or set-up was slow.
        counts.fail(type(exc).__name__ if not isinstance(exc, WireError) else exc.code)
    finally:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(peer.close(), 5)


async def user(url: str, seed: int, deadline: float, counts: ChurnCounts) -> None:
    rng = random.Random(seed)
    while time.monotonic() < deadline:
        wire = WireClient(url, timeout=10)
        try:
            await wire.connect()
            counts.connects += 1
            for _ in range(rng.randint(1, 4)):
                if time.monotonic() >= deadline:
                    break
                await one_call(wire, rng, counts)
                await wire.call("stop-call")
                counts.nexts += 1
            if rng.random() < 0.3:
                counts.drops += 1  # gone without stop-call; the node cleans up on disconnect
            else:
                await wire.call("stop-call")
                counts.hangups += 1
        except (OSError, TimeoutError, WireError, aiohttp.ClientError) as exc:
            counts.fail(type(exc).__name__)
            await asyncio.sleep(0.5)
        except Exception as exc:  # socketio's ConnectionError and friends: counted, not fatal
            counts.fail(type(exc).__name__)
            await asyncio.sleep(0.5)
        finally:
            await wire.close()


async def settle(
    http: aiohttp.ClientSession,
    node: Node,
    redis: Redis | None,
    start: float,
    timeout: float,
    baseline: Sample | None = None,
) -> Sample:
    """The node after everyone left: sampled until calls, sockets and peers are gone and (given
    a baseline) tasks and descriptors are back to it, or ``timeout`` passed."""
    deadline = time.monotonic() + timeout
    while True:
        last = await sample(http, node, redis, start)
        idle = last.sockets == last.rooms == last.peer_connections == last.waiting == 0
        if idle and baseline is not None:
            idle = last.tasks <= baseline.tasks + TASK_SLACK and last.fds <= baseline.fds + FD_SLACK
        if idle or time.monotonic() > deadline:
            return last
        await asyncio.sleep(0.5)


async def churn(url: str, users: int, seconds: float, counts: ChurnCounts) -> list[Any]:
    deadline = time.monotonic() + seconds
    return [asyncio.create_task(user(url, seed, deadline, counts)) for seed in range(users)]


def rss_growth(samples: list[Sample]) -> float:
    """Median RSS of the last quarter minus that of the second quarter (after warm-up)."""
    n = len(samples)
    if n < 4:
        return 0.0
    second = [s.rss_mb for s in samples[n // 4 : n // 2]]
    last = [s.rss_mb for s in samples[3 * n // 4 :]]
    return round(statistics.median(last) - statistics.median(second), 1)


def verdict(
    baseline: Sample,
    samples: list[Sample],
    final: Sample,
    leftover_keys: list[str],
    rss_limit: float,
) -> dict[str, Any]:
    growth = rss_growth(samples)
    checks = {
        "no-sockets": final.sockets == 0,
        "no-rooms": final.rooms == 0,
        "no-waiting-users": final.waiting == 0,
        "no-peer-connections": final.peer_connections == 0,
        "tasks-at-baseline": final.tasks <= baseline.tasks + TASK_SLACK,
        "fds-at-baseline": final.fds <= baseline.fds + FD_SLACK,
        "no-redis-keys-left": not leftover_keys,
        "memory-flat": growth <= rss_limit,
    }
    return {"ok": all(checks.values()), "checks": checks, "rssGrowthMb": growth}


async def soak(
    seconds: float,
    users: int = 6,
    redis_url: str | None = None,
    interval: float = 2.0,
    rss_limit_mb: float = 30.0,
    log_dir: Path | None = None,
) -> dict[str, Any]:
    """Run a soak and return its report (see the module doc)."""
    log_dir = log_dir or Path(tempfile.mkdtemp(prefix="soak-"))
    extra = ("--redis-url", redis_url) if redis_url else ()
    node = Node("sfu", log_dir / "soak-node.log", extra=extra)
    redis = Redis.from_url(redis_url, decode_responses=True) if redis_url else None
    try:
        node.wait_healthy()
        async with aiohttp.ClientSession() as http:
            start = time.monotonic()
            idle = await sample(http, node, redis, start)
            # Warm-up: one short round first, so that pools (Redis connections, aiortc's
            # codecs, the HTTP keep-alive of this sampler) are as full as they will get; the
            # idle node after it is the baseline the end of the run is compared with.
            counts = ChurnCounts()
            await asyncio.gather(*await churn(node.url, users, min(10.0, seconds / 5), counts))
            baseline = await settle(http, node, redis, start, timeout=20)
            baseline_keys = await redis_keys(redis) or set()
            counts = ChurnCounts()
            deadline = time.monotonic() + seconds
            users_done = await churn(node.url, users, seconds, counts)
            samples: list[Sample] = []
            while time.monotonic() < deadline:
                await asyncio.sleep(interval)
                samples.append(await sample(http, node, redis, start))
            await asyncio.wait_for(asyncio.gather(*users_done), timeout=60)
            final = await settle(http, node, redis, start, timeout=30, baseline=baseline)
            final_keys = await redis_keys(redis) or set()
    finally:
        if redis is not None:
            await redis.aclose()
        node.stop()
    leftover = sorted(final_keys - baseline_keys - set(ALLOWED_LEFTOVER))
    result = verdict(baseline, samples, final, leftover, rss_limit_mb)
    return {
        "seconds": seconds,
        "users": users,
        "redis": redis_url is not None,
        "churn": counts.__dict__,
        "idle": idle.__dict__,
        "baseline": baseline.__dict__,
        "final": final.__dict__,
        "samples": [s.__dict__ for s in samples],
        "leftoverRedisKeys": leftover,
        "verdict": result,
    }


def table(report: dict[str, Any]) -> str:
    cols: tuple[str, ...] = ("t", "rss_mb", "fds", "sockets", "waiting", "rooms")
    cols += ("peer_connections", "tasks") + (("redis_keys",) if report["redis"] else ())
    rows = [report["idle"], report["baseline"], *report["samples"], report["final"]]
    labels = ["idle", "after warm-up", *["" for _ in report["samples"]], "settled"]
    lines = [" ".join(f"{c:>16}" for c in ("", *cols))]
    for label, row in zip(labels, rows, strict=True):
        lines.append(" ".join(f"{v!s:>16}" for v in (label, *(row[c] for c in cols))))
    churn = report["churn"]
    lines.append(
        f"churn: {churn['connects']} connects, {churn['requests']} requests, {churn['calls']} "
        f"calls with media, {churn['nexts']} nexts, {churn['drops']} dropped sockets; "
        f"failures {churn['failures']}"
    )
    v = report["verdict"]
    lines.append(
        f"RSS growth (last quarter vs second quarter): {v['rssGrowthMb']} MB; "
        f"verdict: {'FLAT, NO LEAKS' if v['ok'] else 'FAILED'} {v['checks']}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--users", type=int, default=6, help="churning clients (2-40)")
    parser.add_argument("--redis-url", default=None)
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between samples")
    parser.add_argument("--rss-growth-mb", type=float, default=30.0)
    parser.add_argument("--json", type=Path, default=None, help="write the report here")
    args = parser.parse_args(argv)
    if not 0 < args.minutes <= 120 or not 2 <= args.users <= 40:
        parser.error("--minutes must be in (0, 120] and --users in [2, 40]")
    report = asyncio.run(
        soak(args.minutes * 60, args.users, args.redis_url, args.interval, args.rss_growth_mb)
    )
    print(table(report))
    text = json.dumps(report, indent=2)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    else:
        print(text)
    return 0 if report["verdict"]["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
