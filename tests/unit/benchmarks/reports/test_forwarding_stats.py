"""The forwarding benchmark's arithmetic: percentiles, slopes, /proc CPU, RTP counters, points."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks.reports.forwarding import (
    bottleneck,
    comparison,
    point_from_windows,
    summarize,
    summary_lines,
)
from benchmarks.reports.stats import (
    RtpStreamCounter,
    StreamSnapshot,
    cpu_percent,
    cpu_ticks,
    fit_line,
    percentile,
    seq_unwrap,
)
from benchmarks.suites.forwarding import split_calls


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([], 50, None),
        ([7.0], 99, 7.0),
        ([1.0, 2.0, 3.0, 4.0], 0, 1.0),
        ([1.0, 2.0, 3.0, 4.0], 100, 4.0),
        ([4.0, 1.0, 3.0, 2.0], 50, 2.5),  # unsorted input; midway between 2 and 3
        ([1.0, 2.0, 3.0, 4.0, 5.0], 25, 2.0),
        ([0.0, 10.0], 99, 9.9),
        (list(map(float, range(101))), 99, 99.0),
    ],
)
def test_percentile_interpolates_linearly(
    values: list[float], q: float, expected: float | None
) -> None:
    assert percentile(values, q) == pytest.approx(expected)


@pytest.mark.parametrize("q", [-1.0, 100.5])
def test_percentile_rejects_out_of_range(q: float) -> None:
    with pytest.raises(ValueError, match=r"within 0\.\.100"):
        percentile([1.0], q)


@pytest.mark.parametrize(
    ("xs", "ys", "slope", "intercept", "r2"),
    [
        # fixed cost 5 % + 1.5 % per stream, exactly on the line
        ([2, 4, 8], [8.0, 11.0, 17.0], 1.5, 5.0, 1.0),
        # two points define the line
        ([340, 680], [70_000.0, 102_000.0], 94.117647, 38_000.0, 1.0),
        # noisy: least squares through (1,1) (2,3) (3,2)
        ([1, 2, 3], [1.0, 3.0, 2.0], 0.5, 1.0, 0.25),
        # flat line: no variance in y counts as a perfect fit
        ([1, 2, 3], [4.0, 4.0, 4.0], 0.0, 4.0, 1.0),
    ],
)
def test_fit_line(
    xs: list[float], ys: list[float], slope: float, intercept: float, r2: float
) -> None:
    line = fit_line(xs, ys)
    assert line is not None
    assert line.slope == pytest.approx(slope)
    assert line.intercept == pytest.approx(intercept)
    assert line.r2 == pytest.approx(r2)
    assert line.points == len(xs)


@pytest.mark.parametrize(("xs", "ys"), [([], []), ([2], [5.0]), ([4, 4], [1.0, 2.0])])
def test_fit_line_needs_two_distinct_x(xs: list[float], ys: list[float]) -> None:
    assert fit_line(xs, ys) is None


def test_fit_line_rejects_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        fit_line([1, 2], [1.0])


STAT_LINE = (
    "4242 (python -m x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 "
    "150 25 0 0 20 0 3 0 12345 1000000 2000 18446744073709551615"
)


@pytest.mark.parametrize(
    ("text", "ticks"),
    [
        (STAT_LINE, 175),
        # a comm with spaces and a closing parenthesis inside it
        (STAT_LINE.replace("(python -m x)", "(a) b (c))"), 175),
    ],
)
def test_cpu_ticks_reads_utime_plus_stime(text: str, ticks: int) -> None:
    assert cpu_ticks(text) == ticks


@pytest.mark.parametrize("text", ["no parenthesis here", "1 (x) S 1 2"])
def test_cpu_ticks_rejects_other_text(text: str) -> None:
    with pytest.raises(ValueError, match="/proc"):
        cpu_ticks(text)


@pytest.mark.parametrize(
    ("ticks", "per_second", "seconds", "percent"),
    [(100, 100.0, 1.0, 100.0), (50, 100.0, 10.0, 5.0), (300, 100.0, 2.0, 150.0)],
)
def test_cpu_percent(ticks: int, per_second: float, seconds: float, percent: float) -> None:
    assert cpu_percent(ticks, per_second, seconds) == pytest.approx(percent)


@pytest.mark.parametrize(
    ("previous", "seq", "extended"),
    [
        (None, 65000, 65000),
        (65535, 0, 65536),  # forward wrap
        (65536, 65535, 65535),  # late packet from before the wrap
        (70000, 4500, 70_036),  # 70000 = 65536 + 4464: slightly ahead
        (131_072 + 10, 65530, 131_066),  # just before the second wrap
    ],
)
def test_seq_unwrap(previous: int | None, seq: int, extended: int) -> None:
    assert seq_unwrap(previous, seq) == extended


def test_stream_counter_counts_loss_across_a_wrap() -> None:
    counter = RtpStreamCounter()
    for seq in (65533, 65534, 0, 1, 3):  # 65535 and 2 lost
        counter.add(seq, 100, marker=seq == 3)
    assert counter.snapshot() == StreamSnapshot(packets=5, octets=500, frames=1, expected=7)
    assert counter.snapshot().lost == 2
    assert counter.snapshot().loss_fraction() == pytest.approx(2 / 7)


def test_snapshot_difference_describes_a_window() -> None:
    later, earlier = StreamSnapshot(300, 30_000, 30, 305), StreamSnapshot(100, 10_000, 10, 100)
    window = later.minus(earlier)
    assert window == StreamSnapshot(200, 20_000, 20, 205)
    assert window.lost == 5
    assert StreamSnapshot(3, 0, 0, 2).lost == 0  # duplicates never earn credit


@pytest.mark.parametrize(
    ("calls", "processes", "split"),
    [(1, 2, [1]), (2, 2, [1, 1]), (4, 2, [2, 2]), (5, 2, [3, 2]), (3, 1, [3]), (2, 0, [2])],
)
def test_split_calls(calls: int, processes: int, split: list[int]) -> None:
    assert split_calls(calls, processes) == split


def _receiver(video: int, expected: int, frames: int, latencies: list[float]) -> dict[str, Any]:
    return {
        "name": "r",
        "decodes": bool(latencies),
        "connection": "connected",
        "partner_left": 0,
        "keyframe_requests": 1,
        "decoded_total": len(latencies),
        "unreadable_total": 0,
        "latencies": latencies,
        "video": {"packets": video, "expected": expected, "frames": frames, "octets": 125_000},
        "audio": {"packets": 50, "expected": 50, "frames": 50, "octets": 5_000},
        "rtx": {"packets": 2, "expected": 2, "frames": 0, "octets": 2_000},
    }


def test_point_from_windows_folds_receivers() -> None:
    window = {
        "seconds": 1.0,
        "receivers": [_receiver(120, 120, 30, [0.001, 0.003]), _receiver(110, 120, 28, [])],
    }
    point = point_from_windows("sfu", 2, 1.0, 10.0, 20.0, [window])
    assert point.packets_per_s == pytest.approx(120 + 50 + 2 + 120 + 50 + 2)
    assert point.loss_pct == pytest.approx(100 * 10 / 340)
    assert (point.video_fps_mean, point.video_fps_min) == (29.0, 28.0)
    assert point.video_kbps_mean == pytest.approx(1000.0)
    assert point.latency_ms_p50 == pytest.approx(2.0)
    assert point.latency_samples == 2
    assert point.node_us_per_packet == pytest.approx(10.0 * 1e4 / 344)


def test_summary_slopes_and_ratio() -> None:
    def point(node: str, streams: int, cpu: float) -> Any:
        window = {"seconds": 1.0, "receivers": [_receiver(120, 120, 30, [])] * streams}
        return point_from_windows(node, streams, 1.0, cpu, 0.0, [window])

    points = [point("sfu", 2, 6.0), point("sfu", 4, 9.0), point("relay", 2, 40.0)]
    points.append(point("relay", 4, 70.0))
    sfu, relay = summarize("sfu", points), summarize("relay", points)
    assert sfu.cpu_pct_per_stream is not None and sfu.cpu_pct_per_stream.slope == 1.5
    assert relay.cpu_pct_per_stream is not None and relay.cpu_pct_per_stream.slope == 15.0
    # 2 extra streams = 344 extra packets/s and 3 % of a core = 30000 µs/s
    assert sfu.us_per_packet is not None
    assert sfu.us_per_packet.slope == pytest.approx(30_000 / 344)
    compared = comparison({"sfu": sfu, "relay": relay}, points)
    assert compared is not None
    assert compared["per_stream_ratio_relay_over_sfu"] == pytest.approx(10.0)
    assert compared["targets"]["per_stream_ratio_met"] is True
    assert compared["targets"]["us_per_packet_met"] is None  # no Janus in this run
    assert compared["whole_node_cpu_ratio_by_streams"]["2"] == pytest.approx(40 / 6)


def test_janus_ratio_is_sfu_over_janus_per_packet() -> None:
    def point(node: str, streams: int, cpu: float) -> Any:
        window = {"seconds": 1.0, "receivers": [_receiver(120, 120, 30, [])] * streams}
        return point_from_windows(node, streams, 1.0, cpu, 0.0, [window])

    points = [point("sfu", 2, 6.0), point("sfu", 4, 9.0)]
    points += [point("janus", 2, 4.0), point("janus", 4, 6.0)]
    summaries = {kind: summarize(kind, points) for kind in ("sfu", "janus")}
    compared = comparison(summaries, points)
    assert compared is not None
    assert compared["per_packet_ratio_sfu_over_janus"] == pytest.approx(1.5)
    assert compared["per_stream_ratio_sfu_over_janus"] == pytest.approx(1.5)
    assert compared["targets"]["us_per_packet_met"] is False
    assert compared["per_stream_ratio_relay_over_sfu"] is None
    assert comparison({"janus": summaries["janus"]}, points) is None


def _point(node: str, streams: int, cpu: float, fps_frames: int = 30, clients: float = 0.0) -> Any:
    window = {"seconds": 1.0, "receivers": [_receiver(120, 120, fps_frames, [])] * streams}
    return point_from_windows(node, streams, 1.0, cpu, clients, [window])


@pytest.mark.parametrize(
    ("frames", "video_packets", "saturated"),
    [(30, 120, False), (27, 120, False), (26, 120, True), (30, 100, True)],  # 100/120: 11 % loss
)
def test_saturation(frames: int, video_packets: int, saturated: bool) -> None:
    window = {"seconds": 1.0, "receivers": [_receiver(video_packets, 120, frames, [])]}
    assert point_from_windows("relay", 2, 1.0, 50.0, 10.0, [window]).saturated is saturated


def test_saturated_points_stay_out_of_the_fit_when_two_others_remain() -> None:
    points = [_point("relay", 2, 40.0), _point("relay", 4, 70.0), _point("relay", 8, 110.0, 11)]
    summary = summarize("relay", points)
    assert summary.fitted_streams == (2, 4)
    assert summary.cpu_pct_per_stream is not None
    assert summary.cpu_pct_per_stream.slope == pytest.approx(15.0)
    # with fewer than two unsaturated stream counts, every point counts (and the JSON says so)
    assert summarize("relay", points[1:]).fitted_streams == (4, 8)


@pytest.mark.parametrize(
    ("cpu", "frames", "clients", "verdict"),
    [
        (50.0, 30, 30.0, "keeps up"),
        (120.0, 11, 70.0, "SATURATED by the machine"),
        (98.0, 11, 20.0, "SATURATED by the node"),
        (40.0, 11, 20.0, "SATURATED by neither"),
    ],
)
def test_bottleneck(cpu: float, frames: int, clients: float, verdict: str) -> None:
    assert verdict in bottleneck(_point("relay", 8, cpu, frames, clients), cores=2)


def test_idle_node_point_anchors_the_fit() -> None:
    idle = point_from_windows("relay", 0, 8.0, 2.0, 0.0, [])
    assert (idle.saturated, idle.packets_per_s, idle.node_us_per_packet) == (False, 0.0, None)
    points = [idle, _point("relay", 2, 32.0), _point("relay", 4, 60.0, 15)]
    summary = summarize("relay", points)
    assert summary.fitted_streams == (0, 2)
    assert summary.cpu_pct_per_stream is not None
    assert summary.cpu_pct_per_stream.slope == pytest.approx(15.0)
    assert summary.cpu_pct_per_stream.intercept == pytest.approx(2.0)


def test_no_janus_ratio_from_a_saturated_fit() -> None:
    def point(node: str, streams: int, cpu: float, frames: int) -> Any:
        window = {"seconds": 1.0, "receivers": [_receiver(120, 120, frames, [])] * streams}
        return point_from_windows(node, streams, 1.0, cpu, 0.0, [window])

    points = [point("sfu", 16, 17.0, 21), point("sfu", 24, 24.0, 14)]  # both saturated
    points += [point("janus", 16, 19.0, 30), point("janus", 24, 31.0, 30)]
    summaries = {kind: summarize(kind, points) for kind in ("sfu", "janus")}
    assert summaries["sfu"].saturated_in_fit and not summaries["janus"].saturated_in_fit
    compared = comparison(summaries, points)
    assert compared is not None
    assert compared["per_packet_ratio_sfu_over_janus"] is None
    assert compared["targets"]["us_per_packet_met"] is None
    lines = summary_lines(list(summaries.values()), compared)
    assert "INCLUDING SATURATED POINTS" in lines[0]
    assert lines[-1].endswith("(target < 1: n/a (a fit includes saturated points))")


def test_summary_lines_name_streams_per_core_and_the_janus_ratio() -> None:
    def point(node: str, streams: int, cpu: float) -> Any:
        window = {"seconds": 1.0, "receivers": [_receiver(120, 120, 30, [])] * streams}
        return point_from_windows(node, streams, 1.0, cpu, 0.0, [window])

    points = [point("sfu", 2, 6.0), point("sfu", 4, 10.0)]
    points += [point("janus", 2, 4.0), point("janus", 4, 6.0)]
    summaries = [summarize(kind, points) for kind in ("sfu", "janus")]
    lines = summary_lines(summaries, comparison({s.node: s for s in summaries}, points))
    assert "≈ 50 streams per core" in lines[0]  # 2 % of a core per stream
    assert "≈ 100 streams per core" in lines[1]
    assert lines[-1].startswith("µs per packet: sfu") and "sfu ÷ janus 2.00" in lines[-1]
