"""The one VP8 payload descriptor parser (media/codecs/vp8.py, RFC 7741 §4.2) on offsets, as the
forwarder's keyframe gate calls it: inside a larger packet, and -1 where the payload is short."""

from __future__ import annotations

import pytest

from liveloop_sfu.media.codecs.vp8 import descriptor_size, is_vp8_keyframe, starts_frame

HEADER = bytes(12)  # an RTP header the descriptor follows


@pytest.mark.parametrize(
    ("payload", "size"),
    [
        (b"\x10\x00", 1),
        (b"\x90\x80\x85\x01\x00", 4),  # X, I, M: 15-bit PictureID
        (b"\x90\xe0\x85\x01\x07\x40\x00", 6),  # + L and T
        (b"\x90\xc0\x85\x01", -1),  # L's TL0PICIDX byte is missing
        (b"", -1),
        (b"\x80", -1),  # X without its extension byte
        (b"\x90\x80", -1),  # I without its PictureID
    ],
)
def test_descriptor_size_on_offsets(payload: bytes, size: int) -> None:
    data = HEADER + payload + b"padding"
    end = len(HEADER) + len(payload)
    assert descriptor_size(data, len(HEADER), end) == size
    assert descriptor_size(payload) == size


@pytest.mark.parametrize(
    ("first_byte", "starts"), [(0x10, True), (0x90, True), (0x11, False), (0x00, False)]
)
def test_starts_frame(first_byte: int, starts: bool) -> None:
    assert starts_frame(first_byte) is starts


@pytest.mark.parametrize(
    ("payload", "keyframe"),
    [
        (b"\x10\x50", True),  # frame tag P=0
        (b"\x10\x51", False),  # P=1: inter frame
        (b"\x10", False),  # no frame tag
        (b"\x90\x80\x85\x01\x50", True),
        (b"\x90\x80\x85\x01", False),
    ],
)
def test_keyframe_agrees_with_descriptor(payload: bytes, keyframe: bool) -> None:
    data = HEADER + payload
    assert is_vp8_keyframe(data, len(HEADER), len(data)) is keyframe
