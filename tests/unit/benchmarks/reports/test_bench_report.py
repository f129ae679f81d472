"""Figures of ``liveloop-sfu bench``: timelines from ticks, node CPU, summaries, the knee."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks.reports.bench import (
    Interval,
    TargetSummary,
    admission_summary,
    bottleneck,
    knee,
    node_cpu,
    node_series,
    summarize_target,
    table,
    timeline,
)


def _tick(t: float, frames: int, packets: int, expected: int, receiving: int) -> dict[str, Any]:
    return {
        "t": t,
        "frames": frames,
        "packets": packets,
        "expected": expected,
        "receiving": receiving,
    }


def test_timeline_merges_processes_per_second() -> None:
    a = [_tick(100.0, 0, 0, 0, 0), _tick(101.0, 30, 100, 100, 1), _tick(102.0, 60, 200, 200, 1)]
    b = [_tick(100.5, 0, 0, 0, 0), _tick(101.5, 30, 90, 100, 1), _tick(102.0, 60, 180, 200, 1)]
    intervals = timeline([a, b], start=100.0)
    assert intervals == [
        Interval(t=1.0, fps=30.0, loss_pct=0.0, packets_per_s=100.0, receiving=1),
        # b's tick at 101.5 counts in the second interval: 30 + 60 frames over 2 streams
        Interval(t=2.0, fps=45.0, loss_pct=100.0 * 20 / 300, packets_per_s=300.0, receiving=2),
    ]


def test_timeline_without_receivers_has_no_fps() -> None:
    intervals = timeline([[_tick(0.0, 0, 0, 0, 0), _tick(1.0, 0, 0, 0, 0)]], start=0.0)
    assert intervals == [Interval(1.0, None, None, 0.0, 0)]
    assert timeline([[]], start=0.0) == []


@pytest.mark.parametrize(
    ("window", "expected"),
    [((0.0, 10.0), 25.0), ((2.0, 4.0), 25.0), ((0.0, 0.5), None), ((20.0, 30.0), None)],
)
def test_node_cpu_over_a_window(window: tuple[float, float], expected: float | None) -> None:
    samples = [(float(t), 0.25 * t, 1000) for t in range(11)]  # a quarter core, steadily
    assert node_cpu(samples, *window) == expected


def test_node_series_in_percent_and_megabytes() -> None:
    series = node_series([(10.0, 1.0, 50_000_000), (12.0, 2.0, 60_000_000)], start=10.0)
    assert series == [{"t": 2.0, "cpu_pct": 50.0, "rss_mb": 60.0}]


def _record(frames: int, seconds: float, expected: int, received: int, **extra: Any) -> Any:
    return {
        "match_s": 0.01,
        "setup_s": 0.1,
        "seconds": seconds,
        "video_streams": 1,
        "video_frames": frames,
        "video_packets": received,
        "video_expected": expected,
        "audio_packets": 50,
        "audio_expected": 50,
        "jitter_ms": 1.0,
        "rtt_ms": 2.0,
        "latencies_ms": [1.0, 3.0],
        **extra,
    }


def _summary(records: list[Any], cpu: float | None = 20.0, **extra: Any) -> TargetSummary:
    steady = [Interval(float(t), 30.0, 0.0, 1000.0, 2) for t in range(1, 11)]
    arguments: dict[str, Any] = {
        "target": "sfu",
        "scenario": "steady",
        "clients": 4,
        "streams": 4,
        "records": records,
        "errors": 0,
        "intervals": steady,
        "window": (2.0, 9.0),
        "node_cpu_pct": cpu,
        "node_rss_mb_max": 90.0,
        "clients_cpu_pct": 30.0,
        "cores": 2,
        "published_fps": 30.0,
        "forwards": True,
    }
    return summarize_target(**{**arguments, **extra})


def test_summary_of_a_healthy_run() -> None:
    summary = _summary([_record(300, 10.0, 1000, 1000), _record(290, 10.0, 1000, 995)])
    assert summary.healthy
    assert summary.calls == 2
    assert summary.fps["p50"] == pytest.approx(29.5)
    assert summary.loss_pct == pytest.approx(100 * 5 / 2100)
    assert summary.packets_per_s == 1000.0
    assert summary.us_per_packet == pytest.approx(200.0)  # 20 % of a core = 200000 µs/s
    assert summary.streams_per_core == pytest.approx(20.0)
    assert summary.latency_ms["count"] == 4
    assert summary.bottleneck.startswith("none")


def test_group_fps_is_per_received_stream() -> None:
    summary = _summary([_record(600, 10.0, 2000, 2000, video_streams=2)])
    assert summary.fps["p50"] == pytest.approx(30.0)


@pytest.mark.parametrize(
    ("records", "errors", "why"),
    [
        ([_record(300, 10.0, 1000, 980)], 0, "loss above 1 %"),
        ([_record(200, 10.0, 1000, 1000)], 0, "median call at 20 fps"),
        ([_record(300, 10.0, 1000, 1000)], 1, "an error"),
    ],
)
def test_unhealthy_runs(records: list[Any], errors: int, why: str) -> None:
    summary = _summary(records, errors=errors)
    assert not summary.healthy, why
    assert summary.streams_per_core is None


def test_a_run_where_every_user_failed_names_no_bottleneck() -> None:
    summary = _summary([], errors=8, cpu=None)
    assert not summary.healthy
    assert summary.bottleneck == "none measured: no call was set up (see the errors)"


def test_p2p_forwards_nothing() -> None:
    summary = _summary([_record(300, 10.0, 1000, 1000)], cpu=1.0, forwards=False)
    assert summary.streams == 0 and summary.us_per_packet is None


@pytest.mark.parametrize(
    ("healthy", "node", "clients", "verdict"),
    [
        (True, 90.0, 100.0, "none"),
        (False, 60.0, 120.0, "the clients"),
        (False, 95.0, 20.0, "the node (near a full core"),
        (False, 80.0, 60.0, "unclear"),
        (False, 100.0, 80.0, "the node (the machine is full"),
        (False, 137.0, 48.0, "the node (the machine is full"),
        (False, 84.0, 90.0, "the clients"),
    ],
)
def test_bottleneck(healthy: bool, node: float, clients: float, verdict: str) -> None:
    assert bottleneck(healthy, node, clients, cores=2).startswith(verdict)


def test_bottleneck_on_a_busy_shared_machine() -> None:
    verdict = bottleneck(False, 45.0, 13.0, cores=2, load_average=14.0)
    assert verdict == "other work on the machine (load average 14.0 on 2 cores)"
    assert bottleneck(False, 45.0, 13.0, cores=2, load_average=2.5).startswith("unclear")


def test_knee_stops_at_the_first_unhealthy_step_and_fits_the_healthy_ones() -> None:
    def step(clients: int, cpu: float, healthy_fps: int) -> TargetSummary:
        records = [_record(healthy_fps * 10, 10.0, 1000, 1000)]
        steady = [
            Interval(float(t), float(healthy_fps), 0.0, 170.0 * clients, 2) for t in range(11)
        ]
        return _summary(records, cpu=cpu, clients=clients, streams=clients, intervals=steady)

    steps = [step(2, 5.0, 30), step(4, 9.0, 30), step(8, 17.0, 30), step(12, 60.0, 20)]
    result = knee("sfu", steps)
    assert (result.healthy_clients, result.healthy_streams) == (8, 8)
    assert result.first_unhealthy_clients == 12
    assert result.cpu_pct_per_stream is not None
    assert result.cpu_pct_per_stream.slope == pytest.approx(2.0)
    assert result.streams_per_core == pytest.approx(50.0)
    assert result.us_per_packet is not None
    assert result.us_per_packet.slope == pytest.approx(20_000 / 170)  # 2 % per stream of 170 pkts/s
    assert result.to_json()["cpu_pct_per_stream"]["slope"] == pytest.approx(2.0)


def test_knee_fits_nothing_from_a_single_healthy_step() -> None:
    good = _summary([_record(300, 10.0, 1000, 1000)], node_idle_cpu_pct=0.5)
    bad = _summary([_record(100, 10.0, 1000, 1000)], clients=8, streams=8)
    result = knee("sfu", [good, bad])
    assert (result.healthy_clients, result.first_unhealthy_clients) == (4, 8)
    assert result.cpu_pct_per_stream is None and result.us_per_packet is None


def test_knee_with_no_healthy_step() -> None:
    bad = _summary([_record(100, 10.0, 1000, 1000)])
    result = knee("relay", [bad])
    assert result.healthy_clients is None and result.first_unhealthy_clients == 4
    assert result.cpu_pct_per_stream is None and result.streams_per_core is None


def test_table_has_a_row_per_summary() -> None:
    rows = table([_summary([_record(300, 10.0, 1000, 1000)]), _summary([], errors=2)])
    lines = rows.splitlines()
    assert len(lines) == 4 and lines[0].startswith("target")
    assert lines[2].startswith("sfu") and "UNHEALTHY" not in lines[2]
    assert lines[3].endswith("UNHEALTHY")


def test_knee_anchors_the_fit_with_the_idle_node() -> None:
    def step(clients: int, cpu: float) -> TargetSummary:
        steady = [Interval(float(t), 30.0, 0.0, 170.0 * clients, 2) for t in range(11)]
        return _summary(
            [_record(300, 10.0, 1000, 1000)],
            cpu=cpu,
            clients=clients,
            streams=clients,
            intervals=steady,
            node_idle_cpu_pct=1.0,
        )

    result = knee("janus", [step(2, 5.0), step(4, 9.0)])  # 1 % idle + 2 % per stream
    assert result.cpu_pct_per_stream is not None
    assert result.cpu_pct_per_stream.slope == pytest.approx(2.0)
    assert result.cpu_pct_per_stream.intercept == pytest.approx(1.0)
    assert result.cpu_pct_per_stream.points == 4


def test_users_refused_by_admission_are_not_a_quality_failure() -> None:
    good = [_record(300, 10.0, 1000, 1000)]
    # Two refused with capacity, one left without a partner by a refusal: the calls the node
    # took are healthy, and the bottleneck line says the node's admission stopped the rest.
    summary = _summary(good, errors=3, refused=2, stranded=1)
    assert summary.healthy and (summary.refused, summary.stranded) == (2, 1)
    assert summary.bottleneck.startswith("the node's admission (2 user(s) refused")
    # Without a refusal, a user left without a call is a failure as before.
    assert not _summary(good, errors=1, stranded=1).healthy
    # And a refusal does not excuse other errors or poor quality.
    assert not _summary(good, errors=3, refused=2).healthy
    assert not _summary([_record(200, 10.0, 1000, 1000)], errors=2, refused=2).healthy


def test_knee_stops_where_admission_refused_and_reports_per_core_figures() -> None:
    def step(clients: int, cpu: float, refused: int = 0) -> TargetSummary:
        steady = [Interval(float(t), 30.0, 0.0, 170.0 * clients, 2) for t in range(11)]
        return _summary(
            [_record(300, 10.0, 1000, 1000)],
            cpu=cpu,
            clients=clients,
            streams=clients,
            intervals=steady,
            errors=refused,
            refused=refused,
        )

    result = knee("sfu", [step(64, 32.0), step(128, 64.0), step(192, 90.0, refused=20)])
    assert (result.healthy_clients, result.first_unhealthy_clients) == (128, 192)
    assert (result.stopped_by, result.refused) == ("admission", 20)
    assert result.knee_node_cpu_pct == 64.0
    assert result.knee_streams_per_core == pytest.approx(200.0)  # 128 streams on 0.64 core
    assert result.knee_packets_per_s_per_core == pytest.approx(170.0 * 128 / 0.64)
    unhealthy = _summary([_record(100, 10.0, 1000, 1000)], clients=256, streams=256)
    assert knee("sfu", [step(64, 32.0), unhealthy]).stopped_by == "quality"
    assert knee("sfu", [step(64, 32.0)]).stopped_by is None


def test_admission_summary_from_status_samples() -> None:
    def sample(t: float, refusing: str | None, lag: float, cpu: float) -> dict[str, Any]:
        admission = {"refusing": refusing, "eventLoopLagP95Ms": lag, "loopCpu": cpu}
        return {"t": t, "forwardedStreams": int(cpu * 100), "admission": admission}

    samples = [
        sample(101.0, None, 2.0, 0.3),
        sample(102.0, "cpu", 20.0, 0.93),
        sample(103.0, "event-loop-lag", 80.0, 0.9),
        sample(104.0, "cpu", 30.0, 0.95),
    ]
    summary = admission_summary(samples, start_at=100.0)
    assert summary is not None
    assert summary["refusing_samples"] == {"cpu": 2, "event-loop-lag": 1}
    assert summary["first_refusal_s"] == 2.0
    assert (summary["lag_p95_ms_max"], summary["loop_cpu_max"]) == (80.0, 0.95)
    assert summary["forwarded_streams_max"] == 95
    assert admission_summary([{"t": 1.0, "forwardedStreams": 0}], 0.0) is None
