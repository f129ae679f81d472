"""VP8 on RTP (RFC 7741): the payload descriptor, and whether a packet begins a keyframe.

RFC 7741 §4.2, the payload descriptor that precedes every payload::

     0 1 2 3 4 5 6 7
    +-+-+-+-+-+-+-+-+
    |X|R|N|S|R| PID | (REQUIRED)
    +-+-+-+-+-+-+-+-+
  X:|I|L|T|K| RSV   | (OPTIONAL)
  I:|M| PictureID   | (OPTIONAL, 7 or 15 bits)
  L:|   TL0PICIDX   | (OPTIONAL)
  T/K:|TID|Y| KEYIDX| (OPTIONAL)

A frame begins with S=1 and PID=0 (§4.3); the first byte after the descriptor of that packet is
the frame tag (RFC 6386 §9.1), whose bit 0 is the *inverse* key-frame flag P. The forwarder's
keyframe gate (:mod:`.keyframes`) and the recorder's depacketizer
(liveloop_sfu/media/recording/depacketizer_vp8.py) both read the descriptor here, on
``(data, start, end)`` offsets so nothing is sliced or copied.
"""

from __future__ import annotations

__all__ = ["descriptor_size", "is_vp8_keyframe", "starts_frame"]


def descriptor_size(data: bytes, start: int = 0, end: int = -1) -> int:
    """Length of the payload descriptor at ``data[start:end]`` (``end`` -1: to the end of
    ``data``), or -1 when the payload is too short to hold it."""
    if end < 0:
        end = len(data)
    if start >= end:
        return -1
    i = start + 1
    if data[start] & 0x80:  # X: an extension byte follows
        if i >= end:
            return -1
        x = data[i]
        i += 1
        if x & 0x80:  # I: PictureID; M (its top bit) selects 15 bits
            if i >= end:
                return -1
            i += 2 if data[i] & 0x80 else 1
        if x & 0x40:  # L: TL0PICIDX
            i += 1
        if x & 0x30:  # T or K: one shared TID/Y/KEYIDX byte
            i += 1
    if i > end:
        return -1
    return i - start


def starts_frame(first_byte: int) -> bool:
    """The descriptor's first byte says the packet begins a frame: S (0x10) set, PID (0x07) 0."""
    return first_byte & 0x17 == 0x10


def is_vp8_keyframe(data: bytes, start: int, end: int) -> bool:
    """First packet (S=1, partition index 0) of a frame whose P bit is 0; never raises."""
    if end - start < 1:
        return False
    # = starts_frame(data[start]), inlined: the forwarder asks this for every video packet.
    if data[start] & 0x17 != 0x10:
        return False
    size = descriptor_size(data, start, end)
    if size < 0 or start + size >= end:
        return False
    # RFC 6386 §9.1: bit 0 of the frame tag is the *inverse* key frame flag.
    return data[start + size] & 0x01 == 0
