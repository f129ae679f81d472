"""Does this RTP packet begin a keyframe? Per codec, from the payload bytes only.

A new subscriber's forwarding starts at the first packet of a keyframe (the keyframe gate), so
the question here is narrower than "is this packet part of a keyframe": the packet must be the
*first* one of a frame that decodes on its own.

Each detector takes ``(data, start, end)``, the packet bytes and the payload offsets of an
:class:`~liveloop_sfu.media.core.rtp.RtpView` (padding excluded), so nothing is sliced or copied.
Detectors never raise: a payload too short to hold what they look for is "not a keyframe".

- VP8 (RFC 7741 §4.2, §4.3): payload descriptor with S=1 and PID=0, then the VP8 frame tag's
  inverted key-frame bit P=0 (RFC 6386 §9.1).
- VP9 (draft-ietf-payload-vp9 §4.2): B=1 (start of frame), P=0 (not inter-predicted) and, when
  layer indices are present, spatial layer 0.
- H.264 (RFC 6184 §5.6–5.8): a single NAL unit of type 5 (IDR slice) or 7 (SPS), a STAP-A (24)
  aggregating one of those, or the start fragment (S=1) of an FU-A (28) carrying one.
- Audio codecs (Opus, G.711...) are always decodable: :func:`keyframe_detector` returns ``None``
  for them, which the forwarder reads as "never gate".
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = [
    "KeyframeDetector",
    "is_h264_keyframe",
    "is_vp8_keyframe",
    "is_vp9_keyframe",
    "keyframe_detector",
]

KeyframeDetector = Callable[[bytes, int, int], bool]
"""``(data, payload_start, payload_end) -> True`` when the packet begins a keyframe."""


def is_vp8_keyframe(data: bytes, start: int, end: int) -> bool:
    """RFC 7741: first packet (S=1, partition index 0) of a frame whose P bit is 0."""
    if end - start < 1:
        return False
    b0 = data[start]
    # S (0x10) = start of partition, PID (0x07) = partition index; the frame starts at S=1, PID=0.
    if b0 & 0x17 != 0x10:
        return False
    i = start + 1
    if b0 & 0x80:  # X: extension byte follows (RFC 7741 §4.2)
        if i >= end:
            return False
        x = data[i]
        i += 1
        if x & 0x80:  # I: PictureID, 7 or 15 bits (M flag)
            if i >= end:
                return False
            i += 2 if data[i] & 0x80 else 1
        if x & 0x40:  # L: TL0PICIDX
            i += 1
        if x & 0x30:  # T or K: TID/Y/KEYIDX byte
            i += 1
    if i >= end:
        return False
    # RFC 6386 §9.1: bit 0 of the frame tag is the *inverse* key frame flag.
    return data[i] & 0x01 == 0


def is_vp9_keyframe(data: bytes, start: int, end: int) -> bool:
    """VP9 payload descriptor: B=1 (begins a frame), P=0 (intra), spatial layer 0 if signalled."""
    if end - start < 1:
        return False
    b0 = data[start]
    if not b0 & 0x08 or b0 & 0x40:  # B clear, or P (inter-picture predicted) set
        return False
    if not b0 & 0x20:  # L: no layer indices, so this is the base spatial layer
        return True
    i = start + 1
    if b0 & 0x80:  # I: PictureID, 7 or 15 bits
        if i >= end:
            return False
        i += 2 if data[i] & 0x80 else 1
    if i >= end:
        return False
    return (data[i] >> 1) & 0x07 == 0  # SID


_H264_IDR = 5
_H264_SPS = 7
_H264_STAP_A = 24
_H264_FU_A = 28


def is_h264_keyframe(data: bytes, start: int, end: int) -> bool:
    """RFC 6184: single NAL IDR/SPS, STAP-A containing one, or an FU-A start of an IDR."""
    if end - start < 1:
        return False
    nal_type = data[start] & 0x1F
    if nal_type in (_H264_IDR, _H264_SPS):
        return True
    if nal_type == _H264_STAP_A:
        # §5.7.1: after the STAP-A header, NAL units prefixed by a 16-bit size.
        i = start + 1
        while i + 2 < end:
            size = (data[i] << 8) | data[i + 1]
            if size == 0 or i + 2 + size > end:
                return False
            if data[i + 2] & 0x1F in (_H264_IDR, _H264_SPS):
                return True
            i += 2 + size
        return False
    if nal_type == _H264_FU_A:
        # §5.8: FU header = S E R Type; only the start fragment begins the NAL unit.
        if end - start < 2:
            return False
        fu = data[start + 1]
        return bool(fu & 0x80) and fu & 0x1F in (_H264_IDR, _H264_SPS)
    return False


_DETECTORS: dict[str, KeyframeDetector] = {
    "vp8": is_vp8_keyframe,
    "vp9": is_vp9_keyframe,
    "h264": is_h264_keyframe,
}


def keyframe_detector(codec: str) -> KeyframeDetector | None:
    """The detector for a codec name as in SDP (``"VP8"``, ``"video/VP8"``, ``"H264"``...), or
    ``None`` when the codec needs no keyframe gating (audio) or we cannot tell (unknown video
    codec: the forwarder then forwards from the first packet and only asks for a keyframe)."""
    parts = codec.lower().split("/")
    name = parts[1] if parts[0] in ("video", "audio") and len(parts) > 1 else parts[0]
    return _DETECTORS.get(name)
