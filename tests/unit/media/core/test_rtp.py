"""RTP on bytes: exact fields, exact bytes, and RtpParseError for anything broken."""

from __future__ import annotations

import pytest

from liveloop_sfu.media.core.rtp import (
    ONE_BYTE_PROFILE,
    TWO_BYTE_PROFILE,
    RtpParseError,
    RtpView,
    build_extension_block,
    build_rtp,
    iter_extensions,
    ntp_from_unix,
    ntp_middle32,
    rewrite_header,
    rtx_unwrap,
    rtx_wrap,
)
from liveloop_sfu.media.core.seq import add16, add32, diff16, diff32, gt16, gt32


@pytest.mark.parametrize(
    ("a", "b", "diff", "gt"),
    [
        (1, 0, 1, True),
        (0, 1, -1, False),
        (0, 65535, 1, True),
        (65535, 0, -1, False),
        (5, 5, 0, False),
        (32767, 0, 32767, True),
        (32768, 0, -32768, False),
        (100, 65000, 636, True),
    ],
)
def test_seq_arithmetic(a: int, b: int, diff: int, gt: bool) -> None:
    assert diff16(a, b) == diff
    assert gt16(a, b) is gt


@pytest.mark.parametrize(
    ("seq", "delta", "expected"),
    [(65535, 1, 0), (0, -1, 65535), (10, 65536, 10), (65000, 1000, 464)],
)
def test_seq_add(seq: int, delta: int, expected: int) -> None:
    assert add16(seq, delta) == expected


@pytest.mark.parametrize(
    ("a", "b", "diff"),
    [(0, 0xFFFFFFFF, 1), (0xFFFFFFFF, 0, -1), (3000, 0, 3000), (0x7FFFFFFF, 0, 0x7FFFFFFF)],
)
def test_ts_arithmetic(a: int, b: int, diff: int) -> None:
    assert diff32(a, b) == diff
    assert gt32(a, b) is (diff > 0)


def test_ts_add_wraps() -> None:
    assert add32(0xFFFFFFF0, 0x20) == 0x10
    assert add32(5, -10) == 0xFFFFFFFB


def test_ntp_from_unix() -> None:
    assert ntp_from_unix(0.0) == 2_208_988_800 << 32
    assert ntp_from_unix(1.5) == ((2_208_988_801 << 32) | 0x80000000)
    assert ntp_middle32(0x1234_5678_9ABC_DEF0) == 0x5678_9ABC


def test_view_reads_fixed_header() -> None:
    data = bytes.fromhex("80e1 0102 00000304 0a0b0c0d") + b"payload"
    view = RtpView(data)
    assert (view.marker, view.pt, view.seq, view.ts, view.ssrc) == (
        1,
        97,
        0x0102,
        0x304,
        0x0A0B0C0D,
    )
    assert (view.csrc_count, view.payload_start, view.payload_end) == (0, 12, 19)
    assert view.payload == b"payload"
    assert not view.has_extension
    assert view.extensions() == []


def test_view_with_csrcs_extension_and_padding() -> None:
    data = build_rtp(
        pt=96,
        seq=7,
        ts=9,
        ssrc=1,
        payload=b"\x01\x02\x03",
        csrcs=[0xAA, 0xBB],
        extensions=[(1, b"x"), (3, b"abc")],
        padding=4,
    )
    view = RtpView(data)
    assert view.csrc_count == 2
    assert view.csrc_end == 20
    assert view.ext_profile == ONE_BYTE_PROFILE
    assert (view.ext_start, view.ext_end) == (24, 32)
    assert view.extensions() == [(1, 25, 26), (3, 27, 30)]
    assert view.padding
    assert view.payload == b"\x01\x02\x03"
    assert len(data) == 32 + 3 + 4


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "too short"),
        (bytes(11), "too short"),
        (bytes([0x40]) + bytes(11), "version"),
        (bytes([0x81]) + bytes(11), "longer than packet"),
        (bytes([0x90]) + bytes(11) + b"\xbe\xde", "extension truncated"),
        (bytes([0x90]) + bytes(11) + b"\xbe\xde\x00\x02" + bytes(4), "longer than packet"),
        (bytes([0xA0]) + bytes(11) + b"ab\x00", "padding"),
        (bytes([0xA0]) + bytes(11) + b"ab\x04", "padding"),
        (bytes([0xA0]) + bytes(11), "padding"),
    ],
)
def test_view_rejects_broken_packets(data: bytes, message: str) -> None:
    with pytest.raises(RtpParseError, match=message):
        RtpView(data)


def test_padding_may_fill_the_whole_payload() -> None:
    view = RtpView(build_rtp(pt=96, seq=1, ts=1, ssrc=1, padding=200))
    assert view.payload_start == view.payload_end == 12


@pytest.mark.parametrize(
    ("block", "profile", "expected"),
    [
        # one-byte: padding bytes between elements, then id 15 stops parsing
        (b"\x10a\x00\x00\x22bcd\xf0\x11zz", ONE_BYTE_PROFILE, [(1, b"a"), (2, b"bcd")]),
        (b"\x00\x00\x00\x00", ONE_BYTE_PROFILE, []),
        # two-byte: id, length (0 allowed), padding
        (b"\x01\x00\x00\x20\x03xyz", TWO_BYTE_PROFILE, [(1, b""), (32, b"xyz")]),
        (b"\x05\x01q", TWO_BYTE_PROFILE | 0x3, [(5, b"q")]),
        # unknown profile: nothing we understand
        (b"\x10a\x00\x00", 0x1234, []),
    ],
)
def test_iter_extensions(block: bytes, profile: int, expected: list[tuple[int, bytes]]) -> None:
    got = [(i, block[s:e]) for i, s, e in iter_extensions(block, profile, 0, len(block))]
    assert got == expected


@pytest.mark.parametrize(
    ("block", "profile"),
    [(b"\x13ab", ONE_BYTE_PROFILE), (b"\x01", TWO_BYTE_PROFILE), (b"\x01\x05ab", TWO_BYTE_PROFILE)],
)
def test_iter_extensions_truncated(block: bytes, profile: int) -> None:
    with pytest.raises(RtpParseError):
        list(iter_extensions(block, profile, 0, len(block)))


@pytest.mark.parametrize(
    ("elements", "profile", "data"),
    [
        ([], 0, b""),
        ([(1, b"a")], ONE_BYTE_PROFILE, b"\x10a\x00\x00"),
        ([(14, bytes(16))], ONE_BYTE_PROFILE, b"\xef" + bytes(16) + bytes(3)),
        ([(15, b"a")], TWO_BYTE_PROFILE, b"\x0f\x01a\x00"),
        ([(1, bytes(17))], TWO_BYTE_PROFILE, b"\x01\x11" + bytes(17) + bytes(1)),
        ([(1, b"")], TWO_BYTE_PROFILE, b"\x01\x00\x00\x00"),
    ],
)
def test_build_extension_block(
    elements: list[tuple[int, bytes]], profile: int, data: bytes
) -> None:
    assert build_extension_block(elements) == (profile, data)


def test_build_extension_block_rejects_unencodable() -> None:
    with pytest.raises(ValueError, match="unencodable"):
        build_extension_block([(1, bytes(256))])


def test_two_byte_extensions_round_trip_through_a_packet() -> None:
    data = build_rtp(pt=96, seq=1, ts=2, ssrc=3, payload=b"p", extensions=[(200, b"hello")])
    view = RtpView(data)
    assert view.ext_profile == TWO_BYTE_PROFILE
    assert [(i, data[s:e]) for i, s, e in view.extensions()] == [(200, b"hello")]
    assert view.payload == b"p"


def test_rtx_wrap_and_unwrap() -> None:
    original = build_rtp(
        pt=96, seq=0xBEEF, ts=1234, ssrc=11, payload=b"media", marker=True, extensions=[(1, b"m")]
    )
    rtx = rtx_wrap(RtpView(original), rtx_pt=97, rtx_ssrc=22, rtx_seq=5)
    view = RtpView(rtx)
    assert (view.pt, view.seq, view.ts, view.ssrc, view.marker) == (97, 5, 1234, 22, 1)
    assert view.payload == b"\xbe\xefmedia"
    assert rtx_unwrap(view, 96, 11) == original


def test_rtx_wrap_drops_padding() -> None:
    padded = build_rtp(pt=96, seq=1, ts=1, ssrc=1, payload=b"ab", padding=3)
    rtx = rtx_wrap(RtpView(padded), 97, 2, 3)
    assert rtx == build_rtp(pt=97, seq=3, ts=1, ssrc=2, payload=b"\x00\x01ab")


def test_rtx_unwrap_padding_only_and_truncated() -> None:
    assert rtx_unwrap(RtpView(build_rtp(pt=97, seq=1, ts=1, ssrc=2, padding=8)), 96, 1) is None
    with pytest.raises(RtpParseError, match="OSN"):
        rtx_unwrap(RtpView(build_rtp(pt=97, seq=1, ts=1, ssrc=2, payload=b"\x01")), 96, 1)


def test_rewrite_header_in_place_keeps_flags() -> None:
    original = build_rtp(
        pt=96, seq=1, ts=2, ssrc=3, payload=b"pp", marker=True, csrcs=[4], extensions=[(1, b"a")]
    )
    buf = bytearray(original)
    rewrite_header(buf, pt=100, seq=70000, ts=-1, ssrc=0xDEADBEEF)
    view = RtpView(bytes(buf))
    assert (view.pt, view.seq, view.ts, view.ssrc, view.marker) == (
        100,
        70000 - 65536,
        0xFFFFFFFF,
        0xDEADBEEF,
        1,
    )
    assert buf[0] == original[0]
    assert buf[12:] == original[12:]
    with pytest.raises(RtpParseError):
        rewrite_header(bytearray(5), pt=1, seq=1, ts=1, ssrc=1)
