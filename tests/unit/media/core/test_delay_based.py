"""Send groups, trendline and overuse detector (the delay-based half of the estimator)."""

from __future__ import annotations

from liveloop_sfu.media.core.aimd import AimdRateControl
from liveloop_sfu.media.core.delay_based import (
    NORMAL,
    OVERUSE,
    THRESHOLD_INITIAL,
    THRESHOLD_MIN,
    UNDERUSE,
    OveruseDetector,
    SendGroups,
    Trendline,
)


def test_packets_within_5ms_form_one_group() -> None:
    groups = SendGroups()
    # Frame 1 at 0..4 ms, frame 2 at 33..36 ms, frame 3 at 66 ms.
    assert groups.add(0, 1_000_000) is None
    assert groups.add(4_000, 1_002_000) is None
    assert groups.add(33_000, 1_040_000) is None  # closes group 1 (no previous: no delta)
    assert groups.add(36_000, 1_043_000) is None
    delta = groups.add(66_000, 1_075_000)  # closes group 2: compared with group 1
    assert delta == 1_043_000 - 1_002_000
    assert groups.send_delta_us == 36_000 - 4_000


def test_a_reordered_packet_is_ignored() -> None:
    groups = SendGroups()
    groups.add(0, 0)
    groups.add(33_000, 33_000)
    assert groups.add(10_000, 40_000) is None  # sent before the current group began
    assert groups.add(66_000, 66_000) == 33_000


def test_a_long_pause_starts_afresh() -> None:
    groups = SendGroups()
    groups.add(0, 0)
    groups.add(33_000, 33_000)
    assert groups.add(10_000_000, 10_000_000) == 33_000  # closes the group sent at 33 ms
    assert groups.add(10_033_000, 10_033_000) is None  # 10 s of silence: nothing to compare
    assert groups.add(10_066_000, 10_066_000) == 33_000


def _trend(growth_ms: float, n: int = 40) -> float:
    trendline = Trendline()
    trend = 0.0
    for i in range(n):
        trend = trendline.update(i * 33_000, growth_ms)
    return trend


def test_trend_is_positive_while_a_queue_grows_and_flat_when_not() -> None:
    assert _trend(0.0) == 0.0
    assert _trend(4.0) > THRESHOLD_INITIAL  # 4 ms more queue per frame: overuse territory
    assert _trend(-4.0) < -THRESHOLD_INITIAL


def test_overuse_needs_time_and_a_growing_trend() -> None:
    detector = OveruseDetector()
    assert detector.detect(30.0, 33_000, 0) == NORMAL  # once is not enough
    assert detector.detect(31.0, 33_000, 33_000) == OVERUSE
    assert detector.detect(-30.0, 33_000, 66_000) == UNDERUSE
    assert detector.detect(0.0, 33_000, 99_000) == NORMAL


def test_threshold_adapts_to_a_noisy_path() -> None:
    detector = OveruseDetector()
    for i in range(300):  # a persistent small trend, below the threshold: it comes down
        detector.detect(2.0, 33_000, i * 33_000)
    assert detector.threshold == THRESHOLD_MIN
    start = detector.threshold
    for i in range(300, 600):  # jitter just above it: the threshold follows upwards, slowly
        detector.detect(10.0 if i % 2 else -10.0, 33_000, i * 33_000)
    assert start < detector.threshold <= 10.0


def test_aimd_decreases_under_acked_and_grows_about_8_percent_a_second() -> None:
    aimd = AimdRateControl(1_000_000)
    assert aimd.update(OVERUSE, 800_000, 0) == 0.85 * 800_000
    assert aimd.update(UNDERUSE, 800_000, 100_000) == 0.85 * 800_000  # hold
    rate = aimd.rate
    for t in range(1, 11):  # 1 s of normal, far above the capacity just measured
        aimd.update(NORMAL, 2_000_000, 100_000 + t * 100_000)
    assert 1.03 * rate < aimd.rate < 1.12 * rate


def test_aimd_increases_stop_at_one_and_a_half_times_acked_and_never_lower_the_rate() -> None:
    aimd = AimdRateControl(700_000)
    assert aimd.update(NORMAL, 500_000, 0) == 700_000
    assert aimd.update(NORMAL, 500_000, 1_000_000) == 700_000 * 1.08  # under 760 kbit/s
    assert aimd.update(NORMAL, 500_000, 2_000_000) == 1.5 * 500_000 + 10_000  # stopped there
    # A sender using far less than it may (an undershooting encoder) lowers nothing.
    assert aimd.update(NORMAL, 100_000, 3_000_000) == 1.5 * 500_000 + 10_000
