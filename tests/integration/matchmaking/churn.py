"""One churn process for the Redis concurrency test: a node's worth of users hammering the queue.

``python -m tests.integration.matchmaking.churn URL TAG NODE_ID USERS OPS SEED LOG`` runs USERS
concurrent asyncio tasks, one per user, each issuing OPS random request-room / stop-call /
disconnect operations against a :class:`RedisMatchmaker` (with its heartbeat and sweep running),
then a last operation: a third of the users request once more, the rest disconnect. Every
operation is written to LOG as one JSON line with its CLOCK_MONOTONIC start and end (one clock
for all processes on Linux), which the test uses to order events across processes.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

from liveloop_sfu.matchmaking.redis import RedisMatchmaker
from liveloop_sfu.matchmaking.rules import Waiter

MODES = (None, None, "sfu", "p2p")


class User:
    def __init__(self, user_id: str, rng: random.Random) -> None:
        self.user_id = user_id
        self.rng = rng
        self.mode = rng.choice(MODES)
        self.last_t = 0.0

    def next_waiter(self) -> Waiter:
        # Strictly increasing join times per user make each ticket identifiable in the logs.
        self.last_t = max(time.time(), self.last_t + 1e-5)
        if self.rng.random() < 0.2:
            self.mode = self.rng.choice(MODES)
        return Waiter(self.user_id, self.last_t, self.mode)  # type: ignore[arg-type]


async def operate(mm: RedisMatchmaker, user: User, action: str, log: list[str]) -> None:
    record: dict[str, Any] = {"user": user.user_id, "op": action, "start": time.monotonic_ns()}
    if action == "request":
        waiter = user.next_waiter()
        partner = await mm.match_or_enqueue(waiter)
        record.update(t=waiter.joined_at, mode=waiter.mode, matched=partner is not None)
        if partner is not None:
            record.update(partner=partner.user_id, partner_t=partner.joined_at)
            record.update(partner_mode=partner.mode)
    elif action == "cancel":
        record["removed"] = await mm.cancel(user.user_id)
    else:
        await mm.forget(user.user_id)
    record["end"] = time.monotonic_ns()
    log.append(json.dumps(record))


async def run_user(mm: RedisMatchmaker, user: User, ops: int, last: str, log: list[str]) -> None:
    for _ in range(ops):
        roll = user.rng.random()
        action = "request" if roll < 0.6 else "cancel" if roll < 0.8 else "forget"
        await operate(mm, user, action, log)
    await operate(mm, user, last, log)


async def main(url: str, tag: str, node_id: str, users: int, ops: int, seed: int) -> list[str]:
    # The node stays "up" after the run (no retire on close): the test inspects its live state.
    mm = RedisMatchmaker(url, node_id=node_id, hash_tag=tag, entry_ttl=60.0, retire_on_close=False)
    rng = random.Random(seed)
    people = [User(f"{node_id}-u{i}", random.Random(rng.random())) for i in range(users)]
    log: list[str] = []
    await mm.heartbeat(time.time())
    mm.start(interval=0.5)
    try:
        await asyncio.gather(
            *(
                run_user(mm, user, ops, "request" if i % 3 == 0 else "forget", log)
                for i, user in enumerate(people)
            )
        )
    finally:
        await mm.close()
    return log


if __name__ == "__main__":
    url, tag, node_id, users, ops, seed, path = sys.argv[1:8]
    lines = asyncio.run(main(url, tag, node_id, int(users), int(ops), int(seed)))
    Path(path).write_text("\n".join(lines) + "\n")
