"""The pure pairing rule, table-driven."""

from __future__ import annotations

import pytest

from liveloop_sfu.matchmaking.rules import Waiter, choose_partner, modes_compatible


def queue(*entries: str) -> list[Waiter]:
    """'a' = user a with no preference; 'a:p2p' = user a preferring p2p."""
    waiters = []
    for t, entry in enumerate(entries):
        user, _, mode = entry.partition(":")
        waiters.append(Waiter(user, float(t), mode or None))  # type: ignore[arg-type]
    return waiters


@pytest.mark.parametrize(
    ("waiting", "requester", "last", "expected"),
    [
        ((), "x", None, None),
        (("a",), "x", None, "a"),
        (("a", "b"), "x", None, "a"),  # FIFO
        (("x",), "x", None, None),  # never oneself
        (("x", "a"), "x", None, "a"),
        (("a", "b"), "x", "a", "b"),  # the partner just left is passed over
        (("a",), "x", "a", "a"),  # ... unless nobody else is waiting
        (("a:p2p", "b"), "x:sfu", None, "b"),  # incompatible preferences never meet
        (("a:p2p",), "x:sfu", None, None),
        (("a:sfu",), "x", None, "a"),
        (("a",), "x:p2p", None, "a"),
        (("a:p2p", "b:p2p"), "x:p2p", "a", "b"),
    ],
)
def test_choose_partner(
    waiting: tuple[str, ...], requester: str, last: str | None, expected: str | None
) -> None:
    (me,) = queue(requester)
    chosen = choose_partner(queue(*waiting), me, last)
    assert (chosen.user_id if chosen else None) == expected


@pytest.mark.parametrize(
    ("a", "b", "ok"),
    [
        (None, None, True),
        ("sfu", None, True),
        (None, "p2p", True),
        ("sfu", "sfu", True),
        ("sfu", "p2p", False),
    ],
)
def test_modes_compatible(a: str | None, b: str | None, ok: bool) -> None:
    assert modes_compatible(a, b) is ok  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("waiting", "last", "blocked", "expected"),
    [
        # (user, client id) in join order; blocked holds user ids and client ids.
        ((("a", "ca"), ("b", "cb")), None, {"a"}, "b"),  # skipped in this session
        ((("a", "ca"), ("b", "cb")), None, {"ca"}, "b"),  # reported browser
        ((("a", "ca"),), "a", {"a"}, None),  # a blocked last partner is no fallback
        ((("a", None), ("b", "cb")), None, {"ca", "cb"}, "a"),  # no client id: users only
        ((("a", "ca"), ("b", "cb")), "b", {"ca"}, "b"),  # blocked beats "someone new"
        ((("a", "ca"),), None, {"a", "ca"}, None),
    ],
)
def test_blocked_waiters_are_never_chosen(
    waiting: tuple[tuple[str, str | None], ...],
    last: str | None,
    blocked: set[str],
    expected: str | None,
) -> None:
    entries = [
        Waiter(user, float(t), None, None, client) for t, (user, client) in enumerate(waiting)
    ]
    chosen = choose_partner(entries, Waiter("x", 9.0, None, None, "cx"), last, blocked)
    assert (chosen.user_id if chosen else None) == expected
