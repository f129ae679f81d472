"""Figures of the forwarding benchmark, from raw measurements to table and JSON. Pure: no I/O.

Definitions (also written into the JSON):

* forwarded stream: one participant's media — 640x480 VP8 (~1 Mbps, 30 fps) plus Opus —
  delivered by the node to one subscriber. A 1:1 call forwards two (A→B, B→A): ``--streams N``
  runs N/2 calls.
* packets: RTP packets the node sent to subscribers in the window (video, audio and RTX), as
  numbered by the node (highest − first sequence number + 1 at each receiver, so lost ones count).
* per-stream and per-packet costs are SLOPES of a least-squares line across the stream counts:
  node CPU (% of one core) against streams, node CPU µs per second against packets per second.
  Fixed costs (event loop, socket.io, timers) fall into the intercept, not the slope; a
  0-stream point (the idle node, no clients) anchors it.
* saturated point: the node no longer keeps up (delivered video below 90 % of the published
  frame rate, loss above 5 %, or a call dropped). Its CPU is capped by the machine, not by the
  work, so the slopes are fitted over the unsaturated points when at least two remain.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from benchmarks.reports.stats import LineFit, fit_line, percentile

TARGET_RATIO = 10.0  # relay ÷ sfu per stream: at least
JANUS_TARGET_RATIO = 1.0  # sfu ÷ janus per packet: below
SATURATED_FPS_FRACTION = 0.9
SATURATED_LOSS_PCT = 5.0
DEFINITIONS = {
    "forwarded_stream": "one participant's media (640x480 VP8 ~1 Mbps 30 fps + Opus) delivered "
    "by the node to one subscriber; a 1:1 call forwards 2 streams, so N streams = N/2 calls",
    "packets": "RTP packets (video+audio+RTX) the node sent to subscribers in the window, "
    "counted from the sequence numbers seen by receivers",
    "cpu_pct": "node process CPU time (utime+stime, all threads) over the window, % of one core",
    "slopes": "least-squares slope across stream counts: node CPU %/stream, and node CPU µs per "
    "packet from CPU µs/s against packets/s (fixed costs go to the intercept)",
    "latency": "publisher hands a frame to its sender -> last packet of that frame arrives at the "
    "subscriber, matched by the frame counter painted in the picture, on decoded sample streams",
    "loss": "packets numbered by the node but never received, over all receivers",
    "saturated": "delivered fps < 90 % of published, loss > 5 % or a call dropped: left out of "
    "the slope fits when at least two unsaturated stream counts remain",
}


@dataclass(frozen=True, slots=True)
class Point:
    """One node type at one stream count."""

    node: str
    streams: int
    window_s: float
    node_cpu_pct: float
    clients_cpu_pct: float
    packets_per_s: float
    video_fps_mean: float
    video_fps_min: float
    video_kbps_mean: float
    loss_pct: float
    latency_ms_p50: float | None
    latency_ms_p99: float | None
    latency_samples: int
    decoded_frames: int
    unreadable_frames: int
    keyframe_requests: int
    disconnected: int
    saturated: bool

    @property
    def node_us_per_packet(self) -> float | None:
        """Whole-node CPU per packet at this point (fixed costs included)."""
        if self.packets_per_s <= 0:
            return None
        return self.node_cpu_pct * 1e4 / self.packets_per_s

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "node_us_per_packet": self.node_us_per_packet}


def point_from_windows(
    node: str,
    streams: int,
    node_window_s: float,
    node_cpu_pct: float,
    clients_cpu_pct: float,
    windows: list[dict[str, Any]],
    published_fps: float = 30.0,
) -> Point:
    """Fold the clients' ``window`` replies (benchmarks.clients.call_client) into one point."""
    receivers = [r for window in windows for r in window["receivers"]]
    seconds = [float(w["seconds"]) for w in windows] or [node_window_s]
    client_window = sum(seconds) / len(seconds)
    expected = sum(r[k]["expected"] for r in receivers for k in ("video", "audio"))
    received = sum(r[k]["packets"] for r in receivers for k in ("video", "audio"))
    rtx = sum(r["rtx"]["packets"] for r in receivers)
    fps = [r["video"]["frames"] / client_window for r in receivers]
    kbps = [8 * r["video"]["octets"] / client_window / 1000 for r in receivers]
    latencies = [1000 * x for r in receivers for x in r["latencies"]]
    fps_mean = sum(fps) / len(fps) if fps else 0.0
    loss_pct = 100.0 * max(0, expected - received) / expected if expected else 0.0
    disconnected = sum(1 for r in receivers if r["connection"] != "connected" or r["partner_left"])
    return Point(
        node=node,
        streams=streams,
        window_s=node_window_s,
        node_cpu_pct=node_cpu_pct,
        clients_cpu_pct=clients_cpu_pct,
        packets_per_s=(expected + rtx) / client_window,
        video_fps_mean=fps_mean,
        video_fps_min=min(fps, default=0.0),
        video_kbps_mean=sum(kbps) / len(kbps) if kbps else 0.0,
        loss_pct=loss_pct,
        latency_ms_p50=percentile(latencies, 50),
        latency_ms_p99=percentile(latencies, 99),
        latency_samples=len(latencies),
        decoded_frames=sum(int(r["decoded_total"]) for r in receivers),
        unreadable_frames=sum(int(r["unreadable_total"]) for r in receivers),
        keyframe_requests=sum(int(r["keyframe_requests"]) for r in receivers),
        disconnected=disconnected,
        saturated=streams > 0
        and (
            fps_mean < SATURATED_FPS_FRACTION * published_fps
            or loss_pct > SATURATED_LOSS_PCT
            or disconnected > 0
        ),
    )


@dataclass(frozen=True, slots=True)
class NodeSummary:
    node: str
    cpu_pct_per_stream: LineFit | None  # x = streams, y = node CPU %
    us_per_packet: LineFit | None  # x = packets/s, y = node CPU µs/s
    fitted_streams: tuple[int, ...]  # the stream counts the lines were fitted over
    saturated_in_fit: bool = False  # fewer than two unsaturated counts: the fit is not a cost

    def to_json(self) -> dict[str, Any]:
        def fit(line: LineFit | None) -> dict[str, Any] | None:
            return None if line is None else asdict(line)

        return {
            "node": self.node,
            "cpu_pct_per_stream": fit(self.cpu_pct_per_stream),
            "us_per_packet": fit(self.us_per_packet),
            "fitted_streams": list(self.fitted_streams),
            "saturated_in_fit": self.saturated_in_fit,
        }


def summarize(node: str, points: list[Point]) -> NodeSummary:
    mine = sorted((p for p in points if p.node == node), key=lambda p: p.streams)
    unsaturated = [p for p in mine if not p.saturated]
    if len({p.streams for p in unsaturated}) >= 2:
        mine = unsaturated
    return NodeSummary(
        node=node,
        fitted_streams=tuple(p.streams for p in mine),
        saturated_in_fit=any(p.saturated for p in mine),
        cpu_pct_per_stream=fit_line([p.streams for p in mine], [p.node_cpu_pct for p in mine]),
        us_per_packet=fit_line(
            [p.packets_per_s for p in mine], [p.node_cpu_pct * 1e4 for p in mine]
        ),
    )


def _slope(line: LineFit | None) -> float | None:
    return line.slope if line is not None else None


def _ratio(top: float | None, bottom: float | None) -> float | None:
    return top / bottom if top is not None and bottom is not None and bottom > 0 else None


def comparison(summaries: dict[str, NodeSummary], points: list[Point]) -> dict[str, Any] | None:
    """Ratios against our sfu: relay ÷ sfu (the decode/re-encode baseline, target ≥ 10×) and
    sfu ÷ janus (the figure that matters, target < 1.0), from the fitted slopes."""
    sfu = summaries.get("sfu")
    if sfu is None:
        return None
    relay, janus = summaries.get("relay"), summaries.get("janus")
    us = _slope(sfu.us_per_packet)
    janus_us = _slope(janus.us_per_packet) if janus else None
    slope_ratio = (
        _ratio(_slope(relay.cpu_pct_per_stream), _slope(sfu.cpu_pct_per_stream)) if relay else None
    )
    # A saturated node's CPU is capped by what it manages to do, not set by the work offered:
    # a ratio from such a fit would flatter whichever node fell behind.
    comparable = not sfu.saturated_in_fit and not (janus is not None and janus.saturated_in_fit)
    janus_ratio = _ratio(us, janus_us) if comparable else None
    by_streams: dict[int, dict[str, Point]] = {}
    for point in points:
        by_streams.setdefault(point.streams, {})[point.node] = point
    point_ratios = {
        str(n): pair["relay"].node_cpu_pct / pair["sfu"].node_cpu_pct
        for n, pair in sorted(by_streams.items())
        if "sfu" in pair
        and "relay" in pair
        and pair["sfu"].node_cpu_pct > 0
        # a saturated node's CPU is capped by the machine: no ratio to read there
        and not (pair["sfu"].saturated or pair["relay"].saturated)
    }
    return {
        "per_stream_ratio_relay_over_sfu": slope_ratio,
        "per_packet_ratio_relay_over_sfu": _ratio(_slope(relay.us_per_packet), us)
        if relay
        else None,
        "whole_node_cpu_ratio_by_streams": point_ratios,
        "per_packet_ratio_sfu_over_janus": janus_ratio,
        "per_stream_ratio_sfu_over_janus": _ratio(
            _slope(sfu.cpu_pct_per_stream), _slope(janus.cpu_pct_per_stream) if janus else None
        ),
        "targets": {
            "per_stream_ratio_at_least": TARGET_RATIO,
            "per_stream_ratio_met": None if slope_ratio is None else slope_ratio >= TARGET_RATIO,
            "janus_us_per_packet": janus_us,
            "sfu_us_per_packet": us,
            "sfu_over_janus_below": JANUS_TARGET_RATIO,
            "us_per_packet_met": None if janus_ratio is None else janus_ratio < JANUS_TARGET_RATIO,
        },
    }


def _per_stream(point: Point) -> float | None:
    return point.node_cpu_pct / point.streams if point.streams else None


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def table(points: list[Point]) -> str:
    header = (
        f"{'node':<6}{'streams':>8}{'node CPU%':>10}{'%/stream':>9}{'pkts/s':>8}"
        f"{'µs/pkt':>8}{'fps':>6}{'fps min':>8}{'kbps':>6}{'loss%':>7}{'p50 ms':>8}"
        f"{'p99 ms':>8}{'clients CPU%':>13}"
    )
    lines = [header, "-" * len(header)]
    for p in sorted(points, key=lambda p: (p.streams, p.node)):
        lines.append(
            f"{p.node:<6}{p.streams:>8}{p.node_cpu_pct:>10.1f}{_num(_per_stream(p), 2):>9}"
            f"{p.packets_per_s:>8.0f}{_num(p.node_us_per_packet, 0):>8}{p.video_fps_mean:>6.1f}"
            f"{p.video_fps_min:>8.1f}{p.video_kbps_mean:>6.0f}{p.loss_pct:>7.2f}"
            f"{_num(p.latency_ms_p50):>8}{_num(p.latency_ms_p99):>8}{p.clients_cpu_pct:>13.1f}"
            + ("  saturated" if p.saturated else "")
        )
    return "\n".join(lines)


def summary_lines(summaries: list[NodeSummary], compared: dict[str, Any] | None) -> list[str]:
    lines = []
    for s in summaries:
        per_stream, per_packet = s.cpu_pct_per_stream, s.us_per_packet
        lines.append(
            f"{s.node:<6} slope: {_num(per_stream.slope if per_stream else None, 2)} % of a core "
            f"per stream (r²={_num(per_stream.r2 if per_stream else None, 3)}), "
            f"{_num(per_packet.slope if per_packet else None, 1)} µs per packet "
            f"(r²={_num(per_packet.r2 if per_packet else None, 3)}), "
            f"fitted over {','.join(map(str, s.fitted_streams)) or '-'} streams"
            + (" INCLUDING SATURATED POINTS" if s.saturated_in_fit else "")
            + (
                f"; ≈ {100.0 / per_stream.slope:.0f} streams per core"
                if per_stream is not None and per_stream.slope > 0
                else ""
            )
        )
    if compared is not None:
        targets = compared["targets"]
        ratio = compared["per_stream_ratio_relay_over_sfu"]
        if ratio is not None:
            lines.append(
                f"per-stream cost, relay ÷ sfu: {_num(ratio, 1)}× "
                f"(target ≥ {TARGET_RATIO:g}×: {_verdict(targets['per_stream_ratio_met'])})"
            )
            lines.append(
                "per-packet cost, relay ÷ sfu: "
                f"{_num(compared['per_packet_ratio_relay_over_sfu'], 1)}×"
            )
        if targets["janus_us_per_packet"] is not None:
            ratio_text = _num(compared["per_packet_ratio_sfu_over_janus"], 2)
            verdict = _verdict(targets["us_per_packet_met"])
            if compared["per_packet_ratio_sfu_over_janus"] is None:
                ratio_text, verdict = "n/a", "n/a (a fit includes saturated points)"
            lines.append(
                f"µs per packet: sfu {_num(targets['sfu_us_per_packet'], 1)}, janus "
                f"{_num(targets['janus_us_per_packet'], 1)}; sfu ÷ janus {ratio_text} "
                f"(target < {JANUS_TARGET_RATIO:g}: {verdict})"
            )
    return lines


def bottleneck(point: Point, cores: int) -> str:
    """What limited this point: nothing (not saturated), the node, or the machine as a whole."""
    total = point.node_cpu_pct + point.clients_cpu_pct
    busy = f"node {point.node_cpu_pct:.0f}% + clients {point.clients_cpu_pct:.0f}% of {cores} cores"
    if not point.saturated:
        return f"{point.node} at {point.streams} streams keeps up ({busy})"
    if total >= 90.0 * cores:
        limit = "the machine (node and clients together)"
    elif point.node_cpu_pct >= 90.0:
        limit = "the node (≥ 90 % of a core: one event loop)"
    else:
        limit = "neither CPU figure; see the logs"
    return f"{point.node} at {point.streams} streams is SATURATED by {limit} ({busy})"


def bottleneck_lines(points: list[Point], cores: int) -> list[str]:
    """One line per node type, at its largest stream count."""
    largest: dict[str, Point] = {}
    for point in points:
        if point.node not in largest or point.streams > largest[point.node].streams:
            largest[point.node] = point
    return [bottleneck(point, cores) for point in largest.values()]


def _verdict(met: bool | None) -> str:
    return "n/a (needs ≥ 2 stream counts)" if met is None else ("met" if met else "NOT met")
