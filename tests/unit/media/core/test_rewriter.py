"""Sequence rewriting (gap-free over node drops) and header-extension plans."""

from __future__ import annotations

import pytest

from liveloop_sfu.media.core.rewriter import (
    ABS_SEND_TIME_URI,
    AUDIO_LEVEL_URI,
    MID_URI,
    RID_URI,
    TRANSPORT_CC_URI,
    ExtensionPlan,
    SeqRewriter,
    TransportSequence,
)
from liveloop_sfu.media.core.rtp import RtpView, build_rtp, iter_extensions

# Each step: ("f", ext) forward -> expected output (-1 = refused) or ("d", ext) drop.
Step = tuple[str, int, int | None]


@pytest.mark.parametrize(
    ("initial", "steps"),
    [
        # in order, no drops: consecutive
        (100, [("f", 5, 100), ("f", 6, 101), ("f", 7, 102)]),
        # a node drop closes its gap
        (
            100,
            [
                ("f", 5, 100),
                ("d", 6, None),
                ("f", 7, 101),
                ("d", 8, None),
                ("d", 9, None),
                ("f", 10, 102),
            ],
        ),
        # an upstream loss (6 never seen) keeps its gap
        (100, [("f", 5, 100), ("f", 7, 102)]),
        # the lost packet arriving late gets its in-order number
        (100, [("f", 5, 100), ("f", 7, 102), ("f", 6, 101)]),
        # late packet before a later drop: numbered as if in order, the drop still closed
        (100, [("f", 5, 100), ("f", 7, 102), ("d", 8, None), ("f", 9, 103), ("f", 6, 101)]),
        # a late drop cannot be closed: the gap stays
        (100, [("f", 5, 100), ("f", 7, 102), ("d", 6, None), ("f", 8, 103)]),
        # output wraps around 2^16
        (65534, [("f", 0, 65534), ("f", 1, 65535), ("f", 2, 0), ("d", 3, None), ("f", 4, 1)]),
        # before the first forwarded packet, drops are irrelevant and older packets refused
        (7, [("d", 1, None), ("d", 2, None), ("f", 10, 7), ("f", 9, -1), ("f", 11, 8)]),
        # a dropped number coming again is refused rather than double-numbered
        (0, [("f", 1, 0), ("d", 2, None), ("f", 2, -1), ("f", 3, 1)]),
    ],
)
def test_seq_rewriter(initial: int, steps: list[Step]) -> None:
    rewriter = SeqRewriter(initial)
    for op, ext, expected in steps:
        if op == "d":
            rewriter.drop(ext)
        else:
            assert rewriter.forward(ext) == expected, (op, ext)


def test_seq_rewriter_window_folds_old_drops() -> None:
    rewriter = SeqRewriter(0, window=10)
    assert rewriter.forward(0) == 0
    rewriter.drop(1)
    rewriter.drop(2)
    assert rewriter.forward(3) == 1
    assert rewriter.forward(20) == 18  # drops 1, 2 folded into the base
    assert rewriter.forward(10) == -1  # 20 - 10: outside the window
    assert rewriter.forward(11) == 9
    assert rewriter.next_output == 19


def test_seq_rewriter_restart_continues() -> None:
    rewriter = SeqRewriter(500)
    assert rewriter.forward(1000) == 500
    rewriter.drop(1001)
    assert rewriter.next_output == 501
    rewriter.restart(rewriter.next_output)
    assert not rewriter.started
    assert rewriter.forward(7) == 501
    assert rewriter.forward(8) == 502


def test_transport_sequence_wraps() -> None:
    counter = TransportSequence(65535)
    assert [counter.next(), counter.next(), counter.next()] == [65535, 0, 1]


PUBLISHER = {
    1: MID_URI,
    2: ABS_SEND_TIME_URI,
    3: AUDIO_LEVEL_URI,
    4: RID_URI,
    5: TRANSPORT_CC_URI,
    6: "urn:example:not-negotiated-by-subscriber",
}


def elements_of(block: bytes) -> list[tuple[int, bytes]]:
    """Parse a block as :meth:`ExtensionPlan.block` returns it (profile word included)."""
    if not block:
        return []
    profile = int.from_bytes(block[:2], "big")
    assert int.from_bytes(block[2:4], "big") * 4 == len(block) - 4
    return [(i, block[s:e]) for i, s, e in iter_extensions(block, profile, 4, len(block))]


def incoming() -> tuple[bytes, list[tuple[int, int, int]]]:
    data = build_rtp(
        pt=96,
        seq=1,
        ts=1,
        ssrc=1,
        payload=b"x",
        extensions=[
            (1, b"pub-mid"),
            (2, b"\x00\x00\x01"),
            (3, b"\x85"),
            (4, b"h"),
            (5, b"\x00\x07"),
            (6, b"zz"),
        ],
    )
    return data, RtpView(data).extensions()


def test_plan_rewrites_mid_abs_send_time_tcc_and_copies_by_uri() -> None:
    plan = ExtensionPlan(
        PUBLISHER,
        {MID_URI: 9, ABS_SEND_TIME_URI: 10, AUDIO_LEVEL_URI: 11, TRANSPORT_CC_URI: 12, RID_URI: 13},
        mid="a1",
    )
    data, elements = incoming()
    block = plan.block(2.5, data, elements, TransportSequence(40))
    assert block[:2] == b"\xbe\xde"
    assert elements_of(block) == [
        (9, b"a1"),  # the subscriber's mid, not the publisher's
        (10, (int(2.5 * 262144) & 0xFFFFFF).to_bytes(3, "big")),  # node's send time
        (12, b"\x00\x28"),  # the subscriber transport's counter (40)
        (11, b"\x85"),  # audio level copied, id remapped
        # rid removed, the not-negotiated URI removed
    ]


def test_plan_without_subscriber_extensions_is_empty() -> None:
    plan = ExtensionPlan(PUBLISHER, {}, mid="a1")
    assert plan.empty
    data, elements = incoming()
    assert plan.block(0.0, data, elements, None) == b""


def test_plan_mid_only_when_publisher_sends_none() -> None:
    plan = ExtensionPlan({}, {MID_URI: 1}, mid="video")
    assert not plan.empty
    assert elements_of(plan.block(0.0, b"", None, None)) == [(1, b"video")]


def test_plan_uses_two_byte_form_for_large_ids() -> None:
    plan = ExtensionPlan(PUBLISHER, {MID_URI: 20, AUDIO_LEVEL_URI: 3}, mid="m")
    data, elements = incoming()
    block = plan.block(0.0, data, elements, None)
    assert block[:2] == b"\x10\x00"
    assert elements_of(block) == [(20, b"m"), (3, b"\x85")]


def test_plan_uses_two_byte_form_for_long_mid() -> None:
    plan = ExtensionPlan({}, {MID_URI: 1}, mid="m" * 17)
    assert elements_of(plan.block(0.0, b"", None, None)) == [(1, b"m" * 17)]
