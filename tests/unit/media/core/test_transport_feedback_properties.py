"""Property tests of transport-wide feedback: build -> parse round trips over reordering,
duplicates, 16-bit wrap-around, lost packets, large gaps, negative and oversized deltas; the
chunk choice; and hostile bytes, which raise RtpParseError and nothing else."""

from __future__ import annotations

import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st

from liveloop_sfu.media.core.rtcp import parse_rtcp
from liveloop_sfu.media.core.rtp import RtpView
from liveloop_sfu.media.core.rtp_common import RtpParseError
from liveloop_sfu.media.core.transport_feedback import (
    DELTA_TICK_US,
    TransportFeedback,
    TransportFeedbackBuilder,
    parse_transport_feedback,
    read_transport_sequence,
)

FAST = settings(max_examples=200, deadline=None)
SLOWER = settings(max_examples=60, deadline=None)
MAX_SPAN = 20_000  # keeps every recorded number within one 16-bit half-space of the newest

# One step of a publisher's packet stream: a sequence step (back = reordering, 0 = duplicate,
# forward with gaps = losses) and the arrival time step (µs; negative = a reordered arrival
# stamped earlier, huge = beyond the 16-bit delta range). None = the node builds feedback.
_SEQ_STEP = st.one_of(st.integers(-8, 3), st.integers(1, 40), st.integers(100, 3_000))
_TIME_STEP = st.one_of(
    st.integers(-30_000, 70_000), st.integers(0, 2_000), st.integers(8_000_000, 20_000_000)
)
_EVENTS = st.lists(st.one_of(st.tuples(_SEQ_STEP, _TIME_STEP), st.none()), max_size=250)


def _chunk_widths(packet: bytes) -> list[tuple[str, int]]:
    """(kind, statuses) of each chunk of a built packet, read independently of the parser."""
    count = int.from_bytes(packet[14:16], "big")
    widths: list[tuple[str, int]] = []
    pos, seen = 20, 0
    while seen < count:
        chunk = int.from_bytes(packet[pos : pos + 2], "big")
        pos += 2
        if not chunk & 0x8000:
            kind, width = "run", chunk & 0x1FFF
        elif not chunk & 0x4000:
            kind, width = "vector1", 14
        else:
            kind, width = "vector2", 7
        widths.append((kind, min(width, count - seen)))
        seen += width
    return widths


@FAST
@given(
    start=st.integers(0, 65535),
    t0=st.integers(0, 10**11),
    events=_EVENTS,
    max_bytes=st.sampled_from([80, 200, 1200]),
)
def test_round_trip(
    start: int, t0: int, events: list[tuple[int, int] | None], max_bytes: int
) -> None:
    builder = TransportFeedbackBuilder(capacity=1 << 15, max_packet_bytes=max_bytes)
    first_arrival: dict[int, int] = {}  # extended sequence -> first arrival (µs)
    reported: dict[int, int] = {}  # 16-bit sequence -> latest report (-1 = lost)
    ext, now, low, high = start, t0, start, start
    built: list[bytes] = []
    for event in [*events, None]:
        if event is None:
            packets = builder.build(now, 0x1234, 0x5678)
            _check_build(packets, max_bytes, reported)
            built += packets
            continue
        seq_step, time_step = event
        if max(high, ext + seq_step) - min(low, ext + seq_step) > MAX_SPAN:
            continue
        ext += seq_step
        now = max(0, now + time_step)
        low, high = min(low, ext), max(high, ext)
        builder.record(ext & 0xFFFF, now)
        first_arrival.setdefault(ext, now)
    counts = [parse_transport_feedback(p).feedback_count for p in built]
    assert counts == [i & 0xFF for i in range(len(counts))]
    for seq, arrival in first_arrival.items():
        assert abs(reported[seq & 0xFFFF] - arrival) <= DELTA_TICK_US // 2
    recorded = {seq & 0xFFFF for seq in first_arrival}
    assert all(arrival == -1 for seq, arrival in reported.items() if seq not in recorded)


def _check_build(packets: list[bytes], max_bytes: int, reported: dict[int, int]) -> None:
    """One build's packets: within the size limit, contiguous, each one's chunks the greedy
    choice (runs of 14+ are one chunk, vectors full except the last chunk)."""
    next_base = None
    for packet in packets:
        assert len(packet) % 4 == 0 and len(packet) <= max_bytes
        feedback = parse_transport_feedback(packet)
        assert parse_rtcp(packet) == [feedback]
        assert next_base is None or feedback.base_sequence == next_base
        next_base = (feedback.base_sequence + feedback.packet_status_count) & 0xFFFF
        for i, arrival in enumerate(feedback.arrivals):
            reported[(feedback.base_sequence + i) & 0xFFFF] = arrival
        _check_chunks(packet, feedback)


def _check_chunks(packet: bytes, feedback: TransportFeedback) -> None:
    widths = _chunk_widths(packet)
    for kind, width in widths[:-1]:
        assert width >= (7 if kind == "vector2" else 14) or (kind == "run" and width >= 7)
    assert len(widths) <= -(-feedback.packet_status_count // 7)


@SLOWER
@given(
    gaps=st.lists(st.integers(0, 9_000), min_size=1, max_size=4),
    small=st.lists(st.integers(0, 255), min_size=14, max_size=40),
)
def test_run_length_for_long_runs_vectors_for_mixed(gaps: list[int], small: list[int]) -> None:
    """Without a large delta there is no two-bit vector, and a run-length chunk other than the
    last covers at least 14 statuses (shorter runs share a one-bit vector)."""
    builder = TransportFeedbackBuilder(capacity=1 << 16)
    seq, now = 0, 64_000
    for gap in gaps:
        for ticks in small:
            now += ticks * DELTA_TICK_US
            builder.record(seq & 0xFFFF, now)
            seq += 1
        seq += min(gap, 30_000)
    builder.record(seq & 0xFFFF, now)
    for packet in builder.build(now, 1, 2):
        widths = _chunk_widths(packet)
        assert all(kind != "vector2" for kind, _ in widths)
        lost_runs = [width for kind, width in widths if kind == "run"]
        assert all(width >= 14 for width in lost_runs[:-1])


@FAST
@given(st.binary(max_size=200))
def test_garbage_raises_only_rtp_parse_error(data: bytes) -> None:
    for candidate in (data, bytes.fromhex("8fcd") + data[:2] + data[2:]):
        with contextlib.suppress(RtpParseError):
            parse_transport_feedback(candidate)
        with contextlib.suppress(RtpParseError):
            parse_rtcp(candidate)


@SLOWER
@given(
    arrivals=st.lists(st.integers(0, 5_000_000), min_size=1, max_size=60),
    cut=st.integers(0, 400),
    flip=st.tuples(st.integers(0, 400), st.integers(1, 255)),
)
def test_truncated_or_corrupted_feedback_raises_only_rtp_parse_error(
    arrivals: list[int], cut: int, flip: tuple[int, int]
) -> None:
    builder = TransportFeedbackBuilder()
    for i, arrival in enumerate(arrivals):
        builder.record(i * 3, arrival)
    for packet in builder.build(0, 1, 2):
        corrupted = bytearray(packet)
        corrupted[flip[0] % len(packet)] ^= flip[1]
        for candidate in (packet[:cut], bytes(corrupted)):
            with contextlib.suppress(RtpParseError):
                parse_transport_feedback(candidate)
            with contextlib.suppress(RtpParseError):
                parse_rtcp(candidate)


@FAST
@given(st.binary(max_size=80), st.integers(1, 255))
def test_transport_sequence_agrees_with_the_rtp_parser(data: bytes, ext_id: int) -> None:
    """On any bytes: never raises; when the RTP parser reads a 2-byte element ``ext_id``, it is
    the same value (the per-packet reader is a shortcut, not another interpretation)."""
    found = read_transport_sequence(data, ext_id)
    assert -1 <= found <= 0xFFFF
    try:
        view = RtpView(data)
        elements = view.extensions()
    except RtpParseError:
        return
    values = [data[start:end] for i, start, end in elements if i == ext_id]
    if found >= 0:
        assert values[0] == found.to_bytes(2, "big")
    elif values:
        assert len(values[0]) != 2
