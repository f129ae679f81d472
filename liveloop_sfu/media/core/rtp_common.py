"""What RTP and RTCP code share: the parse error, wraparound arithmetic and NTP time.

Kept apart so that :mod:`.rtp` and :mod:`.rtcp` both import it without importing each other.
"""

from __future__ import annotations

__all__ = [
    "RtpParseError",
    "ntp_from_unix",
    "ntp_middle32",
    "seq_add",
    "seq_diff",
    "seq_gt",
    "ts_add",
    "ts_diff",
    "ts_gt",
]


class RtpParseError(ValueError):
    """Truncated or malformed RTP/RTCP. The only exception the parsers in this module raise.

    It is not a :class:`liveloop_sfu.errors.LiveLoopError`: clients never see it, the forwarder
    turns it into the ``malformed`` drop reason.
    """


# --- wraparound arithmetic -------------------------------------------------------------------


def seq_add(seq: int, delta: int) -> int:
    """``seq + delta`` modulo 2^16 (``delta`` may be negative)."""
    return (seq + delta) & 0xFFFF


def seq_diff(a: int, b: int) -> int:
    """Signed distance ``a - b`` in ``[-32768, 32767]``: positive when ``a`` is newer."""
    return ((a - b + 0x8000) & 0xFFFF) - 0x8000


def seq_gt(a: int, b: int) -> bool:
    """``a`` is newer than ``b`` (RFC 1982 serial arithmetic on 16 bits)."""
    return seq_diff(a, b) > 0


def ts_add(ts: int, delta: int) -> int:
    """``ts + delta`` modulo 2^32."""
    return (ts + delta) & 0xFFFFFFFF


def ts_diff(a: int, b: int) -> int:
    """Signed distance ``a - b`` of two 32-bit RTP timestamps."""
    return ((a - b + 0x80000000) & 0xFFFFFFFF) - 0x80000000


def ts_gt(a: int, b: int) -> bool:
    """``a`` is later than ``b`` (serial arithmetic on 32 bits)."""
    return ts_diff(a, b) > 0


# --- NTP ---------------------------------------------------------------------------------------

_NTP_EPOCH_OFFSET = 2_208_988_800  # seconds from 1900-01-01 (NTP era 0) to 1970-01-01


def ntp_from_unix(unix_seconds: float) -> int:
    """64-bit NTP timestamp (RFC 3550 §4: 32.32 fixed point since 1900) of a Unix time."""
    return int((unix_seconds + _NTP_EPOCH_OFFSET) * 4294967296.0) & 0xFFFFFFFFFFFFFFFF


def ntp_middle32(ntp: int) -> int:
    """The middle 32 bits of an NTP timestamp: the LSR/DLSR unit of RFC 3550 §6.4.1."""
    return (ntp >> 16) & 0xFFFFFFFF
