"""The fan-out benchmark's arithmetic: stream counts per scenario, slopes, and one result."""

from __future__ import annotations

import pytest

from benchmarks.suites.fanout import Scenario, _result, slope


@pytest.mark.parametrize(
    ("scenario", "label", "people", "streams"),
    [
        (Scenario("fanout", 1), "1->1", 2, 2),
        (Scenario("fanout", 8), "1->8", 9, 16),
        (Scenario("mesh", 2), "2x2", 2, 4),
        (Scenario("mesh", 4), "4x4", 4, 24),
    ],
)
def test_scenarios(scenario: Scenario, label: str, people: int, streams: int) -> None:
    assert scenario.label == label
    assert scenario.publishers + scenario.subscribers == people
    assert scenario.forwarded_streams == streams


@pytest.mark.parametrize(
    ("points", "expected"),
    [
        ([(0, 1.0), (10, 3.0)], 0.2),
        ([(2, 4.0), (8, 7.0), (16, 11.0)], 0.5),
        ([(4, 1.0)], None),
        ([(4, 1.0), (4, 2.0)], None),
    ],
)
def test_slope(points: list[tuple[float, float]], expected: float | None) -> None:
    result = slope(points)
    assert result == (pytest.approx(expected) if expected is not None else None)


def test_result_from_a_window() -> None:
    window = {
        "seconds": 2.0,
        "receivers": [
            {"name": "m0", "video": {"packets": 200, "frames": 60, "streams": 0}},
            {
                "name": "m1",
                "audio": {"packets": 100},
                "video": {"packets": 200, "frames": 60, "streams": 1},
            },
            {
                "name": "m2",
                "audio": {"packets": 100},
                "video": {"packets": 200, "frames": 60, "streams": 1},
            },
        ],
    }
    result = _result(Scenario("fanout", 2), window, 2.0, cpu=5.0, idle=1.0)
    assert result.packets_per_s == 400.0  # 200 + 300 + 300 packets in 2 s
    assert result.video_fps == 45.0  # 180 frames / 2 s / 2 streams
    assert result.cpu_pct_per_stream == 1.0  # (5 - 1) / 4 streams
    assert result.cpu_us_per_packet == 100.0  # 0.04 s of CPU per second / 400 packets
