"""When was each recorded frame captured? RTP timestamps -> seconds on the node's clock.

Each track's RTP timestamps advance with its own clock rate from a random start (RFC 3550 §5.1),
so they place frames of *one* track exactly but say nothing about another track. The link between
tracks is the sender report (RFC 3550 §6.4.1): it pairs an RTP timestamp with the sender's
wallclock (NTP), the same wallclock for every track of one participant — "to allow
synchronization" (§6.4.1, the receiver's lip sync). So:

- a track with a sender report maps ``ts`` to sender time ``ntp_sr + (ts - rtp_sr) / rate``; the
  participant's offset between the sender's wallclock and the node's clock is taken once, from
  the first report of any of its tracks (network delay included, the same for every track);
- a track without a report yet (the first second of a call) is anchored at the arrival of its
  first packet: ``arrival + (ts - ts_first) / rate``.

Pure: time is a parameter (``now``: the node's monotonic clock at arrival).
"""

from __future__ import annotations

from .depacketizer import SeqUnwrapper

__all__ = ["ParticipantClock", "TrackClock", "ntp_seconds"]


def ntp_seconds(ntp: int) -> float:
    """A 64-bit NTP timestamp (32.32 fixed point) in seconds."""
    return ntp / 4294967296.0


class ParticipantClock:
    """The offset between one participant's sender wallclock and the node's clock."""

    __slots__ = ("offset",)

    def __init__(self) -> None:
        self.offset: float | None = None  # sender seconds - node seconds

    def on_sender_report(self, now: float, ntp: int) -> None:
        if self.offset is None:
            self.offset = ntp_seconds(ntp) - now


class TrackClock:
    """RTP timestamps of one track -> node-clock seconds (see the module docstring)."""

    __slots__ = ("_anchor", "_participant", "_rate", "_report", "_ts")

    def __init__(self, clock_rate: int, participant: ParticipantClock) -> None:
        self._rate = float(clock_rate)
        self._participant = participant
        self._ts = SeqUnwrapper(32)
        self._anchor: tuple[float, int] | None = None  # (node seconds, extended ts)
        self._report: tuple[float, int] | None = None  # (sender seconds, extended ts)

    def on_packet(self, now: float, ts: int) -> int:
        """Every media packet's timestamp (in arrival order); returns it extended."""
        extended = self._ts.unwrap(ts)
        if self._anchor is None:
            self._anchor = (now, extended)
        return extended

    def on_sender_report(self, now: float, ntp: int, rtp_ts: int) -> None:
        self._participant.on_sender_report(now, ntp)
        self._report = (ntp_seconds(ntp), self._ts.peek(rtp_ts))

    @property
    def synchronized(self) -> bool:
        """True once this track is placed by a sender report rather than by arrival."""
        return self._report is not None and self._participant.offset is not None

    def node_time(self, extended_ts: int) -> float | None:
        """Node-clock seconds at which the frame with this extended timestamp was captured."""
        offset = self._participant.offset
        if self._report is not None and offset is not None:
            sender_seconds, report_ts = self._report
            return sender_seconds + (extended_ts - report_ts) / self._rate - offset
        if self._anchor is not None:
            arrival, anchor_ts = self._anchor
            return arrival + (extended_ts - anchor_ts) / self._rate
        return None
