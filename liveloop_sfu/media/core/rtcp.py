"""RTCP on bytes (RFC 3550 §6): compound parsing into small frozen values, and builders.

Parsed: sender and receiver reports, BYE, generic NACK (RFC 4585 §6.2.1), PLI (§6.3.1), FIR
(RFC 5104 §4.3.1), REMB (draft-alvestrand-rmcat-remb §2.2) and transport-wide feedback
(draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1, in :mod:`.transport_feedback`). SDES,
APP, XR and other feedback are skipped. Built: SR, RR, PLI, FIR, NACK, REMB. Truncated or
garbage input raises :class:`~.rtp_common.RtpParseError` and nothing else.

Everything here is re-exported by :mod:`.rtp`, so ``from .rtp import parse_rtcp`` works too.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from liveloop_sfu.media.core.rtp_common import RtpParseError
from liveloop_sfu.media.core.seq import add16, wrap16, wrap32
from liveloop_sfu.media.core.transport_feedback import (
    TRANSPORT_FEEDBACK_FMT,
    TransportFeedback,
    transport_feedback_from_fci,
)

__all__ = [
    "RTCP_BYE",
    "RTCP_PSFB",
    "RTCP_RR",
    "RTCP_RTPFB",
    "RTCP_SDES",
    "RTCP_SR",
    "Bye",
    "Fir",
    "Nack",
    "Pli",
    "ReceiverReport",
    "Remb",
    "ReportBlock",
    "RtcpPacket",
    "SenderReport",
    "TransportFeedback",
    "build_fir",
    "build_nack",
    "build_pli",
    "build_remb",
    "build_rr",
    "build_sr",
    "is_rtcp",
    "parse_rtcp",
]

_U32 = struct.Struct("!I")

# --- RTCP --------------------------------------------------------------------------------------

RTCP_SR = 200
RTCP_RR = 201
RTCP_SDES = 202
RTCP_BYE = 203
RTCP_RTPFB = 205  # RFC 4585 §6.1, transport-layer feedback
RTCP_PSFB = 206  # RFC 4585 §6.1, payload-specific feedback

_RTPFB_NACK = 1
_PSFB_PLI = 1
_PSFB_FIR = 4
_PSFB_AFB = 15


def is_rtcp(data: bytes) -> bool:
    """RFC 5761 §4 demultiplexing: RTCP packet types 192..223 sit where RTP puts M+PT."""
    return len(data) >= 2 and 192 <= data[1] <= 223


@dataclass(frozen=True, slots=True)
class ReportBlock:
    """RFC 3550 §6.4.1 reception report block."""

    ssrc: int
    fraction_lost: int
    packets_lost: int
    highest_seq: int
    jitter: int
    lsr: int
    dlsr: int


@dataclass(frozen=True, slots=True)
class SenderReport:
    ssrc: int
    ntp: int
    rtp_ts: int
    packet_count: int
    octet_count: int
    reports: tuple[ReportBlock, ...] = ()


@dataclass(frozen=True, slots=True)
class ReceiverReport:
    ssrc: int
    reports: tuple[ReportBlock, ...] = ()


@dataclass(frozen=True, slots=True)
class Bye:
    ssrcs: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Nack:
    """Generic NACK (RFC 4585 §6.2.1), already expanded to the lost sequence numbers."""

    sender_ssrc: int
    media_ssrc: int
    seqs: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Pli:
    """Picture Loss Indication (RFC 4585 §6.3.1)."""

    sender_ssrc: int
    media_ssrc: int


@dataclass(frozen=True, slots=True)
class Fir:
    """Full Intra Request (RFC 5104 §4.3.1): ``entries`` are ``(ssrc, command sequence number)``."""

    sender_ssrc: int
    entries: tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class Remb:
    """Receiver Estimated Maximum Bitrate (draft-alvestrand-rmcat-remb §2.2), in bits/s."""

    sender_ssrc: int
    bitrate: int
    ssrcs: tuple[int, ...]


RtcpPacket = SenderReport | ReceiverReport | Bye | Nack | Pli | Fir | Remb | TransportFeedback

_REPORT_BLOCK = struct.Struct("!IB3sIIII")
_SR_INFO = struct.Struct("!IQIII")
_FB_HEAD = struct.Struct("!II")


def _parse_report_blocks(body: bytes, offset: int, count: int) -> tuple[ReportBlock, ...]:
    if offset + 24 * count > len(body):
        raise RtpParseError("RTCP report blocks truncated")
    blocks = []
    for i in range(count):
        ssrc, fraction, lost, highest, jitter, lsr, dlsr = _REPORT_BLOCK.unpack_from(
            body, offset + 24 * i
        )
        blocks.append(
            ReportBlock(
                ssrc, fraction, int.from_bytes(lost, "big", signed=True), highest, jitter, lsr, dlsr
            )
        )
    return tuple(blocks)


def _parse_nack(sender: int, media: int, fci: bytes) -> Nack:
    seqs: list[int] = []
    for i in range(0, len(fci) - 3, 4):
        pid, blp = struct.unpack_from("!HH", fci, i)
        seqs.append(pid)
        for bit in range(16):
            if blp >> bit & 1:
                seqs.append(add16(pid, bit + 1))
    return Nack(sender, media, tuple(seqs))


def _parse_remb(sender: int, fci: bytes) -> Remb | None:
    if len(fci) < 8 or fci[:4] != b"REMB":
        return None  # another application-layer feedback: not ours to read
    count = fci[4]
    if len(fci) < 8 + 4 * count:
        raise RtpParseError("REMB SSRC list truncated")
    exponent = fci[5] >> 2
    mantissa = ((fci[5] & 0x03) << 16) | (fci[6] << 8) | fci[7]
    ssrcs = struct.unpack_from(f"!{count}I", fci, 8)
    return Remb(sender, mantissa << exponent, ssrcs)


def _parse_one(pt: int, count: int, body: bytes) -> RtcpPacket | None:
    if pt == RTCP_SR:
        if len(body) < 24:
            raise RtpParseError("RTCP SR truncated")
        ssrc, ntp, rtp_ts, packets, octets = _SR_INFO.unpack_from(body)
        return SenderReport(
            ssrc, ntp, rtp_ts, packets, octets, _parse_report_blocks(body, 24, count)
        )
    if pt == RTCP_RR:
        if len(body) < 4:
            raise RtpParseError("RTCP RR truncated")
        (ssrc,) = _U32.unpack_from(body)
        return ReceiverReport(ssrc, _parse_report_blocks(body, 4, count))
    if pt == RTCP_BYE:
        if len(body) < 4 * count:
            raise RtpParseError("RTCP BYE truncated")
        return Bye(struct.unpack_from(f"!{count}I", body))
    if pt not in (RTCP_RTPFB, RTCP_PSFB):
        return None  # SDES, APP, XR...: nothing the forwarder needs
    if len(body) < 8:
        raise RtpParseError("RTCP feedback truncated")
    sender, media = _FB_HEAD.unpack_from(body)
    fci = body[8:]
    if pt == RTCP_RTPFB:
        if count == _RTPFB_NACK:
            return _parse_nack(sender, media, fci)
        if count == TRANSPORT_FEEDBACK_FMT:
            return transport_feedback_from_fci(sender, media, fci)
        return None
    if count == _PSFB_PLI:
        return Pli(sender, media)
    if count == _PSFB_FIR:
        entries = tuple(struct.unpack_from("!IB", fci, i) for i in range(0, len(fci) - 7, 8))
        return Fir(sender, entries)
    if count == _PSFB_AFB:
        return _parse_remb(sender, fci)
    return None


def parse_rtcp(data: bytes) -> list[RtcpPacket]:
    """Parse a compound RTCP packet (RFC 3550 §6.1) into the packets the forwarder acts on.

    SDES, APP, XR and other feedback types are skipped. Raises :class:`RtpParseError`
    when a header is not version 2 or a length runs past the data.
    """
    packets: list[RtcpPacket] = []
    pos, size = 0, len(data)
    while pos < size:
        if pos + 4 > size:
            raise RtpParseError("RTCP header truncated")
        b0, pt, words = struct.unpack_from("!BBH", data, pos)
        if b0 >> 6 != 2:
            raise RtpParseError(f"RTCP version {b0 >> 6} != 2")
        end = pos + 4 + 4 * words
        if end > size:
            raise RtpParseError("RTCP packet longer than data")
        body_end = end
        if b0 & 0x20:
            pad = data[end - 1] if end > pos + 4 else 0
            if pad == 0 or end - pad < pos + 4:
                raise RtpParseError("bad RTCP padding")
            body_end -= pad
        packet = _parse_one(pt, b0 & 0x1F, bytes(data[pos + 4 : body_end]))
        if packet is not None:
            packets.append(packet)
        pos = end
    return packets


def _rtcp(fmt: int, pt: int, body: bytes) -> bytes:
    return struct.pack("!BBH", 0x80 | fmt, pt, len(body) // 4) + body


def _report_blocks(reports: Iterable[ReportBlock]) -> bytes:
    return b"".join(
        _REPORT_BLOCK.pack(
            r.ssrc,
            r.fraction_lost,
            (r.packets_lost & 0xFFFFFF).to_bytes(3, "big"),
            r.highest_seq,
            r.jitter,
            r.lsr,
            r.dlsr,
        )
        for r in reports
    )


def build_sr(
    ssrc: int,
    ntp: int,
    rtp_ts: int,
    packet_count: int,
    octet_count: int,
    reports: Sequence[ReportBlock] = (),
) -> bytes:
    """RFC 3550 §6.4.1 sender report. Counts wrap modulo 2^32 as the RFC says."""
    body = _SR_INFO.pack(ssrc, ntp, wrap32(rtp_ts), wrap32(packet_count), wrap32(octet_count))
    return _rtcp(len(reports), RTCP_SR, body + _report_blocks(reports))


def build_rr(ssrc: int, reports: Sequence[ReportBlock] = ()) -> bytes:
    """RFC 3550 §6.4.2 receiver report."""
    return _rtcp(len(reports), RTCP_RR, _U32.pack(ssrc) + _report_blocks(reports))


def build_pli(sender_ssrc: int, media_ssrc: int) -> bytes:
    """RFC 4585 §6.3.1 Picture Loss Indication (no FCI)."""
    return _rtcp(_PSFB_PLI, RTCP_PSFB, _FB_HEAD.pack(sender_ssrc, media_ssrc))


def build_fir(sender_ssrc: int, media_ssrc: int, command_seq: int) -> bytes:
    """RFC 5104 §4.3.1 Full Intra Request; the common-header media SSRC is zero (§4.3.1.2)."""
    fci = struct.pack("!IB3x", media_ssrc, command_seq & 0xFF)
    return _rtcp(_PSFB_FIR, RTCP_PSFB, _FB_HEAD.pack(sender_ssrc, 0) + fci)


def build_nack(sender_ssrc: int, media_ssrc: int, seqs: Iterable[int]) -> bytes:
    """RFC 4585 §6.2.1 generic NACK: ``seqs`` are grouped into (PID, BLP) pairs.

    Sequence numbers are ordered by their distance from the first one given, so a list crossing
    the 16-bit wrap (65535, 0, 1) packs into a single pair.
    """
    seq_list = list(dict.fromkeys(wrap16(s) for s in seqs))
    if not seq_list:
        raise ValueError("a NACK needs at least one sequence number")
    first = seq_list[0]
    seq_list.sort(key=lambda s: wrap16(s - first))
    fci = bytearray()
    pid, blp = seq_list[0], 0
    for seq in seq_list[1:]:
        distance = wrap16(seq - pid)
        if distance <= 16:
            blp |= 1 << (distance - 1)
        else:
            fci += struct.pack("!HH", pid, blp)
            pid, blp = seq, 0
    fci += struct.pack("!HH", pid, blp)
    return _rtcp(_RTPFB_NACK, RTCP_RTPFB, _FB_HEAD.pack(sender_ssrc, media_ssrc) + bytes(fci))


def build_remb(sender_ssrc: int, bitrate: int, ssrcs: Sequence[int]) -> bytes:
    """draft-alvestrand-rmcat-remb §2.2: bitrate as 18-bit mantissa and 6-bit exponent, rounded
    down; the common-header media SSRC is zero."""
    if bitrate < 0 or len(ssrcs) > 255:
        raise ValueError("REMB needs a non-negative bitrate and at most 255 SSRCs")
    exponent, mantissa = 0, bitrate
    while mantissa > 0x3FFFF:
        mantissa >>= 1
        exponent += 1
    if exponent > 63:
        raise ValueError("REMB bitrate too large")
    fci = b"REMB" + struct.pack(
        f"!BBH{len(ssrcs)}I",
        len(ssrcs),
        (exponent << 2) | (mantissa >> 16),
        mantissa & 0xFFFF,
        *ssrcs,
    )
    return _rtcp(_PSFB_AFB, RTCP_PSFB, _FB_HEAD.pack(sender_ssrc, 0) + fci)
