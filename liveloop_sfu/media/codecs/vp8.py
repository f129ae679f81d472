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

from bisect import bisect_left, bisect_right

__all__ = [
    "PictureIdRewriter",
    "descriptor_size",
    "is_vp8_keyframe",
    "keyframe_size",
    "layer_sync",
    "starts_frame",
    "temporal_layer",
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


def temporal_layer(data: bytes, start: int, end: int) -> int:
    """The TID (RFC 7741 §4.2: the temporal layer, 0 the base) of the packet whose payload is
    ``data[start:end]``, or -1 when its descriptor has no TID (T=0) or is malformed. libwebrtc
    sends every VP8 simulcast encoding with temporal layers (three by default), a TID in every
    packet's descriptor."""
    if end - start < 2 or not data[start] & 0x80:
        return -1
    x = data[start + 1]
    if not x & 0x20:  # T: TID present
        return -1
    i = start + 2
    if x & 0x80:  # I: PictureID, 7 or 15 bits
        if i >= end:
            return -1
        i += 2 if data[i] & 0x80 else 1
    if x & 0x40:  # L: TL0PICIDX
        i += 1
    if i >= end:
        return -1
    return data[i] >> 6


def layer_sync(data: bytes, start: int, end: int) -> bool:
    """The descriptor's Y bit (RFC 7741 §4.2, "layer sync"): this frame depends only on frames of
    the base temporal layer, so a receiver that got none of its own layer's earlier frames can
    decode it, the point where a forwarder may start forwarding a higher temporal layer."""
    size = descriptor_size(data, start, end)
    if size < 3 or not data[start] & 0x80 or not data[start + 1] & 0x20:
        return False
    return bool(data[start + size - 1] & 0x20)


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
    its source changes or the node drops pictures.

    - A source change (:meth:`switch`): each simulcast layer numbers its pictures on its own, and
      a decoder that sees the numbers jump at a layer switch takes the new pictures for a loss,
      or for pictures of another temporal structure. The next packet (the new layer's keyframe)
      is given the picture after the last one and the next TL0 index.
    - A dropped picture (:meth:`drop`, a temporal layer the subscriber does not get): the
      pictures after it are renumbered down, so the decoder sees no missing picture to wait
      for (mediasoup's ``PictureIdManager`` does the same with its sequence manager). Only
      pictures above the base layer are dropped, so TL0PICIDX needs no such renumbering.

    PictureIDs are unwrapped into ever-growing numbers (as the forwarder does with sequence
    numbers), so a late packet (a retransmission from the publisher) gets the number its picture
    had, whatever was dropped since. A stream keeps its PictureID width (7 or 15 bits; libwebrtc
    always sends 15)."""

    __slots__ = (
        "_base",
        "_dropped",
        "_last_tl0",
        "_max_ext",
        "_next_out",
        "_resync",
        "_tl0_offset",
    )

    def __init__(self) -> None:
        self._base = 0  # output = extended input + base - drops before it
        self._dropped: list[int] = []  # sorted extended PictureIDs dropped
        self._max_ext = -1  # newest extended input PictureID handled, -1 before any
        self._next_out = -1  # the output PictureID the next new picture gets, -1 before any
        self._tl0_offset = 0
        self._last_tl0 = -1
        self._resync = False

    def switch(self) -> None:
        """The next packet comes from another source (and begins a keyframe)."""
        self._resync = True

    def drop(self, data: bytes, start: int, end: int) -> None:
        """The packet whose payload is ``data[start:end]`` is not forwarded, nor is the rest of
        its picture: the pictures after it take its number. A late packet (older than the newest
        handled) cannot be closed, as with sequence numbers: its picture keeps its number."""
        size = descriptor_size(data, start, end)
        if size < 3 or not data[start] & 0x80 or not data[start + 1] & 0x80 or self._resync:
            return
        ext = self._extend(data, start + 2)
        if ext > self._max_ext >= 0:
            self._next_out = self._output(ext)  # the number it would have had
            self._dropped.append(ext)
            self._max_ext = ext
            self._fold()

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
            new_pid = self._picture(data, pid_at)
            at = pid_at - start
            if long_pid:
                new_pid &= 0x7FFF
                out[at] = 0x80 | (new_pid >> 8)
                out[at + 1] = new_pid & 0xFF
            else:
                out[at] = new_pid & 0x7F
        if tl0_at >= 0:
            tl0 = data[tl0_at]
            if self._resync and self._last_tl0 >= 0:
                self._tl0_offset = self._last_tl0 + 1 - tl0
            new_tl0 = (tl0 + self._tl0_offset) & 0xFF
            out[tl0_at - start] = new_tl0
            self._last_tl0 = new_tl0
        self._resync = False
        return bytes(out)

    def _picture(self, data: bytes, at: int) -> int:
        """The output PictureID (not yet masked to its width) of the PictureID at ``at``."""
        if self._resync or self._max_ext < 0:
            # A new source: its numbers start over, the first one continuing the output.
            self._max_ext = -1
            self._dropped.clear()
            ext = self._extend(data, at)
            self._max_ext = ext
            self._base = (self._next_out - ext) if self._next_out >= 0 else -_modulus(data, at)
        else:
            ext = self._extend(data, at)
            if ext > self._max_ext:
                self._max_ext = ext
                self._fold()
        out = self._output(ext)
        if ext == self._max_ext:
            self._next_out = out + 1
        return out

    def _output(self, ext: int) -> int:
        return ext + self._base - bisect_left(self._dropped, ext)

    def _extend(self, data: bytes, at: int) -> int:
        """The PictureID at ``at`` unwrapped: the nearest number with its low bits to the newest
        handled; the first one is taken one cycle up, so a slightly older late packet stays
        non-negative."""
        modulus = _modulus(data, at)
        pid = ((data[at] & 0x7F) << 8 | data[at + 1]) if modulus == 0x8000 else data[at] & 0x7F
        newest = self._max_ext
        if newest < 0:
            return pid + modulus
        half = modulus >> 1
        return newest + ((pid - newest + half) % modulus) - half

    def _fold(self) -> None:
        k = bisect_right(self._dropped, self._max_ext - _DROP_WINDOW)
        if k:
            del self._dropped[:k]
            self._base -= k


# Drops further back than this many pictures are folded into the base (bounds the list).
_DROP_WINDOW = 256


def _modulus(data: bytes, at: int) -> int:
    """2^15 for a 15-bit PictureID (its M bit set), 2^7 for a 7-bit one."""
    return 0x8000 if data[at] & 0x80 else 0x80
