"""Retransmission history of one outgoing stream, sized by time rather than by a packet count.

aiortc keeps the last 128 packets, which at 2 Mbit/s is a fifth of a second — shorter than one
round trip plus the receiver's NACK delay on a poor link. Here packets stay up to ``max_age``
seconds (default 2 s), in a ring of ``max_packets`` slots indexed by the *output* sequence number,
so storing and looking up are O(1) with no allocation besides the packet itself.

A packet is resent at most once per ``resend_interval`` (RTT-ish: a receiver repeats its NACK when
the retransmission did not arrive within about one RTT; resending faster only adds load). Once
receiver reports give an RTT it replaces the default interval, clamped to [20 ms, 500 ms].
"""

from __future__ import annotations

__all__ = ["RetransmissionHistory"]

_MIN_INTERVAL = 0.02
_NEVER = float("-inf")  # "last resent" of a packet never resent
_MAX_INTERVAL = 0.5


class RetransmissionHistory:
    """Rewritten packets by output sequence number, for answering NACKs (RFC 4585 §6.2.1)."""

    __slots__ = (
        "_mask",
        "_max_age",
        "_packets",
        "_resent",
        "_seqs",
        "_times",
        "last_miss_throttled",
        "resend_interval",
    )

    def __init__(
        self, max_age: float = 2.0, max_packets: int = 2048, resend_interval: float = 0.1
    ) -> None:
        size = 1
        while size < min(max(max_packets, 1), 0x10000):
            size <<= 1
        self._mask = size - 1
        self._max_age = max_age
        self.resend_interval = resend_interval
        self._seqs = [-1] * size
        self._times = [0.0] * size
        self._resent = [_NEVER] * size
        self._packets: list[bytes | None] = [None] * size
        self.last_miss_throttled = False

    @property
    def capacity(self) -> int:
        return self._mask + 1

    def store(self, now: float, seq: int, packet: bytes) -> None:
        i = seq & self._mask
        self._seqs[i] = seq
        self._times[i] = now
        self._packets[i] = packet
        self._resent[i] = _NEVER

    def lookup(self, now: float, seq: int) -> bytes | None:
        """The packet to resend for a NACKed ``seq``, or ``None``: unknown, expired, or resent less
        than ``resend_interval`` ago (then :attr:`last_miss_throttled` is true)."""
        i = seq & self._mask
        self.last_miss_throttled = False
        if self._seqs[i] != seq or now - self._times[i] > self._max_age:
            return None
        if now - self._resent[i] < self.resend_interval:
            self.last_miss_throttled = True
            return None
        self._resent[i] = now
        return self._packets[i]

    def set_rtt(self, rtt: float) -> None:
        self.resend_interval = min(max(rtt, _MIN_INTERVAL), _MAX_INTERVAL)

    def clear(self) -> None:
        for i in range(self._mask + 1):
            self._seqs[i] = -1
            self._packets[i] = None
