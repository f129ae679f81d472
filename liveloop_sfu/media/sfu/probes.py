"""Bandwidth probes: padding that tests whether a subscriber's downlink takes larger layers.

Why they exist: in a group room the layer allocation (:mod:`.simulcast_allocator`) keeps a
subscriber on a poor link at the layers its estimate allows, so the node sends it *less* than
the estimate, and an estimate that only grows while it is used (media/core/bandwidth_estimator.py)
cannot learn that the link has grown: the subscriber stays low long after its link recovered
(lab: over 20 s). In a 1:1 call the publisher's own ramp is the probe; here nothing is.

So, as mediasoup, LiveKit and libwebrtc do (each in its own way): when the allocation holds a
subscriber below what it asked for, :meth:`BandwidthProbes.want` is told the estimate all it
asked for needs, :class:`.probe_schedule.ProbeSchedule` decides whether and at what rate to probe,
and for :data:`DURATION` the node adds padding-only RTX packets
(:meth:`~liveloop_sfu.media.core.subscription.Subscription.padding`, compiled) to what it sends
that subscriber, paced every :data:`PACE` so that media and padding together go at the target
(measured on the transport's own ring of sent packets). The transport feedback about the
cluster (:class:`~liveloop_sfu.media.core.probe_cluster.ProbeCluster`) says whether it came
through without congestion: then the estimate rises to the rate measured at once
(:meth:`~liveloop_sfu.media.core.bandwidth_estimator.SubscriberEstimator.raise_to`) and the next
allocation takes the steps it now allows; if not, nothing moves up and the next probe waits longer.
"""

from __future__ import annotations

from dataclasses import dataclass

from liveloop_sfu.media.core.bandwidth_estimator import SubscriberEstimator
from liveloop_sfu.media.core.probe_cluster import ProbeCluster
from liveloop_sfu.media.core.subscription import Subscription
from liveloop_sfu.media.sfu.links import MediaParticipant
from liveloop_sfu.media.sfu.probe_schedule import ProbeSchedule
from liveloop_sfu.media.sfu.state import SessionState

__all__ = ["DURATION", "PACE", "BandwidthProbes"]

DURATION = 0.3  # s: long enough to see through a shaper's burst (probe_cluster.py)
PACE = 0.01  # s between padding bursts
# A probe's result waits for the feedback about all its packets, at most this long after its
# end; then it is judged on what was reported (too little reported: it failed).
RESULT_TIMEOUT = 1.0
PACKET_BYTES = 300  # about one padding packet on the wire (255 bytes of padding, headers)
MAX_PACKETS_PER_PACE = 40


@dataclass(eq=False)
class _Probing:
    """One subscriber connection's probes."""

    estimator: SubscriberEstimator
    schedule: ProbeSchedule
    cluster: ProbeCluster | None = None
    subscription: Subscription | None = None  # whose RTX stream carries the padding
    started: float = 0.0
    ends: float = 0.0
    next_pace: float = 0.0


class BandwidthProbes:
    """The probes of one session's subscribers (see the module docstring)."""

    def __init__(self, state: SessionState) -> None:
        self._participants = state.participants
        self._table = state.table
        self._counters = state.counters
        self._wake = state.wake
        self._probing: dict[str, _Probing] = {}  # by subscriber sid

    def want(self, now: float, subscriber: MediaParticipant, need: int | None) -> None:
        """The allocation holds ``subscriber`` back: everything it asked for needs an
        estimate of ``need`` bit/s (``None``: nothing is held back). Starts a probe if one is
        due."""
        estimator = subscriber.estimator
        if estimator is None or need is None:
            return
        estimator.grows_by_probes = True  # probes are this path's way up from now on
        probing = self._probing.get(subscriber.sid)
        if probing is None or probing.estimator is not estimator:
            # A new connection (ICE restart) has a new estimator: probing starts afresh.
            probing = self._probing[subscriber.sid] = _Probing(estimator, ProbeSchedule())
        target = probing.schedule.target(now, estimator.estimate, need, estimator.last_congestion)
        if target is None:
            return
        subscription = self._padder(subscriber)
        if subscription is None:
            return
        probing.schedule.started()
        probing.cluster = ProbeCluster(subscriber.egress_sequence.value, target)
        probing.subscription = subscription
        probing.started = probing.next_pace = now
        probing.ends = now + DURATION
        self._counters["probe-clusters"] += 1
        self._wake()

    def _padder(self, subscriber: MediaParticipant) -> Subscription | None:
        """A video subscription of ``subscriber`` whose RTX stream can carry padding."""
        for publication in self._table.feeding(subscriber.sid):
            if publication.line.kind != "video":
                continue
            try:
                subscription = publication.forwarder.subscriber(subscriber.sid)
            except KeyError:
                continue
            if subscription.can_pad and subscription.egress_ready:
                return subscription
        return None

    def deadline(self) -> float | None:
        """When :meth:`run` is due; ``None`` while no probe runs (no wake-ups for it)."""
        due = [
            p.ends + RESULT_TIMEOUT if p.cluster.closed else min(p.next_pace, p.ends)
            for p in self._probing.values()
            if p.cluster is not None
        ]
        return min(due) if due else None

    def run(self, now: float) -> None:
        """Pace the running probes' padding; close those whose time is up; judge those whose
        feedback is overdue."""
        for sid, probing in list(self._probing.items()):
            cluster = probing.cluster
            subscriber = self._participants.get(sid)
            if cluster is None:
                continue
            if subscriber is None:
                del self._probing[sid]
                continue
            if cluster.closed:
                if now >= probing.ends + RESULT_TIMEOUT:
                    self._finish(now, probing)
                continue
            sequence = subscriber.egress_sequence
            if now >= probing.ends:
                cluster.close(sequence.value)
                continue
            if now >= probing.next_pace:
                probing.next_pace = now + PACE
                self._pad(now, subscriber, probing, cluster)

    def _pad(
        self, now: float, subscriber: MediaParticipant, probing: _Probing, cluster: ProbeCluster
    ) -> None:
        """Padding enough that media and padding since the probe began reach its target by
        the next pace."""
        subscription = probing.subscription
        if subscription is None:  # pragma: no cover - set with the cluster
            return
        elapsed = min(now + PACE, probing.ends) - probing.started
        due = cluster.target_bps * elapsed / 8 - subscriber.egress_sequence.bytes_since(
            cluster.first_seq
        )
        count = min(int(due // PACKET_BYTES) + (1 if due > 0 else 0), MAX_PACKETS_PER_PACE)
        if count <= 0:
            return
        sent = 0
        for packet in subscription.padding(now, count):
            if subscriber.peer.send_now(packet):
                sent += 1
        self._counters["probe-padding-packets"] += sent

    def on_feedback(
        self, subscriber: MediaParticipant, now: float, base_sequence: int, arrivals: list[int]
    ) -> None:
        """One transport feedback from ``subscriber``: the running probe's packets in it."""
        probing = self._probing.get(subscriber.sid)
        if probing is None or probing.cluster is None:
            return
        probing.cluster.on_feedback(subscriber.egress_sequence, base_sequence, arrivals)
        if probing.cluster.complete:
            self._finish(now, probing)

    def _finish(self, now: float, probing: _Probing) -> None:
        cluster = probing.cluster
        if cluster is None:  # pragma: no cover - called with one
            return
        result = cluster.result()
        probing.cluster = None
        probing.subscription = None
        probing.schedule.finished(now, result.ok)
        self._counters[f"probe-result:{result.reason}"] += 1
        if result.ok:
            probing.estimator.raise_to(now, result.rate)

    def forget(self, sid: str) -> None:
        self._probing.pop(sid, None)
