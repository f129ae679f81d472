"""What one bandwidth probe showed: the rate its packets were sent and delivered at.

A probe cluster (media/sfu/probes.py) is every packet the node sent one subscriber over a few
hundred milliseconds — its media, and padding that raises the total to the probe's target — so
it is a range of the transport's sequence numbers (draft-holmer-rmcat-transport-wide-cc-
extensions-01 §2): from the first number given out after the probe began to the last before it
ended. The transport feedback about that range says when each packet arrived, and the node's
ring (:class:`~.sent_packets.TransportSequence`) when it left and how big it was.

The result is computed as libwebrtc's ``ProbeBitrateEstimator`` does (learnt from, in our own
form): the *send rate* (the bytes but the last packet's over the span of send times) and the
*receive rate* (the bytes but the first arrival's over the span of arrivals), the smaller of the
two. The probe came through without congestion only if:

- at least :data:`MIN_REPORTED_RATIO` of its packets were reported (else it says nothing);
- at most :data:`MAX_LOSS` of them were lost;
- the one-way delay did not grow by more than :data:`MAX_DELAY_GROWTH_US` from its first
  quarter to its last (a queue building at a bottleneck);
- the receive rate is at least :data:`UNSATURATED_RATIO` of the send rate (libwebrtc's
  ``kMinRatioForUnsaturatedLink``: a path that delivered less than it was given is full), and
  not beyond :data:`MAX_VALID_RATIO` times it (a measurement that makes no sense).

A short probe through a token bucket (a router's shaper, ``tc tbf`` in the lab) may pass its
bucket's burst at once, so the rates alone can overstate a limited path; the delay growth and
the saturation test together catch it once the probe lasts a few times the bucket's depth.
Pure and per packet of feedback: compiled.
"""

from __future__ import annotations

from liveloop_sfu.media.core.sent_packets import TransportSequence

__all__ = [
    "MAX_DELAY_GROWTH_US",
    "MAX_LOSS",
    "MAX_VALID_RATIO",
    "MIN_REPORTED_RATIO",
    "UNSATURATED_RATIO",
    "ProbeCluster",
    "ProbeResult",
]

MIN_REPORTED_RATIO = 0.8  # libwebrtc's kMinReceivedProbesRatio
MAX_LOSS = 0.05
MAX_DELAY_GROWTH_US = 25_000
UNSATURATED_RATIO = 0.9
MAX_VALID_RATIO = 2.0
MIN_PACKETS = 5
MIN_SPAN_US = 10_000
MAX_CLUSTER_PACKETS = 4096  # a cluster is a few hundred packets; more cannot be ours


class ProbeResult:
    """``rate``: bit/s the probe measured (min of send and receive rate; 0 when it could not
    be measured); ``ok``: it came through without congestion; ``reason``: why not (``"ok"``)."""

    __slots__ = ("ok", "rate", "reason", "receive_bps", "send_bps")

    def __init__(
        self, ok: bool, rate: int, reason: str, send_bps: int = 0, receive_bps: int = 0
    ) -> None:
        self.ok = ok
        self.rate = rate
        self.reason = reason
        self.send_bps = send_bps
        self.receive_bps = receive_bps

    def __repr__(self) -> str:
        return (
            f"ProbeResult({self.reason}, {self.rate} bit/s, "
            f"send {self.send_bps}, receive {self.receive_bps})"
        )


class ProbeCluster:
    """The packets numbered from ``first_seq`` on (until :meth:`close`), and what feedback said
    of each: ``{offset: (send µs, arrival µs or -1, size)}``."""

    __slots__ = ("_records", "closed", "count", "first_seq", "target_bps")

    def __init__(self, first_seq: int, target_bps: int) -> None:
        self.first_seq = first_seq & 0xFFFF
        self.target_bps = target_bps
        self.count = MAX_CLUSTER_PACKETS  # until closed: any number after the first may be ours
        self.closed = False
        self._records: dict[int, tuple[int, int, int]] = {}

    def close(self, next_seq: int) -> None:
        """The probe ended: its last packet is the one numbered just before ``next_seq``."""
        self.count = min((next_seq - self.first_seq) & 0xFFFF, MAX_CLUSTER_PACKETS)
        self.closed = True
        for offset in [k for k in self._records if k >= self.count]:
            del self._records[offset]

    @property
    def reported(self) -> int:
        return len(self._records)

    @property
    def complete(self) -> bool:
        """Closed, and feedback has reported every packet of it."""
        return self.closed and len(self._records) >= self.count

    def on_feedback(self, sent: TransportSequence, base_sequence: int, arrivals: list[int]) -> None:
        """One transport feedback (as :meth:`.SubscriberEstimator.on_feedback` takes it): keep
        what it says of this cluster's numbers; an arrival overrides an earlier loss."""
        n = len(arrivals)
        if n == 0:
            return
        # Only the part of the feedback that overlaps the cluster is looked at.
        start = (self.first_seq - base_sequence) & 0xFFFF
        if start >= 0x8000:  # the feedback begins inside the cluster
            start = 0
        records = self._records
        for i in range(start, min(n, MAX_CLUSTER_PACKETS + start)):
            seq = (base_sequence + i) & 0xFFFF
            offset = (seq - self.first_seq) & 0xFFFF
            if offset >= self.count:
                break
            send_us = sent.send_us(seq)
            if send_us < 0:
                continue  # not in the ring (overwritten): nothing to join it with
            arrival = arrivals[i]
            known = records.get(offset)
            if known is not None and (known[1] >= 0 or arrival < 0):
                continue
            records[offset] = (send_us, arrival, sent.size(seq))

    def result(self) -> ProbeResult:
        """What the probe showed, from what feedback reported so far."""
        count = self.count if self.closed else len(self._records)
        reported = len(self._records)
        if count <= 0 or reported < MIN_REPORTED_RATIO * count:
            return ProbeResult(False, 0, "unreported")
        received = [r for r in self._records.values() if r[1] >= 0]
        lost = reported - len(received)
        if lost > MAX_LOSS * reported:
            return ProbeResult(False, 0, "loss")
        if len(received) < MIN_PACKETS:
            return ProbeResult(False, 0, "too-few")
        by_send = sorted(received)
        send_span = by_send[-1][0] - by_send[0][0]
        by_arrival = sorted(received, key=_arrival)
        arrival_span = by_arrival[-1][1] - by_arrival[0][1]
        if send_span < MIN_SPAN_US or arrival_span < MIN_SPAN_US:
            return ProbeResult(False, 0, "too-short")
        total = 0
        for r in received:
            total += r[2]
        send_bps = (total - by_send[-1][2]) * 8 * 1_000_000 // send_span
        receive_bps = (total - by_arrival[0][2]) * 8 * 1_000_000 // arrival_span
        rate = min(send_bps, receive_bps)
        if receive_bps > MAX_VALID_RATIO * send_bps:
            return ProbeResult(False, rate, "invalid", send_bps, receive_bps)
        if _delay_growth(by_send) > MAX_DELAY_GROWTH_US:
            return ProbeResult(False, rate, "delay", send_bps, receive_bps)
        if receive_bps < UNSATURATED_RATIO * send_bps:
            return ProbeResult(False, rate, "saturated", send_bps, receive_bps)
        return ProbeResult(True, rate, "ok", send_bps, receive_bps)


def _arrival(record: tuple[int, int, int]) -> int:
    return record[1]


def _delay_growth(by_send: list[tuple[int, int, int]]) -> int:
    """How much the one-way delay (arrival less send time, in whatever offset the two clocks
    have) grew from the first quarter of the packets to the last: the least delay of each
    quarter, so that a packet sent in a burst behind others does not count as a queue."""
    quarter = max(len(by_send) // 4, 1)
    first = min(r[1] - r[0] for r in by_send[:quarter])
    last = min(r[1] - r[0] for r in by_send[-quarter:])
    return last - first
