"""The cheap publisher's H.264 packetization (RFC 6184 mode 1), checked against the recorder's
depacketizer (liveloop_sfu/media/recording/depacketizer_h264.py): what the sender cuts, a
receiver puts back together byte for byte."""

from __future__ import annotations

import pytest

from benchmarks.clients.cheap_peer import REPAIRED_RID_ID, RID_ID, offer_simulcast
from benchmarks.clients.native.media_sender import (
    FU_A,
    StreamSender,
    TransportSequence,
    annexb_nals,
    annexb_reference,
    packetize_h264,
)
from liveloop_sfu.media.core.rewriter import REPAIRED_RID_URI, RID_URI
from liveloop_sfu.media.core.rtp import RtpView, build_extension_block
from liveloop_sfu.media.recording.depacketizer_h264 import H264Parser
from liveloop_sfu.media.transport.srtp.packet_io import PeerIo

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


def test_simulcast_offer_is_a_browsers() -> None:
    # The sending video m-line: rids, the RID extensions and a=simulcast, no SSRC announced;
    # the audio and a group room's receive-only video m-lines are left as aiortc wrote them.
    offer = "\r\n".join(
        [
            "v=0",
            "m=audio 9 UDP/TLS/RTP/SAVPF 111",
            "a=sendrecv",
            "a=mid:0",
            "a=ssrc:1 cname:x",
            "m=video 9 UDP/TLS/RTP/SAVPF 97 98",
            "a=sendrecv",
            "a=mid:1",
            "a=ssrc-group:FID 2 3",
            "a=ssrc:2 cname:x",
            "a=ssrc:3 cname:x",
            "m=video 9 UDP/TLS/RTP/SAVPF 97 98",
            "a=recvonly",
            "a=mid:3",
            "a=ssrc:4 cname:x",
            "",
        ]
    )
    lines = offer_simulcast(offer, ("h", "f")).split("\r\n")
    sending = lines[lines.index("a=mid:1") : lines.index("a=mid:3")]
    assert sending[1:5] == [
        f"a=extmap:{RID_ID} {RID_URI}",
        f"a=extmap:{REPAIRED_RID_ID} {REPAIRED_RID_URI}",
        "a=rid:h send",
        "a=rid:f send",
    ]
    assert "a=simulcast:send h;f" in sending and not any("ssrc" in x for x in sending)
    assert "a=ssrc:1 cname:x" in lines and "a=ssrc:4 cname:x" in lines
    assert sum(line.startswith("a=simulcast") for line in lines) == 1


def test_transport_wide_numbers_count_every_packet_of_the_connection() -> None:
    # Audio, video and a retransmission share one counter (draft §2), at the extension's place.
    transport = TransportSequence(0xFFFE)
    _, block = build_extension_block([(5, b"\0\0"), (1, b"0")])
    extensions = b"\xbe\xde" + (len(block) // 4).to_bytes(2, "big") + block
    io = PeerIo("test", object(), lambda pair: (None, None, None))
    video = StreamSender(
        io, 96, 1, extensions, vp8=True, seq=0, transport=transport, transport_at=5
    )
    audio = StreamSender(
        io, 111, 2, extensions, vp8=False, seq=0, transport=transport, transport_at=5
    )
    video.send_frame([b"a", b"b"], 0, 0)  # no transport: numbered and kept, not sent
    audio.send_frame([b"c"], 0, 0)
    kept = [video.packet(0), video.packet(1), audio.packet(0)]
    assert [_extension(p, 5) for p in kept if p] == [b"\xff\xfe", b"\xff\xff", b"\0\0"]
    again = video.restamp(kept[0] or b"")
    assert _extension(again, 5) == b"\0\1" and _extension(again, 1) == b"0"


def _extension(packet: bytes, ext_id: int) -> bytes:
    view = RtpView(packet)
    return next(packet[s:e] for i, s, e in view.extensions() if i == ext_id)
