"""Prometheus metrics of one node, on a registry of its own (several nodes share a test process).

Nothing here sits on the forward path: the SFU sessions already count forwarded packets, drops by
reason, RTCP and retransmissions (:meth:`SfuSession.metrics`), and the limiter counts refusals;
a scrape reads those counters. The node's gauges come from the same :meth:`RoomService.status`
that ``/api/status`` returns, so both endpoints tell the same story. Counters of sessions that
ended are folded into running totals at the next scrape, so a Prometheus counter never goes
backwards when a call ends.

Two histograms are observed as events go out (a wrapper around ``emit``):
``liveloop_match_latency_seconds`` — from a client's ``request-room`` to its ``match-done``;
``liveloop_call_setup_seconds`` — from ``match-done`` to the SDP answer reaching that client
(sfu: the node's answer; p2p: the partner's answer relayed to the offerer), i.e. until the
client can start ICE/DTLS.

Two more are observed from the SFU sessions' once-a-second samples, taken at each scrape
(:meth:`SfuSession.take_estimate_samples`): ``liveloop_publisher_target_bps`` — the bit rate the
node asks of each published video track (REMB upstream), and ``liveloop_subscriber_estimate_bps``
— the node's estimate of each subscriber connection's downlink, while it is a limit (an
unlimited estimate counts in ``liveloop_subscriber_estimate_unlimited``).
Call quality from RTCP (sfu calls and rooms), one observation per report block — about one per
stream per second — labelled ``direction`` and ``kind``: ``liveloop_rtcp_fraction_lost``,
``liveloop_rtcp_jitter_seconds`` and ``liveloop_rtcp_rtt_seconds``. ``ingress`` is a publisher's
stream as the node receives it (the node's own receiver-report statistics), ``egress`` a
forwarded stream as the subscriber's browser reports it; the round trip is known for egress
only (from LSR/DLSR against the node's sender reports). Labels never name a call or a person,
so the series count stays fixed however many calls run.

The process itself: prometheus_client's ``process_*`` metrics (CPU seconds, resident memory,
open file descriptors, start time; Linux ``/proc``), on the node's registry —
``liveloop-sfu bench --url`` reads a remote node's CPU and memory from them.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Protocol, runtime_checkable

from prometheus_client import CollectorRegistry, Histogram, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from liveloop_sfu.media.session import Emit, QualitySample, QualitySink
from liveloop_sfu.rooms.handoff import RecordingHandOff
from liveloop_sfu.rooms.saturation import REASONS as SATURATION_REASONS
from liveloop_sfu.rooms.service import RoomService

__all__ = ["CONTENT_TYPE", "CallQuality", "NodeMetrics", "Refusals", "SessionMetrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_LATENCY_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
_BITRATE_BUCKETS = (
    100e3, 200e3, 300e3, 500e3, 750e3, 1e6, 1.5e6, 2e6, 3e6, 5e6, 10e6, 20e6
)  # fmt: skip
# Call quality: loss as a fraction (RFC 3550's 8-bit field, so 1/256 steps), jitter and RTT in
# seconds, with buckets around what people notice (a few % loss, tens of ms jitter, 300 ms RTT).
_LOSS_BUCKETS = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0)
_JITTER_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.5)
_RTT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.0)
_QUALITY_LABELS = ("direction", "kind")

# SfuSession.metrics() key -> (metric name, help).
_SFU_COUNTERS = {
    "forwarded-packets": ("liveloop_forwarded_packets", "RTP packets forwarded to subscribers"),
    "forwarded-bytes": ("liveloop_forwarded_bytes", "RTP bytes forwarded to subscribers"),
    "rtcp-out-nack": ("liveloop_nacks_sent", "NACKs sent to publishers for lost packets"),
    "rtcp-in": ("liveloop_rtcp_received", "RTCP compound packets received from participants"),
    "rtcp-in-sr": ("liveloop_rtcp_sender_reports_received", "sender reports from publishers"),
    "rtcp-in-rr": ("liveloop_rtcp_receiver_reports_received", "receiver reports from participants"),
    "rtcp-in-nack": ("liveloop_rtcp_nacks_received", "generic NACKs from subscribers"),
    "rtcp-in-pli": ("liveloop_rtcp_plis_received", "picture loss indications from subscribers"),
    "rtcp-in-fir": ("liveloop_rtcp_firs_received", "full intra requests from subscribers"),
    "retransmitted": ("liveloop_rtx_sent", "retransmissions (RTX) sent to subscribers"),
    "rtcp-out-remb": ("liveloop_remb_sent", "REMB bandwidth estimates sent to publishers"),
    "rtcp-out-transport-feedback": (
        "liveloop_transport_feedback_sent",
        "transport-wide congestion control feedback packets sent to publishers",
    ),
    "rtcp-in-transport-feedback": (
        "liveloop_transport_feedback_received",
        "transport-wide congestion control feedback packets received from subscribers",
    ),
    "subscriber-estimate-unlimited": (
        "liveloop_subscriber_estimate_unlimited",
        "once-a-second samples of subscriber connections whose path showed no congestion",
    ),
    "simulcast-layer-switches": (
        "liveloop_simulcast_layer_switches",
        "simulcast layer changes decided for a subscriber (made at the target layer's keyframe)",
    ),
    "probe-clusters": (
        "liveloop_bandwidth_probes",
        "padding probes of subscriber downlinks held below the layers they asked for",
    ),
    "probe-padding-packets": (
        "liveloop_probe_padding_packets",
        "padding-only RTX packets sent to subscribers by bandwidth probes",
    ),
    "failures": ("liveloop_media_failures", "browsers whose media connection to the node failed"),
    "send-failed": ("liveloop_send_failures", "packets the transport refused to send"),
    "ice-restarts": (
        "liveloop_ice_restarts",
        "browser connections to the node replaced after an ICE restart (e.g. a network switch)",
    ),
}
_DROP_PREFIX = "drop:"
# PLIs sent to publishers, by why they were asked (SendToPublisher.reason), each exposed at 0
# from the start.
_KEYFRAME_PREFIX = "keyframe-request:"
_KEYFRAME_REASONS = (
    "new-subscriber", "subscriber", "layer-switch", "resume", "recorder", "publisher-ready",
    "retry",
)  # fmt: skip
# Bandwidth probes' results (media/core/probe_cluster.py), each exposed at 0 from the start.
_PROBE_PREFIX = "probe-result:"
_PROBE_RESULTS = (
    "ok", "delay", "saturated", "loss", "unreported", "too-few", "too-short", "invalid",
)  # fmt: skip
# Session values that are gauges (a level now), not totals: never folded into retired totals.
_SESSION_GAUGES = ("forwarded-streams", "simulcast-paused-layers")
ADMISSION_REASONS = ("streams", *SATURATION_REASONS)
# Outcomes of the recording hand-off (rooms/handoff.py), each exposed from the start at 0.
_WEBHOOK_OUTCOMES = ("delivered", "retry", "gave-up")
_COMMAND_OUTCOMES = ("ok", "failed", "timeout", "error")


class Refusals(Protocol):
    """The abuse limits' counters as a scrape reads them (signal/limits.py ``Limiter``): the
    socket.io boundary is a sibling of this one, so metrics know it only by this shape."""

    @property
    def refused(self) -> Mapping[str, int]:
        """Refused client events and connections, by kind."""

    @property
    def disconnected(self) -> int:
        """Clients disconnected for flooding."""


@runtime_checkable
class SessionMetrics(Protocol):
    """What a media session exposes for scraping (SfuSession)."""

    def metrics(self) -> dict[str, int]: ...

    def take_estimate_samples(self) -> list[tuple[str, int]]: ...


@runtime_checkable
class QualityReporter(Protocol):
    """A media session that hands out its RTCP report blocks (SfuSession)."""

    def report_quality(self, sink: QualitySink) -> None: ...


class CallQuality:
    """The call-quality histograms (see the module's docstring)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.loss = Histogram(
            "liveloop_rtcp_fraction_lost",
            "fraction of a stream's packets lost, per RTCP report block",
            _QUALITY_LABELS,
            buckets=_LOSS_BUCKETS,
            registry=registry,
        )
        self.jitter = Histogram(
            "liveloop_rtcp_jitter_seconds",
            "interarrival jitter of a stream, per RTCP report block",
            _QUALITY_LABELS,
            buckets=_JITTER_BUCKETS,
            registry=registry,
        )
        self.rtt = Histogram(
            "liveloop_rtcp_rtt_seconds",
            "round trip node <-> browser from a receiver report's LSR/DLSR (egress)",
            _QUALITY_LABELS,
            buckets=_RTT_BUCKETS,
            registry=registry,
        )

    def observe(self, sample: QualitySample) -> None:
        labels = (sample.direction, sample.kind)
        self.loss.labels(*labels).observe(sample.loss)
        self.jitter.labels(*labels).observe(sample.jitter)
        if sample.rtt is not None:
            self.rtt.labels(*labels).observe(sample.rtt)


class NodeMetrics:
    def __init__(self, limits: Refusals, clock: Callable[[], float] = time.monotonic) -> None:
        self._rooms: RoomService | None = None
        self._limits = limits
        self._clock = clock
        self.registry = CollectorRegistry()
        self.match_latency = Histogram(
            "liveloop_match_latency_seconds",
            "request-room to match-done",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.call_setup = Histogram(
            "liveloop_call_setup_seconds",
            "match-done to the SDP answer reaching the client",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.publisher_target = Histogram(
            "liveloop_publisher_target_bps",
            "bit rate the node asks of a published video track (REMB), sampled once a second",
            buckets=_BITRATE_BUCKETS,
            registry=self.registry,
        )
        self.subscriber_estimate = Histogram(
            "liveloop_subscriber_estimate_bps",
            "the node's estimate of a subscriber's downlink while it limits, once a second",
            buckets=_BITRATE_BUCKETS,
            registry=self.registry,
        )
        self.quality = CallQuality(self.registry)
        # process_* (CPU, memory, file descriptors, start time) of this process.
        ProcessCollector(registry=self.registry)
        self._sessions: list[SessionMetrics] = []
        self._retired: Counter[str] = Counter()
        self._requested: dict[str, float] = {}  # sid -> request-room time
        self._matched: dict[str, float] = {}  # sid -> match-done time (until its answer)
        self._status: dict[str, Any] = {}
        self.session_gauges: Counter[str] = Counter()  # of the live sessions, at the last scrape
        # Garbage datagrams refused on the media sockets (GuardedStunProtocol.dropped); set by
        # app.py only on nodes that load aiortc, so a p2p node never imports it.
        self.refused_datagrams: Callable[[], int] = lambda: 0
        # The recording hand-off's counters; set by app.py.
        self.handoff: RecordingHandOff | None = None
        self.registry.register(_NodeCollector(self))

    def attach(self, rooms: RoomService) -> None:
        """The rooms whose status is scraped (they need ``observing``'s emit first)."""
        self._rooms = rooms

    @property
    def rooms(self) -> RoomService:
        if self._rooms is None:
            raise RuntimeError("NodeMetrics.attach(rooms) was not called")
        return self._rooms

    # -- inputs ----------------------------------------------------------------------------------

    def track_session(self, session: SessionMetrics) -> None:
        self._sessions.append(session)
        if isinstance(session, QualityReporter):
            session.report_quality(self.quality.observe)

    def on_event(self, sid: str, event: str) -> None:
        """A client event was admitted (signal/handlers.py) or the client left."""
        if event == "request-room":
            self._requested.setdefault(sid, self._clock())
        elif event in ("stop-call", "disconnect"):
            self._requested.pop(sid, None)
            self._matched.pop(sid, None)

    def observing(self, emit: Emit) -> Emit:
        """``emit`` that also times matches and call set-ups."""

        async def observed(sid: str, event: str, payload: Mapping[str, Any]) -> None:
            self._on_emit(sid, event)
            await emit(sid, event, payload)

        return observed

    def _on_emit(self, sid: str, event: str) -> None:
        now = self._clock()
        if event == "match-done":
            requested = self._requested.pop(sid, None)
            if requested is not None:
                self.match_latency.observe(now - requested)
            self._matched[sid] = now
        elif event == "negotiation-call-answer":
            matched = self._matched.pop(sid, None)
            if matched is not None:
                self.call_setup.observe(now - matched)

    # -- scraping --------------------------------------------------------------------------------

    async def render(self) -> bytes:
        """The exposition text; reads the node's status first (it may await the matchmaker)."""
        self._status = await self.rooms.status()
        for session in self._sessions:  # before the histograms are read, ended calls too
            self._observe_estimates(session)
        return generate_latest(self.registry)

    def media_totals(self) -> Counter[str]:
        """Every SFU session's counters, live and ended, summed."""
        live = {id(room.media) for room in self.rooms.active_rooms()}
        totals = Counter(self._retired)
        keep = []
        for session in self._sessions:
            counters = session.metrics()
            if id(session) in live:
                keep.append(session)
                totals.update(counters)
            else:
                for gauge in _SESSION_GAUGES:
                    counters.pop(gauge, None)
                self._retired.update(counters)
                totals.update(counters)
        self._sessions = keep
        self.session_gauges = Counter({gauge: totals.pop(gauge, 0) for gauge in _SESSION_GAUGES})
        return totals

    def _observe_estimates(self, session: SessionMetrics) -> None:
        for side, bps in session.take_estimate_samples():
            histogram = self.publisher_target if side == "publisher" else self.subscriber_estimate
            histogram.observe(bps)


class _NodeCollector(Collector):
    def __init__(self, metrics: NodeMetrics) -> None:
        self._metrics = metrics

    def describe(self) -> Iterator[Metric]:
        return iter(())  # dynamic: read at scrape time, so no names to reserve at register

    def collect(self) -> Iterator[Metric]:
        status = self._metrics._status
        if status:  # read by render(); a bare generate_latest() gets the counters only
            yield from _gauges(status, self._metrics.rooms)
        totals = self._metrics.media_totals()
        for key, (name, text) in _SFU_COUNTERS.items():
            yield CounterMetricFamily(name, text, value=totals.get(key, 0))
        yield _keyframe_requests(totals)
        yield _probe_results(totals)
        yield GaugeMetricFamily(
            "liveloop_simulcast_paused_layers",
            "simulcast layers paused at their publishers because no subscriber is given them",
            self._metrics.session_gauges.get("simulcast-paused-layers", 0),
        )
        drops = CounterMetricFamily(
            "liveloop_dropped_packets", "packets not forwarded, by reason", labels=["reason"]
        )
        for key, count in sorted(totals.items()):
            if key.startswith(_DROP_PREFIX):
                drops.add_metric([key[len(_DROP_PREFIX) :]], count)
        yield drops
        limited = CounterMetricFamily(
            "liveloop_rate_limited", "refused client events and connections", labels=["kind"]
        )
        for kind, count in sorted(self._metrics._limits.refused.items()):
            limited.add_metric([kind], count)
        yield limited
        yield CounterMetricFamily(
            "liveloop_flood_disconnects",
            "clients disconnected for flooding",
            value=self._metrics._limits.disconnected,
        )
        yield CounterMetricFamily(
            "liveloop_refused_datagrams",
            "datagrams on media ports that were neither STUN nor part of a call (dropped)",
            value=self._metrics.refused_datagrams(),
        )
        if self._metrics.handoff is not None:
            yield from _handoff(self._metrics.handoff)


def _keyframe_requests(totals: Mapping[str, int]) -> Metric:
    return _by_label(
        totals,
        "liveloop_keyframe_requests",
        "PLIs sent to publishers (merged, throttled), by why they were asked",
        "reason",
        _KEYFRAME_PREFIX,
        _KEYFRAME_REASONS,
    )


def _probe_results(totals: Mapping[str, int]) -> Metric:
    return _by_label(
        totals,
        "liveloop_bandwidth_probe_results",
        "bandwidth probes by result: ok raised the subscriber's estimate, the others did not",
        "result",
        _PROBE_PREFIX,
        _PROBE_RESULTS,
    )


def _by_label(
    totals: Mapping[str, int],
    name: str,
    documentation: str,
    label: str,
    prefix: str,
    known: Iterable[str],
) -> Metric:
    """A counter of the session totals ``<prefix><value>``, one series per value: the ``known``
    ones always (0 until counted), and any other that was counted."""
    family = CounterMetricFamily(name, documentation, labels=[label])
    values = set(known)
    values.update(k[len(prefix) :] for k in totals if k.startswith(prefix))
    for value in sorted(values):
        family.add_metric([value], totals.get(prefix + value, 0))
    return family


def _handoff(handoff: RecordingHandOff) -> Iterator[Metric]:
    yield _by_outcome(
        "liveloop_recording_webhooks",
        "finished-recording webhook attempts, by outcome",
        _WEBHOOK_OUTCOMES,
        handoff.webhook_outcomes,
    )
    yield GaugeMetricFamily(
        "liveloop_recording_webhooks_pending",
        "finished-recording webhook deliveries not yet taken by the receiver",
        handoff.pending_webhooks(),
    )
    yield _by_outcome(
        "liveloop_recording_commands",
        "finished-recording commands run, by outcome (ok, failed, timeout, error)",
        _COMMAND_OUTCOMES,
        handoff.command_outcomes,
    )


def _by_outcome(
    name: str, text: str, outcomes: tuple[str, ...], counts: Mapping[str, int]
) -> Metric:
    family = CounterMetricFamily(name, text, labels=["outcome"])
    for outcome in outcomes:
        family.add_metric([outcome], counts.get(outcome, 0))
    return family


def _gauges(status: Mapping[str, Any], rooms: RoomService) -> Iterator[Metric]:
    yield GaugeMetricFamily(
        "liveloop_connected_sockets", "open socket.io connections", status["connectedSockets"]
    )
    yield GaugeMetricFamily(
        "liveloop_waiting_users", "users waiting for a match", status["waitingUsers"]
    )
    by_mode = GaugeMetricFamily("liveloop_rooms", "active rooms by media mode", labels=["mode"])
    for mode, count in sorted(status["activeRooms"].items()):
        by_mode.add_metric([mode], count)
    yield by_mode
    yield GaugeMetricFamily(
        "liveloop_forwarded_streams",
        "publisher track -> subscriber links",
        status["forwardedStreams"],
    )
    # Leak detection (benchmarks/suites/soak.py): every task of the node's event loop.
    yield GaugeMetricFamily(
        "liveloop_asyncio_tasks", "asyncio tasks of the node's event loop", len(asyncio.all_tasks())
    )
    yield from _admission(status["admission"], rooms)
    peers = sum(len(room.members) for room in rooms.active_rooms() if room.mode == "sfu")
    yield GaugeMetricFamily(
        "liveloop_peer_connections", "browsers with a peer connection to the node", peers
    )


def _admission(admission: Mapping[str, Any], rooms: RoomService) -> Iterator[Metric]:
    """Whether new calls are refused and why, the readings that decide it (rooms/saturation.py)
    and the refusals so far."""
    refusing = GaugeMetricFamily(
        "liveloop_admission_refusing",
        "1 while new calls are refused with capacity, by reason (streams: the operator's cap; "
        "event-loop-lag, cpu: the node's self-measurement)",
        labels=["reason"],
    )
    for reason in ADMISSION_REASONS:
        refusing.add_metric([reason], 1 if admission["refusing"] == reason else 0)
    yield refusing
    refused = CounterMetricFamily(
        "liveloop_capacity_refusals",
        "calls and room joins refused with capacity, by reason",
        labels=["reason"],
    )
    for reason in ADMISSION_REASONS:
        refused.add_metric([reason], rooms.capacity_refusals.get(reason, 0))
    yield refused
    # Always exported, NaN until the first second has been measured (or when the
    # self-measurement is off): a scrape right after start still finds every metric.
    measured = "eventLoopLagP95Ms" in admission
    nan = float("nan")
    yield GaugeMetricFamily(
        "liveloop_event_loop_lag_seconds",
        "how late the node's periodic timer fired, 95th percentile over the last second",
        admission["eventLoopLagP95Ms"] / 1000 if measured else nan,
    )
    yield GaugeMetricFamily(
        "liveloop_event_loop_cpu_ratio",
        "CPU seconds per second of the event loop's thread over the last second (max 1)",
        admission["loopCpu"] if measured else nan,
    )
    yield GaugeMetricFamily(
        "liveloop_process_cpu_ratio",
        "CPU seconds per second of the process over the cores it may use, last second",
        admission["processCpu"] if measured else nan,
    )
