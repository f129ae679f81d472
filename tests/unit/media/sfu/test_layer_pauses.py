"""Pausing unused simulcast layers at the publisher: the pure rule (time as a parameter)."""

from __future__ import annotations

from liveloop_sfu.media.sfu.layer_pauses import PAUSE_AFTER, RESUME_GRACE, WATCH_GAP, TrackPauses

Q, H, F = 0, 1, 2
RATES = {Q: 150_000, H: 500_000, F: 1_400_000}
STEP = 0.1  # the allocation's interval


def heard(pauses: TrackPauses, now: float, silent: frozenset[int] = frozenset()) -> list[int]:
    """The allocation's view of the three layers, each measured at its rate unless silent."""
    return [pauses.bitrate(now, i, 0 if i in silent else RATES[i]) for i in (Q, H, F)]


def watch(pauses: TrackPauses, start: float, end: float, wanted: set[int], keep: int) -> bool:
    """Updates every STEP from ``start`` to ``end`` (both included), as the allocation does;
    whether the paused set changed on the way."""
    changed = False
    for n in range(round((end - start) / STEP) + 1):
        changed |= pauses.update(start + n * STEP, wanted, keep)
    return changed


def test_a_layer_nobody_is_given_is_paused_after_a_few_seconds_and_resumed_on_demand() -> None:
    pauses = TrackPauses(3, now=0.0)
    heard(pauses, 0.0)
    assert not watch(pauses, 0.0, PAUSE_AFTER - STEP, {Q}, keep=Q)
    assert pauses.update(PAUSE_AFTER, {Q}, keep=Q)
    assert pauses.paused == [False, True, True] and pauses.count == 2
    # Paused, its encoder stops: the allocation still counts the rate it had.
    assert heard(pauses, 10.0, silent=frozenset({H, F})) == [150_000, 500_000, 1_400_000]
    # Someone is given f again: resumed at once, h stays paused.
    assert not watch(pauses, PAUSE_AFTER + STEP, 10.0 - STEP, {Q}, keep=Q)
    assert pauses.update(10.0, {Q, F}, keep=Q)
    assert pauses.paused == [False, True, False]
    # Not heard yet: still available for a grace; silent after it, it is gone for real.
    assert heard(pauses, 10.0 + RESUME_GRACE - 0.1, silent=frozenset({H, F}))[F] == 1_400_000
    assert heard(pauses, 10.0 + RESUME_GRACE, silent=frozenset({H, F}))[F] == 0


def test_being_given_a_layer_now_and_then_keeps_it_running() -> None:
    pauses = TrackPauses(3, now=0.0)
    heard(pauses, 0.0)
    half = PAUSE_AFTER / 2
    for step in range(20):
        wanted = {Q, F} if step % 2 else {Q, H}
        assert not watch(pauses, step * half, (step + 1) * half - STEP, wanted, keep=Q)
    assert pauses.count == 0


def test_the_smallest_layer_and_layers_never_heard_are_not_paused() -> None:
    pauses = TrackPauses(3, now=0.0)
    pauses.bitrate(0.0, Q, RATES[Q])  # only q was ever heard
    assert not watch(pauses, 0.0, PAUSE_AFTER * 2, set(), keep=Q)
    assert pauses.count == 0
    pauses.bitrate(PAUSE_AFTER * 2, H, RATES[H])
    assert watch(pauses, PAUSE_AFTER * 2 + STEP, PAUSE_AFTER * 3, set(), keep=Q)
    assert pauses.paused == [False, True, False]


def test_a_paused_smallest_layer_is_resumed_when_it_becomes_the_one_kept() -> None:
    pauses = TrackPauses(3, now=0.0)
    heard(pauses, 0.0)
    assert watch(pauses, 0.0, PAUSE_AFTER, {F}, keep=H)  # q was not the smallest heard then
    assert pauses.paused == [True, False, False]
    assert pauses.update(PAUSE_AFTER + STEP, {F}, keep=Q)
    assert pauses.count == 0


def test_a_gap_in_watching_is_not_counted_as_unwanted_time() -> None:
    # The publisher went silent (or the node was stopped): nobody judged its layers meanwhile.
    pauses = TrackPauses(3, now=0.0)
    heard(pauses, 0.0)
    assert not watch(pauses, 0.0, 1.0, {Q, F}, keep=Q)
    later = 1.0 + WATCH_GAP + 10.0
    assert not watch(pauses, later, later + PAUSE_AFTER - STEP, {Q, F}, keep=Q)
    assert pauses.update(later + PAUSE_AFTER, {Q, F}, keep=Q)
    assert pauses.paused == [False, True, False]


def test_a_resumed_layer_counts_at_its_old_rate_while_its_encoder_ramps_up() -> None:
    pauses = TrackPauses(3, now=0.0)
    heard(pauses, 0.0)
    assert watch(pauses, 0.0, PAUSE_AFTER, {Q, F}, keep=Q)  # h paused
    resumed = PAUSE_AFTER + 1.0
    assert pauses.update(resumed, {Q, H, F}, keep=Q)
    # Its first packets come at a fraction of its rate: still counted at what it sent before.
    assert pauses.bitrate(resumed + 0.5, H, 30_000) == RATES[H]
    # Once past the grace, what it sends is what counts, and is remembered.
    assert pauses.bitrate(resumed + RESUME_GRACE, H, 450_000) == 450_000
    assert pauses.bitrate(resumed + RESUME_GRACE + 0.1, H, 0) == 0
