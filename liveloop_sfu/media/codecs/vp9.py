"""VP9 on RTP (draft-ietf-payload-vp9 §4.2): whether a packet begins a keyframe."""

from __future__ import annotations

__all__ = ["is_vp9_keyframe"]


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
