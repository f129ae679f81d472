"""Wraparound arithmetic of RTP counters, in one place: 16-bit sequence numbers, 32-bit timestamps.

RTP sequence numbers (RFC 3550 §5.1) count modulo 2^16 and timestamps modulo 2^32; both wrap
in a long call (a 30 fps video track's sequence wraps every ~20 min at 50 packets/s). Order is
serial-number arithmetic (RFC 1982 §3.2): ``a`` is newer than ``b`` when the forward distance
from ``b`` to ``a`` is less than half the space. Counters that must not wrap (loss statistics,
the forwarder's reorder window, the recorder's frame order) use *extended* values (RFC 3550
§A.1): the low bits are the wire value, the high bits count the cycles. :func:`extend16` /
:func:`extend32` place a wire value next to the newest extended one, and :class:`Unwrapper` is
the one stateful unwrapper built on them.

Compiled with the rest of the core. Per-packet code elsewhere in the core may keep the inline
mask where a call would cost; each such mask carries a ``# = add16(...)``-style comment naming
the helper it stands for.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "Unwrapper",
    "add16",
    "add32",
    "diff16",
    "diff32",
    "extend16",
    "extend32",
    "gt16",
    "gt32",
    "wrap16",
    "wrap32",
]

MASK16: Final = 0xFFFF
HALF16: Final = 0x8000
MASK32: Final = 0xFFFFFFFF
HALF32: Final = 0x80000000


def wrap16(value: int) -> int:
    """``value`` modulo 2^16: what a 16-bit field carries (negative values wrap too)."""
    return value & MASK16


def wrap32(value: int) -> int:
    """``value`` modulo 2^32: what a 32-bit field carries (RFC 3550 §6.4.1 counts wrap)."""
    return value & MASK32


def add16(seq: int, delta: int) -> int:
    """``seq + delta`` modulo 2^16 (``delta`` may be negative)."""
    return (seq + delta) & MASK16


def add32(ts: int, delta: int) -> int:
    """``ts + delta`` modulo 2^32."""
    return (ts + delta) & MASK32


def diff16(a: int, b: int) -> int:
    """Signed distance ``a - b`` in ``[-32768, 32767]``: positive when ``a`` is newer."""
    return ((a - b + HALF16) & MASK16) - HALF16


def diff32(a: int, b: int) -> int:
    """Signed distance ``a - b`` of two 32-bit RTP timestamps, in ``[-2^31, 2^31 - 1]``."""
    return ((a - b + HALF32) & MASK32) - HALF32


def gt16(a: int, b: int) -> bool:
    """``a`` is newer than ``b`` (RFC 1982 serial arithmetic on 16 bits)."""
    return diff16(a, b) > 0


def gt32(a: int, b: int) -> bool:
    """``a`` is later than ``b`` (serial arithmetic on 32 bits)."""
    return diff32(a, b) > 0


def extend16(newest: int, seq: int) -> int:
    """The extended value whose low 16 bits are ``seq`` nearest to the extended ``newest``
    (a tie, exactly half the space away, goes to the older one)."""
    return newest + diff16(seq, newest)


def extend32(newest: int, ts: int) -> int:
    """:func:`extend16` for 32-bit timestamps."""
    return newest + diff32(ts, newest)


class Unwrapper:
    """Extends a wrapping counter (``bits`` = 16: sequence numbers, 32: timestamps) to a plain
    integer: each value is placed nearest to the newest one seen, as RFC 3550 §A.1 does. The
    first value is taken as it is."""

    __slots__ = ("_bits", "_newest")

    def __init__(self, bits: int = 16) -> None:
        if bits not in (16, 32):
            raise ValueError("RTP counters have 16 or 32 bits")
        self._bits = bits
        self._newest: int | None = None

    def peek(self, value: int) -> int:
        """The extended value without remembering it (e.g. a sender report's RTP timestamp)."""
        newest = self._newest
        if newest is None:
            return value
        return extend16(newest, value) if self._bits == 16 else extend32(newest, value)

    def unwrap(self, value: int) -> int:
        """The extended value; remembered when it is the newest so far."""
        extended = self.peek(value)
        if self._newest is None or extended > self._newest:
            self._newest = extended
        return extended
