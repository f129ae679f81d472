"""RTCP: exact bytes of what we build, round trips, skipping, RtpParseError for broken input."""

from __future__ import annotations

import struct

import pytest

from liveloop_sfu.media.core.rtcp import (
    Bye,
    Fir,
    Nack,
    Pli,
    ReceiverReport,
    Remb,
    ReportBlock,
    SenderReport,
    build_fir,
    build_nack,
    build_pli,
    build_remb,
    build_rr,
    build_sr,
    is_rtcp,
    parse_rtcp,
)
from liveloop_sfu.media.core.rtp import RtpParseError, build_rtp


def test_is_rtcp() -> None:
    assert is_rtcp(build_pli(1, 2))
    assert not is_rtcp(build_rtp(pt=96, seq=1, ts=1, ssrc=1))
    assert not is_rtcp(b"\x80")


BLOCK = ReportBlock(
    ssrc=9, fraction_lost=25, packets_lost=-3, highest_seq=70000, jitter=12, lsr=0x1234, dlsr=0x10
)


@pytest.mark.parametrize(
    ("packet", "parsed"),
    [
        (
            build_sr(1, 0x0102030405060708, 90000, 10, 1000),
            SenderReport(1, 0x0102030405060708, 90000, 10, 1000),
        ),
        (build_sr(1, 5, 6, 7, 8, [BLOCK]), SenderReport(1, 5, 6, 7, 8, (BLOCK,))),
        (build_rr(2, [BLOCK, BLOCK]), ReceiverReport(2, (BLOCK, BLOCK))),
        (build_rr(2), ReceiverReport(2, ())),
        (build_pli(3, 4), Pli(3, 4)),
        (build_fir(3, 4, 300), Fir(3, ((4, 44),))),
        (build_nack(5, 6, [100]), Nack(5, 6, (100,))),
        (build_nack(5, 6, [65535, 0, 15, 16]), Nack(5, 6, (65535, 0, 15, 16))),
        (build_remb(7, 1_000_000, [8, 9]), Remb(7, 1_000_000, (8, 9))),
        (build_remb(7, 1_000_003, [8]), Remb(7, 1_000_000, (8,))),
        (build_remb(7, 0x3FFFF, []), Remb(7, 0x3FFFF, ())),
    ],
)
def test_rtcp_round_trip(packet: bytes, parsed: object) -> None:
    assert parse_rtcp(packet) == [parsed]


def test_sr_exact_bytes() -> None:
    assert build_sr(0x11, 0x2233445566778899, 0xAABBCCDD, 3, 4) == bytes.fromhex(
        "80c80006 00000011 22334455 66778899 aabbccdd 00000003 00000004"
    )


def test_pli_and_fir_exact_bytes() -> None:
    assert build_pli(1, 2) == bytes.fromhex("81ce0002 00000001 00000002")
    assert build_fir(1, 2, 7) == bytes.fromhex("84ce0004 00000001 00000000 00000002 07000000")


@pytest.mark.parametrize(
    ("seqs", "fci"),
    [
        ([10], [(10, 0)]),
        ([10, 11, 13], [(10, 0b101)]),
        ([10, 26], [(10, 0x8000)]),
        ([10, 27], [(10, 0), (27, 0)]),
        ([65534, 65535, 0, 1], [(65534, 0b111)]),
        # ordered by distance from the first one given, duplicates dropped
        ([13, 11, 10, 11], [(13, 0), (10, 0b1)]),
    ],
)
def test_nack_packing(seqs: list[int], fci: list[tuple[int, int]]) -> None:
    packet = build_nack(1, 2, seqs)
    body = packet[12:]
    assert [struct.unpack_from("!HH", body, i) for i in range(0, len(body), 4)] == fci
    assert packet[0] == 0x81 and packet[1] == 205


def test_nack_needs_a_seq() -> None:
    with pytest.raises(ValueError, match="at least one"):
        build_nack(1, 2, [])


def test_remb_exact_bytes() -> None:
    # 1_000_000 needs 20 bits: mantissa 250_000 = 0x3D090 (18 bits), exponent 2.
    assert build_remb(1, 1_000_000, [0xABCD]) == bytes.fromhex(
        "8fce0005 00000001 00000000 52454d42 01 0b d090 0000abcd"
    )


def test_remb_mantissa_and_exponent() -> None:
    packet = build_remb(1, 1_000_000, [0xABCD])
    fci = packet[12:]
    assert fci[:4] == b"REMB"
    assert fci[4] == 1
    exponent = fci[5] >> 2
    mantissa = ((fci[5] & 3) << 16) | (fci[6] << 8) | fci[7]
    assert (exponent, mantissa) == (2, 250_000)


@pytest.mark.parametrize("bitrate", [-1, 1 << 90])
def test_remb_rejects_bad_bitrate(bitrate: int) -> None:
    with pytest.raises(ValueError, match="REMB"):
        build_remb(1, bitrate, [])


def test_compound_skips_sdes_app_and_unknown_feedback() -> None:
    sdes = bytes.fromhex("81ca0003 00000001 0104 6162 63640000")
    app = bytes.fromhex("80cc0002 00000001 41424344")
    tmmbr = bytes.fromhex("83cd0002 00000001 00000002")  # RTPFB 3 (TMMBR): not read
    afb_other = bytes.fromhex("8fce0003 00000001 00000000 41424344")  # AFB that is not REMB
    bye = bytes.fromhex("81cb0001 00000007")
    compound = build_rr(1) + sdes + app + tmmbr + afb_other + build_pli(1, 2) + bye
    assert parse_rtcp(compound) == [ReceiverReport(1, ()), Pli(1, 2), Bye((7,))]


def test_rtcp_padding_is_removed() -> None:
    # A PLI followed by 4 bytes of padding (P bit, last byte = 4).
    padded = bytes.fromhex("a1ce0003 00000001 00000002 00000004")
    assert parse_rtcp(padded) == [Pli(1, 2)]


@pytest.mark.parametrize(
    "data",
    [
        b"\x80",
        bytes.fromhex("40c80000"),  # version 1
        bytes.fromhex("80c80006 00000001"),  # length beyond data
        bytes.fromhex("80c80001 00000001"),  # SR without sender info
        bytes.fromhex("81c90001 00000001"),  # RR announcing a block it lacks
        bytes.fromhex("80c90000"),  # RR without SSRC
        bytes.fromhex("82cb0001 00000001"),  # BYE announcing two SSRCs
        bytes.fromhex("81ce0001 00000001"),  # feedback without media SSRC
        bytes.fromhex("8fce0004 00000001 00000000 52454d42 02000000"),  # REMB lacking SSRCs
        bytes.fromhex("a1ce0002 00000001 00000000"),  # padding count 0
        bytes.fromhex("a1ce0002 00000001 000000ff"),  # padding longer than packet
    ],
)
def test_rtcp_rejects_broken_packets(data: bytes) -> None:
    with pytest.raises(RtpParseError):
        parse_rtcp(data)
