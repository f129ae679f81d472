"""Opus RTP payloads (RFC 7587) and the Opus identification header a container needs.

RFC 7587 §4.2: "The Opus encoder can output encoded frames representing 2.5, 5, 10, 20, 40, or
60 ms of speech or audio data ... an RTP payload MUST contain exactly one Opus packet". So a
payload is a frame as is; every one is independently decodable for our purposes (no keyframes).
"""

from __future__ import annotations

import struct

from liveloop_sfu.media.recording.depacketizer import DepacketizeError, PayloadUnit

__all__ = ["OpusParser", "opus_head"]


class OpusParser:
    """:class:`~.depacketizer.PayloadParser` for RFC 7587."""

    def parse(self, payload: bytes) -> PayloadUnit:
        if not payload:
            # §4.2: a zero-length payload is not an Opus packet (DTX sends 1-byte packets).
            raise DepacketizeError("empty Opus payload")
        return PayloadUnit(payload, True, True)


def opus_head(channels: int = 2, pre_skip: int = 0, input_rate: int = 48000) -> bytes:
    """The 19-byte 'OpusHead' identification header (RFC 7845 §5.1), which Matroska/WebM carry as
    the track's CodecPrivate. RFC 7587 §7 makes the RTP stream stereo-capable at 48 kHz whatever
    was captured, so two channels; mapping family 0 (mono/stereo, no channel table)."""
    if channels not in (1, 2):
        raise ValueError("mapping family 0 holds one or two channels")
    return b"OpusHead" + struct.pack("<BBHIhB", 1, channels, pre_skip, input_rate, 0, 0)
