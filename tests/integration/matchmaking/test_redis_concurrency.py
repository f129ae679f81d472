"""Concurrency proof: several node processes churn one Redis queue, then invariants are checked.

Four OS processes (``churn.py``), 100 concurrent users each, > 10,000 request-room / stop-call /
disconnect operations in total, all against one ``redis-server``. From the processes' logs of
every operation (with start/end on the shared monotonic clock) and a final scan of Redis:

- no queue ticket is consumed twice, nobody is matched with themselves or an incompatible mode;
- no ticket is consumed after its owner stopped (stop-call said it removed the entry), after its
  owner disconnected, or after its owner was matched as a requester (no one in two calls at once);
- nobody is in limbo: a user whose last operation was a disconnect has no queue entry and no
  state; a user whose last request said "waiting" is either still queued or was matched;
- every waiting user is matched when a partner exists: no two compatible users remain queued;
- the queue indexes agree with each other, and ``metrics:daily`` counted every match.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from liveloop_sfu.matchmaking.redis import RedisKeys, connect, day_of
from liveloop_sfu.matchmaking.rules import modes_compatible
from tests.nodes import ROOT
from tests.redis_server import RedisServer

pytestmark = pytest.mark.slow

PROCESSES, USERS, OPS = 4, 100, 26  # 4 x 100 x (26 + 1) = 10,800 operations


@dataclass(frozen=True)
class Match:
    requester: str
    partner: str
    partner_t: float
    start: int
    end: int


def run_churn(server: RedisServer, tag: str, tmp_path: Path) -> list[dict[str, Any]]:
    logs = [tmp_path / f"churn-{k}.jsonl" for k in range(PROCESSES)]
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.integration.matchmaking.churn", server.url, tag,
             f"node{k}", str(USERS), str(OPS), str(k), str(logs[k])],
            cwd=ROOT,
        )
        for k in range(PROCESSES)
    ]  # fmt: skip
    try:
        for worker in workers:
            assert worker.wait(timeout=50) == 0
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    return [json.loads(line) for path in logs for line in path.read_text().splitlines()]


def by_user(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Each user's operations in order (one task per user, so start order is issue order)."""
    users: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in sorted(records, key=lambda r: r["start"]):
        users[record["user"]].append(record)
    return users


def check_matches(records: list[dict[str, Any]]) -> list[Match]:
    matches = [
        Match(r["user"], r["partner"], r["partner_t"], r["start"], r["end"])
        for r in records
        if r["op"] == "request" and r["matched"]
    ]
    tickets = [(m.partner, m.partner_t) for m in matches]
    assert len(tickets) == len(set(tickets)), "a queue ticket was consumed twice"
    waiting_tickets = {
        (r["user"], r["t"]) for r in records if r["op"] == "request" and not r["matched"]
    }
    assert set(tickets) <= waiting_tickets, "a match returned a ticket nobody queued"
    for r in records:
        if r["op"] == "request" and r["matched"]:
            assert r["partner"] != r["user"]
            assert modes_compatible(r["mode"], r["partner_mode"])
    return matches


def ended_entry(op: dict[str, Any]) -> bool:
    """After this operation the user certainly has no queue entry."""
    return bool(
        op["op"] == "forget"
        or (op["op"] == "cancel" and op["removed"])
        or (op["op"] == "request" and op["matched"])
    )


def check_tickets_not_used_after_they_ended(
    users: dict[str, list[dict[str, Any]]], matches: list[Match]
) -> None:
    consumed: dict[str, list[Match]] = defaultdict(list)
    for match in matches:
        consumed[match.partner].append(match)
    for user, ops in users.items():
        ticket_index = {op["t"]: i for i, op in enumerate(ops) if op["op"] == "request"}
        for match in consumed[user]:
            queued_at = ticket_index[match.partner_t]
            for later in ops[queued_at + 1 :]:
                if later["op"] == "request" and not later["matched"]:
                    break  # from here the user may hold a newer ticket; stay conservative
                assert not (ended_entry(later) and match.start > later["end"]), (user, match)


async def scores(client: Redis, key: str) -> dict[str, float]:
    reply: list[tuple[str, float]] = await client.zrange(key, 0, -1, withscores=True)  # type: ignore[assignment]
    return dict(reply)


async def test_ten_thousand_concurrent_operations_keep_every_invariant(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex
    started = time.monotonic()
    records = run_churn(redis_server, tag, tmp_path)
    elapsed = time.monotonic() - started
    assert len(records) >= 10_000
    users = by_user(records)
    matches = check_matches(records)
    check_tickets_not_used_after_they_ended(users, matches)

    keys = RedisKeys(tag)
    client = connect(redis_server.url)
    try:
        queue = await scores(client, keys.queue)
        indexed: dict[str, float] = {}
        for index in keys.mode_indexes:
            indexed.update(await scores(client, index))
        assert indexed == queue
        modes = {user: await client.hget(keys.user(user), "mode") for user in queue}
        metrics = await client.hgetall(keys.metrics)
        hashes = {user: await client.exists(keys.user(user)) for user in users}
    finally:
        await client.aclose()

    waiting = list(queue)
    for i, a in enumerate(waiting):
        for b in waiting[i + 1 :]:
            assert not modes_compatible(modes[a] or None, modes[b] or None), (a, b)  # type: ignore[arg-type]
    consumed = {(m.partner, m.partner_t) for m in matches}
    for user, ops in users.items():
        if ops[-1]["op"] == "forget":
            assert user not in queue and not hashes[user], f"{user} in limbo after disconnect"
        elif not ops[-1]["matched"] and user not in queue:
            # Not queued: the entry made since the user's last stop / disconnect / own match
            # must have been taken by a match, not lost.
            cleared = max(i for i, op in enumerate(ops) if ended_entry(op) or i == 0)
            fresh = {(user, op["t"]) for op in ops[cleared:] if op["op"] == "request"}
            assert fresh & consumed, f"{user} lost its queue entry"
    day = day_of(time.time())
    assert int(metrics.get(f"{day}:matches", 0)) == len(matches)
    assert len(matches) > 1_000
    print(f"{len(records)} ops, {len(matches)} matches, {len(queue)} left waiting, {elapsed:.1f} s")
