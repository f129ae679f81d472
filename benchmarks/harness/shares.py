"""How one ``liveloop-sfu bench`` run is dealt out to several load workers (``--workers N``), and
a worker's share to its client processes. Pure: plans in, plans out.

A share is "N clients of the configured kind": a list of :class:`UserPlan` whose ``start``,
``calls`` and ``room`` come unchanged from :func:`benchmarks.harness.scenarios.plan`, so every
worker runs its users on the run's one schedule. Units (a 1:1 pair, a group room, the fan-out
room) stay whole, as they stay in one client process on one machine: a call's two ends then share
one clock for the frame latency, and no call depends on two workers being alive.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from benchmarks.harness.scenarios import UserPlan


def units(users: Sequence[UserPlan]) -> list[list[UserPlan]]:
    """The users grouped by unit, in the order the units first appear (the start order)."""
    grouped: dict[int, list[UserPlan]] = {}
    for user in users:
        grouped.setdefault(user.unit, []).append(user)
    return list(grouped.values())


def split_shares(users: Sequence[UserPlan], weights: Sequence[int]) -> list[list[UserPlan]]:
    """One share per worker, in proportion to ``weights`` (a worker's client processes): each
    unit in start order goes to the worker with the fewest clients per unit of weight (the
    earlier worker on a tie), so the ramp-up is spread over every worker too. A run with fewer
    units than workers leaves some shares empty (one fan-out room cannot be split)."""
    if not weights or any(w < 1 for w in weights):
        raise ValueError("every worker needs a weight of at least 1")
    shares: list[list[UserPlan]] = [[] for _ in weights]
    for unit in units(users):
        chosen = min(range(len(weights)), key=lambda i: (len(shares[i]) / weights[i], i))
        shares[chosen].extend(unit)
    return shares


def by_local_process(share: Sequence[UserPlan], processes: int) -> list[list[UserPlan]]:
    """A worker's share dealt unit by unit to its ``processes`` client processes in turn, each
    user's ``process`` renumbered to its local process; no process is left without users."""
    groups = units(share)
    count = max(1, min(processes, len(groups)))
    out: list[list[UserPlan]] = [[] for _ in range(count)]
    for index, unit in enumerate(groups):
        out[index % count].extend(replace(u, process=index % count) for u in unit)
    return [users for users in out if users]
