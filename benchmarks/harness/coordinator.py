"""``liveloop-sfu bench --workers N --redis-url … --url …``: one run driven from N load machines.

The coordinator waits until N workers (``liveloop-sfu bench --worker``,
:mod:`benchmarks.harness.workers`) have said hello through Redis (:mod:`benchmarks.harness.fleet`),
deals the scenario's users out to them (:mod:`benchmarks.harness.shares`), waits until every one
is ready, gives them one start time, watches their ticks (a worker silent for
``--worker-timeout`` seconds is dead) while it samples the node's CPU from its ``/metrics``, and
merges their results into the report the one-machine harness writes
(:mod:`benchmarks.harness.merge`), plus a ``workers`` section: each worker, its share, its state
and what it had done. A dead worker is named there and in the errors; the run completes with the
others.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass, replace
from typing import Any

from benchmarks.harness.bench import (
    EXIT_GRACE,
    READY_TIMEOUT,
    START_LEAD,
    BenchConfig,
    _plan_json,
    _window,
    ratios,
)
from benchmarks.harness.fleet import BEAT_EVERY, REDIS_ERRORS, Bus, SharedClock
from benchmarks.harness.merge import (
    WorkerState,
    admit,
    apply,
    final_ticks,
    mark_dead,
    merge,
    overdue,
    worker_json,
)
from benchmarks.harness.progress import Progress, render
from benchmarks.harness.scenarios import expected_streams, plan
from benchmarks.harness.shares import split_shares
from benchmarks.media.cache import load_or_build
from benchmarks.nodes.targets import NodeProbe, Target, start_target
from benchmarks.reports.bench import node_cpu, node_series, summarize_target, timeline
from benchmarks.suites.forwarding import machine

READ_BLOCK = 0.5  # seconds one read of the workers' stream waits


@dataclass(frozen=True, slots=True)
class FleetOptions:
    redis_url: str
    run: str
    workers: int
    register_timeout: float  # for the N workers to say hello
    worker_timeout: float  # silence after which a worker is dead


class Heartbeat:
    """Renews the coordinator's key every second from a thread of its own, so that a slow step
    of the coordinator never looks like its death to the workers."""

    def __init__(self, bus: Bus, run_id: str) -> None:
        self._bus, self._run_id = bus, run_id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(*REDIS_ERRORS):
                self._bus.beat(self._run_id)
            self._stop.wait(BEAT_EVERY)

    def __enter__(self) -> Heartbeat:
        self._bus.beat(self._run_id)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


class Coordinator:
    def __init__(self, config: BenchConfig, options: FleetOptions) -> None:
        self.config, self.options = config, options
        self.bus = Bus(options.redis_url, options.run)
        # A second connection for the heartbeat thread: redis-py clients are not shared safely.
        self.beat_bus = Bus(options.redis_url, options.run)
        self.run_id = uuid.uuid4().hex
        self.after = "0-0"
        self.workers: dict[str, WorkerState] = {}
        self.start: float | None = None  # the run's start on this machine's monotonic clock
        self.read_at = time.monotonic()  # the last successful read of the workers' stream
        self.redis_trouble: str | None = None  # the error while Redis is unreachable
        self.listening_since = float("-inf")  # when reading worked again after an outage

    # Messages ---------------------------------------------------------------------------------
    def _pump(self) -> None:
        """Reads the workers' messages for up to ``READ_BLOCK`` s and applies them; a malformed
        one is skipped with a warning, never fatal to the run."""
        try:
            self.after, messages = self.bus.read(self.bus.up_key, self.after, READ_BLOCK)
        except REDIS_ERRORS as exc:
            if self.redis_trouble is None:
                print(f"Redis: {exc} (retrying)", file=sys.stderr)
            self.redis_trouble = str(exc)
            time.sleep(READ_BLOCK)
            return
        now = self.read_at = time.monotonic()
        if self.redis_trouble is not None:
            print("Redis: reachable again", file=sys.stderr)
            self.redis_trouble = None
            self.listening_since = now
        for message in messages:
            try:
                if message["kind"] == "invalid":
                    raise ValueError(message["error"])
                if message["kind"] == "hello":
                    self._hello(message, now)
                elif message.get("run_id") == self.run_id:
                    worker = self.workers.get(str(message.get("worker")))
                    if worker is not None:
                        apply(worker, message, now, self.start)
            except ValueError as exc:
                print(f"skipping a message of {message.get('worker')}: {exc}", file=sys.stderr)

    def _hello(self, message: dict[str, Any], now: float) -> None:
        verdict, worker = admit(self.workers, message, self.options.workers, now)
        name, instance = str(message["worker"]), message["instance"]
        if verdict in ("full", "taken"):
            self.bus.send_down(name, verdict, {"instance": instance})
        elif worker is not None:
            self.workers[name] = worker
            count = f"{len(self.workers)}/{self.options.workers}"
            print(f"worker {name} registered ({count})", file=sys.stderr)

    def _declare_overdue(self) -> None:
        # Silence counts only while the stream can be read: during a Redis outage nobody is
        # heard, and that is not the workers' death (the run's deadline still bounds it).
        for worker in self.workers.values():
            timeout = self.options.worker_timeout
            if overdue(worker, self.read_at, timeout, self.listening_since):
                mark_dead(worker, f"silent for more than {self.options.worker_timeout:g} s")
                print(f"worker {worker.name} is dead: {worker.reason}", file=sys.stderr)

    def _broadcast(self, kind: str, body: dict[str, Any], states: tuple[str, ...]) -> None:
        for worker in self.workers.values():
            if worker.state in states:
                with contextlib.suppress(*REDIS_ERRORS):
                    ids = {"run_id": self.run_id, "instance": worker.instance}
                    self.bus.send_down(worker.name, kind, {**ids, **body})

    # Phases ---------------------------------------------------------------------------------------
    def register(self) -> None:
        deadline = time.monotonic() + self.options.register_timeout
        while len(self.workers) < self.options.workers:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{len(self.workers)} of {self.options.workers} workers registered in "
                    f"{self.options.register_timeout:g} s"
                )
            self._pump()

    def assign(self, target: Target) -> None:
        scenario = self.config.scenario
        users = plan(scenario, 1)
        workers = list(self.workers.values())
        shares = split_shares(users, [w.processes for w in workers])
        window = _window(scenario)
        for worker, share in zip(workers, shares, strict=True):
            worker.users = [u.name for u in share]
            worker.state = "assigned"
            body = {
                "run_id": self.run_id,
                "instance": worker.instance,
                # Each worker's first client process decodes --decode receivers (as process 0
                # of a one-machine run does): every machine's path gets its latency samples.
                "plan": _plan_json(self.config, scenario, target, share, 0),
                "window": list(window),
                "start_timeout": READY_TIMEOUT + 30.0,
            }
            self.bus.send_down(worker.name, "assign", body)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while any(w.state in ("registered", "assigned") for w in self.workers.values()):
            if time.monotonic() > deadline:
                for worker in self.workers.values():
                    if worker.state in ("registered", "assigned"):
                        mark_dead(worker, f"not ready in {READY_TIMEOUT:g} s")
                break
            self._pump()
            self._declare_overdue()
        self._broadcast("abort", {"reason": "not ready in time"}, ("dead",))
        if not any(w.state == "ready" for w in self.workers.values()):
            raise RuntimeError("no worker got ready")

    def run(self, clock: SharedClock, duration: float, probe: NodeProbe, label: str) -> None:
        start_shared = clock.to_shared(time.monotonic()) + START_LEAD
        self.start = clock.to_local(start_shared)
        self._broadcast("start", {"start_at": start_shared}, ("ready",))
        progress = Progress()
        deadline = self.start + duration + EXIT_GRACE
        while any(w.state in ("ready", "running") for w in self.workers.values()):
            if time.monotonic() > deadline:
                for worker in self.workers.values():
                    mark_dead(worker, f"no result {EXIT_GRACE:g} s after the end")
                break
            self._pump()
            self._declare_overdue()
            progress.show(self._line(label, duration, probe), time.monotonic())
        progress.done()
        self._broadcast("end", {"reason": "the run is over"}, ("ready", "running", "dead"))

    def _line(self, label: str, duration: float, probe: NodeProbe) -> str:
        assert self.start is not None
        now = time.monotonic()
        ticks = [final_ticks(w) for w in self.workers.values() if w.ticks]
        recent = timeline(ticks, max(0.0, now - self.start - 3.0)) if ticks else []
        latest = [t[-1] for t in ticks]
        dead = sum(1 for w in self.workers.values() if w.state == "dead")
        return render(
            label + (f" ({dead} worker(s) dead)" if dead else ""),
            max(0.0, now - self.start),
            duration,
            matched=sum(int(t["matched"]) for t in latest),
            users=self.config.scenario.clients,
            receiving=sum(int(t["receiving"]) for t in latest),
            fps=recent[-1].fps if recent else None,
            loss_pct=recent[-1].loss_pct if recent else None,
            node_cpu_pct=node_cpu(probe.samples, now - 3.0, now),
            errors=sum(int(t["errors"]) for t in latest),
        )

    def outcome(self, target: Target, probe: NodeProbe) -> dict[str, Any]:
        """The run as the one-machine harness reports it, with the workers' part added."""
        assert self.start is not None
        scenario = self.config.scenario
        window = _window(scenario)
        workers = list(self.workers.values())
        merged = merge(workers)
        intervals = timeline(merged.ticks_by_worker, 0.0)
        rss = [s[2] for s in probe.samples if s[2]]
        summary = summarize_target(
            target=target.kind,
            scenario=scenario.kind,
            clients=scenario.clients,
            streams=expected_streams(scenario),
            records=merged.records,
            errors=len(merged.errors),
            intervals=intervals,
            window=window,
            node_cpu_pct=node_cpu(probe.samples, self.start + window[0], self.start + window[1]),
            node_rss_mb_max=max(rss) / 1e6 if rss else None,
            node_idle_cpu_pct=node_cpu(probe.samples, 0.0, self.start),
            clients_cpu_pct=merged.clients_cpu_pct,
            cores=os.cpu_count() or 1,
            published_fps=float(self.config.spec.fps),
            forwards=target.forwards,
            load_average=os.getloadavg()[0],
        )
        if merged.failed_workers:
            # The run is unhealthy because load workers died, whatever the node did.
            why = f"{merged.failed_workers} load worker(s) died (see the worker lines)"
            summary = replace(summary, bottleneck=f"unclear: {why}; {summary.bottleneck}")
        return {
            "summary": summary,
            "timeline": [asdict(i) for i in intervals],
            "node": node_series(probe.samples, self.start),
            "node_source": probe.source if probe.samples else "none",
            "api_status": probe.status,
            "load_average_at_end": os.getloadavg(),
            "records": merged.records,
            "errors": merged.errors[:50],
            "workers": [worker_json(w) for w in workers],
        }

    def close(self) -> None:
        with contextlib.suppress(*REDIS_ERRORS):
            self.bus.forget(self.bus.up_key, *(self.bus.down_key(n) for n in self.workers))
        self.bus.close()
        self.beat_bus.close()


def run_coordinated(config: BenchConfig, options: FleetOptions) -> dict[str, Any]:
    """One run over the workers; the result has the shape of ``bench.run``'s."""
    assert config.url is not None
    cache = load_or_build(config.spec, config.cache_dir)
    scenario = config.scenario
    label = f"remote-{scenario.kind}-{scenario.clients}"
    logs = config.out / "logs" / label
    logs.mkdir(parents=True, exist_ok=True)
    coordinator = Coordinator(config, options)
    result: dict[str, Any] = {
        "benchmark": "liveloop-sfu bench",
        "machine": machine(),
        "media": {**asdict(config.spec), "measured_video_kbps": cache.video_kbps},
        "config": {
            "scenario": asdict(scenario),
            "targets": ["remote"],
            "url": config.url,
            "processes": None,
            "decoded_streams": config.decode,
            "capacity_steps": [],
            "workers": options.workers,
            "run": options.run,
            "run_id": coordinator.run_id,
        },
        "runs": [],
        "skipped": {},
        "failed": {},
        "knees": [],
    }
    target = start_target("remote", logs, config.url, config.metrics_url)
    probe = NodeProbe(target)
    probe_started = False
    try:
        coordinator.bus.forget(coordinator.bus.up_key)  # hellos of an earlier run are stale
        with Heartbeat(coordinator.beat_bus, coordinator.run_id):
            coordinator.register()
            probe.start()
            probe_started = True
            coordinator.assign(target)
            coordinator.wait_ready()
            coordinator.run(coordinator.bus.clock(), scenario.duration, probe, label)
        probe.stop()
        probe_started = False
        outcome = coordinator.outcome(target, probe)
        result["runs"].append({**outcome, "summary": outcome["summary"].to_json()})
    except (OSError, RuntimeError, TimeoutError, *REDIS_ERRORS) as exc:
        result["failed"][label] = f"{type(exc).__name__}: {exc}"
        print(f"the run failed: {exc}", file=sys.stderr)
        with contextlib.suppress(*REDIS_ERRORS):
            coordinator._broadcast(
                "abort", {"reason": str(exc)}, ("registered", "assigned", "ready", "running")
            )
        result["workers"] = [worker_json(w) for w in coordinator.workers.values()]
    finally:
        if probe_started:
            probe.stop()
        coordinator.close()
    result["ratios"] = ratios(result)
    return result
