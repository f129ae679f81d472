"""Does this RTP packet begin a keyframe? The per-codec dispatch, from the payload bytes only.

A new subscriber's forwarding starts at the first packet of a keyframe (the keyframe gate), so
the question here is narrower than "is this packet part of a keyframe": the packet must be the
*first* one of a frame that decodes on its own.

Each detector takes ``(data, start, end)``, the packet bytes and the payload offsets of an
:class:`~liveloop_sfu.media.core.rtp.RtpView` (padding excluded), so nothing is sliced or copied.
Detectors never raise: a payload too short to hold what they look for is "not a keyframe".
Each lives in its codec's module (:mod:`.vp8`, :mod:`.vp9`, :mod:`.h264`); this one maps a
codec name to its detector:

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

from liveloop_sfu.media.codecs.h264 import is_h264_keyframe
from liveloop_sfu.media.codecs.vp8 import is_vp8_keyframe
from liveloop_sfu.media.codecs.vp9 import is_vp9_keyframe

__all__ = [
    "KeyframeDetector",
    "is_h264_keyframe",
    "is_vp8_keyframe",
    "is_vp9_keyframe",
    "keyframe_detector",
]

KeyframeDetector = Callable[[bytes, int, int], bool]
"""``(data, payload_start, payload_end) -> True`` when the packet begins a keyframe."""


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
