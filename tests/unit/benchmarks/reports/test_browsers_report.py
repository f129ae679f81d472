"""``--browsers``: getStats samples → one summary per browser → its verdict → the step's health,
bottleneck line and CSV."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from benchmarks.reports.bench import Interval, bottleneck, summarize_target
from benchmarks.reports.browsers import (
    browser_table,
    chromium_cpu,
    summarize_browser,
    tree_cpu_seconds,
    verdict,
    window_samples,
)
from benchmarks.reports.csv_rows import bench_rows, to_csv


def _stream(
    second: float,
    *,
    sid: str = "IT01V1",
    fps: float = 30.0,
    kbps: float = 800.0,
    frozen_from: float | None = None,
    lost_per_s: int = 0,
    started: float = 0.0,
) -> dict[str, Any]:
    """Cumulative inbound-rtp counters of a stream that started at ``started`` and, from
    ``frozen_from`` on, decodes nothing and counts one growing freeze."""
    running = max(0.0, second - started)
    decoding = running if frozen_from is None else min(running, frozen_from - started)
    frozen = 0.0 if frozen_from is None else max(0.0, second - frozen_from)
    return {
        "id": sid,
        "framesDecoded": int(fps * decoding),
        "frameWidth": 640,
        "frameHeight": 480,
        "bytesReceived": int(kbps * 1000 / 8 * running),
        "packetsReceived": int(100 * running),
        "packetsLost": int(lost_per_s * running),
        "jitter": 0.004,
        "freezeCount": 1 if frozen else 0,
        "totalFreezesDuration": frozen,
    }


def _samples(seconds: int = 20, limited: str = "none", **stream: Any) -> list[dict[str, Any]]:
    return [
        {
            "t": float(t),
            "stats": {
                "inbound": [_stream(float(t), **stream)],
                "outbound": [
                    {"rid": "f", "qualityLimitationReason": limited, "framesEncoded": 30 * t},
                    {"rid": "h", "qualityLimitationReason": limited, "framesEncoded": 15 * t},
                ],
                "rtt": 0.002,
            },
        }
        for t in range(seconds + 1)
    ]


def test_a_smooth_call() -> None:
    summary = summarize_browser("b0", "1:1 with b1", _samples(), (5.0, 19.0), 30.0, 850.0)
    assert summary.healthy and summary.problems == ()
    assert summary.seconds == 14.0 and summary.streams == 1
    assert summary.frames_decoded == 30 * 14
    assert summary.fps == pytest.approx(30.0) and summary.fps_min_1s == pytest.approx(30.0)
    assert summary.kbps == pytest.approx(800.0, rel=0.01)
    assert (summary.width, summary.height) == (640, 480)
    assert summary.freezes == 0 and summary.freeze_s == 0.0 and summary.loss_pct == 0.0
    assert summary.jitter_ms == pytest.approx(4.0) and summary.rtt_ms == pytest.approx(2.0)
    assert summary.setup_ms == 850.0 and summary.limited_s == {}
    assert summary.sent_fps == pytest.approx(30.0)  # its best encoding


def test_a_freeze_longer_than_a_second_is_unhealthy_and_named() -> None:
    summary = summarize_browser("b0", "room r", _samples(frozen_from=15.5), (5.0, 19.0), 30.0)
    assert not summary.healthy
    assert summary.freezes == 1 and summary.freeze_s == pytest.approx(3.5)
    assert summary.fps_min_1s == 0.0
    assert any(p.startswith("froze 3.5 s in 1 freeze(s)") for p in summary.problems)


def test_fps_under_the_floor_and_loss_are_named() -> None:
    summary = summarize_browser("b1", "x", _samples(fps=20.0, lost_per_s=5), (5.0, 19.0), 30.0)
    assert not summary.healthy
    assert summary.problems[0] == "20.0 fps (floor 27)"
    assert summary.loss_pct == pytest.approx(100 * 5 / 105)
    assert "packets lost" in summary.problems[1]


def test_a_browser_that_decoded_nothing() -> None:
    summary = summarize_browser("b0", "-", _samples(fps=0.0), (5.0, 19.0), 30.0, errors=["boom"])
    assert not summary.healthy and summary.problems == ("no video decoded", "boom")
    never = summarize_browser("b1", "-", [], (5.0, 19.0), 30.0)
    assert never.problems == ("no video decoded",) and never.seconds == 0.0


def test_a_late_start_is_judged_from_its_first_frame() -> None:
    samples = _samples(started=9.0)
    assert window_samples(samples, (5.0, 19.0))[0]["t"] == 10.0  # the first decoded frame
    summary = summarize_browser("b0", "room r", samples, (5.0, 19.0), 30.0)
    assert summary.healthy and summary.seconds == 9.0, summary


def test_group_pages_count_their_live_streams_and_the_slowest() -> None:
    samples = _samples()
    for sample in samples:
        t = sample["t"]
        sample["stats"]["inbound"] += [
            _stream(t, sid="IT01V2", fps=24.0, kbps=400.0),
            {**_stream(0.0, sid="IT01V3"), "packetsReceived": 0},  # an idle slot
        ]
    summary = summarize_browser("b0", "room r", samples, (5.0, 19.0), 30.0)
    assert summary.streams == 2
    assert summary.fps == pytest.approx(24.0)
    assert summary.kbps == pytest.approx(1200.0, rel=0.01)
    assert summary.problems == ("24.0 fps (floor 27)",)


def test_the_page_s_own_sending_limits_are_counted_in_seconds() -> None:
    summary = summarize_browser("b0", "x", _samples(limited="cpu"), (5.0, 19.0), 30.0)
    assert summary.limited_s == {"cpu": 15}
    assert summary.healthy  # the page's own encoder is not the node's quality


def test_verdict_table() -> None:
    ok: dict[str, Any] = {
        "frames": 300, "fps": 29.0, "width": 640, "freeze_s": 0.5, "freezes": 1,
        "loss_pct": 0.5, "published_fps": 30.0,
    }  # fmt: skip
    assert verdict(**ok) == ()
    assert verdict(**{**ok, "width": 0}) == ("no video decoded",)
    assert verdict(**{**ok, "freeze_s": 1.2, "freezes": 2}) == (
        "froze 1.2 s in 2 freeze(s) (at most 1)",
    )
    assert verdict(**ok, errors=["page error: TypeError: x"]) == ("page error: TypeError: x",)


def test_a_call_that_ended_in_the_window_is_unhealthy() -> None:
    samples = _samples()
    for sample in samples[12:]:
        sample["stats"] = None  # the page's RTCPeerConnection is gone
    summary = summarize_browser("b0", "1:1 with b1", samples, (5.0, 19.0), 30.0)
    assert summary.seconds == 6.0 and summary.fps == pytest.approx(30.0)
    assert summary.problems == ("its call ended at 12 s",) and not summary.healthy


def test_chromium_cpu_over_its_whole_tree() -> None:
    # A renderer (pid 2) appears; pid 3 exits: its last interval goes with it.
    total = tree_cpu_seconds({}, {1: 1.0, 3: 0.5}, 0.0)
    total = tree_cpu_seconds({1: 1.0, 3: 0.5}, {1: 1.5, 2: 0.25}, total)
    assert total == pytest.approx(2.25)
    samples = [(float(t), 0.5 * t) for t in range(11)]  # half a core
    assert chromium_cpu(samples, 2.0, 9.0) == pytest.approx(50.0)
    assert chromium_cpu(samples, 20.0, 30.0) is None


def _step(browsers: list[dict[str, Any]]) -> Any:
    record = {
        "match_s": 0.01, "setup_s": 0.1, "seconds": 10.0, "video_streams": 1,
        "video_frames": 300, "video_packets": 1000, "video_expected": 1000,
        "audio_packets": 50, "audio_expected": 50, "jitter_ms": 1.0, "rtt_ms": 2.0,
        "latencies_ms": [1.0],
    }  # fmt: skip
    return summarize_target(
        target="sfu", scenario="steady", clients=4, streams=4, records=[record], errors=0,
        intervals=[Interval(float(t), 30.0, 0.0, 1000.0, 2) for t in range(1, 11)],
        window=(2.0, 9.0), node_cpu_pct=20.0, node_rss_mb_max=90.0,
        clients_cpu_pct=10.0, cores=2, published_fps=30.0, forwards=True,
        browsers=browsers, browsers_cpu_pct=80.0,
    )  # fmt: skip


def test_an_unhealthy_browser_makes_the_step_unhealthy_with_its_reason() -> None:
    good = summarize_browser("browser0", "1:1", _samples(), (5.0, 19.0), 30.0).to_json()
    frozen = summarize_browser("browser1", "1:1", _samples(frozen_from=15.5), (5.0, 19.0), 30.0)
    step = _step([good, frozen.to_json()])
    assert not step.healthy and step.browsers_cpu_pct == 80.0
    assert "; browsers: browser1: 22.5 fps (floor 27); froze 3.5 s" in step.bottleneck
    assert "browser0" not in step.bottleneck
    assert _step([good]).healthy and _step([good]).bottleneck.startswith("none")


def test_bottleneck_counts_chromium_on_the_load_side() -> None:
    assert bottleneck(False, 40.0, 30.0, cores=2, browsers_cpu_pct=120.0).startswith("the browsers")
    assert bottleneck(False, 40.0, 100.0, cores=2, browsers_cpu_pct=40.0).startswith("the clients")
    assert bottleneck(False, 40.0, 30.0, cores=2).startswith("unclear")


def test_browsers_in_the_csv_and_the_table() -> None:
    good = summarize_browser("browser0", "1:1 with browser1", _samples(), (5.0, 19.0), 30.0)
    step = _step([good.to_json()])
    result = {"runs": [{"summary": step.to_json()}]}
    (row,) = csv.DictReader(io.StringIO(to_csv(bench_rows(result))))
    assert row["browser0_name"] == "browser0" and float(row["browser0_fps"]) == 30.0
    assert row["browser0_width"] == "640" and float(row["browser0_kbps"]) > 0
    assert row["browsers_cpu_pct"] == "80.0" and "browsers" not in row
    text = browser_table([("sfu", 4, step.browsers)])
    assert "browser0" in text and "640x480" in text and text.rstrip().endswith("ok")
