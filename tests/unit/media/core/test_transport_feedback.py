"""Transport-wide feedback (draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1): exact bytes
worked out by hand from the draft, round trips through build -> parse, and hostile input."""

from __future__ import annotations

import random

import pytest

from liveloop_sfu.media.core.rtcp import Pli, ReceiverReport, build_pli, build_rr, parse_rtcp
from liveloop_sfu.media.core.rtp import build_rtp
from liveloop_sfu.media.core.rtp_common import RtpParseError
from liveloop_sfu.media.core.transport_feedback import (
    REFERENCE_TICK_US,
    TransportFeedback,
    TransportFeedbackBuilder,
    parse_transport_feedback,
    read_transport_sequence,
)

# --- exact bytes -----------------------------------------------------------------------------
# Each expected packet below was worked out by hand from the draft's §3.1 layout:
#   8f cd LLLL                 V=2, P=0, FMT=15 | PT=205 | length in 32-bit words minus one
#   SSRC of packet sender, SSRC of media source
#   base sequence (16) | packet status count (16)
#   reference time (24, 64 ms units) | feedback packet count (8)
#   chunks (16 bits each), receive deltas (1 byte small, 2 bytes signed large; 250 µs), padding.

# Case A: 100 @ 1,000,000 µs, 101 @ 1,000,500, 102 lost, 103 @ 1,100,000.
#   reference = 1,000,000 // 64,000 = 15 (960,000 µs) -> 00000f, feedback count 0.
#   deltas: 100: 40,000 µs = 160 ticks (small, a0); 101: 500 µs = 2 ticks (small, 02);
#   103: 99,500 µs = 398 ticks (large, 018e).
#   symbols 1 1 0 2: a large delta, fewer than 7 equal -> two-bit vector:
#   11 01 01 00 10 00 00 00 = d480 (the last chunk's unused symbols are zero).
#   20 + 2 + 4 = 26 bytes, 2 bytes of zero padding -> 28 bytes, length 6.
CASE_A = bytes.fromhex("8fcd0006 00000001 00000002 00640004 00000f00 d480a002 018e0000")

# Case B, across the 16-bit wrap: 65534 @ 192,250 µs, then 100 @ 202,250 (65535..99 lost: 101).
#   reference = 192,250 // 64,000 = 3 (192,000) -> 000003; deltas 1 tick (01), 40 ticks (28).
#   symbols: 1, 0 x 101, 1 (103 statuses = 0067).
#   chunk 1: no large delta in the first 14 -> one-bit vector 1 0 1 000... = a000 (14 symbols);
#   chunk 2: the remaining 88 zeros are a run -> 0 00 0000001011000 = 0058;
#   chunk 3: the last received packet alone, run of one symbol 1 -> 0 01 0000000000001 = 2001.
#   20 + 6 + 2 = 28 bytes, no padding, length 6.
CASE_B = bytes.fromhex("8fcd0006 00000001 00000002 fffe0067 00000300 a0000058 20010128")

# Case C, parse only (libwebrtc-style RTCP padding with the P bit, a negative reference time):
#   base 5, count 3, reference -1 (ffffff = -64,000 µs), feedback count 7;
#   two-bit vector 2 1 0 -> 11 10 01 00 00 00 00 00 = e400; deltas -4 ticks (fffc), 8 ticks (08);
#   arrivals -64,000 - 1,000 = -65,000, then -63,000, then not received.
#   20 + 2 + 3 = 25 bytes, 3 bytes of padding (00 00 03), P bit: a f cd, length 6.
CASE_C = bytes.fromhex("afcd0006 00000001 00000002 00050003 ffffff07 e400fffc 08000003")


def _builder_with(events: list[tuple[int, int]]) -> TransportFeedbackBuilder:
    builder = TransportFeedbackBuilder()
    for seq, arrival in events:
        builder.record(seq, arrival)
    return builder


def test_build_exact_bytes_two_bit_vector() -> None:
    builder = _builder_with([(100, 1_000_000), (101, 1_000_500), (103, 1_100_000)])
    assert builder.build(1_200_000, 1, 2) == [CASE_A]


def test_build_exact_bytes_wrap_and_run_length() -> None:
    builder = _builder_with([(65534, 192_250), (100, 202_250)])
    assert builder.build(300_000, 1, 2) == [CASE_B]


def test_build_exact_bytes_run_of_fourteen_small_deltas() -> None:
    # 14 packets 1 ms apart from 64,000 µs: reference 1 (000001), deltas 0 then 4 ticks each.
    # A run of 14 equal symbols is one run-length chunk: 0 01 0000000001110 = 200e.
    # 20 + 2 + 14 = 36 bytes, length 8.
    builder = _builder_with([(7 + i, 64_000 + 1_000 * i) for i in range(14)])
    expected = bytes.fromhex(
        "8fcd0008 00000001 00000002 0007000e 00000100 200e0004 04040404 04040404 04040404"
    )
    assert builder.build(100_000, 1, 2) == [expected]


def test_parse_exact_bytes() -> None:
    assert parse_transport_feedback(CASE_A) == TransportFeedback(
        1, 2, 100, 0, 960_000, [1_000_000, 1_000_500, -1, 1_100_000]
    )
    assert parse_transport_feedback(CASE_B) == TransportFeedback(
        1, 2, 65534, 0, 192_000, [192_250] + [-1] * 101 + [202_250]
    )
    assert parse_transport_feedback(CASE_C) == TransportFeedback(
        1, 2, 5, 7, -64_000, [-65_000, -63_000, -1]
    )


def test_parse_rtcp_yields_transport_feedback_in_a_compound() -> None:
    compound = build_rr(9) + CASE_C + build_pli(1, 2)
    assert parse_rtcp(compound) == [
        ReceiverReport(9, ()),
        parse_transport_feedback(CASE_C),
        Pli(1, 2),
    ]


def test_feedback_count_increments_per_packet_and_wraps() -> None:
    builder = TransportFeedbackBuilder()
    counts = []
    for i in range(258):
        builder.record(i, 1_000 * i)
        (packet,) = builder.build(1_000 * i, 1, 2)
        counts.append(parse_transport_feedback(packet).feedback_count)
    assert counts == [i & 0xFF for i in range(258)]


def test_nothing_new_builds_nothing() -> None:
    builder = TransportFeedbackBuilder()
    assert builder.build(0, 1, 2) == []
    builder.record(5, 1_000)
    assert len(builder.build(2_000, 1, 2)) == 1
    assert builder.build(3_000, 1, 2) == []
    assert not builder.pending


def test_lost_packets_after_the_last_build_are_reported_with_the_next() -> None:
    builder = _builder_with([(10, 1_000)])
    builder.build(2_000, 1, 2)
    builder.record(13, 5_000)  # 11 and 12 lost
    (packet,) = builder.build(6_000, 1, 2)
    feedback = parse_transport_feedback(packet)
    assert feedback.base_sequence == 11
    assert feedback.arrivals == [-1, -1, 5_000]


def test_late_packet_is_reported_again() -> None:
    builder = _builder_with([(10, 1_000), (12, 3_000)])
    (first,) = builder.build(4_000, 1, 2)
    assert parse_transport_feedback(first).arrivals == [1_000, -1, 3_000]
    builder.record(11, 4_500)  # reordered past the feedback that called it lost
    builder.record(13, 5_000)
    (second,) = builder.build(6_000, 1, 2)
    feedback = parse_transport_feedback(second)
    assert (feedback.base_sequence, feedback.arrivals) == (11, [4_500, 3_000, 5_000])


def test_duplicate_keeps_its_first_arrival() -> None:
    builder = _builder_with([(10, 1_000), (10, 9_000), (11, 2_000)])
    (packet,) = builder.build(10_000, 1, 2)
    assert parse_transport_feedback(packet).arrivals == [1_000, 2_000]
    assert builder.duplicates == 1


def test_delta_beyond_sixteen_bits_starts_a_new_packet() -> None:
    # 8,191.75 ms is the largest delta; 10 s later needs a new reference time.
    builder = _builder_with([(1, 100_000), (2, 10_100_000), (3, 10_100_250)])
    packets = builder.build(10_200_000, 1, 2)
    assert len(packets) == 2
    one, two = (parse_transport_feedback(p) for p in packets)
    assert (one.base_sequence, one.arrivals, one.feedback_count) == (1, [100_000], 0)
    assert (two.base_sequence, two.arrivals, two.feedback_count) == (
        2,
        [10_100_000, 10_100_250],
        1,
    )
    assert two.reference_time_us == 10_100_000 // REFERENCE_TICK_US * REFERENCE_TICK_US


def test_too_many_statuses_for_one_packet_split() -> None:
    # Jumps of < 2^15 at a time reach 90,000 statuses; a packet holds at most 65,535.
    builder = TransportFeedbackBuilder(capacity=1 << 17)
    for i, ext in enumerate((0, 30_000, 60_000, 90_000)):
        builder.record(ext & 0xFFFF, 1_000_000 + i * 1_000)
    packets = [parse_transport_feedback(p) for p in builder.build(2_000_000, 1, 2)]
    assert [p.packet_status_count for p in packets] == [65_535, 90_001 - 65_535]
    received = [
        ((p.base_sequence + i) & 0xFFFF, t)
        for p in packets
        for i, t in enumerate(p.arrivals)
        if t != -1
    ]
    assert received == [
        (0, 1_000_000),
        (30_000, 1_001_000),
        (60_000, 1_002_000),
        (24_464, 1_003_000),
    ]


def test_large_packets_split_at_the_size_limit() -> None:
    # Every other packet lost and alternating negative deltas: two-byte deltas, vector chunks.
    builder = TransportFeedbackBuilder()
    for i in range(0, 3_000, 2):
        builder.record(i, 10_000_000 + (i % 4) * 40_000 - i)
    raw = builder.build(20_000_000, 1, 2)
    assert len(raw) > 2
    assert all(len(p) <= 1200 and len(p) % 4 == 0 for p in raw)
    packets = [parse_transport_feedback(p) for p in raw]
    next_base = 0
    for packet in packets:
        assert packet.base_sequence == next_base
        next_base += packet.packet_status_count
    assert next_base == 2_999


def test_random_sequence_flood_stays_bounded() -> None:
    rng = random.Random(14)
    builder = TransportFeedbackBuilder(capacity=1024)
    for i in range(50_000):
        builder.record(rng.randrange(65536), i * 10)
    packets = [parse_transport_feedback(p) for p in builder.build(600_000, 1, 2)]
    assert sum(p.packet_status_count for p in packets) <= 1024
    assert builder.too_old > 0


def test_builder_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="power of two"):
        TransportFeedbackBuilder(capacity=1000)
    with pytest.raises(ValueError, match="max_packet_bytes"):
        TransportFeedbackBuilder(max_packet_bytes=10)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "header truncated"),
        (bytes.fromhex("4fcd0000"), "version"),
        (bytes.fromhex("81cd0002 00000001 00000002"), "not transport feedback"),
        (bytes.fromhex("8fcd0006 00000001"), "longer than data"),
        (bytes.fromhex("8fcd0002 00000001 00000002"), "before its packet chunks"),
        (bytes.fromhex("8fcd0004 00000001 00000002 00010000 00000000"), "no packet status"),
        (bytes.fromhex("8fcd0004 00000001 00000002 00010001 00000000"), "chunks truncated"),
        (bytes.fromhex("8fcd0005 00000001 00000002 0001000f 00000000 bfff2001"), "deltas"),
        (bytes.fromhex("8fcd0005 00000001 00000002 00010001 00000000 60010000"), "reserved"),
        (bytes.fromhex("8fcd0005 00000001 00000002 00010001 00000000 f0000000"), "reserved"),
        (bytes.fromhex("8fcd0005 00000001 00000002 00010001 00000000 c0000000"), None),
        (bytes.fromhex("afcd0005 00000001 00000002 00010001 00000000 20010000"), "padding"),
    ],
)
def test_malformed_feedback_raises_rtp_parse_error(data: bytes, message: str | None) -> None:
    if message is None:  # a well-formed packet among the broken ones: the table's control row
        assert parse_transport_feedback(data).arrivals == [-1]
        return
    with pytest.raises(RtpParseError, match=message):
        parse_transport_feedback(data)
    if len(data) >= 4 and data[1] == 205 and data[0] & 0x1F == 15:
        with pytest.raises(RtpParseError):
            parse_rtcp(data)


# --- the transport-wide sequence number on an RTP packet ---------------------------------------


@pytest.mark.parametrize(
    ("extensions", "ext_id", "expected"),
    [
        ([(1, b"0"), (3, b"\x12\x34"), (5, b"\xab\xcd")], 5, 0xABCD),  # one-byte form
        ([(1, b"0"), (5, b"\xab\xcd")], 3, -1),  # not there
        ([(5, b"\xab\xcd\xef")], 5, -1),  # wrong length for a 16-bit number
        ([(15, b"x"), (5, b"\x00\x07")], 5, 7),  # id 15: the two-byte form is used
        ([(20, b"\x00\x01\x02"), (21, b"\x01\x02")], 21, 0x0102),  # two-byte form
        ([], 5, -1),  # no extension block
    ],
)
def test_read_transport_sequence(
    extensions: list[tuple[int, bytes]], ext_id: int, expected: int
) -> None:
    packet = build_rtp(pt=96, seq=1, ts=2, ssrc=3, payload=b"payload", extensions=extensions)
    assert read_transport_sequence(packet, ext_id) == expected


@pytest.mark.parametrize(
    ("packet", "why"),
    [
        (bytes.fromhex("9060000100000002000000 03"), "extension word missing"),
        (bytes.fromhex("906000010000000200000003 bede0002 5112"), "block longer than packet"),
        (
            bytes.fromhex("906000010000000200000003 bede0001 000051ff"),
            "element runs past the block",
        ),
        (bytes.fromhex("906000010000000200000003 bede0001 f0511234"), "id 15 stops the block"),
        (bytes.fromhex("906000010000000200000003 10000001 00000500"), "two-byte, truncated"),
        (bytes.fromhex("906000010000000200000003 12340001 51123400"), "unknown profile"),
    ],
)
def test_read_transport_sequence_on_broken_headers(packet: bytes, why: str) -> None:
    assert read_transport_sequence(packet, 5) == -1, why


def test_read_transport_sequence_skips_padding_and_csrcs() -> None:
    # CC=1 (one CSRC), one-byte block: two padding bytes, then id 5 length 2.
    packet = bytes.fromhex("91600001 00000002 00000003 00000009 bede0002 00005112 34000000")
    assert read_transport_sequence(packet, 5) == 0x1234
