"""Property tests: wraparound, reordering, duplicates, drops, garbage bytes."""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass

from hypothesis import example, given, settings
from hypothesis import strategies as st

from liveloop_sfu.media.codecs.keyframes import is_h264_keyframe, is_vp8_keyframe, is_vp9_keyframe
from liveloop_sfu.media.core.drops import DropReason
from liveloop_sfu.media.core.forwarder import Forwarder, SubscriberConfig, TrackConfig
from liveloop_sfu.media.core.rewriter import SeqRewriter
from liveloop_sfu.media.core.rtp import (
    Nack,
    Remb,
    RtpParseError,
    RtpView,
    build_extension_block,
    build_nack,
    build_remb,
    build_rtp,
    iter_extensions,
    parse_rtcp,
    rtx_unwrap,
    rtx_wrap,
)
from liveloop_sfu.media.core.seq import diff16, diff32

PUB = 0xAAAA
KEY = b"\x10\x00\x9d\x01\x2a"
DELTA = b"\x10\x01\x00\x00"
FAST = settings(max_examples=150, deadline=None)


# --- garbage never raises anything but RtpParseError ------------------------------------------


@FAST
@given(st.binary(max_size=80))
def test_rtp_garbage(data: bytes) -> None:
    try:
        view = RtpView(data)
    except RtpParseError:
        return
    try:
        view.extensions()
        rtx_unwrap(view, 96, 1)
    except RtpParseError:
        pass
    assert 12 <= view.payload_start <= view.payload_end <= len(data)


@FAST
@given(st.binary(max_size=120))
def test_rtcp_garbage(data: bytes) -> None:
    with contextlib.suppress(RtpParseError):
        parse_rtcp(data)


@FAST
@given(st.binary(max_size=40), st.integers(0, 40), st.integers(0, 40))
def test_keyframe_detectors_never_raise(data: bytes, start: int, length: int) -> None:
    end = min(len(data), start + length)
    for detector in (is_vp8_keyframe, is_vp9_keyframe, is_h264_keyframe):
        assert detector(data, min(start, end), end) in (True, False)


def valid_packets() -> st.SearchStrategy[bytes]:
    return st.builds(
        lambda seq, ext, payload, pad, csrcs: build_rtp(
            pt=96,
            seq=seq,
            ts=seq * 90,
            ssrc=PUB,
            payload=payload,
            extensions=ext,
            padding=pad,
            csrcs=csrcs,
        ),
        st.integers(0, 65535),
        st.lists(st.tuples(st.integers(1, 14), st.binary(min_size=1, max_size=16)), max_size=3),
        st.binary(max_size=20),
        st.integers(0, 8),
        st.lists(st.integers(0, 2**32 - 1), max_size=2),
    )


@FAST
@given(valid_packets(), st.integers(0, 200), st.integers(0, 255), st.integers(0, 7))
def test_truncated_or_flipped_packets(packet: bytes, cut: int, byte: int, bit: int) -> None:
    """Truncation and bit flips of valid packets, through the parser and the whole forwarder."""
    mutated = bytearray(packet[: min(cut, len(packet))])
    if mutated:
        mutated[byte % len(mutated)] ^= 1 << bit
    fwd = Forwarder(
        TrackConfig(
            kind="video", ssrc=PUB, clock_rate=90000, codecs={96: "VP8"}, rtx_payload_types={97: 96}
        )
    )
    fwd.add_subscriber(0.0, SubscriberConfig("s", ssrc=1, payload_types={96: 96}))
    for data in (bytes(mutated), packet):
        fwd.on_rtp(0.0, data)
        fwd.on_rtx(0.0, data)
        with contextlib.suppress(RtpParseError):
            parse_rtcp(data)


# --- round trips -------------------------------------------------------------------------------


@FAST
@given(st.lists(st.tuples(st.integers(1, 255), st.binary(max_size=40)), max_size=5))
def test_extension_block_round_trip(elements: list[tuple[int, bytes]]) -> None:
    profile, block = build_extension_block(elements)
    assert len(block) % 4 == 0
    parsed = [(i, block[s:e]) for i, s, e in iter_extensions(block, profile, 0, len(block))]
    assert parsed == elements


@FAST
@given(valid_packets(), st.integers(97, 127), st.integers(0, 2**32 - 1), st.integers(0, 65535))
def test_rtx_round_trip(packet: bytes, rtx_pt: int, rtx_ssrc: int, rtx_seq: int) -> None:
    view = RtpView(packet)
    restored = rtx_unwrap(RtpView(rtx_wrap(view, rtx_pt, rtx_ssrc, rtx_seq)), 96, PUB)
    if view.payload_start == view.payload_end:
        # an empty payload still gets its OSN, so it comes back (without the padding)
        assert restored is not None
    assert restored is not None
    back = RtpView(restored)
    assert (back.seq, back.ts, back.ssrc, back.pt) == (view.seq, view.ts, view.ssrc, view.pt)
    assert back.payload == view.payload
    assert back.extensions() == view.extensions()


@FAST
@given(st.lists(st.integers(0, 65535), min_size=1, max_size=60))
def test_nack_round_trip(seqs: list[int]) -> None:
    [nack] = parse_rtcp(build_nack(1, 2, seqs))
    assert isinstance(nack, Nack)
    assert sorted(nack.seqs) == sorted(set(seqs))


@FAST
@given(st.integers(0, 2**40), st.lists(st.integers(0, 2**32 - 1), max_size=4))
def test_remb_round_trip(bitrate: int, ssrcs: list[int]) -> None:
    [remb] = parse_rtcp(build_remb(1, bitrate, ssrcs))
    assert isinstance(remb, Remb)
    assert remb.ssrcs == tuple(ssrcs)
    # rounded down to 18 significant bits
    assert bitrate - (bitrate >> 17) <= remb.bitrate <= bitrate


# --- sequence rewriting ----------------------------------------------------------------------


@FAST
@given(st.integers(0, 65535), st.integers(0, 10**6), st.lists(st.booleans(), max_size=300))
def test_seq_rewriter_in_order_drops_are_gap_free(
    initial: int, start: int, drops: list[bool]
) -> None:
    rewriter = SeqRewriter(initial)
    assert rewriter.forward(start) == initial
    outputs = []
    for i, dropped in enumerate(drops, start + 1):
        if dropped:
            rewriter.drop(i)
        else:
            outputs.append(rewriter.forward(i))
    assert outputs == [(initial + 1 + k) & 0xFFFF for k in range(len(outputs))]


@dataclass(frozen=True)
class Input:
    index: int  # position in the publisher's sequence
    kind: str  # "key", "delta", "padding", "badpt"


def stream() -> st.SearchStrategy[tuple[int, list[Input], list[int], list[int], list[int]]]:
    kinds = st.sampled_from(["key", "delta", "delta", "delta", "padding", "badpt"])
    return st.tuples(
        st.one_of(st.integers(65300, 65535), st.integers(0, 65535)),  # first publisher seq
        st.lists(kinds, min_size=1, max_size=250).map(
            lambda ks: [Input(i, k) for i, k in enumerate(ks)]
        ),
        st.lists(st.integers(0, 249), max_size=20),  # lost upstream
        st.lists(st.integers(0, 249), max_size=10),  # duplicated
        st.lists(st.integers(0, 248), max_size=20),  # swapped with the next one
    )


PAYLOAD = {"key": KEY, "delta": DELTA, "padding": b"", "badpt": DELTA}


@settings(max_examples=200, deadline=None)
@given(stream(), st.integers(0, 65535), st.integers(0, 2**32 - 1))
# Found by hypothesis: the keyframe at 65535 arrives behind the delta at 0 (swapped across the
# wrap) and was dropped as too old, so the subscriber never started.
@example((65535, [Input(0, "key"), Input(1, "delta")], [], [], [0]), 0, 0)
def test_forwarder_stream_properties(
    case: tuple[int, list[Input], list[int], list[int], list[int]],
    initial_seq: int,
    initial_ts: int,
) -> None:
    first, inputs, lost, duplicated, swaps = case
    lost_set = set(lost)
    arrivals = [x for x in inputs if x.index not in lost_set]
    for d in duplicated:
        if d < len(arrivals):
            arrivals.insert(d + 1, arrivals[d])
    for s in swaps:
        if s + 1 < len(arrivals):
            arrivals[s], arrivals[s + 1] = arrivals[s + 1], arrivals[s]
    in_order = not swaps and not lost

    fwd = Forwarder(TrackConfig(kind="video", ssrc=PUB, clock_rate=90000, codecs={96: "VP8"}))
    fwd.add_subscriber(
        0.0,
        SubscriberConfig(
            "s", ssrc=7, payload_types={96: 100}, initial_seq=initial_seq, initial_ts=initial_ts
        ),
    )
    forwarded: list[tuple[Input, RtpView]] = []
    for n, x in enumerate(arrivals):
        seq = (first + x.index) & 0xFFFF
        packet = build_rtp(
            pt=55 if x.kind == "badpt" else 96,
            seq=seq,
            ts=(x.index * 3000 + 12345) & 0xFFFFFFFF,
            ssrc=PUB,
            payload=PAYLOAD[x.kind],
            padding=4 if x.kind == "padding" else 0,
        )
        for sid, out in fwd.on_rtp(n * 0.001, packet):
            assert sid == "s"
            forwarded.append((x, RtpView(out)))

    # every packet is either sent or counted under exactly one reason
    assert len(forwarded) + fwd.drops.total == len(arrivals)
    assert set(fwd.drops) <= {
        DropReason.WAITING_FOR_KEYFRAME,
        DropReason.PADDING_ONLY,
        DropReason.UNKNOWN_PAYLOAD_TYPE,
        DropReason.DUPLICATE,
        DropReason.TOO_OLD,
    }
    assert (DropReason.DUPLICATE in fwd.drops) <= bool(duplicated)
    if not forwarded:
        assert all(x.kind != "key" for x in arrivals)
        return
    # the first packet sent begins a keyframe and carries the initial numbers
    x0, v0 = forwarded[0]
    assert x0.kind == "key"
    assert (v0.seq, v0.ts) == (initial_seq, initial_ts)
    seen = set()
    for x, view in forwarded:
        assert x.kind in ("key", "delta")
        assert x.index not in seen  # duplicates never forwarded twice
        seen.add(x.index)
        assert view.payload == PAYLOAD[x.kind]
        assert (view.ssrc, view.pt) == (7, 100)
        # one timestamp offset for the whole stream, modulo 2^32
        assert diff32(view.ts, v0.ts) == (x.index - x0.index) * 3000
    # output order follows input order (mod 2^16), never faster than the input advances
    ordered = sorted(forwarded, key=lambda f: f[0].index)
    for (xa, va), (xb, vb) in itertools.pairwise(ordered):
        assert 1 <= diff16(vb.seq, va.seq) <= xb.index - xa.index
    if not swaps:
        # in arrival order: the only output gaps are the packets lost upstream (for NACKs)
        for (xa, va), (xb, vb) in itertools.pairwise(forwarded):
            lost_between = sum(1 for i in range(xa.index + 1, xb.index) if i in lost_set)
            assert diff16(vb.seq, va.seq) == 1 + lost_between
    if in_order:
        # nothing lost or reordered upstream: every node drop was closed, output is gap-free
        assert [v.seq for _, v in forwarded] == [
            (initial_seq + k) & 0xFFFF for k in range(len(forwarded))
        ]
