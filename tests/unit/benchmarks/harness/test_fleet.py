"""The pure parts of a several-machine ``liveloop-sfu bench`` run: dealing the users out to
workers and processes, the Redis messages and clock offset, tracking workers (alive, dead) and
merging their results into one run, and the command line's roles."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from benchmarks.harness.bench import _argument_parser
from benchmarks.harness.coordinator import FleetOptions
from benchmarks.harness.fleet import ProtocolError, SharedClock, best_offset, decode, encode
from benchmarks.harness.fleet import prefix as run_prefix
from benchmarks.harness.fleet_cli import any_dead, fleet_role
from benchmarks.harness.merge import (
    WorkerState,
    admit,
    apply,
    done_so_far,
    mark_dead,
    merge,
    overdue,
    registration,
    worker_json,
    worker_line,
)
from benchmarks.harness.scenarios import ScenarioConfig, UserPlan, plan
from benchmarks.harness.shares import by_local_process, split_shares, units
from benchmarks.harness.workers import WorkerOptions
from benchmarks.reports.bench import timeline


# --- shares ----------------------------------------------------------------------------------
def _users(kind: str, clients: int, room_size: int = 4) -> list[UserPlan]:
    return plan(ScenarioConfig(kind, clients, 20.0, 2.0, room_size), 1)


@pytest.mark.parametrize(
    ("kind", "clients", "weights", "sizes"),
    [
        ("steady", 8, [1, 1], [4, 4]),  # 4 pairs: 2 each
        ("steady", 10, [1, 1], [6, 4]),  # 5 pairs: the first worker takes the odd one
        ("steady", 12, [2, 1], [8, 4]),  # weight 2 takes twice the share
        ("churn", 6, [1, 1, 1], [2, 2, 2]),
        ("group", 12, [1, 1], [8, 4]),  # rooms of 4 stay whole: 2 rooms and 1
        ("fanout", 6, [1, 1], [6, 0]),  # one room cannot be split
    ],
)
def test_split_shares_keeps_units_whole_and_follows_the_weights(
    kind: str, clients: int, weights: list[int], sizes: list[int]
) -> None:
    users = _users(kind, clients)
    shares = split_shares(users, weights)
    assert [len(s) for s in shares] == sizes
    # Everybody exactly once, with the schedule unchanged.
    assert sorted((u for s in shares for u in s), key=lambda u: u.name) == users
    for share in shares:
        for unit in units(share):
            assert len({u.unit for u in unit}) == 1
            assert Counter(u.unit for u in users)[unit[0].unit] == len(unit)  # the whole unit


def test_split_shares_spreads_the_ramp_up_over_the_workers() -> None:
    shares = split_shares(_users("steady", 8), [1, 1])
    # Units are dealt in start order, alternately: both workers start early and late users.
    assert [u.start for u in shares[0]] < [u.start for u in shares[1]]
    assert shares[0][0].start == 0.0 and shares[1][-1].start > shares[0][0].start


def test_split_shares_needs_positive_weights() -> None:
    with pytest.raises(ValueError, match="weight"):
        split_shares(_users("steady", 4), [])
    with pytest.raises(ValueError, match="weight"):
        split_shares(_users("steady", 4), [1, 0])


def test_a_share_is_dealt_to_local_processes_unit_by_unit() -> None:
    share = split_shares(_users("steady", 12), [1, 1])[0]  # 3 pairs
    processes = by_local_process(share, 2)
    assert [len(p) for p in processes] == [4, 2]
    assert [{u.process for u in p} for p in processes] == [{0}, {1}]
    # More processes than units: no empty process.
    assert len(by_local_process(share, 8)) == 3
    assert by_local_process([], 2) == []


# --- messages and the clock -------------------------------------------------------------------
def test_messages_round_trip_and_garbage_is_refused() -> None:
    fields = encode("tick", {"worker": "w1", "t": 1.5})
    assert decode({k.encode(): v.encode() for k, v in fields.items()}) == {
        "kind": "tick",
        "worker": "w1",
        "t": 1.5,
    }
    for bad, why in [
        ({}, "without a message"),
        ({b"m": b"{not json"}, "not JSON"),
        ({b"m": b"[1, 2]"}, "not an object"),
        ({b"m": b'{"kind": 3}'}, "not an object with a kind"),
        ({b"m": b"\xff\xfe"}, "not JSON"),
    ]:
        with pytest.raises(ProtocolError, match=why):
            decode(bad)


def test_run_names_stay_in_one_hash_slot() -> None:
    assert run_prefix("nightly-7") == "{bench:nightly-7}"
    for bad in ("", "a{b", "a:b", "a b"):
        with pytest.raises(ValueError, match="run name"):
            run_prefix(bad)


def test_clock_offset_uses_the_shortest_round_trip() -> None:
    # (sent, redis time, received) on a clock 1000 s behind Redis; the second sample's round
    # trip is the shortest, and Redis read its clock half-way through it.
    samples = [(10.0, 1010.3, 10.4), (11.0, 1011.05, 11.1), (12.0, 1012.0, 12.5)]
    assert best_offset(samples) == pytest.approx(1000.0)
    clock = SharedClock(1000.0)
    assert clock.to_local(clock.to_shared(5.0)) == 5.0
    assert clock.to_shared(5.0) == 1005.0


# --- tracking workers and merging ---------------------------------------------------------------
def _hello(name: str, processes: int = 1, instance: str = "i1") -> dict[str, Any]:
    return {
        "kind": "hello",
        "worker": name,
        "host": f"{name}.lab",
        "pid": 42,
        "processes": processes,
        "instance": instance,
    }


def _tick(t: float, **counts: int) -> dict[str, Any]:
    base = {"matched": 2, "frames": 0, "packets": 0, "expected": 0, "receiving": 2, "errors": 0}
    return {"kind": "tick", "t": t, **{**base, **counts}}


def _record(user: str) -> dict[str, Any]:
    return {"user": user, "video_frames": 300, "seconds": 10.0, "video_streams": 1}


def test_a_hello_must_name_the_worker() -> None:
    worker = registration(_hello("w1", 2), now=5.0)
    assert (worker.name, worker.processes, worker.state, worker.last_seen) == (
        "w1",
        2,
        "registered",
        5.0,
    )
    for bad in (
        {**_hello("w1"), "worker": ""},
        {**_hello("w1"), "pid": "x"},
        {**_hello("w1"), "processes": 0},
        {**_hello("w1"), "instance": None},
    ):
        with pytest.raises(ValueError, match="hello"):
            registration(bad, now=0.0)


def test_admission_registers_n_workers_and_refuses_the_rest() -> None:
    workers: dict[str, WorkerState] = {}
    verdict, first = admit(workers, _hello("w1", instance="a"), limit=2, now=0.0)
    assert verdict == "new" and first is not None and first.instance == "a"
    workers["w1"] = first
    # It repeats its hello every second until it gets its share: nothing new.
    assert admit(workers, _hello("w1", instance="a"), limit=2, now=1.0) == ("known", None)
    # Another process started with the same name would run the same share twice.
    assert admit(workers, _hello("w1", instance="b"), limit=2, now=1.0) == ("taken", None)
    verdict, second = admit(workers, _hello("w2", instance="c"), limit=2, now=1.0)
    assert verdict == "new" and second is not None
    workers["w2"] = second
    assert admit(workers, _hello("w3", instance="d"), limit=2, now=2.0) == ("full", None)
    with pytest.raises(ValueError, match="hello"):
        admit(workers, {"kind": "hello"}, limit=2, now=2.0)


@pytest.mark.parametrize(
    "message",
    [
        {"kind": "tick"},  # no time
        {"kind": "tick", "t": "soon"},
        {"kind": "tick", "t": 1.0, "packets": "many"},
        {"kind": "tick", "t": 1.0, "frames": True},
        {"kind": "result", "records": "none"},
        {"kind": "result", "records": [1, 2]},
        {"kind": "result", "errors": {}},
        {"kind": "result", "clients_cpu_pct": "high"},
    ],
)
def test_a_malformed_message_is_refused_and_changes_nothing(message: dict[str, Any]) -> None:
    worker = registration(_hello("w1"), now=0.0)
    apply(worker, _tick(1.0, frames=30), now=1.0, start=0.0)
    with pytest.raises(ValueError, match="not"):
        apply(worker, message, now=2.0, start=0.0)
    assert worker.state == "running" and len(worker.ticks) == 1 and worker.result is None


def test_a_silent_worker_is_dead_and_keeps_what_it_had_done() -> None:
    worker = registration(_hello("w2"), now=0.0)
    worker.users = ["u002", "u003"]
    apply(worker, {"kind": "ready", "address": "203.0.113.10"}, now=1.0, start=None)
    assert worker.state == "ready" and worker.address == "203.0.113.10"
    apply(worker, _tick(1.0, frames=30, packets=170, expected=171), now=11.0, start=10.0)
    apply(worker, _tick(2.0, frames=60, packets=340, expected=342), now=12.0, start=10.0)
    assert worker.state == "running" and worker.last_heard_s == 2.0
    assert not overdue(worker, now=14.0, timeout=3.0)
    assert overdue(worker, now=15.5, timeout=3.0)
    mark_dead(worker, "silent for more than 3 s")
    # A late message changes nothing: it is reported as it was when it died.
    apply(worker, {"kind": "result", "records": [_record("u002")]}, now=16.0, start=10.0)
    assert worker.state == "dead" and worker.result is None
    assert done_so_far(worker) == {
        "matched": 2, "frames": 60, "packets": 340, "expected": 342, "receiving": 2,
        "errors": 0, "calls_recorded": 0,
    }  # fmt: skip
    line = worker_line(worker_json(worker))
    assert line.startswith("worker w2 (w2.lab pid 42, 2 clients): DEAD (silent for more than 3 s")
    assert "last heard at 2.0 s" in line and "60 video frames and 340 of 342 packets" in line


def test_silence_during_a_redis_outage_is_not_death() -> None:
    worker = registration(_hello("w1"), now=0.0)
    apply(worker, _tick(1.0), now=10.0, start=9.0)
    # Redis was unreachable from 11 to 20: silence counts again from 20 on.
    assert not overdue(worker, now=21.0, timeout=3.0, listening_since=20.0)
    assert overdue(worker, now=23.5, timeout=3.0, listening_since=20.0)
    assert overdue(worker, now=21.0, timeout=3.0)  # no outage: 11 s of silence


def test_a_worker_that_says_it_is_gone_is_dead_at_once() -> None:
    worker = registration(_hello("w1"), now=0.0)
    apply(worker, {"kind": "gone", "reason": "interrupted"}, now=1.0, start=None)
    assert worker.state == "dead" and worker.reason == "it stopped: interrupted"
    assert worker.last_heard_s is None
    assert "before the start" in worker_line(worker_json(worker))


def _finished(name: str, users: list[str], cpu: float | None) -> WorkerState:
    worker = registration(_hello(name), now=0.0)
    worker.users = users
    apply(worker, _tick(1.0, frames=60, packets=340, expected=340), now=1.0, start=0.0)
    apply(worker, _tick(2.0, frames=120, packets=680, expected=680), now=2.0, start=0.0)
    result = {"kind": "result", "records": [_record(u) for u in users], "errors": ["u9: boom"]}
    apply(worker, {**result, "clients_cpu_pct": cpu}, now=3.0, start=0.0)
    return worker


def test_merge_counts_every_record_and_names_the_dead_worker() -> None:
    done = _finished("w1", ["u000", "u001"], cpu=12.5)
    dead = registration(_hello("w2"), now=0.0)
    dead.users = ["u002", "u003"]
    apply(dead, _tick(1.0, frames=60, packets=340, expected=340), now=1.0, start=0.0)
    mark_dead(dead, "silent for more than 3 s")
    idle = registration(_hello("w3"), now=0.0)  # an empty share (fan-out): not a failure
    mark_dead(idle, "silent")
    merged = merge([done, dead, idle])
    assert [r["user"] for r in merged.records] == ["u000", "u001"]
    assert merged.failed_workers == 1
    assert merged.errors[0] == "w1: u9: boom"
    assert merged.errors[1].startswith("worker w2 (") and "DEAD" in merged.errors[1]
    assert len(merged.errors) == 2
    assert merged.clients_cpu_pct == 12.5  # the dead worker's is unknown
    # The dead worker's streams stop counting one tick after its last: the survivors' fps per
    # received stream stays 30 instead of being diluted by streams nobody counts any more.
    dead_ticks = merged.ticks_by_worker[1]
    assert dead_ticks[-1]["t"] == 2.0 and dead_ticks[-1]["receiving"] == 0
    assert dead_ticks[-1]["frames"] == 60
    intervals = timeline(merged.ticks_by_worker, 0.0)
    assert [i.receiving for i in intervals] == [4, 2]
    assert [i.fps for i in intervals] == [30.0, 30.0]


def test_a_coordinated_result_with_a_dead_worker_is_flagged() -> None:
    dead = registration(_hello("w2"), now=0.0)
    mark_dead(dead, "silent")
    result = {"runs": [{"workers": [worker_json(_finished("w1", ["u0"], None))]}]}
    assert not any_dead(result)
    result["runs"][0]["workers"].append(worker_json(dead))
    assert any_dead(result)
    assert any_dead({"runs": [], "workers": [worker_json(dead)]})  # a run that failed to start
    assert not any_dead({"runs": [{}]})  # a one-machine run


# --- the command line ---------------------------------------------------------------------------
def _role(*argv: str) -> object:
    return fleet_role(_argument_parser(), list(argv))


def test_the_command_line_picks_the_role(tmp_path: Path) -> None:
    assert _role("--targets", "sfu") is None
    worker = _role("--worker", "--redis-url", "redis://r:6379/0", "--worker-name", "w1",
                   "--processes", "3", "--out", str(tmp_path))  # fmt: skip
    assert isinstance(worker, WorkerOptions)
    assert (worker.name, worker.processes, worker.run, worker.out) == ("w1", 3, "default", tmp_path)
    coordinator = _role("--workers", "2", "--redis-url", "redis://r:6379/0", "--url",
                        "http://203.0.113.6", "--run", "nightly",
                        "--worker-timeout", "3")  # fmt: skip
    assert coordinator == FleetOptions("redis://r:6379/0", "nightly", 2, 120.0, 3.0)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--worker"], "need --redis-url"),
        (["--worker", "--workers", "2", "--redis-url", "redis://r"], "exclude each other"),
        (["--workers", "2", "--redis-url", "redis://r"], "needs --url"),
        (["--workers", "99", "--redis-url", "redis://r", "--url", "http://x"], "within 1..64"),
        (["--workers", "2", "--redis-url", "redis://r", "--url", "http://x", "--capacity", "2,4"],
         "no --capacity"),
        (["--worker", "--redis-url", "redis://r", "--run", "a:b"], "--run"),
        (["--worker", "--redis-url", "redis://r", "--worker-name", "a b"], "spaces"),
        (["--worker", "--redis-url", "redis://r", "--worker-timeout", "0"], "--worker-timeout"),
        (["--redis-url", "redis://r"], "goes with --worker"),
    ],
)  # fmt: skip
def test_bad_fleet_flags_are_refused(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _role(*argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
