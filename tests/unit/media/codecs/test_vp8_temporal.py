"""VP8 temporal layers on RTP (RFC 7741 §4.2): the TID and Y bits read off the payload
descriptor, and PictureIDs kept continuous when the node drops pictures of higher temporal
layers (media/codecs/vp8.py). Exact cases, then a property over random drops and late packets."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liveloop_sfu.media.codecs.vp8 import PictureIdRewriter, layer_sync, temporal_layer

HEADER = bytes(12)


def descriptor(
    picture_id: int, tl0: int, tid: int, sync: bool = False, start: bool = True
) -> bytes:
    """X, I (15-bit PictureID), L, T descriptor, then two payload bytes."""
    return bytes(
        [
            0x90 if start else 0x80,
            0xE0,
            0x80 | (picture_id >> 8),
            picture_id & 0xFF,
            tl0,
            (tid << 6) | (0x20 if sync else 0),
            0x01,
            0x00,
        ]
    )


@pytest.mark.parametrize(
    ("payload", "tid", "sync"),
    [
        (descriptor(300, 7, 0), 0, False),
        (descriptor(300, 7, 2, sync=True), 2, True),
        (descriptor(300, 7, 1), 1, False),
        (b"\x90\x20\x40\x01", 1, False),  # T alone: the TID byte follows the X byte
        (b"\x90\x80\x85\x01\x01", -1, False),  # no T: no TID
        (b"\x10\x01", -1, False),  # no X
        (b"\x90\xe0\x85\x01\x07", -1, False),  # T announced, its byte missing
        (b"", -1, False),
    ],
)
def test_tid_and_layer_sync_on_offsets(payload: bytes, tid: int, sync: bool) -> None:
    data = HEADER + payload + b"tail"
    end = len(HEADER) + len(payload)
    assert temporal_layer(data, len(HEADER), end) == tid
    assert layer_sync(data, len(HEADER), end) is sync


def picture_of(descriptor_bytes: bytes) -> tuple[int, int]:
    return ((descriptor_bytes[2] & 0x7F) << 8) | descriptor_bytes[3], descriptor_bytes[4]


def test_dropped_pictures_are_closed_up() -> None:
    rewriter = PictureIdRewriter()
    out = []
    # Pictures 32766..32773 (wrapping at 2^15), TIDs 0 2 1 2 0 2 1 2; the TID 2 ones dropped.
    for n, tid in zip(range(32766, 32774), itertools.cycle((0, 2, 1, 2)), strict=False):
        pid = n & 0x7FFF
        for first in (True, False):
            payload = descriptor(pid, 9, tid, start=first)
            if tid == 2:
                rewriter.drop(payload, 0, len(payload))
            else:
                out.append(picture_of(rewriter.rewrite(payload, 0, len(payload))))
    assert [p for p, _ in out] == [32766, 32766, 32767, 32767, 0, 0, 1, 1]
    # A late packet of a forwarded picture keeps the number its picture had.
    late = descriptor(32768 & 0x7FFF, 9, 1, start=False)  # picture 32768 was sent as 32767
    assert picture_of(rewriter.rewrite(late, 0, len(late)))[0] == 32767


def test_a_switch_continues_after_a_dropped_picture() -> None:
    rewriter = PictureIdRewriter()
    first = descriptor(100, 1, 0)
    assert picture_of(rewriter.rewrite(first, 0, len(first))) == (100, 1)
    dropped = descriptor(101, 1, 2)
    rewriter.drop(dropped, 0, len(dropped))
    rewriter.switch()
    other = descriptor(5000, 40, 0)
    assert picture_of(rewriter.rewrite(other, 0, len(other))) == (101, 2)
    after = descriptor(5001, 40, 2)
    assert picture_of(rewriter.rewrite(after, 0, len(after))) == (102, 2)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 0x7FFF),
    st.lists(st.tuples(st.booleans(), st.integers(1, 3)), min_size=1, max_size=120),
    st.lists(st.integers(0, 119), max_size=10),
)
def test_forwarded_pictures_are_numbered_without_gaps(
    first: int, frames: list[tuple[bool, int]], late: list[int]
) -> None:
    """Any pattern of dropped pictures (never the first: a base frame), each picture in 1-3
    packets: the forwarded pictures, in order, are numbered one after the other, every packet of
    a picture with its number, and a late copy of a forwarded packet gets the same number."""
    rewriter = PictureIdRewriter()
    given_numbers: dict[int, int] = {}
    order: list[int] = []
    frames[0] = (False, frames[0][1])
    for n, (dropped, packets) in enumerate(frames):
        pid = (first + n) & 0x7FFF
        for k in range(packets):
            payload = descriptor(pid, 0, 2 if dropped else 0, start=k == 0)
            if dropped:
                rewriter.drop(payload, 0, len(payload))
                continue
            number = picture_of(rewriter.rewrite(payload, 0, len(payload)))[0]
            assert given_numbers.setdefault(n, number) == number
            if k == 0:
                order.append(number)
    assert all((b - a) & 0x7FFF == 1 for a, b in itertools.pairwise(order))
    for n in late:
        if n < len(frames) and n in given_numbers:
            payload = descriptor((first + n) & 0x7FFF, 0, 0, start=False)
            assert picture_of(rewriter.rewrite(payload, 0, len(payload)))[0] == given_numbers[n]
