"""What the node tells a publisher about the stream it receives: RFC 3550 receiver reports.

The node stands in for the subscribers towards each publisher, so it owes the publisher the
reception statistics a receiver sends (RFC 3550 §6.4.2): without them a browser's loss-based
bandwidth estimate gets no loss feedback and no RTT. Sans-I/O, time as a parameter: the session
feeds packets and sender reports and asks for a report block about once a second.

- Extended highest sequence number, cumulative loss and the fraction lost since the previous
  report follow RFC 3550 appendix A.1 / A.3 (duplicates count as received, as the RFC notes,
  so the cumulative loss can go negative; it is clamped to the 24-bit field).
- Interarrival jitter is appendix A.8's estimator, J += (|D| - J) / 16, in RTP timestamp units.
- LSR / DLSR (§6.4.1) come from the last sender report of the publisher, so it can measure RTT.
"""

from __future__ import annotations

from liveloop_sfu.media.core.rtp import ReportBlock, ntp_middle32
from liveloop_sfu.media.core.seq import wrap32

__all__ = ["ReceptionStats"]

_MAX_LOST = 0x7FFFFF
_MIN_LOST = -0x800000


class ReceptionStats:
    """Reception statistics of one incoming RTP stream (one SSRC, latched from the first packet)."""

    __slots__ = (
        "_base",
        "_clock_rate",
        "_expected_prior",
        "_jitter",
        "_last_arrival",
        "_last_ts",
        "_lsr",
        "_max",
        "_received",
        "_received_prior",
        "_sr_arrival",
        "ssrc",
    )

    def __init__(self, clock_rate: int, ssrc: int | None = None) -> None:
        self.ssrc = ssrc
        self._clock_rate = clock_rate
        self._base = -1  # extended sequence number of the first packet
        self._max = -1  # highest extended sequence number
        self._received = 0
        self._expected_prior = 0
        self._received_prior = 0
        self._jitter = 0.0
        self._last_arrival = 0.0
        self._last_ts = 0
        self._lsr = 0
        self._sr_arrival: float | None = None

    def on_packet(self, now: float, ssrc: int, seq: int, ts: int) -> None:
        """A media packet (not a retransmission) arrived at ``now``."""
        if self.ssrc is None:
            self.ssrc = ssrc
        elif ssrc != self.ssrc:
            return
        self._received += 1
        if self._max < 0:
            self._base = self._max = seq
            self._last_arrival, self._last_ts = now, ts
            return
        # = wrap16(seq - self._max), the forward distance; 0 or >= 2^15 is not gt16(seq, max).
        # Inlined, as the 32-bit diff below (= diff32(ts, self._last_ts)): this runs per packet.
        delta = (seq - self._max) & 0xFFFF
        if delta == 0 or delta >= 0x8000:
            return  # duplicate or late (reordered) packet: counted, not in the jitter estimate
        self._max += delta
        # RFC 3550 A.8: D = (Rj - Ri) - (Sj - Si), in timestamp units; Sj - Si taken modulo 2^32.
        ts_delta = ((ts - self._last_ts + 0x80000000) & 0xFFFFFFFF) - 0x80000000
        d = (now - self._last_arrival) * self._clock_rate - ts_delta
        self._jitter += (abs(d) - self._jitter) / 16
        self._last_arrival, self._last_ts = now, ts

    def on_sender_report(self, now: float, ssrc: int, ntp: int) -> None:
        """The publisher's sender report about this stream (for LSR/DLSR)."""
        if ssrc == self.ssrc:
            self._lsr = ntp_middle32(ntp)
            self._sr_arrival = now

    def report_block(self, now: float) -> ReportBlock | None:
        """The block for the next receiver report, or ``None`` before any packet arrived. Each
        call starts a new interval for ``fraction_lost``."""
        if self.ssrc is None or self._max < 0:
            return None
        expected = self._max - self._base + 1
        expected_interval = expected - self._expected_prior
        received_interval = self._received - self._received_prior
        self._expected_prior, self._received_prior = expected, self._received
        lost_interval = expected_interval - received_interval
        fraction = 0
        if expected_interval > 0 and lost_interval > 0:
            fraction = min(255, (lost_interval << 8) // expected_interval)
        dlsr = 0
        if self._sr_arrival is not None:
            # A delay is never negative (RFC 3550 §6.4.1): the session builds reports with its
            # tick's time, and a sender report stamped later may arrive while that tick awaits.
            dlsr = max(0, min(0xFFFFFFFF, int((now - self._sr_arrival) * 65536)))
        return ReportBlock(
            ssrc=self.ssrc,
            fraction_lost=fraction,
            packets_lost=max(_MIN_LOST, min(_MAX_LOST, expected - self._received)),
            highest_seq=wrap32(self._max),
            jitter=int(self._jitter),
            lsr=self._lsr,
            dlsr=dlsr,
        )
