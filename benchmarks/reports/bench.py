"""Figures of ``liveloop-sfu bench``: from the client processes' ticks and call records and the
node samples to one summary per target, a table and the capacity knee. Pure: no I/O, no clocks.

* a **tick** is one client process's cumulative counters at one instant (``t``, ``frames``,
  ``packets``, ``expected``, ``receiving``); :func:`timeline` merges the processes' ticks into
  per-second intervals (delivered fps per receiver, loss).
* a **record** is one call (or one stay in a room) of one user
  (:class:`benchmarks.clients.load_generator.CallRecord`).
* a **node sample** is ``(t, cpu_seconds, rss_bytes)`` of the node process (or from its
  ``/metrics`` when it is remote).
* the **steady window** is the run after the ramp-up (plus settling) and before the end; node
  CPU, packets/s and fps are averaged over it.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from benchmarks.reports.browsers import browsers_line
from benchmarks.reports.stats import LineFit, fit_line, summarize_values

HEALTHY_LOSS_PCT = 1.0
HEALTHY_FPS_FRACTION = 0.9


@dataclass(frozen=True, slots=True)
class Interval:
    t: float  # seconds since the run's start, at the interval's end
    fps: float | None  # delivered video frames/s per received video stream
    loss_pct: float | None
    packets_per_s: float
    receiving: int  # video streams being received


def _merge(ticks_by_process: Sequence[Sequence[dict[str, Any]]], t: float) -> dict[str, float]:
    """Sum of every process's last tick at or before ``t``."""
    total = {"frames": 0.0, "packets": 0.0, "expected": 0.0, "receiving": 0.0}
    for ticks in ticks_by_process:
        last = None
        for tick in ticks:
            if tick["t"] <= t:
                last = tick
            else:
                break
        if last is not None:
            for key in total:
                total[key] += float(last[key])
    return total


def timeline(
    ticks_by_process: Sequence[Sequence[dict[str, Any]]], start: float, step: float = 1.0
) -> list[Interval]:
    """Per-``step`` intervals from ``start`` to the last tick, all processes merged."""
    last = max((ticks[-1]["t"] for ticks in ticks_by_process if ticks), default=start)
    intervals: list[Interval] = []
    previous = _merge(ticks_by_process, start)
    t = start + step
    while t <= last + 1e-9 and len(intervals) < 100_000:
        now = _merge(ticks_by_process, t)
        frames = now["frames"] - previous["frames"]
        packets = now["packets"] - previous["packets"]
        expected = now["expected"] - previous["expected"]
        receiving = int(now["receiving"])
        intervals.append(
            Interval(
                t=round(t - start, 3),
                fps=frames / step / receiving if receiving and frames >= 0 else None,
                loss_pct=100.0 * max(0.0, expected - packets) / expected if expected > 0 else None,
                packets_per_s=max(0.0, expected) / step,
                receiving=receiving,
            )
        )
        previous = now
        t += step
    return intervals


def node_cpu(samples: Sequence[tuple[float, float, int]], t0: float, t1: float) -> float | None:
    """Node CPU over [t0, t1] as % of one core, from the samples nearest inside the window."""
    inside = [s for s in samples if t0 <= s[0] <= t1]
    if len(inside) < 2 or inside[-1][0] <= inside[0][0]:
        return None
    return 100.0 * (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])


def node_series(
    samples: Sequence[tuple[float, float, int]], start: float
) -> list[dict[str, float]]:
    """CPU % per sampling interval and RSS (MB) over time, for the charts."""
    out = []
    for before, after in itertools.pairwise(samples):
        if after[0] > before[0]:
            out.append(
                {
                    "t": round(after[0] - start, 3),
                    "cpu_pct": 100.0 * (after[1] - before[1]) / (after[0] - before[0]),
                    "rss_mb": after[2] / 1e6,
                }
            )
    return out


@dataclass(frozen=True, slots=True)
class TargetSummary:
    target: str
    scenario: str
    clients: int
    streams: int  # streams the node forwards at full load (0 for p2p: nothing goes through it)
    calls: int
    errors: int
    match_ms: dict[str, float | None]
    setup_ms: dict[str, float | None]
    fps: dict[str, float | None]  # per call and received stream, delivered video fps
    loss_pct: float
    jitter_ms: dict[str, float | None]
    rtt_ms: dict[str, float | None]
    latency_ms: dict[str, float | None]
    node_cpu_pct: float | None  # steady window
    node_rss_mb_max: float | None
    clients_cpu_pct: float | None
    packets_per_s: float  # steady window, packets the receivers were sent (node-forwarded for sfu)
    us_per_packet: float | None  # node CPU µs per forwarded packet, whole node (fixed costs in)
    streams_per_core: float | None  # streams / node cores busy, only when healthy
    healthy: bool
    bottleneck: str
    node_idle_cpu_pct: float | None = None  # before the clients started: the fixed cost
    # Users the node refused with ``capacity`` (its admission), and users left without a call
    # because their partner was refused; neither counts against the quality of the others.
    refused: int = 0
    stranded: int = 0
    # ``--browsers``: what each real Chromium page saw (benchmarks/reports/browsers.py
    # BrowserSummary as JSON), and Chromium's CPU over the steady window, % of one core.
    browsers: tuple[dict[str, Any], ...] = ()
    browsers_cpu_pct: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class _Delivery:
    """What reached the receivers: steady-window means and per-call figures."""

    packets_per_s: float  # mean of the steady window's intervals
    fps_calls: list[float]  # delivered fps per video stream, one per call of at least 1 s
    loss_pct: float  # over every call: packets expected but not received
    fps_mean: float  # mean of the steady window's intervals
    fps_median: float  # of the calls


def _delivery(
    records: Sequence[dict[str, Any]], intervals: Sequence[Interval], window: tuple[float, float]
) -> _Delivery:
    steady = [i for i in intervals if window[0] < i.t <= window[1]]
    packets_per_s = sum(i.packets_per_s for i in steady) / len(steady) if steady else 0.0
    fps_calls = [
        r["video_frames"] / r["seconds"] / max(1, r["video_streams"])
        for r in records
        if r["seconds"] >= 1.0
    ]
    expected = sum(r["video_expected"] + r["audio_expected"] for r in records)
    received = sum(r["video_packets"] + r["audio_packets"] for r in records)
    loss = 100.0 * max(0, expected - received) / expected if expected else 0.0
    steady_fps = [i.fps for i in steady if i.fps is not None]
    fps_mean = sum(steady_fps) / len(steady_fps) if steady_fps else 0.0
    fps_median = summarize_values(fps_calls)["p50"] or 0.0
    return _Delivery(packets_per_s, fps_calls, loss, fps_mean, fps_median)


def _record_values(
    records: Sequence[dict[str, Any]], key: str, scale: int | None = None
) -> dict[str, float | None]:
    """Percentiles of one figure over the calls that have it (``None``: not measured), in units
    of 1/``scale`` (1000: seconds to ms); unscaled values are summarized as they are."""
    values = [r[key] for r in records if r[key] is not None]
    return summarize_values(values if scale is None else [scale * v for v in values])


def summarize_target(
    *,
    target: str,
    scenario: str,
    clients: int,
    streams: int,
    records: Sequence[dict[str, Any]],
    errors: int,
    intervals: Sequence[Interval],
    window: tuple[float, float],
    node_cpu_pct: float | None,
    node_rss_mb_max: float | None,
    clients_cpu_pct: float | None,
    cores: int,
    published_fps: float,
    forwards: bool,
    load_average: float = 0.0,
    node_idle_cpu_pct: float | None = None,
    refused: int = 0,
    stranded: int = 0,
    browsers: Sequence[dict[str, Any]] = (),
    browsers_cpu_pct: float | None = None,
) -> TargetSummary:
    """One target's figures; ``window`` is the steady window in seconds since the start."""
    delivery = _delivery(records, intervals, window)
    packets_per_s, fps_calls, loss = delivery.packets_per_s, delivery.fps_calls, delivery.loss_pct
    # One-second intervals jitter with the clients' tick timing (25 then 35 fps): health is
    # judged on the window's mean and on the median call, not on the worst second.
    fps_ok = min(delivery.fps_mean, delivery.fps_median) >= HEALTHY_FPS_FRACTION * published_fps
    # Calls the node refused (and their partners, left alone) are its admission at work, not
    # a failure of the calls it took: health is the quality of those.
    stranded = stranded if refused else 0
    healthy = fps_ok and loss <= HEALTHY_LOSS_PCT and errors - refused - stranded == 0
    # What a person in a real page saw counts as much as what the cheap receivers counted.
    healthy = healthy and all(b["healthy"] for b in browsers)
    us = None
    if forwards and node_cpu_pct is not None and packets_per_s > 0:
        us = node_cpu_pct * 1e4 / packets_per_s
    per_core = None
    if healthy and forwards and node_cpu_pct:
        per_core = streams / (node_cpu_pct / 100.0)
    return TargetSummary(
        target=target,
        scenario=scenario,
        clients=clients,
        streams=streams if forwards else 0,
        calls=len(records),
        errors=errors,
        match_ms=_record_values(records, "match_s", scale=1000),
        setup_ms=_record_values(records, "setup_s", scale=1000),
        fps=summarize_values(fps_calls),
        loss_pct=loss,
        jitter_ms=_record_values(records, "jitter_ms"),
        rtt_ms=_record_values(records, "rtt_ms"),
        latency_ms=summarize_values([x for r in records for x in r["latencies_ms"]]),
        node_cpu_pct=node_cpu_pct,
        node_rss_mb_max=node_rss_mb_max,
        clients_cpu_pct=clients_cpu_pct,
        packets_per_s=packets_per_s,
        us_per_packet=us,
        streams_per_core=per_core,
        healthy=healthy,
        bottleneck=_with_browsers(
            bottleneck(
                healthy,
                node_cpu_pct,
                clients_cpu_pct,
                cores,
                load_average,
                refused,
                browsers_cpu_pct,
            )
            if records or not errors
            else "none measured: no call was set up (see the errors)",
            browsers,
        ),
        node_idle_cpu_pct=node_idle_cpu_pct,
        refused=refused,
        stranded=stranded,
        browsers=tuple(browsers),
        browsers_cpu_pct=browsers_cpu_pct,
    )


def _with_browsers(line: str, browsers: Sequence[dict[str, Any]]) -> str:
    """The bottleneck line, and which real page was unhealthy and why."""
    bad = browsers_line(browsers)
    return f"{line}; {bad}" if bad else line


def bottleneck(
    healthy: bool,
    node_cpu_pct: float | None,
    clients_cpu_pct: float | None,
    cores: int,
    load_average: float = 0.0,
    refused: int = 0,
    browsers_cpu_pct: float | None = None,
) -> str:
    """Who limited the run: nobody, the node's admission (it refused users and kept the calls it
    took healthy), the node (near a full core, or most of a full machine), the clients (the
    larger share of a machine near its limit), the real Chromium pages (``--browsers``: the
    largest share of a full machine), or other work on a shared machine (runnable processes
    well above the cores while none of ours is at its limit)."""
    node, browsers = node_cpu_pct or 0.0, browsers_cpu_pct or 0.0
    # The pages' Chromium loads the machine from the clients' side.
    clients = (clients_cpu_pct or 0.0) + browsers
    if healthy and refused:
        return (
            f"the node's admission ({refused} user(s) refused with capacity; the calls it took "
            "kept their quality)"
        )
    if healthy:
        return "none (the node kept up)"
    if node + clients >= 85.0 * cores and clients > node:
        if browsers > clients - browsers:
            return "the browsers (the machine is full and Chromium uses most of it)"
        return "the clients (the machine is full and the clients use most of it)"
    if node >= 85.0 and node + clients >= 85.0 * cores:
        # A node of several threads (Janus) can use more than one core: it is its load that
        # filled the machine.
        return "the node (the machine is full and the node uses most of it)"
    if node >= 85.0:
        return "the node (near a full core: one event loop, or its busiest thread)"
    if node + clients >= 85.0 * cores:
        return "the machine (node and clients together)"
    if load_average > 1.5 * cores:
        return f"other work on the machine (load average {load_average:.1f} on {cores} cores)"
    return "unclear (neither CPU figure is at its limit; see the logs)"


@dataclass(frozen=True, slots=True)
class Knee:
    """Capacity search result: the largest healthy step and the fitted cost lines."""

    target: str
    healthy_clients: int | None
    healthy_streams: int | None
    first_unhealthy_clients: int | None
    cpu_pct_per_stream: LineFit | None
    us_per_packet: LineFit | None
    streams_per_core: float | None
    # What ended the climb: "quality" (a step unhealthy), "admission" (the node refused users
    # while the calls it took stayed healthy), or None (every step passed).
    stopped_by: str | None = None
    refused: int = 0  # users refused at the step that stopped it
    # At the knee step itself (whole node, fixed costs in): streams and forwarded packets per
    # second per core of node CPU.
    knee_streams_per_core: float | None = None
    knee_packets_per_s_per_core: float | None = None
    knee_node_cpu_pct: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            **{
                k: v
                for k, v in asdict(self).items()
                if k not in ("cpu_pct_per_stream", "us_per_packet")
            },
            "cpu_pct_per_stream": asdict(self.cpu_pct_per_stream)
            if self.cpu_pct_per_stream
            else None,
            "us_per_packet": asdict(self.us_per_packet) if self.us_per_packet else None,
        }


def knee(target: str, steps: Sequence[TargetSummary]) -> Knee:
    """Steps in ramp order; the knee is the last healthy step before the first one that is
    unhealthy or where the node refused users (its admission said it was full).
    Slopes (CPU per stream, µs per packet) are fitted over the healthy steps and the idle node,
    and only when there are at least two healthy steps (one step and the idle node would make a
    line through two points that says little)."""
    healthy: list[TargetSummary] = []
    first_bad = None
    for step in steps:
        if not step.healthy or step.refused:
            first_bad = step
            break
        healthy.append(step)
    with_cpu = [s for s in healthy if s.node_cpu_pct is not None]
    if len({s.streams for s in with_cpu}) < 2:
        with_cpu = []
    # Each run's idle node (before its clients started) anchors the intercept at 0 streams, as
    # the forwarding benchmark's 0-stream point does: fixed costs stay out of the slopes.
    idle = [s.node_idle_cpu_pct for s in with_cpu if s.node_idle_cpu_pct is not None]
    streams = [0.0] * len(idle) + [float(s.streams) for s in with_cpu]
    packets = [0.0] * len(idle) + [s.packets_per_s for s in with_cpu]
    cpu = idle + [s.node_cpu_pct or 0.0 for s in with_cpu]
    per_stream = fit_line(streams, cpu)
    per_packet = fit_line(packets, [c * 1e4 for c in cpu])
    per_core = 100.0 / per_stream.slope if per_stream and per_stream.slope > 0 else None
    last = healthy[-1] if healthy else None
    stopped_by = None
    if first_bad is not None:
        stopped_by = "quality" if not first_bad.healthy else "admission"
    cores_busy = (last.node_cpu_pct or 0.0) / 100.0 if last else 0.0
    return Knee(
        target=target,
        healthy_clients=last.clients if last else None,
        healthy_streams=last.streams if last else None,
        first_unhealthy_clients=first_bad.clients if first_bad else None,
        cpu_pct_per_stream=per_stream,
        us_per_packet=per_packet,
        streams_per_core=per_core,
        stopped_by=stopped_by,
        refused=first_bad.refused if first_bad else 0,
        knee_streams_per_core=last.streams / cores_busy if last and cores_busy else None,
        knee_packets_per_s_per_core=last.packets_per_s / cores_busy
        if last and cores_busy
        else None,
        knee_node_cpu_pct=last.node_cpu_pct if last else None,
    )


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def table(summaries: Sequence[TargetSummary]) -> str:
    header = (
        f"{'target':<7}{'clients':>8}{'streams':>8}{'calls':>6}{'err':>4}{'match p50/p95 ms':>18}"
        f"{'setup p50/p95 ms':>18}{'fps p50/min':>13}{'loss%':>7}{'jitter p95':>11}"
        f"{'rtt p50':>8}{'lat p50/p95':>12}{'node CPU%':>10}{'RSS MB':>7}{'pkts/s':>8}"
        f"{'µs/pkt':>8}{'str/core':>9}"
        f"{'clients CPU%':>13}"
    )
    lines = [header, "-" * len(header)]
    for s in summaries:
        lines.append(
            f"{s.target:<7}{s.clients:>8}{s.streams:>8}{s.calls:>6}{s.errors:>4}"
            f"{_num(s.match_ms['p50'], 0) + '/' + _num(s.match_ms['p95'], 0):>18}"
            f"{_num(s.setup_ms['p50'], 0) + '/' + _num(s.setup_ms['p95'], 0):>18}"
            f"{_num(s.fps['p50']) + '/' + _num(s.fps['min']):>13}"
            f"{s.loss_pct:>7.2f}{_num(s.jitter_ms['p95']):>11}{_num(s.rtt_ms['p50']):>8}"
            f"{_num(s.latency_ms['p50']) + '/' + _num(s.latency_ms['p95']):>12}"
            f"{_num(s.node_cpu_pct):>10}{_num(s.node_rss_mb_max, 0):>7}{s.packets_per_s:>8.0f}"
            f"{_num(s.us_per_packet, 0):>8}{_num(s.streams_per_core, 0):>9}"
            f"{_num(s.clients_cpu_pct):>13}" + ("" if s.healthy else "  UNHEALTHY")
        )
    return "\n".join(lines)


def admission_summary(status: Sequence[dict[str, Any]], start_at: float) -> dict[str, Any] | None:
    """What a node's admission did over a run, from its ``/api/status`` samples (``t`` on the
    harness's clock): seconds (samples) refusing by reason, when it first refused, and the
    highest self-measured lag and loop CPU. None when the node reports no admission."""
    samples = [s for s in status if isinstance(s.get("admission"), dict)]
    if not samples:
        return None
    refusing: dict[str, int] = {}
    first = None
    lags, cpus = [], []
    for sample in samples:
        admission = sample["admission"]
        reason = admission.get("refusing")
        if reason:
            refusing[reason] = refusing.get(reason, 0) + 1
            if first is None:
                first = round(float(sample["t"]) - start_at, 1)
        if "eventLoopLagP95Ms" in admission:
            lags.append(float(admission["eventLoopLagP95Ms"]))
            cpus.append(float(admission["loopCpu"]))
    return {
        "samples": len(samples),
        "refusing_samples": refusing,
        "first_refusal_s": first,
        "lag_p95_ms_max": max(lags) if lags else None,
        "loop_cpu_max": max(cpus) if cpus else None,
        "forwarded_streams_max": max(int(s.get("forwardedStreams", 0)) for s in samples),
    }
