"""What the coordinator of a several-machine ``liveloop-sfu bench`` run knows of each worker, and
how the workers' results become one run. Pure: messages and ``now`` in, state and figures out.

A worker is alive while it keeps talking (``waiting`` before the start, a ``tick`` every second
during the run); one silent for longer than the timeout, or one that says it is ``gone``, is
dead. A dead worker is not dropped: it stays in the report with what its last tick said it had
done (users matched, frames and packets received), its ticks stay in the timeline, and it counts
as an error of the run, so the run is not healthy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

ALIVE = ("registered", "assigned", "ready", "running")
COUNTS = ("matched", "frames", "packets", "expected", "receiving", "errors")


@dataclass
class WorkerState:
    name: str
    host: str
    pid: int
    processes: int  # its client processes: its weight when the run is dealt out
    last_seen: float  # coordinator's clock
    state: str = "registered"  # … "done" | "dead"
    address: str = ""  # where its clients gather ICE candidates
    users: list[str] = field(default_factory=list)
    ticks: list[dict[str, Any]] = field(default_factory=list)  # t: seconds since the start
    result: dict[str, Any] | None = None
    reason: str = ""  # why it is dead
    instance: str = ""  # the worker process's random id (names can collide, this cannot)
    last_heard_s: float | None = None  # seconds since the start, when it was last heard from


def registration(message: dict[str, Any], now: float) -> WorkerState:
    """A worker from its ``hello``; raises ``ValueError`` on a malformed one."""
    name, host, pid = message.get("worker"), message.get("host"), message.get("pid")
    processes, instance = message.get("processes"), message.get("instance")
    if not isinstance(name, str) or not name or not isinstance(host, str):
        raise ValueError("hello without a worker name and host")
    if not isinstance(pid, int) or not isinstance(processes, int) or processes < 1:
        raise ValueError(f"hello from {name} without a pid and a process count")
    if not isinstance(instance, str) or not instance:
        raise ValueError(f"hello from {name} without an instance id")
    return WorkerState(name, host, pid, processes, now, instance=instance)


def admit(
    workers: Mapping[str, WorkerState], message: dict[str, Any], limit: int, now: float
) -> tuple[str, WorkerState | None]:
    """What a ``hello`` means: ``known`` (a registered worker repeating it until it gets its
    share), ``new`` (with the worker to register), ``full`` (the run has its ``limit`` workers)
    or ``taken`` (another process already registered under this name: two workers answering to
    one name would both run its share). Raises ``ValueError`` on a malformed hello."""
    worker = registration(message, now)
    known = workers.get(worker.name)
    if known is not None:
        return ("known", None) if known.instance == worker.instance else ("taken", None)
    if len(workers) >= limit:
        return "full", None
    return "new", worker


def apply(worker: WorkerState, message: dict[str, Any], now: float, start: float | None) -> None:
    """One message from ``worker`` (already matched to this run); ``start``: the run's start on
    the coordinator's clock once it is known. Raises ``ValueError`` on a malformed message (the
    worker's ticks and result are then unchanged)."""
    if worker.state not in ALIVE:
        return  # a dead worker stays dead: its results arrived too late to count
    worker.last_seen = now
    if start is not None:
        worker.last_heard_s = round(now - start, 3)
    kind = message["kind"]
    if kind == "ready":
        worker.state = "ready"
        worker.address = str(message.get("address", ""))
    elif kind == "tick":
        worker.ticks.append(_tick(message))
        worker.state = "running"
    elif kind == "result":
        worker.result = _result(message)
        worker.state = "done"
    elif kind == "gone":
        mark_dead(worker, f"it stopped: {message.get('reason', 'no reason given')}")


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{what} is not a number: {value!r}")
    return float(value)


def _tick(message: dict[str, Any]) -> dict[str, Any]:
    counts = {k: int(_number(message.get(k, 0), k)) for k in COUNTS}
    return {"t": _number(message.get("t"), "t"), **counts}


def _result(message: dict[str, Any]) -> dict[str, Any]:
    records, errors = message.get("records", []), message.get("errors", [])
    cpu = message.get("clients_cpu_pct")
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise ValueError("result records are not a list of objects")
    if not isinstance(errors, list):
        raise ValueError("result errors are not a list")
    return {
        "records": records,
        "errors": [str(e) for e in errors],
        "clients_cpu_pct": None if cpu is None else _number(cpu, "clients_cpu_pct"),
    }


def mark_dead(worker: WorkerState, reason: str) -> None:
    if worker.state in ALIVE:
        worker.state = "dead"
        worker.reason = reason


def overdue(
    worker: WorkerState, now: float, timeout: float, listening_since: float = float("-inf")
) -> bool:
    """Silent for longer than ``timeout``, counted from when the coordinator could last hear it:
    ``listening_since`` is when reading the workers' stream works again after a Redis outage
    (during which nobody could be heard, which is not the workers' death)."""
    return worker.state in ALIVE and now - max(worker.last_seen, listening_since) > timeout


def done_so_far(worker: WorkerState) -> dict[str, int]:
    """Its last tick's cumulative counts (zeros before its first)."""
    last = worker.ticks[-1] if worker.ticks else {}
    counts = {k: int(last.get(k, 0)) for k in COUNTS}
    counts["calls_recorded"] = len(worker.result["records"]) if worker.result else 0
    return counts


def worker_json(worker: WorkerState) -> dict[str, Any]:
    return {
        "name": worker.name,
        "host": worker.host,
        "pid": worker.pid,
        "address": worker.address,
        "processes": worker.processes,
        "clients": len(worker.users),
        "users": worker.users,
        "state": worker.state,
        "reason": worker.reason,
        "last_heard_s": worker.last_heard_s,
        "done": done_so_far(worker),
        "clients_cpu_pct": worker.result["clients_cpu_pct"] if worker.result else None,
    }


def worker_line(report: dict[str, Any]) -> str:
    done = report["done"]
    head = (
        f"worker {report['name']} ({report['host']} pid {report['pid']}, "
        f"{report['clients']} clients)"
    )
    what = (
        f"{done['matched']} users joined, {done['frames']} video frames and {done['packets']} "
        f"of {done['expected']} packets received, {done['errors']} errors"
    )
    if report["state"] == "dead":
        when = report["last_heard_s"]
        at = f"last heard at {when:.1f} s" if when is not None else "before the start"
        return f"{head}: DEAD ({report['reason']}; {at}); had done: {what}"
    if report["state"] == "done":
        return f"{head}: done, {done['calls_recorded']} calls recorded; {what}"
    return f"{head}: {report['state']}; {what}"


@dataclass(frozen=True, slots=True)
class Merged:
    records: list[dict[str, Any]]
    errors: list[str]
    failed_workers: int
    ticks_by_worker: list[list[dict[str, Any]]]
    clients_cpu_pct: float | None  # of the workers that finished (a dead one's is unknown)


def final_ticks(worker: WorkerState) -> list[dict[str, Any]]:
    """A dead worker's ticks end with one more, a tick after its last, that receives nothing:
    its streams stopped counting when it died, and the survivors' fps per received stream must
    not be diluted by streams nobody counts any more (its cumulative counts stay as they were)."""
    if worker.state != "dead":
        return worker.ticks
    last = worker.ticks[-1]
    return [*worker.ticks, {**last, "t": last["t"] + 1.0, "receiving": 0}]


def merge(workers: Sequence[WorkerState]) -> Merged:
    """The workers' results as one run's: every call record and error of the finished workers,
    each dead worker as one error naming it, everybody's ticks for the timeline."""
    records: list[dict[str, Any]] = []
    errors: list[str] = []
    failed = 0
    cpu: list[float] = []
    for worker in workers:
        if worker.result is not None:
            records += worker.result["records"]
            errors += [f"{worker.name}: {e}" for e in worker.result["errors"]]
            if isinstance(worker.result["clients_cpu_pct"], int | float):
                cpu.append(float(worker.result["clients_cpu_pct"]))
        elif worker.users:
            failed += 1
            errors.append(worker_line(worker_json(worker)))
    return Merged(
        records=records,
        errors=errors,
        failed_workers=failed,
        ticks_by_worker=[final_ticks(w) for w in workers if w.ticks],
        clients_cpu_pct=sum(cpu) if cpu else None,
    )
