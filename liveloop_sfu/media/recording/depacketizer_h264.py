"""H.264 RTP payloads (RFC 6184) -> Annex B access units (start code + NAL unit, repeated).

Three payload structures (§5.2), told apart by the NAL unit type of the first byte:

- 1-23: a single NAL unit packet (§5.6), the payload *is* the NAL unit;
- 24, STAP-A (§5.7.1): several NAL units, each prefixed by a 16-bit size;
- 28, FU-A (§5.8): one NAL unit split into fragments; a 1-byte FU indicator (F, NRI, type 28)
  and a 1-byte FU header (S, E, R, original type) precede each fragment, and the original NAL
  header is rebuilt from the indicator's F/NRI and the header's type.

STAP-B, MTAP and FU-B (25-27, 29) only exist in interleaved mode (packetization-mode=2), which
WebRTC never negotiates; they are refused. The output uses 4-byte start codes, which Matroska's
muxer converts to length-prefixed NAL units given Annex B extradata (SPS + PPS, see
:func:`parameter_sets`).
"""

from __future__ import annotations

from liveloop_sfu.media.codecs.h264 import FU_A, NAL_IDR, NAL_SPS, STAP_A
from liveloop_sfu.media.recording.depacketizer import DepacketizeError, PayloadUnit

__all__ = ["H264Parser", "parameter_sets"]

START_CODE = b"\x00\x00\x00\x01"
NAL_PPS = 8  # picture parameter set (H.264 Table 7-1)


class H264Parser:
    """:class:`~.depacketizer.PayloadParser` for RFC 6184 (packetization modes 0 and 1)."""

    def parse(self, payload: bytes) -> PayloadUnit:
        if not payload:
            raise DepacketizeError("empty H.264 payload")
        nal_type = payload[0] & 0x1F
        if 1 <= nal_type <= 23:
            return PayloadUnit(START_CODE + payload, True, nal_type in (NAL_IDR, NAL_SPS))
        if nal_type == STAP_A:
            return self._stap_a(payload)
        if nal_type == FU_A:
            return self._fu_a(payload)
        raise DepacketizeError(f"H.264 NAL unit type {nal_type} is not allowed in modes 0/1")

    @staticmethod
    def _stap_a(payload: bytes) -> PayloadUnit:
        parts: list[bytes] = []
        keyframe = False
        i = 1
        while i < len(payload):
            if i + 2 > len(payload):
                raise DepacketizeError("STAP-A size field truncated")
            size = int.from_bytes(payload[i : i + 2], "big")
            if size == 0 or i + 2 + size > len(payload):
                raise DepacketizeError("STAP-A NAL unit size out of bounds")
            nal = payload[i + 2 : i + 2 + size]
            keyframe = keyframe or nal[0] & 0x1F in (NAL_IDR, NAL_SPS)
            parts += (START_CODE, nal)
            i += 2 + size
        if not parts:
            raise DepacketizeError("STAP-A without NAL units")
        return PayloadUnit(b"".join(parts), True, keyframe)

    @staticmethod
    def _fu_a(payload: bytes) -> PayloadUnit:
        if len(payload) < 3:
            raise DepacketizeError("FU-A shorter than its headers and one byte")
        indicator, header = payload[0], payload[1]
        if header & 0x80 and header & 0x40:
            raise DepacketizeError("FU-A with both S and E set")  # §5.8
        if not header & 0x80:
            return PayloadUnit(payload[2:], False, False)
        nal_type = header & 0x1F
        nal_header = bytes([(indicator & 0xE0) | nal_type])
        return PayloadUnit(START_CODE + nal_header + payload[2:], True, nal_type == NAL_IDR)


def parameter_sets(access_unit: bytes) -> bytes | None:
    """The SPS and PPS NAL units of an Annex B access unit, as Annex B (the form Matroska's
    muxer accepts as extradata and turns into an avcC record), or None if either is missing."""
    sps = pps = None
    for nal in access_unit.split(START_CODE):
        if not nal:
            continue
        if nal[0] & 0x1F == NAL_SPS and sps is None:
            sps = nal
        elif nal[0] & 0x1F == NAL_PPS and pps is None:
            pps = nal
    if sps is None or pps is None:
        return None
    return START_CODE + sps + START_CODE + pps
