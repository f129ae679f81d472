"""RTP and RTCP on bytes: parse once, rewrite cheaply, raise nothing but :class:`RtpParseError`.

The forwarding core touches every packet once per subscriber, so this module works on ``bytes`` and
offsets rather than on object trees:

- :class:`RtpView` parses the fixed header, CSRCs, the header-extension block and padding of one
  packet *once* (RFC 3550 §5.1, §5.3.1); the forwarder shares the view between all subscribers.
- :func:`iter_extensions` / :func:`build_extension_block` read and write header extensions in the
  one-byte (RFC 8285 §4.2) and two-byte (§4.3) forms.
- :func:`rtx_wrap` / :func:`rtx_unwrap` implement RFC 4588 §4 (the original sequence number, OSN,
  sits in the first two payload bytes of the retransmission).
- RTCP lives in :mod:`.rtcp` and the shared helpers in :mod:`.rtp_common`; both are re-exported
  here, so one ``from .rtp import ...`` serves the forwarder and the adapter.
- :func:`parse_rtcp` splits a compound RTCP packet (RFC 3550 §6) into small frozen values: sender
  and receiver reports, BYE, generic NACK (RFC 4585 §6.2.1), PLI (§6.3.1), FIR (RFC 5104 §4.3.1) and
  REMB (draft-alvestrand-rmcat-remb §2.2), transport-wide feedback (draft-holmer-rmcat-transport-
  wide-cc-extensions-01 §3.1). SDES, APP and unknown feedback are skipped.
- :func:`rewrite_header` rewrites PT/seq/ts/SSRC of a ``bytearray`` in place; the forwarder
  itself builds each subscriber's copy with one ``b"".join`` of header, extensions and payload
  (a copy per subscriber is needed anyway, since the numbers differ).
- ``build_*`` functions serialise the RTCP packets the node sends, and :func:`build_rtp` crafts RTP
  packets (used by tests and by anything that needs a packet from scratch).
- Wraparound arithmetic of sequence numbers and timestamps is in :mod:`.seq`.

Every parser validates lengths before it reads, so truncated or garbage input raises
:class:`RtpParseError` and never ``IndexError`` or ``struct.error``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence

from liveloop_sfu.media.core.rtcp import (
    RTCP_BYE,
    RTCP_PSFB,
    RTCP_RR,
    RTCP_RTPFB,
    RTCP_SDES,
    RTCP_SR,
    Bye,
    Fir,
    Nack,
    Pli,
    ReceiverReport,
    Remb,
    ReportBlock,
    RtcpPacket,
    SenderReport,
    build_fir,
    build_nack,
    build_pli,
    build_remb,
    build_rr,
    build_sr,
    is_rtcp,
    parse_rtcp,
)
from liveloop_sfu.media.core.rtp_common import (
    RtpParseError,
    ntp_from_unix,
    ntp_middle32,
)
from liveloop_sfu.media.core.seq import wrap16, wrap32

__all__ = [
    "ONE_BYTE_PROFILE",
    "RTCP_BYE",
    "RTCP_PSFB",
    "RTCP_RR",
    "RTCP_RTPFB",
    "RTCP_SDES",
    "RTCP_SR",
    "TWO_BYTE_PROFILE",
    "Bye",
    "Fir",
    "Nack",
    "Pli",
    "ReceiverReport",
    "Remb",
    "ReportBlock",
    "RtcpPacket",
    "RtpParseError",
    "RtpView",
    "SenderReport",
    "build_extension_block",
    "build_fir",
    "build_nack",
    "build_pli",
    "build_remb",
    "build_rr",
    "build_rtp",
    "build_sr",
    "is_rtcp",
    "iter_extensions",
    "ntp_from_unix",
    "ntp_middle32",
    "parse_rtcp",
    "rewrite_header",
    "rtx_unwrap",
    "rtx_wrap",
]


# --- RTP ---------------------------------------------------------------------------------------

ONE_BYTE_PROFILE = 0xBEDE  # RFC 8285 §4.2
TWO_BYTE_PROFILE = 0x1000  # RFC 8285 §4.3, the 4 low "appbits" are zero when we write it

_HEADER = struct.Struct("!BBHII")
_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")


class RtpView:
    """Offsets and header fields of one RTP packet, parsed once (RFC 3550 §5.1).

    ``data`` is kept by reference, nothing is copied. ``payload_start:payload_end`` is the payload
    without padding; ``ext_start:ext_end`` is the header-extension *data* (after the 4-byte
    profile/length word), empty when the X bit is clear; ``csrc_end`` is where the CSRC list ends
    (12 + 4 * CC).
    """

    __slots__ = (
        "csrc_count",
        "csrc_end",
        "data",
        "ext_end",
        "ext_profile",
        "ext_start",
        "marker",
        "padding",
        "payload_end",
        "payload_start",
        "pt",
        "seq",
        "ssrc",
        "ts",
    )

    data: bytes
    marker: int
    pt: int
    seq: int
    ts: int
    ssrc: int
    csrc_count: int
    csrc_end: int
    padding: bool
    ext_profile: int
    ext_start: int
    ext_end: int
    payload_start: int
    payload_end: int

    def __init__(self, data: bytes) -> None:
        size = len(data)
        if size < 12:
            raise RtpParseError(f"RTP packet too short ({size} bytes)")
        b0, b1, seq, ts, ssrc = _HEADER.unpack_from(data)
        if b0 >> 6 != 2:
            raise RtpParseError(f"RTP version {b0 >> 6} != 2")
        cc = b0 & 0x0F
        offset = 12 + 4 * cc
        ext_profile = ext_start = ext_end = 0
        if b0 & 0x10:
            if offset + 4 > size:
                raise RtpParseError("RTP header extension truncated")
            ext_profile, words = struct.unpack_from("!HH", data, offset)
            ext_start = offset + 4
            ext_end = offset = ext_start + 4 * words
        if offset > size:
            raise RtpParseError("RTP header longer than packet")
        end = size
        if b0 & 0x20:
            # RFC 3550 §5.1: the last octet counts the padding octets, itself included.
            pad = data[-1]
            if pad == 0 or end - pad < offset:
                raise RtpParseError(f"bad RTP padding length {pad}")
            end -= pad
        self.data = data
        self.marker = b1 >> 7
        self.pt = b1 & 0x7F
        self.seq = seq
        self.ts = ts
        self.ssrc = ssrc
        self.csrc_count = cc
        self.csrc_end = 12 + 4 * cc
        self.padding = bool(b0 & 0x20)
        self.ext_profile = ext_profile
        self.ext_start = ext_start
        self.ext_end = ext_end
        self.payload_start = offset
        self.payload_end = end

    @property
    def has_extension(self) -> bool:
        return self.ext_start != 0

    @property
    def payload(self) -> bytes:
        """The payload without padding (a copy; the hot path uses the offsets instead)."""
        return bytes(self.data[self.payload_start : self.payload_end])

    def extensions(self) -> list[tuple[int, int, int]]:
        """``(id, start, end)`` of each header-extension element (see :func:`iter_extensions`)."""
        if not self.ext_start:
            return []
        if self.ext_profile == ONE_BYTE_PROFILE:
            return _one_byte_extensions(self.data, self.ext_start, self.ext_end)
        return list(iter_extensions(self.data, self.ext_profile, self.ext_start, self.ext_end))


def _one_byte_extensions(data: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    """:func:`iter_extensions` for the one-byte form, as a plain loop: browsers send this form on
    every packet, and a generator costs more per element than the parsing itself."""
    out = []
    i = start
    while i < end:
        b = data[i]
        ext_id = b >> 4
        if ext_id == 0:
            i += 1
            continue
        if ext_id == 15:
            break
        value_end = i + 2 + (b & 0x0F)
        if value_end > end:
            raise RtpParseError(f"one-byte header extension {ext_id} truncated")
        out.append((ext_id, i + 1, value_end))
        i = value_end
    return out


def iter_extensions(
    data: bytes, profile: int, start: int, end: int
) -> Iterator[tuple[int, int, int]]:
    """Yield ``(id, value_start, value_end)`` for each element of a header-extension block.

    One-byte form (profile 0xBEDE, RFC 8285 §4.2): 4-bit id, 4-bit length-minus-one; id 0 is a
    padding byte; id 15 is reserved and stops parsing ("the rest of the header extension MUST be
    ignored"). Two-byte form (profile 0x100X, §4.3): 8-bit id, 8-bit length; id 0 is padding.
    Any other profile carries no elements we understand and yields nothing.
    """
    if profile == ONE_BYTE_PROFILE:
        yield from _one_byte_extensions(data, start, end)
    elif profile & 0xFFF0 == TWO_BYTE_PROFILE:
        i = start
        while i < end:
            ext_id = data[i]
            if ext_id == 0:
                i += 1
                continue
            if i + 2 > end:
                raise RtpParseError("two-byte header extension truncated")
            value_end = i + 2 + data[i + 1]
            if value_end > end:
                raise RtpParseError(f"two-byte header extension {ext_id} truncated")
            yield ext_id, i + 2, value_end
            i = value_end


def build_extension_block(elements: Sequence[tuple[int, bytes]]) -> tuple[int, bytes]:
    """``(profile, data)`` for a header-extension block, data zero-padded to 32 bits.

    The one-byte form is used when every id is 1..14 and every value 1..16 bytes long, the two-byte
    form otherwise (RFC 8285 §4.1.2 lets a sender choose per packet). Returns ``(0, b"")`` when
    ``elements`` is empty.
    """
    if not elements:
        return 0, b""
    one_byte = all(1 <= i <= 14 and 1 <= len(v) <= 16 for i, v in elements)
    out = bytearray()
    if one_byte:
        for ext_id, value in elements:
            out.append((ext_id << 4) | (len(value) - 1))
            out += value
        profile = ONE_BYTE_PROFILE
    else:
        for ext_id, value in elements:
            if not 1 <= ext_id <= 255 or len(value) > 255:
                raise ValueError(f"header extension {ext_id} with {len(value)} bytes unencodable")
            out.append(ext_id)
            out.append(len(value))
            out += value
        profile = TWO_BYTE_PROFILE
    out += bytes(-len(out) % 4)
    return profile, bytes(out)


def build_rtp(
    *,
    pt: int,
    seq: int,
    ts: int,
    ssrc: int,
    payload: bytes = b"",
    marker: bool = False,
    csrcs: Sequence[int] = (),
    extensions: Sequence[tuple[int, bytes]] = (),
    padding: int = 0,
) -> bytes:
    """Serialise an RTP packet. ``seq`` and ``ts`` are taken modulo 2^16 / 2^32; ``padding`` adds
    that many padding octets (P bit, RFC 3550 §5.1)."""
    if not 0 <= padding <= 255:
        raise ValueError("padding must be 0..255")
    profile, ext = build_extension_block(extensions)
    b0 = 0x80 | len(csrcs) | (0x10 if ext else 0) | (0x20 if padding else 0)
    parts = [_HEADER.pack(b0, (0x80 if marker else 0) | pt, wrap16(seq), wrap32(ts), ssrc)]
    parts.extend(_U32.pack(c) for c in csrcs)
    if ext:
        parts.append(struct.pack("!HH", profile, len(ext) // 4))
        parts.append(ext)
    parts.append(payload)
    if padding:
        parts.append(bytes(padding - 1) + bytes([padding]))
    return b"".join(parts)


def rewrite_header(buf: bytearray, *, pt: int, seq: int, ts: int, ssrc: int) -> None:
    """Overwrite payload type, sequence number, timestamp and SSRC of an RTP packet in place,
    keeping version, padding, extension, CSRC count and marker bits (one ``pack_into``)."""
    if len(buf) < 12:
        raise RtpParseError(f"RTP packet too short ({len(buf)} bytes)")
    _HEADER.pack_into(buf, 0, buf[0], (buf[1] & 0x80) | pt, wrap16(seq), wrap32(ts), ssrc)


def rtx_wrap(view: RtpView, rtx_pt: int, rtx_ssrc: int, rtx_seq: int) -> bytes:
    """The RFC 4588 §4 retransmission of ``view``: same timestamp, marker, CSRCs and extensions;
    RTX payload type, SSRC and sequence number; payload = OSN (original seq) + original payload.
    Padding is dropped."""
    data = view.data
    b0 = (data[0] & ~0x20) & 0xFF
    header = _HEADER.pack(b0, (view.marker << 7) | rtx_pt, rtx_seq, view.ts, rtx_ssrc)
    mv = memoryview(data)
    return b"".join(
        (
            header,
            mv[12 : view.payload_start],
            _U16.pack(view.seq),
            mv[view.payload_start : view.payload_end],
        )
    )


def rtx_unwrap(view: RtpView, pt: int, ssrc: int) -> bytes | None:
    """Restore the original packet from an RFC 4588 retransmission, or ``None`` when the RTX packet
    carries no OSN (padding only, as browsers send for bandwidth probing)."""
    start, end = view.payload_start, view.payload_end
    if end - start < 2:
        if end == start:
            return None
        raise RtpParseError("RTX payload shorter than its OSN")
    data = view.data
    (osn,) = _U16.unpack_from(data, start)
    b0 = (data[0] & ~0x20) & 0xFF
    header = _HEADER.pack(b0, (view.marker << 7) | pt, osn, view.ts, ssrc)
    mv = memoryview(data)
    return b"".join((header, mv[12:start], mv[start + 2 : end]))
