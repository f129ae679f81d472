"""What RTP and RTCP code share: the parse error and NTP time (wraparound arithmetic: :mod:`.seq`).

Kept apart so that :mod:`.rtp` and :mod:`.rtcp` both import it without importing each other.
"""

from __future__ import annotations

__all__ = [
    "RtpParseError",
    "ntp_from_unix",
    "ntp_middle32",
]


class RtpParseError(ValueError):
    """Truncated or malformed RTP/RTCP. The only exception the parsers in this module raise.

    It is not a :class:`liveloop_sfu.errors.LiveLoopError`: clients never see it, the forwarder
    turns it into the ``malformed`` drop reason.
    """


# --- NTP ---------------------------------------------------------------------------------------

_NTP_EPOCH_OFFSET = 2_208_988_800  # seconds from 1900-01-01 (NTP era 0) to 1970-01-01


def ntp_from_unix(unix_seconds: float) -> int:
    """64-bit NTP timestamp (RFC 3550 §4: 32.32 fixed point since 1900) of a Unix time."""
    return int((unix_seconds + _NTP_EPOCH_OFFSET) * 4294967296.0) & 0xFFFFFFFFFFFFFFFF


def ntp_middle32(ntp: int) -> int:
    """The middle 32 bits of an NTP timestamp: the LSR/DLSR unit of RFC 3550 §6.4.1."""
    return (ntp >> 16) & 0xFFFFFFFF
