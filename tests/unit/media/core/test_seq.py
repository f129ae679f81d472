"""Wraparound arithmetic of RTP counters (media/core/seq.py), table-driven: every helper on the
edges of its space (0, half, the wrap), and the unwrapper across wraps and reordering."""

from __future__ import annotations

import pytest

from liveloop_sfu.media.core.seq import (
    Unwrapper,
    add16,
    add32,
    diff16,
    diff32,
    extend16,
    extend32,
    gt16,
    gt32,
    wrap16,
    wrap32,
)


@pytest.mark.parametrize(
    ("value", "w16", "w32"),
    [(0, 0, 0), (65535, 65535, 65535), (65536, 0, 65536), (-1, 65535, 0xFFFFFFFF), (1 << 32, 0, 0)],
)
def test_wrap(value: int, w16: int, w32: int) -> None:
    assert wrap16(value) == w16
    assert wrap32(value) == w32


@pytest.mark.parametrize(
    ("a", "delta", "sum16", "sum32"),
    [
        (65535, 1, 0, 65536),
        (0, -1, 65535, 0xFFFFFFFF),
        (10, 65536, 10, 65546),
        (0xFFFFFFF0, 0x20, 0x10, 0x10),
    ],
)
def test_add(a: int, delta: int, sum16: int, sum32: int) -> None:
    assert add16(a, delta) == sum16
    assert add32(a, delta) == sum32


@pytest.mark.parametrize(
    ("a", "b", "diff", "gt"),
    [
        (1, 0, 1, True),
        (0, 65535, 1, True),
        (65535, 0, -1, False),
        (7, 7, 0, False),
        (32767, 0, 32767, True),
        (32768, 0, -32768, False),  # exactly half the space: older (RFC 1982 leaves it undefined)
        (0, 32768, -32768, False),
    ],
)
def test_diff16_and_gt16(a: int, b: int, diff: int, gt: bool) -> None:
    assert diff16(a, b) == diff
    assert gt16(a, b) is gt


@pytest.mark.parametrize(
    ("a", "b", "diff", "gt"),
    [
        (0, 0xFFFFFFFF, 1, True),
        (0xFFFFFFFF, 0, -1, False),
        (3000, 0, 3000, True),
        (0x7FFFFFFF, 0, 0x7FFFFFFF, True),
        (0x80000000, 0, -0x80000000, False),
    ],
)
def test_diff32_and_gt32(a: int, b: int, diff: int, gt: bool) -> None:
    assert diff32(a, b) == diff
    assert gt32(a, b) is gt


@pytest.mark.parametrize(
    ("newest", "seq", "extended"),
    [
        (65535, 0, 65536),  # forward across the wrap
        (65536, 65535, 65535),  # back across the wrap (a reordered packet)
        (0x30005, 3, 0x30003),
        (0x18000, 0, 0x10000),  # a tie goes to the older value
        (100, 100, 100),
    ],
)
def test_extend16(newest: int, seq: int, extended: int) -> None:
    assert extend16(newest, seq) == extended


@pytest.mark.parametrize(
    ("newest", "ts", "extended"),
    [(0xFFFFFF00, 0x100, 0x100000100), (0x100000100, 0xFFFFFF00, 0xFFFFFF00), (5, 5, 5)],
)
def test_extend32(newest: int, ts: int, extended: int) -> None:
    assert extend32(newest, ts) == extended


@pytest.mark.parametrize(
    ("bits", "values", "extended"),
    [
        (16, [65534, 65535, 0, 1, 65535, 2], [65534, 65535, 65536, 65537, 65535, 65538]),
        (16, [10, 9, 11], [10, 9, 11]),
        (32, [0xFFFFFFFF, 0, 0xFFFFFFFE], [0xFFFFFFFF, 1 << 32, 0xFFFFFFFE]),
    ],
)
def test_unwrapper(bits: int, values: list[int], extended: list[int]) -> None:
    unwrapper = Unwrapper(bits)
    assert [unwrapper.unwrap(v) for v in values] == extended


def test_unwrapper_peek_remembers_nothing() -> None:
    unwrapper = Unwrapper(16)
    assert unwrapper.peek(7) == 7  # nothing seen yet: taken as it is
    unwrapper.unwrap(65535)
    assert unwrapper.peek(0) == 65536
    assert unwrapper.unwrap(65534) == 65534  # still relative to 65535, not to the peeked 65536


def test_unwrapper_bits() -> None:
    with pytest.raises(ValueError, match="16 or 32"):
        Unwrapper(8)
