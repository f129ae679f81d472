"""When a subscriber's downlink is probed, and at what rate."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from liveloop_sfu.media.sfu.probe_schedule import (
    AFTER_CONGESTION,
    AFTER_SUCCESS,
    FIRST_BACKOFF,
    MAX_BACKOFF,
    MAX_STEP,
    NEED_MARGIN,
    ProbeSchedule,
)

NOW = 100.0
CALM = NOW - AFTER_CONGESTION - 1  # the last congestion, long enough ago


@pytest.mark.parametrize(
    ("estimate", "need", "last_congestion", "expected"),
    [
        (None, 800_000, CALM, None),  # no limit: nothing to probe (every 1:1 call)
        (400_000, None, CALM, None),  # nothing held back
        (400_000, 400_000, CALM, None),  # the need fits already
        (400_000, 450_000, CALM, round(450_000 * NEED_MARGIN)),  # the next step, with margin
        (400_000, 3_000_000, CALM, round(400_000 * MAX_STEP)),  # never far above the estimate
        (400_000, 500_000, NOW - 1.0, None),  # a queue just overflowed: wait
    ],
)
def test_target(
    estimate: int | None, need: int | None, last_congestion: float, expected: int | None
) -> None:
    assert ProbeSchedule().target(NOW, estimate, need, last_congestion) == expected


def test_one_probe_at_a_time() -> None:
    schedule = ProbeSchedule()
    schedule.started()
    assert schedule.target(NOW, 400_000, 500_000, CALM) is None


def test_after_a_success_the_next_step_follows_soon() -> None:
    schedule = ProbeSchedule()
    schedule.started()
    schedule.finished(NOW, ok=True)
    assert schedule.target(NOW + AFTER_SUCCESS - 0.01, 400_000, 500_000, CALM) is None
    assert schedule.target(NOW + AFTER_SUCCESS, 400_000, 500_000, CALM) is not None


def test_failures_back_off_exponentially_up_to_a_cap_and_a_success_resets() -> None:
    schedule = ProbeSchedule()
    waits = []
    now = NOW
    for _ in range(6):
        schedule.started()
        schedule.finished(now, ok=False)
        waits.append(schedule.next_at - now)
        now = schedule.next_at
    assert waits == [FIRST_BACKOFF, 2 * FIRST_BACKOFF, 4 * FIRST_BACKOFF] + [MAX_BACKOFF] * 3
    schedule.started()
    schedule.finished(now, ok=True)
    schedule.started()
    schedule.finished(now, ok=False)
    assert schedule.next_at - now == FIRST_BACKOFF


@given(
    estimate=st.integers(30_000, 50_000_000),
    need=st.integers(30_000, 50_000_000),
)
def test_a_probe_never_aims_above_the_need_with_its_margin_nor_far_above_the_estimate(
    estimate: int, need: int
) -> None:
    target = ProbeSchedule().target(NOW, estimate, need, CALM)
    if need <= estimate:
        assert target is None
    else:
        assert target is not None
        assert target <= need * NEED_MARGIN + 1
        assert target <= estimate * MAX_STEP + 1
        assert target > estimate
