"""``liveloop-sfu bench --worker``: one load machine of a run that a coordinator
(``liveloop-sfu bench --workers N``, :mod:`benchmarks.harness.coordinator`) deals out through
Redis (:mod:`benchmarks.harness.fleet`).

The worker says ``hello`` until the coordinator assigns it its share of the users, starts its
client processes for that share exactly as the one-machine harness does (the same load
generator, :func:`benchmarks.harness.bench._spawn`, so another kind of client plugs in there for
both), says ``ready``, takes the shared start time, streams a ``tick`` a second (its processes'
counters summed, which also tells the coordinator it is alive), and posts its ``result`` (call
records, errors, its clients' CPU). Every wait is bounded, and it exits by itself when its clients
are done, when the coordinator says so, or when the coordinator's heartbeat is gone.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.harness.bench import EXIT_GRACE, READY_TIMEOUT, LoadProc, _spawn
from benchmarks.harness.fleet import BEAT_EVERY, REDIS_ERRORS, Bus, SharedClock
from benchmarks.harness.processes import TICKS_PER_SECOND, process_ticks, stop_process
from benchmarks.harness.progress import Progress, render
from benchmarks.harness.scenarios import UserPlan
from benchmarks.harness.shares import by_local_process
from benchmarks.media.cache import MediaSpec, load_or_build
from benchmarks.nodes.targets import source_address
from benchmarks.reports.bench import timeline

log = logging.getLogger("benchmarks.harness.workers")


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    redis_url: str
    run: str
    name: str
    processes: int  # client processes on this machine
    out: Path  # plans and logs
    cache_dir: Path
    register_timeout: float  # how long to wait for a coordinator to assign a share
    coordinator_timeout: float  # how long the coordinator may be silent mid-run


class Stop(Exception):
    """The run is over for this worker (the coordinator ended or aborted it, or is gone)."""


def default_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def users_of(plan: dict[str, Any]) -> list[UserPlan]:
    return [UserPlan(**{**u, "calls": tuple(u["calls"])}) for u in plan["users"]]


class Worker:
    def __init__(self, options: WorkerOptions) -> None:
        self.options = options
        self.bus = Bus(options.redis_url, options.run)
        self.inbox = self.bus.down_key(options.name)
        self.after = "0-0"
        self.run_id: str | None = None
        self.clock = SharedClock(0.0)
        self.procs: list[LoadProc] = []
        self.users = 0
        self.coordinator_seen = time.monotonic()
        self.instance = uuid.uuid4().hex  # tells apart two workers started with one name

    # Messages ---------------------------------------------------------------------------------
    def _send(self, kind: str, body: dict[str, Any]) -> None:
        self.bus.send_up(kind, {"worker": self.options.name, "run_id": self.run_id, **body})

    def _receive(self, block: float) -> list[dict[str, Any]]:
        self.after, messages = self.bus.read(self.inbox, self.after, block)
        mine = []
        for message in messages:
            if message["kind"] == "invalid":
                log.warning("skipping an entry of %s: %s", self.inbox, message["error"])
            elif self.run_id is None or message.get("run_id") == self.run_id:
                mine.append(message)
        return mine

    def _check_coordinator(self) -> None:
        """Raises :class:`Stop` once the coordinator of our run has been gone for longer than
        ``coordinator_timeout`` (its heartbeat key expired, or Redis is unreachable)."""
        now = time.monotonic()
        try:
            alive = self.bus.coordinator() == self.run_id
        except REDIS_ERRORS as exc:
            log.warning("Redis: %s", exc)
            alive = False
        if alive:
            self.coordinator_seen = now
        elif now - self.coordinator_seen > self.options.coordinator_timeout:
            raise Stop("the coordinator is gone (no heartbeat)")

    def _handle_control(self, messages: list[dict[str, Any]]) -> dict[str, Any] | None:
        """``end``/``abort`` stop us; returns a ``start`` if one came."""
        for message in messages:
            if message["kind"] in ("end", "abort"):
                raise Stop(f"the coordinator said {message['kind']}: {message.get('reason', '')}")
            if message["kind"] == "start":
                return message
        return None

    # Phases ---------------------------------------------------------------------------------------
    def wait_for_share(self) -> dict[str, Any] | None:
        """Says hello every second until the coordinator assigns a share (None: it has enough
        workers); raises ``TimeoutError`` when no coordinator answers in time, :class:`Stop`
        when another worker has this one's name."""
        self.after = self.bus.position_now()  # not what a previous worker of this name got
        hello = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "processes": self.options.processes,
            "instance": self.instance,
        }
        deadline = time.monotonic() + self.options.register_timeout
        while time.monotonic() < deadline:
            self._send("hello", hello)
            for message in self._receive(BEAT_EVERY):
                if message.get("instance") != self.instance:
                    continue  # for another process with our name
                if message["kind"] == "assign":
                    self.run_id = str(message["run_id"])
                    self.coordinator_seen = time.monotonic()
                    return message
                if message["kind"] == "full":
                    return None
                if message["kind"] == "taken":
                    raise Stop(f"another worker of this run is named {self.options.name!r}")
                if message["kind"] == "abort":
                    raise Stop(f"the coordinator aborted the run: {message.get('reason', '')}")
        raise TimeoutError(f"no coordinator assigned a share in {self.options.register_timeout} s")

    def prepare(self, assignment: dict[str, Any]) -> None:
        """Starts this worker's client processes for its share and waits until they are ready."""
        plan = assignment["plan"]
        users = users_of(plan)
        self.users = len(users)
        address = source_address(plan["url"])
        self.clock = self.bus.clock()
        spec = MediaSpec(**plan["spec"])
        self._saying_waiting(lambda: load_or_build(spec, self.options.cache_dir))
        logs = self.options.out / "logs" / f"worker-{self.options.name}"
        logs.mkdir(parents=True, exist_ok=True)
        decode = int(plan.get("decode", 0))
        for index, mine in enumerate(by_local_process(users, self.options.processes)):
            process_plan = {
                **plan,
                "users": [asdict(u) for u in mine],
                "host_address": address,
                "cache_dir": str(self.options.cache_dir),
                "decode": decode if index == 0 or decode > 1 else 0,
            }
            path = logs / f"plan-{index}.json"
            path.write_text(json.dumps(process_plan))
            self.procs.append(_spawn(path, logs / f"clients-{index}.log"))
        deadline = time.monotonic() + READY_TIMEOUT
        while not all(p.ready.is_set() for p in self.procs):
            if time.monotonic() > deadline:
                raise TimeoutError(f"client processes not ready in {READY_TIMEOUT} s")
            if any(p.process.poll() is not None for p in self.procs):
                raise RuntimeError(f"a client process exited before it was ready (see {logs})")
            self._send("waiting", {})
            self._check_coordinator()
            self._handle_control(self._receive(0.5))
        self._send("ready", {"address": address, "processes": len(self.procs)})
        print(
            f"worker {self.options.name}: {len(users)} clients ready on {address}", file=sys.stderr
        )

    def _saying_waiting(self, work: Callable[[], object]) -> None:
        """Runs ``work`` (encoding the media cache the first time can take a minute) while a
        thread of its own says ``waiting`` every second: the coordinator must not take this
        silence for the worker's death."""
        stop = threading.Event()
        body = {"worker": self.options.name, "run_id": self.run_id}

        def beat() -> None:
            bus = Bus(self.options.redis_url, self.options.run)  # redis-py clients are per thread
            try:
                while True:
                    with contextlib.suppress(*REDIS_ERRORS):
                        bus.send_up("waiting", body)
                    if stop.wait(BEAT_EVERY):
                        return
            finally:
                bus.close()

        thread = threading.Thread(target=beat, daemon=True)
        thread.start()
        try:
            work()
        finally:
            stop.set()
            thread.join(timeout=10)

    def wait_for_start(self, timeout: float) -> float:
        """The shared start time, on this machine's monotonic clock."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            start = self._handle_control(self._receive(BEAT_EVERY))
            if start is not None:
                start_at = self.clock.to_local(float(start["start_at"]))
                for proc in self.procs:
                    assert proc.process.stdin is not None
                    proc.process.stdin.write(f"{start_at}\n")
                    proc.process.stdin.flush()
                return start_at
            self._send("waiting", {})
            self._check_coordinator()
        raise TimeoutError(f"no start time in {timeout} s")

    def _tick(self, start_at: float) -> dict[str, Any]:
        latest = [p.ticks[-1] for p in self.procs if p.ticks]
        keys = ("matched", "frames", "packets", "expected", "receiving", "errors")
        return {
            "t": round(time.monotonic() - start_at, 3),
            **{k: sum(int(t.get(k, 0)) for t in latest) for k in keys},
        }

    def drive(self, start_at: float, duration: float, window: tuple[float, float]) -> float | None:
        """Streams ticks until the clients are done; returns their CPU % over the window."""
        progress = Progress(every=2.0)
        marks: dict[str, int] = {}
        deadline = start_at + duration + EXIT_GRACE
        while time.monotonic() < deadline and any(p.process.poll() is None for p in self.procs):
            now = time.monotonic()
            for name, at in (("open", window[0]), ("close", window[1])):
                if name not in marks and now >= start_at + at:
                    marks[name] = sum(_ticks(p) for p in self.procs)
            tick = self._tick(start_at)
            progress.show(self._line(tick, start_at, duration), now)
            try:
                self._send("tick", tick)
                self._handle_control(self._receive(BEAT_EVERY))
            except REDIS_ERRORS as exc:
                # A blip must not end this machine's part of the run: the clients go on, and
                # an outage longer than the coordinator's timeout ends it below.
                log.warning("Redis: %s", exc)
                time.sleep(BEAT_EVERY)
            self._check_coordinator()
        progress.done()
        for proc in self.procs:
            proc.reader.join(timeout=10)
        self._post("tick", self._tick(start_at))
        if "open" in marks and "close" in marks:
            used = (marks["close"] - marks["open"]) / TICKS_PER_SECOND
            return 100.0 * used / (window[1] - window[0])
        return None

    def _line(self, tick: dict[str, Any], start_at: float, duration: float) -> str:
        recent = timeline([p.ticks for p in self.procs], max(start_at, time.monotonic() - 3.0))
        last = recent[-1] if recent else None
        return render(
            f"worker {self.options.name}",
            max(0.0, tick["t"]),
            duration,
            matched=tick["matched"],
            users=self.users,
            receiving=tick["receiving"],
            fps=last.fps if last else None,
            loss_pct=last.loss_pct if last else None,
            node_cpu_pct=None,
            errors=tick["errors"],
        )

    def report(self, clients_cpu: float | None) -> None:
        records = [r for p in self.procs if p.result for r in p.result["records"]]
        errors = [e for p in self.procs if p.result for e in p.result["errors"]]
        missing = sum(1 for p in self.procs if p.result is None)
        if missing:
            errors.append(f"{missing} client process(es) gave no result")
        body = {"records": records, "errors": errors, "clients_cpu_pct": clients_cpu}
        self._post("result", body)

    def _post(self, kind: str, body: dict[str, Any]) -> None:
        """``_send`` that retries through a Redis blip, for at most the coordinator's timeout."""
        deadline = time.monotonic() + self.options.coordinator_timeout
        while True:
            try:
                self._send(kind, body)
                return
            except REDIS_ERRORS:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        for proc in self.procs:
            stop_process(proc.process)
            proc.reader.join(timeout=5)
            proc.log.close()
        self.bus.close()


def _ticks(proc: LoadProc) -> int:
    try:
        return process_ticks(proc.process.pid)
    except (OSError, ValueError):
        return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # so the client processes are stopped on the way out


def run_worker(options: WorkerOptions) -> int:
    """0: the run ended and the result was posted (or the run needed no more workers); 1: this
    worker failed or was stopped (the coordinator reports it dead)."""
    signal.signal(signal.SIGTERM, _interrupt)
    worker = Worker(options)
    try:
        assignment = worker.wait_for_share()
        if assignment is None:
            print(f"worker {options.name}: not needed, the run has its workers", file=sys.stderr)
            return 0
        worker.prepare(assignment)
        start_at = worker.wait_for_start(float(assignment["start_timeout"]))
        window = (float(assignment["window"][0]), float(assignment["window"][1]))
        cpu = worker.drive(start_at, float(assignment["plan"]["duration"]), window)
        worker.report(cpu)
        print(f"worker {options.name}: result posted", file=sys.stderr)
        return 0
    except (Stop, TimeoutError, RuntimeError, OSError, *REDIS_ERRORS) as exc:
        reason = f"{type(exc).__name__}: {exc}"
    except (KeyError, TypeError, ValueError) as exc:  # a malformed assignment
        reason = f"bad assignment: {type(exc).__name__}: {exc}"
    except Exception as exc:  # a bug: still tell the coordinator, with the traceback in the log
        log.exception("worker failed")
        reason = f"{type(exc).__name__}: {exc}"
    except KeyboardInterrupt:
        reason = "interrupted (SIGTERM or Ctrl-C)"
    finally:
        with contextlib.suppress(Exception):
            worker.stop()
    print(f"worker {options.name}: {reason}", file=sys.stderr)
    if worker.run_id is not None:
        with contextlib.suppress(*REDIS_ERRORS):
            worker.bus = Bus(options.redis_url, options.run)
            worker._send("gone", {"reason": reason})
            worker.bus.close()
    return 1
