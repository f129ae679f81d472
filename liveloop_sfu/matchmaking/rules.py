"""The pairing rule, pure: who (if anyone) a requester is matched with.

Both backends apply exactly this rule (the Redis backend in its Lua script, mirrored by the shared
contract tests): FIFO by join time; never oneself; only compatible media preferences; and the
partner a user has just left is passed over while anyone else is waiting (so "Next" means someone
new), but is still matched when nobody else is there (so two lone users can talk again). A
*blocked* waiter is never matched: one the requester skipped in this session (blocked by user id)
or one of a pair where either reported the other (blocked by client id, for good).
"""

from __future__ import annotations

from collections.abc import Container, Iterable
from dataclasses import dataclass, field

from liveloop_sfu.modes import CallMode


@dataclass(frozen=True, slots=True)
class Waiter:
    """One queue entry. ``node`` is the id of the node holding the user's connection (None: the
    asking node itself); it routes a match across nodes and takes no part in the rule, so it is
    left out of equality."""

    user_id: str
    joined_at: float
    mode: CallMode | None = None
    node: str | None = field(default=None, compare=False)
    # The stable identity of the user's browser (signal/client_keys.py), which reports
    # block; None for a client without one. Like ``node`` it takes no part in equality.
    client_id: str | None = field(default=None, compare=False)


def is_blocked(waiter: Waiter, blocked: Container[str]) -> bool:
    """``blocked`` holds the user ids and client ids the requester must never meet."""
    return waiter.user_id in blocked or (
        waiter.client_id is not None and waiter.client_id in blocked
    )


def modes_compatible(a: CallMode | None, b: CallMode | None) -> bool:
    """Two preferences can share a call when they agree or either has none."""
    return a is None or b is None or a == b


def choose_partner(
    queue: Iterable[Waiter],
    requester: Waiter,
    last_partner: str | None,
    blocked: Container[str] = frozenset(),
) -> Waiter | None:
    """The oldest eligible waiter for ``requester`` (``queue`` in join order), or None."""
    fallback: Waiter | None = None
    for waiter in queue:
        if waiter.user_id == requester.user_id or not modes_compatible(waiter.mode, requester.mode):
            continue
        if is_blocked(waiter, blocked):
            continue
        if waiter.user_id == last_partner:
            fallback = fallback or waiter
            continue
        return waiter
    return fallback
