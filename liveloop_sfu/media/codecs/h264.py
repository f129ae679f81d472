"""H.264 on RTP (RFC 6184): whether a packet begins a keyframe.

A single NAL unit of type 5 (IDR slice) or 7 (SPS), a STAP-A (24) aggregating one of those, or
the start fragment (S=1) of an FU-A (28) carrying one (§5.6–5.8).
"""

from __future__ import annotations

__all__ = ["FU_A", "NAL_IDR", "NAL_SPS", "STAP_A", "is_h264_keyframe"]

NAL_IDR = 5  # coded slice of an IDR picture (H.264 Table 7-1)
NAL_SPS = 7  # sequence parameter set
STAP_A = 24  # RFC 6184 §5.7.1 single-time aggregation packet
FU_A = 28  # RFC 6184 §5.8 fragmentation unit


def is_h264_keyframe(data: bytes, start: int, end: int) -> bool:
    """RFC 6184: single NAL IDR/SPS, STAP-A containing one, or an FU-A start of an IDR."""
    if end - start < 1:
        return False
    nal_type = data[start] & 0x1F
    if nal_type in (NAL_IDR, NAL_SPS):
        return True
    if nal_type == STAP_A:
        # §5.7.1: after the STAP-A header, NAL units prefixed by a 16-bit size.
        i = start + 1
        while i + 2 < end:
            size = (data[i] << 8) | data[i + 1]
            if size == 0 or i + 2 + size > end:
                return False
            if data[i + 2] & 0x1F in (NAL_IDR, NAL_SPS):
                return True
            i += 2 + size
        return False
    if nal_type == FU_A:
        # §5.8: FU header = S E R Type; only the start fragment begins the NAL unit.
        if end - start < 2:
            return False
        fu = data[start + 1]
        return bool(fu & 0x80) and fu & 0x1F in (NAL_IDR, NAL_SPS)
    return False
