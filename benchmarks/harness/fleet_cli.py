"""The command-line side of a several-machine run: the flags ``liveloop-sfu bench`` adds for it,
and which role (worker, coordinator, or neither) a command line asks for."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.harness.coordinator import FleetOptions
from benchmarks.harness.fleet import prefix
from benchmarks.harness.merge import worker_line
from benchmarks.harness.workers import WorkerOptions, default_name

__all__ = [
    "FleetOptions",
    "WorkerOptions",
    "add_arguments",
    "any_dead",
    "fleet_role",
    "print_workers",
    "workers_of",
]

MAX_WORKERS = 64

HELP = (
    "One run from several load machines that meet in a Redis (the cluster's, or any): run "
    "`liveloop-sfu bench --worker --redis-url URL` on each load machine and `liveloop-sfu bench "
    "--workers N --redis-url URL --url SERVICE [scenario flags]` on one. The coordinator waits "
    "for N workers, deals the scenario's users out to them (a pair or a room stays on one "
    "machine), starts them together and merges their results into one report; a worker that "
    "dies mid-run is reported dead with what it had done, and the run completes with the "
    "others (exit status 1). Workers exit by themselves when the run ends or the coordinator "
    "is gone."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("several load machines", HELP)
    group.add_argument(
        "--worker",
        action="store_true",
        help="be a load worker: take a share of a coordinator's run (uses --processes, "
        "--cache-dir, --out of this machine)",
    )
    group.add_argument(
        "--workers",
        type=int,
        default=0,
        metavar="N",
        help="be the coordinator of a run over N workers (needs --url)",
    )
    group.add_argument("--redis-url", help="the Redis workers and coordinator meet in")
    group.add_argument(
        "--run", default="default", help="name of the run (workers join the coordinator's)"
    )
    group.add_argument("--worker-name", help="this worker's name (default: host-pid)")
    group.add_argument(
        "--worker-timeout",
        type=float,
        default=5.0,
        help="seconds of silence after which a worker is dead (coordinator), or the "
        "coordinator gone (worker)",
    )
    group.add_argument(
        "--register-timeout",
        type=float,
        default=120.0,
        help="seconds the coordinator waits for its workers, and a worker for a coordinator",
    )


Role = WorkerOptions | FleetOptions | None


def fleet_role(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> Role:
    """What ``argv`` asks for: a worker, a coordinator, or a one-machine run (None)."""
    args = parser.parse_args(argv)
    if not args.worker and not args.workers:
        if args.redis_url:
            parser.error("--redis-url goes with --worker or --workers")
        return None
    problem = _problem(args)
    if problem is not None:
        parser.error(problem)
    if args.worker:
        return WorkerOptions(
            redis_url=args.redis_url,
            run=args.run,
            name=args.worker_name or default_name(),
            processes=max(1, min(args.processes, 16)),
            out=Path(args.out),
            cache_dir=Path(args.cache_dir),
            register_timeout=args.register_timeout,
            coordinator_timeout=args.worker_timeout,
        )
    return FleetOptions(
        redis_url=args.redis_url,
        run=args.run,
        workers=args.workers,
        register_timeout=args.register_timeout,
        worker_timeout=args.worker_timeout,
    )


def _problem(args: argparse.Namespace) -> str | None:
    if args.worker and args.workers:
        return "--worker and --workers exclude each other"
    if not args.redis_url:
        return "--worker and --workers need --redis-url"
    try:
        prefix(args.run)
    except ValueError as exc:
        return f"--run: {exc}"
    if args.worker_name is not None and not 1 <= len(args.worker_name) <= 100:
        return "--worker-name must be 1 to 100 characters"
    if args.worker_name is not None and any(c.isspace() for c in args.worker_name):
        return "--worker-name must not contain spaces"
    if not 0.5 <= args.worker_timeout <= 600 or not 1 <= args.register_timeout <= 3600:
        return "--worker-timeout must be within 0.5..600 s and --register-timeout within 1..3600 s"
    if args.workers and not 1 <= args.workers <= MAX_WORKERS:
        return f"--workers must be within 1..{MAX_WORKERS}"
    if args.workers and not args.url:
        return "--workers needs --url: the service every worker loads"
    if args.workers and args.capacity:
        return "--workers runs one scenario: no --capacity"
    return None


def workers_of(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The workers of a coordinated run's result (none for a one-machine run)."""
    found = [w for run in result["runs"] for w in run.get("workers", [])]
    return found or list(result.get("workers", []))


def print_workers(result: dict[str, Any]) -> None:
    for worker in workers_of(result):
        print(worker_line(worker))


def any_dead(result: dict[str, Any]) -> bool:
    return any(w["state"] == "dead" for w in workers_of(result))
