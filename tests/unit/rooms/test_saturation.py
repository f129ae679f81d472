"""The admission decision from the node's self-measurement (rooms/saturation.py): hot and cool
windows, the hysteresis in thresholds and counts, and the limits that are off."""

from __future__ import annotations

import pytest

from liveloop_sfu.rooms.saturation import CPU, LAG, Limits, Saturation, Window, percentile

LIMITS = Limits(lag_s=0.05, cpu=0.9, enter_after=3, leave_after=5)
QUIET = Window(lag_p95_s=0.002, lag_max_s=0.004, loop_cpu=0.2, process_cpu=0.1)
LAGGING = Window(lag_p95_s=0.12, lag_max_s=0.3, loop_cpu=0.4, process_cpu=0.2)
BUSY = Window(lag_p95_s=0.01, lag_max_s=0.02, loop_cpu=0.95, process_cpu=0.5)
# Below the limits but not well below them: neither hot nor cool.
WARM = Window(lag_p95_s=0.04, lag_max_s=0.06, loop_cpu=0.8, process_cpu=0.4)


def feed(saturation: Saturation, *windows: Window) -> list[str | None]:
    out = []
    for window in windows:
        saturation.observe(window)
        out.append(saturation.refusing)
    return out


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 0.95) == 0.0
    assert percentile([3.0], 0.95) == 3.0
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.95) == 95.0
    assert percentile(values, 0.5) == 50.0
    assert percentile(list(reversed(values)), 1.0) == 100.0


def test_refuses_after_enough_hot_windows_in_a_row() -> None:
    saturation = Saturation(LIMITS)
    assert feed(saturation, LAGGING, LAGGING) == [None, None]
    assert saturation.observe(LAGGING) is True
    assert saturation.refusing == LAG


def test_a_single_slow_window_refuses_nobody() -> None:
    saturation = Saturation(LIMITS)
    # Hot, hot, quiet, hot, hot: never three in a row.
    assert feed(saturation, LAGGING, BUSY, QUIET, LAGGING, BUSY) == [None] * 5


def test_lag_of_a_nearly_idle_loop_is_other_work_not_ours() -> None:
    starved = Window(lag_p95_s=0.2, lag_max_s=0.5, loop_cpu=0.05, process_cpu=0.03)
    saturation = Saturation(LIMITS)
    assert feed(saturation, starved, starved, starved, starved) == [None] * 4
    # It does not count as cool either: a node refusing stays so while starved.
    feed(saturation, LAGGING, LAGGING, LAGGING)
    assert feed(saturation, *[starved] * 6) == [LAG] * 6


def test_cpu_of_the_loop_thread_or_of_the_process_is_a_reason() -> None:
    saturation = Saturation(LIMITS)
    feed(saturation, BUSY, BUSY, BUSY)
    assert saturation.refusing == CPU
    process_full = Window(lag_p95_s=0.001, lag_max_s=0.001, loop_cpu=0.5, process_cpu=0.92)
    other = Saturation(LIMITS)
    feed(other, process_full, process_full, process_full)
    assert other.refusing == CPU


def test_takes_calls_again_only_after_enough_cool_windows() -> None:
    saturation = Saturation(LIMITS)
    feed(saturation, LAGGING, LAGGING, LAGGING)
    # Warm windows (below the limits, not well below) keep it refusing: threshold hysteresis.
    assert feed(saturation, WARM, WARM, WARM, WARM, WARM, WARM) == [LAG] * 6
    # Four cool windows, one warm one: the count starts over.
    assert feed(saturation, QUIET, QUIET, QUIET, QUIET, WARM) == [LAG] * 5
    assert feed(saturation, QUIET, QUIET, QUIET, QUIET) == [LAG] * 4
    assert saturation.observe(QUIET) is True
    assert saturation.refusing is None
    # And entering again needs a fresh run of hot windows.
    assert feed(saturation, LAGGING, LAGGING) == [None, None]


def test_the_reason_follows_the_latest_hot_window() -> None:
    saturation = Saturation(LIMITS)
    feed(saturation, BUSY, BUSY, LAGGING)
    assert saturation.refusing == LAG
    feed(saturation, BUSY)
    assert saturation.refusing == CPU


def test_a_limit_of_zero_is_off() -> None:
    lag_only = Saturation(Limits(lag_s=0.05, cpu=0.0))
    assert feed(lag_only, BUSY, BUSY, BUSY, BUSY) == [None] * 4
    cpu_only = Saturation(Limits(lag_s=0.0, cpu=0.9))
    assert feed(cpu_only, LAGGING, LAGGING, LAGGING, LAGGING) == [None] * 4
    off = Saturation(Limits(lag_s=0.0, cpu=0.0))
    assert not off.enabled
    assert lag_only.enabled and cpu_only.enabled


def test_limits_are_checked() -> None:
    with pytest.raises(ValueError, match="cpu within"):
        Limits(cpu=1.5)
    with pytest.raises(ValueError, match="lag >= 0"):
        Limits(lag_s=-1)
    with pytest.raises(ValueError, match="at least one window"):
        Limits(enter_after=0)
