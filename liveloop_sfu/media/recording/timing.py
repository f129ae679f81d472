"""When was each recorded frame captured? RTP timestamps -> seconds on the node's clock.

Each track's RTP timestamps advance with its own clock rate from a random start (RFC 3550 §5.1),
so they place frames of *one* track exactly but say nothing about another track. The link between
tracks is the sender report (RFC 3550 §6.4.1): it pairs an RTP timestamp with the sender's
wallclock (NTP), the same wallclock for every track of one participant — "to allow
synchronization" (§6.4.1, the receiver's lip sync). So:

- a track with a sender report maps ``ts`` to sender time ``ntp_sr + (ts - rtp_sr) / rate``; the
  participant's offset between the sender's wallclock and the node's clock is ``sender time -
  arrival`` of its packets and reports (network delay included, the same for every track);
- a track without a report yet (the first second of a call) is anchored at the arrival of its
  packets: ``arrival + (ts - ts_anchor) / rate``.

Arrival times only ever come late (network queues, a busy event loop), never early, so both
estimates keep the *least delayed* observation, as NTP's clock filter keeps the sample with the
smallest delay: the offset is the largest ``ntp - arrival`` seen, the anchor the earliest
``arrival - (ts - ts_anchor) / rate``. One report that waited behind a stalled event loop would
otherwise shift the whole rest of a file late by the stall. A sender's own report can be late in
the same way (its wallclock read after the RTP timestamp it pairs with, when the sender was
busy), so a track's mapping is the earliest of its last ``REPORT_WINDOW`` reports — a window, not
all of them, because the sender's media clock may drift against its wallclock over a long call.

Pure: time is a parameter (``now``: the node's monotonic clock at arrival).
"""

from __future__ import annotations

from collections import deque

from liveloop_sfu.media.core.seq import Unwrapper

__all__ = ["REPORT_WINDOW", "ParticipantClock", "TrackClock", "ntp_seconds"]

REPORT_WINDOW = 8  # sender reports a track's mapping is chosen from (~8 s of video reports)


def ntp_seconds(ntp: int) -> float:
    """A 64-bit NTP timestamp (32.32 fixed point) in seconds."""
    return ntp / 4294967296.0


class ParticipantClock:
    """The offset between one participant's sender wallclock and the node's clock."""

    __slots__ = ("offset",)

    def __init__(self) -> None:
        self.offset: float | None = None  # sender seconds - node seconds

    def on_sender_report(self, now: float, ntp: int) -> None:
        self.observe(ntp_seconds(ntp) - now)

    def observe(self, estimate: float) -> None:
        """One ``sender seconds - node seconds`` sample; the least delayed one wins."""
        if self.offset is None or estimate > self.offset:
            self.offset = estimate


class TrackClock:
    """RTP timestamps of one track -> node-clock seconds (see the module docstring)."""

    __slots__ = ("_anchor", "_base", "_participant", "_rate", "_reports", "_ts")

    def __init__(self, clock_rate: int, participant: ParticipantClock) -> None:
        self._rate = float(clock_rate)
        self._participant = participant
        self._ts = Unwrapper(32)
        self._anchor: tuple[float, int] | None = None  # (node seconds, extended ts)
        # Sender seconds at extended ts 0, one per recent report: ntp - rtp_ts / rate.
        self._reports: deque[float] = deque(maxlen=REPORT_WINDOW)
        self._base: float | None = None  # min(self._reports)

    def on_packet(self, now: float, ts: int) -> int:
        """Every media packet's timestamp (in arrival order); returns it extended."""
        extended = self._ts.unwrap(ts)
        anchor = self._anchor
        if anchor is None:
            self._anchor = (now, extended)
        elif now - (extended - anchor[1]) / self._rate < anchor[0]:
            self._anchor = (now, extended)  # this packet was less delayed than the anchor
        if self._base is not None:
            # A packet's arrival dates the sender's clock better than a report's arrival does:
            # packets flow all the time, and a sender may send a report well after the moment
            # its NTP field names (aiortc: the last RTP packet's send time).
            self._participant.observe(self._base + extended / self._rate - now)
        return extended

    def on_sender_report(self, now: float, ntp: int, rtp_ts: int) -> None:
        self._participant.on_sender_report(now, ntp)
        self._reports.append(ntp_seconds(ntp) - self._ts.peek(rtp_ts) / self._rate)
        self._base = min(self._reports)

    @property
    def synchronized(self) -> bool:
        """True once this track is placed by a sender report rather than by arrival."""
        return self._base is not None and self._participant.offset is not None

    def node_time(self, extended_ts: int) -> float | None:
        """Node-clock seconds at which the frame with this extended timestamp was captured."""
        offset = self._participant.offset
        if self._base is not None and offset is not None:
            return self._base + extended_ts / self._rate - offset
        if self._anchor is not None:
            arrival, anchor_ts = self._anchor
            return arrival + (extended_ts - anchor_ts) / self._rate
        return None
