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

__all__ = [
    "PictureIdRewriter",
    "descriptor_size",
    "is_vp8_keyframe",
    "keyframe_size",
    "starts_frame",
]


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


def keyframe_size(data: bytes, start: int, end: int) -> tuple[int, int]:
    """``(width, height)`` of the keyframe that the packet ``data[start:end]`` begins (the
    payload, descriptor included), ``(0, 0)`` when it begins none or is too short: RFC 6386
    §9.1, after the 3-byte frame tag a keyframe has the start code 9d 01 2a, then the width and
    the height, 16 bits little-endian each, of which the low 14 bits are the size."""
    if not is_vp8_keyframe(data, start, end):
        return (0, 0)
    i = start + descriptor_size(data, start, end)
    if i + 10 > end or data[i + 3] != 0x9D or data[i + 4] != 0x01 or data[i + 5] != 0x2A:
        return (0, 0)
    width = (data[i + 6] | (data[i + 7] << 8)) & 0x3FFF
    height = (data[i + 8] | (data[i + 9] << 8)) & 0x3FFF
    return (width, height)


class PictureIdRewriter:
    """Keeps one outgoing VP8 stream's PictureID and TL0PICIDX (RFC 7741 §4.2) continuous when
    its source changes: each simulcast layer numbers its pictures on its own, and a decoder that
    sees the numbers jump at a layer switch takes the new pictures for a loss, or for pictures
    of another temporal structure. After :meth:`switch`, the next packet (the new layer's
    keyframe) is given the picture after the last one sent and the next TL0 index; every later
    packet of that layer keeps the same offsets. The 7- or 15-bit PictureID keeps its width."""

    __slots__ = ("_last_pid", "_last_tl0", "_pid_offset", "_resync", "_tl0_offset")

    def __init__(self) -> None:
        self._pid_offset = 0
        self._tl0_offset = 0
        self._last_pid = -1
        self._last_tl0 = -1
        self._resync = False

    def switch(self) -> None:
        """The next packet comes from another source (and begins a keyframe)."""
        self._resync = True

    def rewrite(self, data: bytes, start: int, end: int) -> bytes:
        """The payload descriptor of ``data[start:end]`` with the rewritten PictureID and
        TL0PICIDX, as many bytes as the descriptor has; ``b""`` when it has neither field (or is
        malformed): the payload then goes out as it came."""
        size = descriptor_size(data, start, end)
        if size < 2 or not data[start] & 0x80:
            return b""
        x = data[start + 1]
        i = start + 2
        pid_at = tl0_at = -1
        long_pid = False
        if x & 0x80:
            pid_at = i
            long_pid = bool(data[i] & 0x80)
            i += 2 if long_pid else 1
        if x & 0x40:
            tl0_at = i
        if pid_at < 0 and tl0_at < 0:
            return b""
        out = bytearray(data[start : start + size])
        if pid_at >= 0:
            at = pid_at - start
            pid = data[pid_at] & 0x7F
            if long_pid:
                pid = (pid << 8) | data[pid_at + 1]
            if self._resync and self._last_pid >= 0:
                self._pid_offset = self._last_pid + 1 - pid
            if long_pid:
                new_pid = (pid + self._pid_offset) & 0x7FFF
                out[at] = 0x80 | (new_pid >> 8)
                out[at + 1] = new_pid & 0xFF
            else:
                new_pid = (pid + self._pid_offset) & 0x7F
                out[at] = new_pid
            self._last_pid = new_pid
        if tl0_at >= 0:
            tl0 = data[tl0_at]
            if self._resync and self._last_tl0 >= 0:
                self._tl0_offset = self._last_tl0 + 1 - tl0
            new_tl0 = (tl0 + self._tl0_offset) & 0xFF
            out[tl0_at - start] = new_tl0
            self._last_tl0 = new_tl0
        self._resync = False
        return bytes(out)
