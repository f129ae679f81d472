"""Keyframe-start detection per codec, from payload bytes."""

from __future__ import annotations

import pytest

from liveloop_sfu.media.codecs.keyframes import (
    KeyframeDetector,
    is_h264_keyframe,
    is_vp8_keyframe,
    is_vp9_keyframe,
    keyframe_detector,
)


def check(detector: KeyframeDetector, payload: bytes) -> bool:
    # Embed the payload at an offset, as in a real packet, to exercise the start/end arithmetic.
    data = b"\xff" * 12 + payload + b"\xff\xff"
    return detector(data, 12, 12 + len(payload))


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b"\x10\x00\x9d\x01\x2a", True),  # S=1 PID=0, frame tag P=0
        (b"\x10\x01", False),  # inter frame
        (b"\x00\x00", False),  # not the start of the partition
        (b"\x11\x00", False),  # partition 1
        (b"\x30\x00", True),  # N (non-reference) does not matter
        (b"\x90\x80\x05\x00", True),  # X, I with 7-bit PictureID
        (b"\x90\x80\x85\x05\x00", True),  # X, I with 15-bit PictureID
        (b"\x90\x80\x85\x05\x01", False),
        (b"\x90\xe0\x85\x05\x07\x20\x00", True),  # I, L, T: 2 + 1 + 1 bytes
        (b"\x90\x10\x40\x00", True),  # K only
        (b"\x90\x40\x07\x01", False),  # L only, inter
        (b"", False),
        (b"\x10", False),  # no frame tag
        (b"\x90", False),  # X without its byte
        (b"\x90\x80", False),  # I without PictureID
        (b"\x90\x80\x85\x05", False),  # descriptor only
    ],
)
def test_vp8(payload: bytes, expected: bool) -> None:
    assert check(is_vp8_keyframe, payload) is expected


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b"\x65\x88", True),  # single NAL: IDR slice
        (b"\x67\x42", True),  # SPS
        (b"\x68\xce", False),  # PPS alone
        (b"\x41\x9a", False),  # non-IDR slice
        (b"\x78\x00\x02\x67\x42\x00\x01\x68", True),  # STAP-A: SPS, PPS
        (b"\x78\x00\x02\x68\xce\x00\x03\x65\x88\x80", True),  # STAP-A: PPS, IDR
        (b"\x78\x00\x02\x68\xce\x00\x02\x41\x9a", False),  # STAP-A without IDR/SPS
        (b"\x78\x00\x09\x67\x42", False),  # STAP-A size beyond payload
        (b"\x78\x00\x00\x67", False),  # zero-size NAL unit
        (b"\x78\x00", False),
        (b"\x7c\x85\x88", True),  # FU-A start of an IDR
        (b"\x7c\x05\x88", False),  # FU-A middle of an IDR
        (b"\x7c\x45\x88", False),  # FU-A end of an IDR
        (b"\x7c\x81\x9a", False),  # FU-A start of a non-IDR slice
        (b"\x7c", False),
        (b"", False),
    ],
)
def test_h264(payload: bytes, expected: bool) -> None:
    assert check(is_h264_keyframe, payload) is expected


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b"\x08\x00", True),  # B=1, P=0, no layer indices
        (b"\x48\x00", False),  # P: inter-picture predicted
        (b"\x00\x00", False),  # not the beginning of a frame
        (b"\x28\x00", True),  # L: spatial layer 0
        (b"\x28\x02", False),  # L: spatial layer 1
        (b"\xa8\x80\x05\x00", True),  # I (15-bit PictureID), L: SID 0
        (b"\xa8\x05\x02", False),  # I (7-bit PictureID), L: SID 1
        (b"\xa8", False),
        (b"\xa8\x80\x05", False),
        (b"", False),
    ],
)
def test_vp9(payload: bytes, expected: bool) -> None:
    assert check(is_vp9_keyframe, payload) is expected


@pytest.mark.parametrize(
    ("codec", "detector"),
    [
        ("VP8", is_vp8_keyframe),
        ("video/VP8", is_vp8_keyframe),
        ("vp9", is_vp9_keyframe),
        ("H264", is_h264_keyframe),
        ("video/h264", is_h264_keyframe),
        ("opus", None),
        ("audio/opus", None),
        ("PCMU", None),
        ("AV1", None),
    ],
)
def test_detector_lookup(codec: str, detector: KeyframeDetector | None) -> None:
    assert keyframe_detector(codec) is detector
