"""Pausing unused simulcast layers at the publisher: the pure rule (time as a parameter)."""

from __future__ import annotations

from liveloop_sfu.media.sfu.layer_pauses import PAUSE_AFTER, RESUME_GRACE, TrackPauses

Q, H, F = 0, 1, 2
RATES = {Q: 150_000, H: 500_000, F: 1_400_000}


def heard(pauses: TrackPauses, now: float, silent: frozenset[int] = frozenset()) -> list[int]:
    """The allocation's view of the three layers, each measured at its rate unless silent."""
    return [pauses.bitrate(now, i, 0 if i in silent else RATES[i]) for i in (Q, H, F)]


def test_a_layer_nobody_is_given_is_paused_after_a_few_seconds_and_resumed_on_demand() -> None:
    pauses = TrackPauses(3, now=0.0)
    heard(pauses, 0.0)
    assert not pauses.update(1.0, {Q}, keep=Q)
    assert not pauses.update(PAUSE_AFTER - 0.1, {Q}, keep=Q)
    assert pauses.update(PAUSE_AFTER, {Q}, keep=Q)
    assert pauses.paused == [False, True, True] and pauses.count == 2
    # Paused, its encoder stops: the allocation still counts the rate it had.
    assert heard(pauses, 10.0, silent=frozenset({H, F})) == [150_000, 500_000, 1_400_000]
    # Someone is given f again: resumed at once, h stays paused.
    assert pauses.update(10.0, {Q, F}, keep=Q)
    assert pauses.paused == [False, True, False]
    # Not heard yet: still available for a grace; silent after it, it is gone for real.
    assert heard(pauses, 10.0 + RESUME_GRACE - 0.1, silent=frozenset({H, F}))[F] == 1_400_000
    assert heard(pauses, 10.0 + RESUME_GRACE, silent=frozenset({H, F}))[F] == 0


def test_being_given_a_layer_now_and_then_keeps_it_running() -> None:
    pauses = TrackPauses(3, now=0.0)
    heard(pauses, 0.0)
    for step in range(1, 20):
        now = step * (PAUSE_AFTER / 2)
        assert not pauses.update(now, {Q, F} if step % 2 else {Q, H}, keep=Q)
    assert pauses.count == 0


def test_the_smallest_layer_and_layers_never_heard_are_not_paused() -> None:
    pauses = TrackPauses(3, now=0.0)
    pauses.bitrate(0.0, Q, RATES[Q])  # only q was ever heard
    assert not pauses.update(PAUSE_AFTER * 2, set(), keep=Q)
    assert pauses.count == 0
    pauses.bitrate(7.0, H, RATES[H])
    assert pauses.update(7.0 + PAUSE_AFTER, set(), keep=Q)
    assert pauses.paused == [False, True, False]


def test_a_paused_smallest_layer_is_resumed_when_it_becomes_the_one_kept() -> None:
    pauses = TrackPauses(3, now=0.0)
    heard(pauses, 0.0)
    assert pauses.update(PAUSE_AFTER, {F}, keep=H)  # q was not the smallest heard then
    assert pauses.paused == [True, False, False]
    assert pauses.update(PAUSE_AFTER + 1, {F}, keep=Q)
    assert pauses.count == 0
