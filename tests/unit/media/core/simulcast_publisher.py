"""A simulcast publisher for the core's tests: three VP8 layers as libwebrtc sends them, each
with its own SSRC, sequence numbers, timestamp base and PictureID/TL0PICIDX counters, and the
RID (RFC 8852) and MID header extensions on every packet; and what a subscriber got of them, as
the tests read it (:func:`parse`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from liveloop_sfu.media.codecs.vp8 import is_vp8_keyframe
from liveloop_sfu.media.core.forwarder import Forwarder, TrackConfig
from liveloop_sfu.media.core.rewriter import MID_URI, REPAIRED_RID_URI, RID_URI
from liveloop_sfu.media.core.rtp import RtpView, build_rtp, rtx_wrap

MID_ID, RID_ID, RRID_ID = 4, 10, 11
VP8, RTX = 96, 97
RIDS = ("q", "h", "f")
SIZES = {"q": (240, 136), "h": (480, 270), "f": (960, 540)}
FEEDBACK = 0x5EED
TEMPORAL_PATTERN = (0, 2, 1, 2)


def track() -> TrackConfig:
    return TrackConfig(
        kind="video",
        ssrc=None,
        clock_rate=90000,
        codecs={VP8: "VP8"},
        header_extensions={MID_ID: MID_URI, RID_ID: RID_URI, RRID_ID: REPAIRED_RID_URI},
        rtx_payload_types={RTX: VP8},
        feedback_ssrc=FEEDBACK,
        rids=RIDS,
    )


def vp8_payload(
    picture_id: int,
    tl0: int,
    key: bool,
    start: bool,
    size: tuple[int, int],
    tid: int = 0,
    sync: bool = False,
) -> bytes:
    """RFC 7741 descriptor with X, I (15-bit PictureID), L (TL0PICIDX), T (TID, Y), then the VP8
    frame tag (RFC 6386 §9.1) and, for a keyframe, its start code and picture size."""
    descriptor = bytes(
        [
            0x90 if start else 0x80,  # X, S (start of partition 0)
            0xE0,  # I, L, T
            0x80 | (picture_id >> 8),
            picture_id & 0xFF,
            tl0 & 0xFF,
            (tid << 6) | (0x20 if sync else 0),  # TID, Y
        ]
    )
    if not start:
        return descriptor + bytes(40)
    if key:
        width, height = size
        header = b"\x00\x00\x00\x9d\x01\x2a" + width.to_bytes(2, "little")
        return descriptor + header + height.to_bytes(2, "little") + bytes(30)
    return descriptor + b"\x01\x00\x00" + bytes(40)


@dataclass
class Layer:
    rid: str
    ssrc: int
    rtx_ssrc: int
    seq: int
    ts: int
    picture_id: int
    tl0: int
    sent: list[bytes] = field(default_factory=list)
    pt: int = VP8
    mid_id: int = MID_ID
    mid: bytes = b"1"
    rid_id: int = RID_ID
    # The TIDs of successive frames from a keyframe on: (0,) without temporal layers;
    # TEMPORAL_PATTERN is libwebrtc's three-layer VP8 pattern.
    tids: tuple[int, ...] = (0,)
    position: int = 0
    last_tid: int = 0

    def frame(self, key: bool, packets: int = 2, fill: int = 0) -> list[bytes]:
        """One frame (3000 ticks, 30 fps) of ``packets`` packets, each ``fill`` bytes longer."""
        self.ts = (self.ts + 3000) & 0xFFFFFFFF
        self.picture_id = (self.picture_id + 1) & 0x7FFF
        if key:
            self.position = 0
        tid = self.tids[self.position % len(self.tids)]
        self.position += 1
        # Y (layer sync): the frame references only the base layer (libwebrtc: a TID 1 frame,
        # and the TID 2 frame right after a base frame).
        sync = tid == 1 or (tid == 2 and self.last_tid == 0)
        self.last_tid = tid
        if tid == 0:
            self.tl0 = (self.tl0 + 1) & 0xFF
        out = []
        for i in range(packets):
            payload = vp8_payload(
                self.picture_id, self.tl0, key, i == 0, SIZES[self.rid], tid, sync
            )
            payload += bytes(fill) + self.rid.encode()  # the last byte: the layer it came from
            out.append(
                build_rtp(
                    pt=self.pt,
                    seq=self.seq,
                    ts=self.ts,
                    ssrc=self.ssrc,
                    payload=payload,
                    marker=i == packets - 1,
                    extensions=[(self.mid_id, self.mid), (self.rid_id, self.rid.encode())],
                )
            )
            self.seq = (self.seq + 1) & 0xFFFF
        self.sent += out
        return out

    def rtx(self, packet: bytes, rtx_seq: int) -> bytes:
        """``packet`` resent on the layer's RTX stream, with repaired-RID (RFC 8852 §3.2)."""
        view = RtpView(packet)
        wrapped = RtpView(rtx_wrap(view, RTX, self.rtx_ssrc, rtx_seq))
        return build_rtp(
            pt=RTX,
            seq=rtx_seq,
            ts=wrapped.ts,
            ssrc=self.rtx_ssrc,
            payload=wrapped.payload,
            extensions=[(MID_ID, b"1"), (RRID_ID, self.rid.encode())],
        )


def publisher() -> dict[str, Layer]:
    """Three layers with unrelated SSRCs, sequence numbers, timestamps and picture numbers."""
    return {
        "q": Layer("q", 0x1001, 0x2001, seq=100, ts=1_000_000, picture_id=30000, tl0=7),
        "h": Layer("h", 0x1002, 0x2002, seq=40000, ts=3_000_000_000, picture_id=5, tl0=250),
        "f": Layer("f", 0x1003, 0x2003, seq=65530, ts=4_294_900_000, picture_id=12000, tl0=99),
    }


def learn_all(forwarder: Forwarder, layers: dict[str, Layer]) -> None:
    for layer in layers.values():
        assert forwarder.learn_layer(layer.rid, layer.ssrc, rtx=False)
        assert forwarder.learn_layer(layer.rid, layer.rtx_ssrc, rtx=True)


@dataclass(frozen=True)
class Out:
    """One packet a subscriber got: its header, the layer it came from (the payload's last byte,
    see :meth:`Layer.frame`), and its VP8 descriptor's fields."""

    seq: int
    ts: int
    ssrc: int
    rid: str
    key: bool
    picture_id: int
    tl0: int
    tid: int
    sync: bool
    source: int  # which frame sent (numbered by the test) the packet belongs to


def parse(packet: bytes, source: int = 0) -> Out:
    view = RtpView(packet)
    data, start, end = view.data, view.payload_start, view.payload_end
    return Out(
        view.seq,
        view.ts,
        view.ssrc,
        chr(data[end - 1]),
        is_vp8_keyframe(data, start, end),
        ((data[start + 2] & 0x7F) << 8) | data[start + 3],
        data[start + 4],
        data[start + 5] >> 6,
        bool(data[start + 5] & 0x20),
        source,
    )
