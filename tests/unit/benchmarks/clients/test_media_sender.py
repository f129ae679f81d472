"""The cheap publisher's H.264 packetization (RFC 6184 mode 1), checked against the recorder's
depacketizer (liveloop_sfu/media/recording/depacketizer_h264.py): what the sender cuts, a
receiver puts back together byte for byte."""

from __future__ import annotations

import pytest

from benchmarks.clients.native.media_sender import (
    FU_A,
    annexb_nals,
    annexb_reference,
    packetize_h264,
)
from liveloop_sfu.media.recording.depacketizer_h264 import H264Parser

SPS = bytes([0x67, 0x42, 0xC0, 0x0D]) + b"\x11" * 6
PPS = bytes([0x68, 0xCE, 0x3C, 0x80])
IDR = bytes([0x65]) + bytes(range(256)) * 12  # 3073 bytes: fragmented at 1200
# 4-byte start codes before the parameter sets, a 3-byte one before the slice (x264 does so).
ACCESS_UNIT = b"\x00\x00\x00\x01" + SPS + b"\x00\x00\x00\x01" + PPS + b"\x00\x00\x01" + IDR


def test_nal_units_are_split_at_either_start_code() -> None:
    assert annexb_nals(ACCESS_UNIT) == [SPS, PPS, IDR]
    assert annexb_nals(b"") == []


def test_small_nal_units_go_alone_and_large_ones_in_fu_a_fragments() -> None:
    payloads = packetize_h264(ACCESS_UNIT, 1200)
    assert payloads[:2] == [SPS, PPS]
    fragments = payloads[2:]
    assert len(fragments) == 3 and all(len(p) <= 1200 for p in fragments)
    assert all(p[0] == (IDR[0] & 0xE0) | FU_A for p in fragments)  # FU indicator: F, NRI, 28
    assert [p[1] & 0xC0 for p in fragments] == [0x80, 0x00, 0x40]  # S, -, E
    assert all(p[1] & 0x1F == 5 for p in fragments)  # the IDR's type
    # Fragments of one size but the last (what UDP GSO needs to send them in one call).
    assert len(fragments[0]) == len(fragments[1]) >= len(fragments[2])


def test_the_receivers_depacketizer_rebuilds_the_reference() -> None:
    parser = H264Parser()
    rebuilt = b"".join(parser.parse(p).data for p in packetize_h264(ACCESS_UNIT, 1200))
    assert rebuilt == annexb_reference(ACCESS_UNIT)
    assert annexb_nals(rebuilt) == [SPS, PPS, IDR]


def test_max_payload_must_leave_room_for_the_headers() -> None:
    with pytest.raises(ValueError, match="FU-A headers"):
        packetize_h264(ACCESS_UNIT, 2)
