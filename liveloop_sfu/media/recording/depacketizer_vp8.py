"""VP8 RTP payloads (RFC 7741) -> VP8 frame bytes, and the picture size of a keyframe.

RFC 7741 §4.2, the payload descriptor that precedes every payload::

     0 1 2 3 4 5 6 7
    +-+-+-+-+-+-+-+-+
    |X|R|N|S|R| PID | (REQUIRED)
    +-+-+-+-+-+-+-+-+
  X:|I|L|T|K| RSV   | (OPTIONAL)
  I:|M| PictureID   | (OPTIONAL, 7 or 15 bits)
  L:|   TL0PICIDX   | (OPTIONAL)
  T/K:|TID|Y| KEYIDX| (OPTIONAL)

The frame is the concatenation of the payloads after their descriptors (§4.5: "the VP8 payload
... is simply the concatenation of the partitions"). A frame begins with S=1 and PID=0; the first
byte of the frame (the "frame tag", RFC 6386 §9.1) has the *inverse* keyframe bit P in bit 0.
"""

from __future__ import annotations

from liveloop_sfu.media.recording.depacketizer import DepacketizeError, PayloadUnit

__all__ = ["Vp8Parser", "descriptor_size", "vp8_keyframe_size"]


def descriptor_size(payload: bytes) -> int:
    """Length of the RFC 7741 payload descriptor at the start of ``payload``."""
    if not payload:
        raise DepacketizeError("empty VP8 payload")
    size = 1
    if payload[0] & 0x80:  # X: an extension byte follows
        if len(payload) < 2:
            raise DepacketizeError("VP8 descriptor truncated after X")
        x = payload[1]
        size = 2
        if x & 0x80:  # I: PictureID; M (its top bit) selects 15 bits
            if len(payload) < 3:
                raise DepacketizeError("VP8 descriptor truncated in PictureID")
            size += 2 if payload[2] & 0x80 else 1
        if x & 0x40:  # L: TL0PICIDX
            size += 1
        if x & 0x30:  # T or K: one shared TID/Y/KEYIDX byte
            size += 1
    if size > len(payload):
        raise DepacketizeError("VP8 descriptor longer than the payload")
    return size


class Vp8Parser:
    """:class:`~.depacketizer.PayloadParser` for RFC 7741."""

    def parse(self, payload: bytes) -> PayloadUnit:
        size = descriptor_size(payload)
        start = payload[0] & 0x17 == 0x10  # S=1 and PID=0
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
