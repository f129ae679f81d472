"""Sender-report state of one outgoing stream (RFC 3550 §6.4.1).

Counts are what the node actually sent on this SSRC: packets and *payload* octets (header and
padding excluded, as §6.4.1 defines the octet count).

The RTP timestamp of an SR must correspond to the SR's NTP time, and receivers use the pair for
audio/video synchronisation. Decision:

- Once the publisher sent a sender report for this track, the node's SR timestamp is derived
  from it: the publisher's RTP timestamp at the moment its SR *arrived*, plus the elapsed time
  times the clock rate, shifted by the subscription's timestamp offset. Audio and video of one
  publisher are thus mapped onto the node's clock the same way, so their relative timing (the
  publisher's capture clock relation, which is what lip sync needs) survives, up to the difference
  in one-way delay of the two SR packets (milliseconds).
- Before any publisher SR, it is extrapolated from the newest packet sent (timestamp + elapsed time
  since it was sent × clock rate), the usual approach of senders that do not know the capture
  time; good enough until the publisher's first SR (browsers send one within a second or so).
"""

from __future__ import annotations

from collections import OrderedDict

from liveloop_sfu.media.core.rtp import ntp_middle32
from liveloop_sfu.media.core.seq import add32

__all__ = ["SenderReportState"]

_REMEMBERED_REPORTS = 8


class SenderReportState:
    __slots__ = (
        "_clock_rate",
        "_last_now",
        "_last_ts",
        "_publisher",
        "_reports",
        "octet_count",
        "packet_count",
    )

    def __init__(self, clock_rate: int) -> None:
        self._clock_rate = clock_rate
        self.packet_count = 0
        self.octet_count = 0
        self._last_ts = 0
        self._last_now = 0.0
        self._publisher: tuple[float, int] | None = None
        self._reports: OrderedDict[int, float] = OrderedDict()  # LSR value -> now when sent

    def on_sent(self, now: float, rtp_ts: int, payload_size: int) -> None:
        # = gt32(rtp_ts, self._last_ts), inlined: this runs per forwarded packet.
        if self.packet_count == 0 or 0 < (rtp_ts - self._last_ts) & 0xFFFFFFFF < 0x80000000:
            self._last_ts = rtp_ts
            self._last_now = now
        self.packet_count += 1
        self.octet_count += payload_size

    @property
    def last_sent(self) -> tuple[int, float] | None:
        """``(rtp_ts, now)`` of the newest packet sent, or ``None``."""
        return (self._last_ts, self._last_now) if self.packet_count else None

    def forget_publisher(self) -> None:
        """The source changed: the old publisher's SR mapping no longer applies."""
        self._publisher = None

    def on_publisher_sr(self, now: float, publisher_rtp_ts: int) -> None:
        """A publisher SR arrived at ``now`` carrying ``publisher_rtp_ts`` (input timestamps)."""
        self._publisher = (now, publisher_rtp_ts)

    def rtp_timestamp_at(self, now: float, ts_offset: int) -> int | None:
        """The output RTP timestamp corresponding to ``now``; ``None`` before the first packet."""
        if self.packet_count == 0:
            return None
        if self._publisher is not None:
            at, rtp_ts = self._publisher
            base = rtp_ts + ts_offset
        else:
            at, base = self._last_now, self._last_ts
        return add32(base, round((now - at) * self._clock_rate))

    def on_report_sent(self, now: float, ntp: int) -> None:
        """Remember when an SR left, so a receiver's LSR/DLSR gives the round trip."""
        self._reports[ntp_middle32(ntp)] = now
        while len(self._reports) > _REMEMBERED_REPORTS:
            self._reports.popitem(last=False)

    def rtt(self, now: float, lsr: int, dlsr: int) -> float | None:
        """RFC 3550 §6.4.1: RTT = arrival - LSR - DLSR, with arrival and LSR both on the node's
        clock (we remember when each SR left). ``None`` if the report refers to no SR we know."""
        sent = self._reports.get(lsr) if lsr else None
        if sent is None:
            return None
        return max(0.0, now - sent - dlsr / 65536.0)
