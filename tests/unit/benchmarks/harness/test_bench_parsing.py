"""Parsing and small pure pieces of ``liveloop-sfu bench``: /proc and Prometheus text, RFC 3550
jitter, the Janus configuration and API bodies, the progress line, the command line, ratios."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from benchmarks.clients.janus import JanusError, create_room_body, plugin_data, subscribe_body
from benchmarks.harness.bench import _plan_json, client_for, parse_args, ratios
from benchmarks.harness.progress import render
from benchmarks.media.cache import MediaSpec, layer_specs
from benchmarks.nodes.janus import janus_config, netns_commands, netns_for
from benchmarks.nodes.targets import Target
from benchmarks.reports.stats import JitterEstimator, prometheus_value, rss_bytes, summarize_values

STATUS = "Name:\tpython\nVmPeak:\t  200 kB\nVmRSS:\t   51200 kB\nThreads:\t4\n"
METRICS = """# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 12.5
process_resident_memory_bytes 9.8304e+07
liveloop_forwarded_packets_total{kind="video"} 42.0
"""


def test_rss_from_proc_status() -> None:
    assert rss_bytes(STATUS) == 51200 * 1024
    with pytest.raises(ValueError, match="VmRSS"):
        rss_bytes("Name:\tzombie\n")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("process_cpu_seconds_total", 12.5),
        ("process_resident_memory_bytes", 98_304_000.0),
        ("liveloop_forwarded_packets_total", None),  # labelled: not an unlabelled sample
        ("missing", None),
    ],
)
def test_prometheus_value(name: str, value: float | None) -> None:
    assert prometheus_value(METRICS, name) == value


def test_jitter_of_a_perfectly_paced_stream_is_zero() -> None:
    jitter = JitterEstimator(90_000)
    for i in range(100):
        jitter.add(i * 3000, 10.0 + i / 30)
    assert jitter.jitter == pytest.approx(0.0, abs=1e-9)


def test_jitter_follows_rfc3550_smoothing() -> None:
    jitter = JitterEstimator(1000)
    jitter.add(0, 0.0)
    jitter.add(10, 0.026)  # 16 ms late: J = 0 + (0.016 - 0) / 16
    assert jitter.jitter == pytest.approx(0.001)
    jitter.add(20, 0.020)  # 16 ms early compared to the previous transit
    assert jitter.jitter == pytest.approx(0.001 + (0.016 - 0.001) / 16)


def test_jitter_ignores_a_timestamp_wrap() -> None:
    jitter = JitterEstimator(90_000)
    jitter.add(2**32 - 3000, 1.0)
    jitter.add(0, 1.0 + 1 / 30)
    assert jitter.jitter == 0.0


def test_summarize_values() -> None:
    assert summarize_values([1.0, 2.0, 3.0, 4.0, 5.0]) == {
        "count": 5.0,
        "min": 1.0,
        "mean": 3.0,
        "p50": 3.0,
        "p95": pytest.approx(4.8),
        "p99": pytest.approx(4.96),
        "max": 5.0,
    }
    assert summarize_values([])["p50"] is None


def test_netns_names_fit_linux_limits_and_differ() -> None:
    a, b = netns_for(123456, 1), netns_for(123456, 2)
    assert a != b and a.host_ip != b.host_ip
    assert all(len(name) <= 15 for name in (a.host_if, a.ns_if))  # IFNAMSIZ - 1
    assert a.host_ip.rsplit(".", 1)[0] == a.ns_ip.rsplit(".", 1)[0]
    commands = netns_commands(a)
    assert commands[0] == ["ip", "netns", "add", a.name]
    assert ["ip", "link", "set", a.ns_if, "netns", a.name] in commands
    assert ["ip", "-n", a.name, "link", "set", "lo", "up"] in commands


def test_janus_config_enforces_the_veth_and_loads_only_videoroom_over_http() -> None:
    ns = netns_for(1, 1)
    files = janus_config(Path("/usr/lib/janus"), ns, Path("/tmp/j.log"))
    assert set(files) == {"janus.jcfg", "janus.transport.http.jcfg", "janus.plugin.videoroom.jcfg"}
    main = files["janus.jcfg"]
    assert f'ice_enforce_list = "{ns.ns_if}"' in main
    assert 'plugins_folder = "/usr/lib/janus/plugins"' in main
    assert "libjanus_videoroom.so" not in main  # the one plugin not disabled
    assert "libjanus_http.so" not in main
    assert "libjanus_websockets.so" in main
    assert f'ip = "{ns.ns_ip}"' in files["janus.transport.http.jcfg"]


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        ({"janus": "error", "error": {"code": 458, "reason": "No such session"}}, "458"),
        ({"janus": "event", "plugindata": {"data": {"error_code": 428, "error": "No"}}}, "428"),
    ],
)
def test_janus_errors(reply: dict[str, Any], error: str) -> None:
    with pytest.raises(JanusError, match=error):
        plugin_data(reply)


def test_janus_bodies() -> None:
    reply = {"janus": "success", "plugindata": {"data": {"videoroom": "created", "room": 7}}}
    assert plugin_data(reply) == {"videoroom": "created", "room": 7}
    room = create_room_body(7, publishers=3)
    assert (room["room"], room["publishers"], room["videocodec"]) == (7, 3, "vp8")
    assert subscribe_body(7, [1, 2])["streams"] == [{"feed": 1}, {"feed": 2}]


def test_progress_line() -> None:
    line = render(
        "sfu-steady-4",
        5.0,
        10.0,
        matched=4,
        users=4,
        receiving=4,
        fps=29.96,
        loss_pct=0.0,
        node_cpu_pct=12.4,
        errors=0,
    )
    assert line.startswith("[" + "#" * 12 + "." * 12 + "]")
    assert "joined 4/4" in line and "fps 30.0" in line and "node CPU 12%" in line
    assert "errors" not in line
    empty = render(
        "x", 0, 10, matched=0, users=2, receiving=0, fps=None, loss_pct=None,
        node_cpu_pct=None, errors=3,
    )  # fmt: skip
    assert "fps -" in empty and "errors 3" in empty


def test_command_line() -> None:
    config = parse_args(["--targets", "sfu,janus", "--resolution", "320x240", "--bitrate", "500"])
    assert config.targets == ("sfu", "janus")
    assert (config.spec.width, config.spec.height, config.spec.video_kbps) == (320, 240, 500)
    assert config.spec.keyframe_interval == 60
    remote = parse_args(["--url", "http://10.0.0.5:8080", "--capacity", "2,4"])
    assert remote.targets == ("remote",) and remote.capacity == (2, 4)
    assert config.spec.codec == "vp8"


def test_publisher_options_reach_the_cheap_clients_plan() -> None:
    argv = ["--targets", "sfu", "--codec", "h264", "--resolution", "320x240", "--bitrate", "300"]
    config = parse_args(argv)
    target = Target("sfu", "http://127.0.0.1:1", None, "127.0.0.1", "liveloop", True)
    plan = _plan_json(config, config.scenario, target, [], 0)
    assert plan["client"] == "cheap"
    # What the client process builds its media from (load_generator: MediaSpec(**plan["spec"])).
    assert MediaSpec(**plan["spec"]) == MediaSpec(
        width=320, height=240, fps=30, video_kbps=300, keyframe_interval=60, codec="h264"
    )
    simulcast = parse_args([*argv, "--simulcast", "3", "--scenario", "fanout"])
    assert MediaSpec(**_plan_json(simulcast, simulcast.scenario, target, [], 0)["spec"]) == (
        replace(config.spec, simulcast=3)
    )
    # Smallest first, each half the size and a quarter of the bitrate of the next.
    assert [(s.width, s.height, s.video_kbps) for s in layer_specs(simulcast.spec)] == [
        (80, 60, 50),
        (160, 120, 75),
        (320, 240, 300),
    ]


@pytest.mark.parametrize(
    "argv",
    [
        ["--targets", "sfu,mediasoup"],
        ["--resolution", "640x481"],
        ["--resolution", "big"],
        ["--bitrate", "10"],
        ["--clients", "1"],
        ["--capacity", "2,1000"],
        ["--scenario", "group", "--clients", "3", "--room-size", "4"],
        ["--codec", "vp9"],
        ["--targets", "sfu", "--codec", "h264", "--client", "aiortc"],
        ["--targets", "sfu,janus", "--codec", "h264"],
        ["--targets", "sfu", "--simulcast", "2", "--client", "aiortc"],
        ["--targets", "sfu,janus", "--simulcast", "2"],
        ["--targets", "sfu", "--simulcast", "4"],
        ["--targets", "sfu", "--simulcast", "3", "--resolution", "160x128"],
    ],
)
def test_command_line_errors(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(argv)


def _run(target: str, us: float | None) -> dict[str, Any]:
    return {"summary": {"target": target, "us_per_packet": us}}


def test_ratios_prefer_capacity_slopes() -> None:
    result = {
        "knees": [
            {"target": "sfu", "us_per_packet": {"slope": 120.0}},
            {"target": "janus", "us_per_packet": {"slope": 60.0}},
        ],
        "runs": [_run("sfu", 150.0), _run("janus", 90.0)],
    }
    assert ratios(result)["ours_over_janus"] == pytest.approx(2.0)
    assert ratios(result)["method"] == "slope across capacity steps"


def test_ratios_never_mix_slopes_with_whole_node_figures() -> None:
    result = {
        "knees": [
            {"target": "sfu", "us_per_packet": None},  # fewer than two healthy steps
            {"target": "janus", "us_per_packet": {"slope": 60.0}},
        ],
        "runs": [_run("sfu", 150.0), _run("janus", 100.0)],
    }
    assert ratios(result)["method"] == "whole node at the run's load"
    assert ratios(result)["ours_over_janus"] == pytest.approx(1.5)


def test_ratios_from_single_runs_and_without_janus() -> None:
    result: dict[str, Any] = {"knees": [], "runs": [_run("sfu", 150.0), _run("janus", 100.0)]}
    assert ratios(result)["ours_over_janus"] == pytest.approx(1.5)
    result["runs"] = [_run("sfu", 150.0), _run("p2p", None)]
    assert ratios(result)["ours_over_janus"] is None
    assert ratios(result)["us_per_packet"] == {"sfu": 150.0}


def test_client_kind_defaults_to_cheap_except_p2p() -> None:
    cheap = parse_args(["--targets", "sfu,p2p,janus"])
    assert cheap.client == "cheap"
    assert [client_for(cheap, kind) for kind in ("sfu", "remote", "relay", "p2p", "janus")] == [
        "cheap", "cheap", "cheap", "aiortc", "cheap",
    ]  # fmt: skip
    assert client_for(parse_args(["--client", "aiortc"]), "sfu") == "aiortc"
    with pytest.raises(SystemExit):
        parse_args(["--client", "browser"])


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["--targets", "sfu,janus", "--browsers", "2"], "--targets sfu or --url"),
        (["--targets", "sfu", "--browsers", "3"], "even in 1:1"),
        (["--targets", "sfu", "--browsers", "9"], "within 1..8"),
    ],
)
def test_browsers_are_refused_where_they_cannot_run(
    argv: list[str], error: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        parse_args(argv)
    assert error in capsys.readouterr().err


def test_browsers_with_our_node_or_a_url() -> None:
    assert parse_args(["--targets", "sfu", "--browsers", "2"]).browsers == 2
    rooms = parse_args(["--url", "http://10.0.0.5:8080", "--scenario", "fanout", "--browsers", "1"])
    assert rooms.browsers == 1 and rooms.targets == ("remote",)
    assert parse_args(["--targets", "sfu"]).browsers == 0
