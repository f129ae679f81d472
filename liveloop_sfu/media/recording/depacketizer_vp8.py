"""VP8 RTP payloads (RFC 7741) -> VP8 frame bytes, and the picture size of a keyframe.

The payload descriptor (RFC 7741 §4.2) is read by :mod:`liveloop_sfu.media.codecs.vp8`, the
same code the forwarder's keyframe gate uses. The frame is the concatenation of the payloads
after their descriptors (§4.5: "the VP8 payload ... is simply the concatenation of the
partitions"). A frame begins with S=1 and PID=0; the first byte of the frame (the "frame tag",
RFC 6386 §9.1) has the *inverse* keyframe bit P in bit 0.
"""

from __future__ import annotations

from liveloop_sfu.media.codecs.vp8 import descriptor_size, starts_frame
from liveloop_sfu.media.recording.depacketizer import DepacketizeError, PayloadUnit

__all__ = ["Vp8Parser", "vp8_keyframe_size"]


class Vp8Parser:
    """:class:`~.depacketizer.PayloadParser` for RFC 7741."""

    def parse(self, payload: bytes) -> PayloadUnit:
        size = descriptor_size(payload)
        if size < 0:
            raise DepacketizeError("VP8 payload descriptor truncated")
        start = starts_frame(payload[0])
        body = payload[size:]
        keyframe = start and bool(body) and body[0] & 0x01 == 0
        return PayloadUnit(body, start, keyframe)


def vp8_keyframe_size(frame: bytes) -> tuple[int, int] | None:
    """(width, height) from a VP8 keyframe (RFC 6386 §9.1: 3-byte frame tag, start code
    9d 01 2a, then 14-bit width and height, each with 2 bits of scaling); None if not one."""
    if len(frame) < 10 or frame[0] & 0x01 or frame[3:6] != b"\x9d\x01\x2a":
        return None
    width = int.from_bytes(frame[6:8], "little") & 0x3FFF
    height = int.from_bytes(frame[8:10], "little") & 0x3FFF
    return (width, height) if width and height else None
