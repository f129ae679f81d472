"""What the real Chromium pages of a bench run (``--browsers N``) saw: their ``getStats`` samples
turned into one summary per browser and a verdict a person would agree with. Pure: no I/O, no
clocks.

A **sample** is ``{"t": seconds since the run's start, "stats": ... | None}``, where ``stats`` is
what :data:`benchmarks.browsers.users.STATS_JS` returns from the page's ``RTCPeerConnection``
(None once it has none): ``inbound`` (one entry per received video stream: W3C webrtc-stats
``inbound-rtp`` counters such as ``framesDecoded``, ``bytesReceived``, ``freezeCount``,
``totalFreezesDuration``), ``outbound`` (the page's own video: ``framesEncoded`` and
``qualityLimitationReason`` per encoding) and ``rtt`` (seconds, the selected candidate pair).
Counters are cumulative, so every figure is a difference between the first and the last sample
of the browser's window: the run's steady window, from its first decoded frame when that came
later.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

# A freeze is what a person notices: W3C webrtc-stats counts one when a frame comes
# max(3 × the mean frame interval, mean + 150 ms) late. More than this much frozen time in the
# window makes the step unhealthy.
FREEZE_MAX_S = 1.0
# As the cheap receivers (benchmarks/reports/bench.py HEALTHY_*): 90 % of the published frame
# rate, at most 1 % of the packets lost.
FPS_FRACTION = 0.9
LOSS_MAX_PCT = 1.0


@dataclass(frozen=True, slots=True)
class BrowserSummary:
    """One browser (one page, one person) over its window."""

    name: str
    joined: str  # "1:1 with browser1" or "room room000"
    setup_ms: float | None  # from its join to its first decoded frame
    streams: int  # received video streams that carried packets
    frames_decoded: int  # in the window, over all its streams
    fps: float  # the lowest of its streams' mean frame rates over the window
    fps_min_1s: float | None  # the worst second of any stream (sampling jitter included)
    width: int  # the smallest received picture at the window's end
    height: int
    kbps: float  # received video, all streams
    freezes: int
    freeze_s: float
    jitter_ms: float | None  # the highest any stream reported
    loss_pct: float
    rtt_ms: float | None  # median of the samples
    limited_s: dict[str, int]  # its own sending: seconds per qualityLimitationReason (not none)
    # Its own camera's frames encoded per second (its best encoding): what its partner could
    # get at most, which tells a slow sender on a loaded machine from the node.
    sent_fps: float | None
    seconds: float  # the window's length for this browser
    healthy: bool
    problems: tuple[str, ...]
    errors: tuple[str, ...] = ()  # why it never joined, its call's end, uncaught page errors

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _inbound(sample: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    stats = sample.get("stats") or {}
    return {str(s["id"]): s for s in stats.get("inbound", [])}


def _decoding(sample: Mapping[str, Any]) -> bool:
    return any(s.get("framesDecoded", 0) > 0 for s in _inbound(sample).values())


def window_samples(
    samples: Sequence[Mapping[str, Any]], window: tuple[float, float]
) -> list[Mapping[str, Any]]:
    """The samples of the window, from the first one with a decoded frame (a browser that joined
    late is judged on what it saw once its video started, not on its start-up). Later samples
    without stats stay: the page had no connection any more."""
    inside = [s for s in samples if window[0] <= s["t"] <= window[1]]
    for index, sample in enumerate(inside):
        if sample.get("stats") and _decoding(sample):
            return inside[index:]
    return []


def _delta(first: Mapping[str, Any], last: Mapping[str, Any], key: str) -> float:
    return float(last.get(key, 0) or 0) - float(first.get(key, 0) or 0)


def _stream_fps(samples: Sequence[Mapping[str, Any]], stream: str) -> list[float]:
    """Frames per second of one stream between consecutive samples."""
    out = []
    for a, b in itertools.pairwise(samples):
        before, after = _inbound(a).get(stream), _inbound(b).get(stream)
        if before is not None and after is not None and b["t"] > a["t"]:
            out.append(_delta(before, after, "framesDecoded") / (b["t"] - a["t"]))
    return out


def _limited(samples: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Seconds (samples) in which the page's own encoder said what limited it."""
    counts: dict[str, int] = {}
    for sample in samples:
        reasons = {
            str(o.get("qualityLimitationReason") or "none")
            for o in (sample.get("stats") or {}).get("outbound", [])
        }
        for reason in sorted(reasons - {"none"}):
            counts[reason] = counts.get(reason, 0) + 1
    return counts


def _sent_fps(first: Mapping[str, Any], last: Mapping[str, Any], seconds: float) -> float | None:
    """Frames encoded per second by the page's best encoding (by rid; one without a rid is the
    only one)."""

    def encoded(sample: Mapping[str, Any]) -> dict[str, float]:
        outbound = (sample.get("stats") or {}).get("outbound", [])
        return {str(o.get("rid")): float(o.get("framesEncoded", 0) or 0) for o in outbound}

    before, after = encoded(first), encoded(last)
    rates = [(n - before.get(rid, 0.0)) / seconds for rid, n in after.items()]
    return max(rates) if rates else None


def _median(values: Sequence[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


@dataclass(frozen=True, slots=True)
class _Streams:
    """The received streams' figures between a window's first and last sample."""

    count: int
    frames: int
    fps: float
    kbps: float
    freezes: int
    freeze_s: float
    loss_pct: float
    width: int
    height: int


def _streams(first: Mapping[str, Any], last: Mapping[str, Any], seconds: float) -> _Streams:
    start, end = _inbound(first), _inbound(last)
    # Streams that carried packets in the window (a group room's page has idle slots too); one
    # that started within the window counts from zero.
    live = {k: v for k, v in end.items() if _delta(start.get(k, {}), v, "packetsReceived") > 0}
    frames = {k: _delta(start.get(k, {}), v, "framesDecoded") for k, v in live.items()}
    lost = sum(_delta(start.get(k, {}), v, "packetsLost") for k, v in live.items())
    got = sum(_delta(start.get(k, {}), v, "packetsReceived") for k, v in live.items())
    return _Streams(
        count=len(live),
        frames=int(sum(frames.values())),
        fps=min(frames.values()) / seconds if frames else 0.0,
        kbps=sum(8 * _delta(start.get(k, {}), v, "bytesReceived") for k, v in live.items())
        / seconds
        / 1000.0,
        freezes=int(sum(_delta(start.get(k, {}), v, "freezeCount") for k, v in live.items())),
        freeze_s=sum(_delta(start.get(k, {}), v, "totalFreezesDuration") for k, v in live.items()),
        loss_pct=100.0 * max(0.0, lost) / (lost + got) if lost + got > 0 else 0.0,
        width=min((int(v.get("frameWidth", 0) or 0) for v in live.values()), default=0),
        height=min((int(v.get("frameHeight", 0) or 0) for v in live.values()), default=0),
    )


def summarize_browser(
    name: str,
    joined: str,
    samples: Sequence[Mapping[str, Any]],
    window: tuple[float, float],
    published_fps: float,
    setup_ms: float | None = None,
    errors: Sequence[str] = (),
) -> BrowserSummary:
    """One browser's figures over ``window`` (seconds since the run's start) and its verdict
    against ``published_fps`` (what its partner or its room's publisher sends)."""
    started = window_samples(samples, window)
    # A page whose connection went away (the call ended, the page broke) is judged on what it
    # saw until then, and the end itself is a problem.
    ended = next((s["t"] for s in started if not s.get("stats")), None)
    mine = [s for s in started if s.get("stats")]
    errors = [*errors, f"its call ended at {ended:.0f} s"] if ended is not None else errors
    seconds = mine[-1]["t"] - mine[0]["t"] if len(mine) >= 2 else 0.0
    if seconds <= 0:
        empty = _Streams(0, 0, 0.0, 0.0, 0, 0.0, 0.0, 0, 0)
        return _judged(name, joined, setup_ms, empty, None, None, None, {}, None, 0.0, errors, 0.0)
    streams = _streams(mine[0], mine[-1], seconds)
    per_second = [f for stream in _inbound(mine[-1]) for f in _stream_fps(mine, stream)]
    jitters = [
        1000.0 * float(s["jitter"])
        for sample in mine
        for s in _inbound(sample).values()
        if s.get("jitter") is not None and s.get("packetsReceived", 0) > 0
    ]
    rtts = [1000.0 * float(s["stats"]["rtt"]) for s in mine if s["stats"].get("rtt") is not None]
    return _judged(
        name,
        joined,
        setup_ms,
        streams,
        min(per_second) if per_second else None,
        max(jitters) if jitters else None,
        _median(rtts),
        _limited(mine),
        _sent_fps(mine[0], mine[-1], seconds),
        seconds,
        errors,
        published_fps,
    )


def _judged(
    name: str,
    joined: str,
    setup_ms: float | None,
    streams: _Streams,
    fps_min_1s: float | None,
    jitter_ms: float | None,
    rtt_ms: float | None,
    limited_s: dict[str, int],
    sent_fps: float | None,
    seconds: float,
    errors: Sequence[str],
    published_fps: float,
) -> BrowserSummary:
    problems = verdict(
        frames=streams.frames,
        fps=streams.fps,
        width=streams.width,
        freeze_s=streams.freeze_s,
        freezes=streams.freezes,
        loss_pct=streams.loss_pct,
        published_fps=published_fps,
        errors=errors,
    )
    return BrowserSummary(
        name=name,
        joined=joined,
        setup_ms=setup_ms,
        streams=streams.count,
        frames_decoded=streams.frames,
        fps=streams.fps,
        fps_min_1s=fps_min_1s,
        width=streams.width,
        height=streams.height,
        kbps=streams.kbps,
        freezes=streams.freezes,
        freeze_s=streams.freeze_s,
        jitter_ms=jitter_ms,
        loss_pct=streams.loss_pct,
        rtt_ms=rtt_ms,
        limited_s=limited_s,
        sent_fps=sent_fps,
        seconds=seconds,
        healthy=not problems,
        problems=problems,
        errors=tuple(errors),
    )


def verdict(
    *,
    frames: int,
    fps: float,
    width: int,
    freeze_s: float,
    freezes: int,
    loss_pct: float,
    published_fps: float,
    errors: Sequence[str] = (),
) -> tuple[str, ...]:
    """Why a person in this browser would call the call bad (empty: it was fine); ``errors``
    (it never joined, its call ended, the page threw) are problems as they are."""
    if frames <= 0 or width <= 0:
        return ("no video decoded", *errors[:3])
    problems = []
    floor = FPS_FRACTION * published_fps
    if fps < floor:
        problems.append(f"{fps:.1f} fps (floor {floor:.0f})")
    if freeze_s > FREEZE_MAX_S:
        problems.append(f"froze {freeze_s:.1f} s in {freezes} freeze(s) (at most {FREEZE_MAX_S:g})")
    if loss_pct > LOSS_MAX_PCT:
        problems.append(f"{loss_pct:.1f} % packets lost (at most {LOSS_MAX_PCT:g})")
    problems.extend(errors[:3])
    return tuple(problems)


def browsers_line(browsers: Sequence[Mapping[str, Any]]) -> str | None:
    """The unhealthy browsers and why, for the bottleneck line (None: all healthy or none)."""
    bad = [f"{b['name']}: {'; '.join(b['problems'])}" for b in browsers if not b["healthy"]]
    return "browsers: " + ", ".join(bad) if bad else None


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def browser_table(runs: Sequence[tuple[str, int, Sequence[Mapping[str, Any]]]]) -> str:
    """One line per browser of each run (target, clients, its browsers' summaries as JSON)."""
    header = (
        f"{'target':<7}{'clients':>8}  {'browser':<10}{'joined':<22}{'setup ms':>9}"
        f"{'fps':>6}{'min 1s':>7}{'picture':>10}{'kbit/s':>8}{'freezes':>8}{'frozen s':>9}"
        f"{'jitter ms':>10}{'loss%':>7}{'rtt ms':>7}{'sent fps':>9}  {'limited (s)':<14}verdict"
    )
    lines = [header, "-" * len(header)]
    for target, clients, browsers in runs:
        for b in browsers:
            limited = ",".join(f"{k} {v}" for k, v in b["limited_s"].items()) or "-"
            lines.append(
                f"{target:<7}{clients:>8}  {b['name']:<10}{b['joined']:<22}"
                f"{_num(b['setup_ms'], 0):>9}{b['fps']:>6.1f}{_num(b['fps_min_1s']):>7}"
                f"{str(b['width']) + 'x' + str(b['height']):>10}{b['kbps']:>8.0f}"
                f"{b['freezes']:>8}{b['freeze_s']:>9.2f}{_num(b['jitter_ms']):>10}"
                f"{b['loss_pct']:>7.2f}{_num(b['rtt_ms'], 0):>7}{_num(b['sent_fps']):>9}"
                f"  {limited:<14}"
                + ("ok" if b["healthy"] else "UNHEALTHY: " + "; ".join(b["problems"]))
            )
    return "\n".join(lines)


def chromium_cpu(samples: Sequence[tuple[float, float]], t0: float, t1: float) -> float | None:
    """Chromium's CPU over [t0, t1] as % of one core, from ``(t, cpu_seconds)`` samples of its
    whole process tree (browser, renderers, GPU and utility processes)."""
    inside = [s for s in samples if t0 <= s[0] <= t1]
    if len(inside) < 2 or inside[-1][0] <= inside[0][0]:
        return None
    return 100.0 * (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])


def tree_cpu_seconds(
    before: Mapping[int, float], now: Mapping[int, float], total_before: float
) -> float:
    """Cumulative CPU seconds of a process tree: ``total_before`` (the previous total) plus what
    each process now alive used since the previous reading (all of it for a new process). A
    process that exited since takes its last interval with it: at most one sampling interval
    of a short-lived helper is missed, never counted twice."""
    return total_before + sum(max(0.0, cpu - before.get(pid, 0.0)) for pid, cpu in now.items())
