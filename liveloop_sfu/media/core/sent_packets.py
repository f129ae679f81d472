"""The transport-wide sequence of one subscriber transport, and what was sent under each number.

draft-holmer-rmcat-transport-wide-cc-extensions-01 §2: every packet the node sends on a transport
carries the next number of one counter shared by all its streams; the receiver's transport
feedback then says, per number, when (or whether) it arrived. The node's own half of the
comparison — when each numbered packet left, and how big it was — is kept here, in a ring
preallocated once per transport and indexed by the 16-bit number: recording is three list stores
and no allocation beyond the two ints (this runs per packet per subscriber; compiled). Each slot
also remembers what feedback already said of it, so a duplicated or reordered feedback is not
counted twice (see :meth:`TransportSequence.report`).

Original packets, retransmissions and RTX all take a number and a slot: the feedback covers
everything sent, and the estimator's throughput must too.

Retransmissions also draw on a budget of the transport (:meth:`TransportSequence.allow_resend`):
a token bucket filled at :attr:`~TransportSequence.resend_rate` while the subscriber's estimate
is a limit. On a link that just became too narrow most packets are lost, the browser NACKs every
one of them, and resending them all at once keeps the link congested and the picture frozen (in
the lab, 2,793 retransmissions to 3,940 packets forwarded in 12 s on a 500 kbit/s downlink).
libwebrtc caps a sender's retransmissions the same way (``RateLimiter`` on the target rate).
"""

from __future__ import annotations

from liveloop_sfu.media.core.seq import add16, wrap16

__all__ = ["NOT_REPORTED", "REPORTED_LOST", "REPORTED_RECEIVED", "UNKNOWN", "TransportSequence"]

UNKNOWN = -1  # not sent under this number (or overwritten since)
NOT_REPORTED = 0
REPORTED_LOST = 1
REPORTED_RECEIVED = 2

DEFAULT_CAPACITY = 4096  # ~4 s at 1,000 packets/s (8 Mbit/s of 1,000-byte packets)
# The resend budget may save up this many seconds of its rate: one burst of NACKs after a loss
# is answered at once, a flood is not.
RESEND_BURST_SECONDS = 0.25


class TransportSequence:
    """Transport-wide sequence counter of one subscriber transport, shared by all its
    subscriptions, with the send time (µs of the node's monotonic clock) and size of the last
    :attr:`capacity` packets numbered."""

    __slots__ = (
        "_mask",
        "_reported",
        "_resend_at",
        "_resend_tokens",
        "_send_us",
        "_seqs",
        "_sizes",
        "resend_rate",
        "value",
    )

    def __init__(self, start: int = 0, capacity: int = DEFAULT_CAPACITY) -> None:
        self.value = wrap16(start)
        size = 1
        while size < min(max(capacity, 1), 0x10000):
            size <<= 1
        self._mask = size - 1
        self._seqs = [-1] * size
        self._send_us = [0] * size
        self._sizes = [0] * size
        self._reported = [NOT_REPORTED] * size
        self.resend_rate = 0  # bit/s retransmissions may take; 0 = no limit
        self._resend_tokens = 0.0  # bytes
        self._resend_at = 0.0

    @property
    def capacity(self) -> int:
        return self._mask + 1

    def next(self) -> int:
        value = self.value
        self.value = add16(value, 1)
        return value

    def record(self, seq: int, now: float, size: int) -> None:
        """Packet ``seq`` (16-bit) of ``size`` bytes left at ``now`` (seconds). Per packet."""
        i = seq & self._mask
        self._seqs[i] = seq
        self._send_us[i] = int(now * 1_000_000.0)
        self._sizes[i] = size
        self._reported[i] = NOT_REPORTED

    def allow_resend(self, now: float, size: int) -> bool:
        """May a retransmission of ``size`` bytes go out now? Takes it from the budget if so."""
        rate = self.resend_rate
        if rate <= 0:
            return True
        per_second = rate / 8.0
        tokens = self._resend_tokens + (now - self._resend_at) * per_second
        self._resend_at = now
        cap = per_second * RESEND_BURST_SECONDS
        if tokens > cap:
            tokens = cap
        if tokens < size:
            self._resend_tokens = tokens
            return False
        self._resend_tokens = tokens - size
        return True

    def record_last(self, now: float, size: int) -> None:
        """The packet just numbered (``value - 1``) left at ``now`` with ``size`` bytes."""
        self.record((self.value - 1) & 0xFFFF, now, size)

    def send_us(self, seq: int) -> int:
        """When ``seq`` was sent (µs), or -1 when it is not in the ring."""
        i = seq & self._mask
        return self._send_us[i] if self._seqs[i] == seq else -1

    def size(self, seq: int) -> int:
        i = seq & self._mask
        return self._sizes[i] if self._seqs[i] == seq else 0

    def bytes_since(self, seq: int) -> int:
        """Bytes of every packet numbered from ``seq`` up to the last one numbered (a probe
        cluster's pacing, :mod:`liveloop_sfu.media.sfu.probes`: what the transport carried since
        the cluster began, media and padding); numbers no longer in the ring count nothing."""
        count = (self.value - seq) & 0xFFFF
        if count > self._mask + 1:
            count = self._mask + 1
        total = 0
        for k in range(count):
            s = (seq + k) & 0xFFFF
            i = s & self._mask
            if self._seqs[i] == s:
                total += self._sizes[i]
        return total

    def report(self, seq: int, received: bool) -> int:
        """Feedback says ``seq`` arrived (or not): returns what earlier feedback said of it
        (:data:`NOT_REPORTED`, :data:`REPORTED_LOST`, :data:`REPORTED_RECEIVED`) or
        :data:`UNKNOWN` when the node has no record of sending it. "Received" is final."""
        i = seq & self._mask
        if self._seqs[i] != seq:
            return UNKNOWN
        before = self._reported[i]
        if received:
            self._reported[i] = REPORTED_RECEIVED
        elif before == NOT_REPORTED:
            self._reported[i] = REPORTED_LOST
        return before
