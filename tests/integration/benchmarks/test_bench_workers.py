"""``liveloop-sfu bench`` over several load machines: two ``--worker`` processes in two lab
networks (tests/lab), a node and a real ``redis-server`` on public lab hosts they reach through
the lab's router, and the coordinator (``--workers 2``) beside Redis. One worker is killed by its
PID mid-run: the merged report holds both workers, the killed one marked dead with what it had
done, the run completes with the other, and every process exits by itself.

Needs root (CI runs as root), ``iproute2``, ``nftables`` and ``redis-server``.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.harness.processes import LOAD_TEST_LIMITS
from benchmarks.media.cache import MediaSpec, load_or_build
from tests.lab import Lab, Network, netns
from tests.redis_server import REDIS_SERVER

pytestmark = pytest.mark.slow

REDIS_PORT = 6379
# Small media: the test checks the plumbing, not the figures, on a shared 2-core machine.
SPEC = MediaSpec(width=320, height=240, fps=30, video_kbps=300, keyframe_interval=60)
MEDIA_FLAGS = ("--resolution", "320x240", "--bitrate", "300", "--fps", "30")
RUNNING = re.compile(r"joined 2/2 streams in 2 ")


def start_redis(net: Network, workdir: Path) -> str:
    assert net.ipv4 is not None
    argv = [REDIS_SERVER, "--port", str(REDIS_PORT), "--bind", net.ipv4, "--save", "",
            "--appendonly", "no", "--protected-mode", "no", "--dir", str(workdir)]  # fmt: skip
    with (workdir / "redis.log").open("wb") as log:  # the child has its own descriptor
        net.popen(argv, log)

    def accepts() -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            return probe.connect_ex((net.ipv4 or "", REDIS_PORT)) == 0

    deadline = time.monotonic() + 10
    while not netns.call_in(net.namespace, accepts):
        assert time.monotonic() < deadline, "redis-server did not start"
        time.sleep(0.05)
    return f"redis://{net.ipv4}:{REDIS_PORT}/0"


def bench(net: Network, log: Path, *flags: str) -> subprocess.Popen[bytes]:
    """``liveloop-sfu bench`` in ``net`` (``ip netns exec`` execs in place: its PID is bench's)."""
    with log.open("wb") as file:  # the child has its own descriptor
        return net.popen([sys.executable, "-m", "liveloop_sfu", "bench", *flags], file)


async def wait_exit(process: subprocess.Popen[bytes], timeout: float) -> int:
    return await asyncio.to_thread(process.wait, timeout)


async def test_two_workers_one_killed_mid_run(lab: Lab, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    load_or_build(SPEC, cache)  # once, before any worker: they all read it
    node = lab.node("--mode", "sfu", *LOAD_TEST_LIMITS)
    hub = lab.public("hub")  # Redis and the coordinator
    redis_url = start_redis(hub, tmp_path)
    common = ("--redis-url", redis_url, "--run", "lab", "--cache-dir", str(cache))
    nets = {name: lab.public(f"load-{name}") for name in ("w1", "w2")}
    workers = {
        name: bench(net, tmp_path / f"{name}.log", "--worker", *common, "--worker-name", name,
                    "--processes", "1", "--out", str(tmp_path / name), "--register-timeout", "90")
        for name, net in nets.items()
    }  # fmt: skip
    out = tmp_path / "coordinator"
    coordinator = bench(hub, tmp_path / "coordinator.log", "--workers", "2", *common,
                        "--url", node.url_for(hub), "--clients", "4", "--duration", "14",
                        "--ramp-up", "1", *MEDIA_FLAGS, "--worker-timeout", "3",
                        "--no-charts", "--out", str(out))  # fmt: skip

    # Kill w2 once all four users are in a call and receiving: both workers' progress lines say
    # so, then two more of each worker's once-a-second ticks reach the coordinator, so that its
    # timeline samples the four together before w2 dies. (Killing w2 as soon as its own two
    # were receiving once raced w1, and the timeline never showed four.)
    deadline = time.monotonic() + 120
    logs = [tmp_path / f"{name}.log" for name in workers]
    while not all(RUNNING.search(log.read_text(errors="replace")) for log in logs):
        assert time.monotonic() < deadline, (tmp_path / "coordinator.log").read_text()
        assert coordinator.poll() is None, (tmp_path / "coordinator.log").read_text()
        await asyncio.sleep(0.2)
    await asyncio.sleep(2.5)
    os.kill(workers["w2"].pid, signal.SIGKILL)

    # The coordinator finishes the run with w1 and exits by itself: 1, a worker died.
    assert await wait_exit(coordinator, 120) == 1
    printed = (tmp_path / "coordinator.log").read_text()
    assert await wait_exit(workers["w1"], 30) == 0, (tmp_path / "w1.log").read_text()
    assert await wait_exit(workers["w2"], 5) == -signal.SIGKILL

    result = json.loads((out / "bench.json").read_text())
    assert result["config"]["workers"] == 2 and not result["failed"], printed
    (run,) = result["runs"]
    by_name = {w["name"]: w for w in run["workers"]}
    w1, w2 = by_name["w1"], by_name["w2"]
    # Each took a pair of the four users, and gathered on its own lab address.
    assert {w1["clients"], w2["clients"]} == {2} and set(w1["users"]).isdisjoint(w2["users"])
    assert (w1["address"], w2["address"]) == (nets["w1"].ipv4, nets["w2"].ipv4)
    # w1 finished: its two calls are the run's records.
    assert w1["state"] == "done" and w1["done"]["calls_recorded"] == 2
    assert sorted(r["user"] for r in run["records"]) == sorted(w1["users"])
    # w2 is named dead, with what it had done before it died.
    assert w2["state"] == "dead" and "silent" in w2["reason"]
    assert w2["done"]["matched"] == 2 and w2["done"]["calls_recorded"] == 0
    assert w2["done"]["frames"] > 0 and w2["done"]["packets"] > 0
    assert w2["pid"] == workers["w2"].pid and w2["clients_cpu_pct"] is None
    assert "worker w2" in printed and "DEAD" in printed

    summary = run["summary"]
    assert summary["target"] == "remote" and summary["calls"] == 2
    assert summary["errors"] == 1 and not summary["healthy"]  # the dead worker, nothing else
    assert "1 load worker(s) died" in summary["bottleneck"]
    assert any("worker w2" in e and "DEAD" in e for e in run["errors"])
    # Both workers' streams were counted at once (they started together), then w1's alone.
    receiving = [i["receiving"] for i in run["timeline"]]
    assert 4 in receiving and 2 in receiving[receiving.index(4) :], receiving
    # The node's CPU came from its /metrics, read by the coordinator across the lab.
    assert run["node_source"] == "metrics" and summary["node_cpu_pct"] is not None
