"""RTP payload formats for the recorder, table-driven: VP8 (RFC 7741), H.264 (RFC 6184), Opus
(RFC 7587)."""

from __future__ import annotations

import struct

import pytest

from liveloop_sfu.media.codecs.vp8 import descriptor_size
from liveloop_sfu.media.recording.depacketizer import DepacketizeError, PayloadUnit
from liveloop_sfu.media.recording.depacketizer_h264 import START_CODE, H264Parser, parameter_sets
from liveloop_sfu.media.recording.depacketizer_opus import OpusParser, opus_head
from liveloop_sfu.media.recording.depacketizer_vp8 import Vp8Parser, vp8_keyframe_size

# A VP8 keyframe's first bytes (RFC 6386 §9.1): frame tag with P=0, start code, 640x480.
VP8_KEY = bytes([0x50, 0x2D, 0x00]) + b"\x9d\x01\x2a" + struct.pack("<HH", 640, 480) + b"rest"
VP8_INTER = bytes([0x51, 0x2D, 0x00]) + b"inter"


@pytest.mark.parametrize(
    ("descriptor", "size"),
    [
        (b"\x10", 1),  # S=1, PID=0, no extension
        (b"\x90\x80\x05", 3),  # X, I, 7-bit PictureID
        (b"\x90\x80\x85\x01", 4),  # X, I, M: 15-bit PictureID
        (b"\x90\xc0\x85\x01\x07", 5),  # + L: TL0PICIDX
        (b"\x90\xe0\x85\x01\x07\x40", 6),  # + T: TID/Y/KEYIDX byte
        (b"\x90\x10\x20", 3),  # K alone also takes the TID/Y/KEYIDX byte
    ],
)
def test_vp8_descriptor_sizes(descriptor: bytes, size: int) -> None:
    assert descriptor_size(descriptor + b"\x00") == size


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b"\x10" + VP8_KEY, PayloadUnit(VP8_KEY, True, True)),
        (b"\x10" + VP8_INTER, PayloadUnit(VP8_INTER, True, False)),
        (b"\x00" + b"middle", PayloadUnit(b"middle", False, False)),  # S=0: continuation
        (b"\x11" + VP8_KEY, PayloadUnit(VP8_KEY, False, False)),  # PID=1: not the frame start
        (b"\x90\x80\x85\x01" + VP8_KEY, PayloadUnit(VP8_KEY, True, True)),
    ],
)
def test_vp8_payloads(payload: bytes, expected: PayloadUnit) -> None:
    assert Vp8Parser().parse(payload) == expected


@pytest.mark.parametrize("payload", [b"", b"\x80", b"\x90\x80", b"\x90\xc0\x85\x01"])
def test_vp8_truncated_descriptors_are_refused(payload: bytes) -> None:
    with pytest.raises(DepacketizeError):
        Vp8Parser().parse(payload)


def test_vp8_keyframe_size() -> None:
    assert vp8_keyframe_size(VP8_KEY) == (640, 480)
    assert vp8_keyframe_size(VP8_INTER) is None
    assert vp8_keyframe_size(VP8_KEY[:8]) is None


SPS = bytes([0x67, 0x42, 0xC0, 0x1F])
PPS = bytes([0x68, 0xCE, 0x3C, 0x80])
IDR = bytes([0x65, 0x88, 0x84])
SLICE = bytes([0x41, 0x9A, 0x02])


def stap_a(*nals: bytes) -> bytes:
    return bytes([0x78]) + b"".join(len(n).to_bytes(2, "big") + n for n in nals)


def fu_a(nal_header: int, fragment: bytes, start: bool, end: bool) -> bytes:
    indicator = (nal_header & 0xE0) | 28
    header = (0x80 if start else 0) | (0x40 if end else 0) | (nal_header & 0x1F)
    return bytes([indicator, header]) + fragment


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (IDR, PayloadUnit(START_CODE + IDR, True, True)),
        (SLICE, PayloadUnit(START_CODE + SLICE, True, False)),
        (
            stap_a(SPS, PPS),
            PayloadUnit(START_CODE + SPS + START_CODE + PPS, True, True),
        ),
        (fu_a(0x65, b"\x88\x84", True, False), PayloadUnit(START_CODE + IDR, True, True)),
        (fu_a(0x65, b"\x11\x22", False, False), PayloadUnit(b"\x11\x22", False, False)),
        (fu_a(0x65, b"\x33", False, True), PayloadUnit(b"\x33", False, False)),
        (fu_a(0x41, b"\x9a\x02", True, False), PayloadUnit(START_CODE + SLICE, True, False)),
    ],
)
def test_h264_payloads(payload: bytes, expected: PayloadUnit) -> None:
    assert H264Parser().parse(payload) == expected


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        bytes([0x79, 0, 1, 0x65]),  # STAP-B (interleaved mode only)
        bytes([0x7C, 0x85]),  # FU-A without a fragment byte
        fu_a(0x65, b"\x00", True, True),  # S and E together
        bytes([0x78, 0x00, 0x05, 0x65]),  # STAP-A size beyond the payload
        bytes([0x78, 0x00]),  # STAP-A size field truncated
        bytes([0x78]),  # STAP-A without NAL units
    ],
)
def test_h264_malformed_payloads_are_refused(payload: bytes) -> None:
    with pytest.raises(DepacketizeError):
        H264Parser().parse(payload)


def test_h264_parameter_sets_are_found_in_an_access_unit() -> None:
    access_unit = START_CODE + SPS + START_CODE + PPS + START_CODE + IDR
    assert parameter_sets(access_unit) == START_CODE + SPS + START_CODE + PPS
    assert parameter_sets(START_CODE + IDR) is None


def test_opus_payload_is_a_frame_as_is() -> None:
    assert OpusParser().parse(b"\xfc\x01") == PayloadUnit(b"\xfc\x01", True, True)
    with pytest.raises(DepacketizeError):
        OpusParser().parse(b"")


def test_opus_head_is_rfc_7845_identification_header() -> None:
    head = opus_head()
    assert len(head) == 19 and head[:8] == b"OpusHead"
    version, channels, pre_skip, rate, gain, family = struct.unpack("<BBHIhB", head[8:])
    assert (version, channels, pre_skip, rate, gain, family) == (1, 2, 0, 48000, 0, 0)
    with pytest.raises(ValueError, match="one or two channels"):
        opus_head(channels=3)
