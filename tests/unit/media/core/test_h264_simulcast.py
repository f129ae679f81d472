"""H.264 simulcast in the forwarder (issue 15: "H.264 simulcast works in Chromium"): the layers
are learnt by RID like VP8's, a switch waits for an IDR of the target layer (RFC 6184: a STAP-A
with SPS, PPS and the IDR slice, as libwebrtc packs them; an FU-A start of an IDR), the stream
continues without a sequence gap and with the payload untouched (no VP8 descriptor to rewrite),
each layer's picture size is read from its SPS, and no temporal drops (H.264 packets carry no
TID)."""

from __future__ import annotations

import itertools

from liveloop_sfu.media.core.forwarder import Forwarder, SubscriberConfig, TrackConfig
from liveloop_sfu.media.core.rewriter import MID_URI, REPAIRED_RID_URI, RID_URI
from liveloop_sfu.media.core.rtp import RtpView, build_rtp
from liveloop_sfu.media.core.seq import diff16
from tests.unit.media.codecs.test_h264_sps import SPS

H264 = 102
MID_ID, RID_ID, RRID_ID = 4, 10, 11
SSRCS = {"l": 0x5001, "h": 0x5002}


def track() -> TrackConfig:
    return TrackConfig(
        kind="video",
        ssrc=None,
        clock_rate=90000,
        codecs={H264: "H264"},
        header_extensions={MID_ID: MID_URI, RID_ID: RID_URI, RRID_ID: REPAIRED_RID_URI},
        rids=("l", "h"),
    )


# Each layer's SPS (libx264's, tests/unit/media/codecs/test_h264_sps.py): its picture size.
LAYER_SPS = {"l": SPS[(320, 180)], "h": SPS[(640, 480)]}


def stap_a_idr(rid: str) -> bytes:
    """RFC 6184 §5.7.1: STAP-A (type 24) holding the layer's SPS (7), PPS (8) and an IDR slice
    (5)."""
    sps = bytes.fromhex(LAYER_SPS[rid])
    units = [sps, bytes([0x68, 0xCE, 0x3C]), bytes([0x65, 0x88, 0x84])]
    return bytes([0x78]) + b"".join(len(u).to_bytes(2, "big") + u for u in units)


def fu_a(start: bool, nal_type: int) -> bytes:
    """RFC 6184 §5.8: FU indicator (type 28), FU header S/E/type, then a fragment."""
    return bytes([0x7C, (0x80 if start else 0x00) | nal_type]) + bytes(50)


class Stream:
    def __init__(self, rid: str, seq: int, ts: int) -> None:
        self.rid, self.seq, self.ts = rid, seq, ts

    def frame(self, key: bool) -> list[bytes]:
        self.ts = (self.ts + 3000) & 0xFFFFFFFF
        payloads = [stap_a_idr(self.rid), fu_a(True, 5), fu_a(False, 5)] if key else [fu_a(True, 1)]
        out = []
        for i, payload in enumerate(payloads):
            out.append(
                build_rtp(
                    pt=H264,
                    seq=self.seq,
                    ts=self.ts,
                    ssrc=SSRCS[self.rid],
                    payload=payload + self.rid.encode(),
                    marker=i == len(payloads) - 1,
                    extensions=[(MID_ID, b"1"), (RID_ID, self.rid.encode())],
                )
            )
            self.seq = (self.seq + 1) & 0xFFFF
        return out


def test_an_h264_switch_waits_for_the_idr_and_leaves_one_stream() -> None:
    forwarder = Forwarder(track())
    for rid, ssrc in SSRCS.items():
        assert forwarder.learn_layer(rid, ssrc, rtx=False)
    forwarder.add_subscriber(
        0.0, SubscriberConfig("bob", ssrc=0x7777, payload_types={H264: 100}), layer=0
    )
    low, high = Stream("l", 1000, 10), Stream("h", 60000, 4_000_000_000)
    out: list[bytes] = []

    def send(stream: Stream, key: bool) -> None:
        for packet in stream.frame(key):
            out.extend(p for _, p in forwarder.on_rtp(0.0, packet))

    send(high, key=False)  # not the subscriber's layer
    send(low, key=False)  # before its first keyframe: gated
    assert out == []
    send(low, key=True)
    send(low, key=False)
    forwarder.select_layer(0.1, "bob", 1)
    send(high, key=False)  # the target's delta frame: not yet
    send(low, key=False)
    send(high, key=True)  # the switch: h's IDR first
    send(low, key=False)  # l no longer
    send(high, key=False)
    views = [RtpView(p) for p in out]
    rids = [chr(v.data[v.payload_end - 1]) for v in views]
    assert rids == ["l"] * 5 + ["h"] * 4
    assert forwarder.layer_of("bob") == (1, -1)
    assert all(diff16(b.seq, a.seq) == 1 for a, b in itertools.pairwise(views))
    assert all(v.ssrc == 0x7777 and v.pt == 100 for v in views)
    # The payload goes out as it came (no descriptor to rewrite); the switch starts on the IDR.
    assert views[5].payload[:-1] == stap_a_idr("h")
    # Each layer's size, from the SPS its IDR came with: what set-video-quality's maxHeight caps.
    sizes = [(x.stats.width, x.stats.height) for x in forwarder.layers if x.stats is not None]
    assert sizes == [(320, 180), (640, 480)]
    assert forwarder.temporal_of("bob")[0] == 3  # nothing to drop by temporal layer
