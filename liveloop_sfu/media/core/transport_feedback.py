"""Transport-wide congestion control feedback (draft-holmer-rmcat-transport-wide-cc-extensions-01).

A sender that stamps a transport-wide sequence number on every RTP packet (the header extension
of §2) learns from its receiver when each one arrived, and runs its own delay-based estimator on
the arrival times (Chrome's send-side bandwidth estimation). The feedback is an RTCP transport
layer feedback message (RTPFB, PT=205, FMT=15, §3.1)::

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    |V=2|P|  FMT=15 |    PT=205     |           length              |
    |                     SSRC of packet sender                     |
    |                      SSRC of media source                     |
    |      base sequence number     |      packet status count      |
    |                 reference time                | fb pkt. count |
    |          packet chunk         |         packet chunk          |  ...
    |         packet chunk          |  recv delta   |  recv delta   |  ...
    |           recv delta          |  recv delta   | zero padding  |

- the *reference time* is a 24-bit signed count of 64 ms in the receiver's own time base; the
  first received packet's delta is measured from it, every later one from the previous received
  packet;
- the *status* of each packet from the base sequence number on is a 2-bit symbol: 0 not
  received, 1 received with a small delta (1 byte, 0..63.75 ms in 250 µs ticks), 2 received with a
  large or negative delta (2 bytes, signed), 3 reserved;
- statuses come in 16-bit *chunks*: a run-length chunk (``0 S S <13-bit run length>``) or a
  status-vector chunk (``1 0 <14 one-bit symbols>``: not received / small delta only, or
  ``1 1 <7 two-bit symbols>``). The last chunk may hold more symbols than the status count: the
  count wins.

:func:`parse_transport_feedback` (and :func:`.rtcp.parse_rtcp`, which calls
:func:`transport_feedback_from_fci`) turn one such packet into a :class:`TransportFeedback` whose
``arrivals`` are absolute times in µs in the feedback sender's time base. Reference times wrap
every :data:`REFERENCE_WRAP_US` (2^24 × 64 ms, about 12.4 days): who compares the reference
times of two feedback packets unwraps them modulo that period.

:class:`TransportFeedbackBuilder` is the receiver's side: the packet path records (transport-wide
sequence number, arrival µs) of every packet, and ``build`` turns what arrived since the last
build into feedback packets. Pure: the caller brings the clock and sends the bytes.
:func:`read_transport_sequence` reads the sequence number off an RTP packet's header extension.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

from liveloop_sfu.media.core.rtp_common import RtpParseError
from liveloop_sfu.media.core.seq import extend16

__all__ = [
    "DELTA_TICK_US",
    "REFERENCE_TICK_US",
    "REFERENCE_WRAP_US",
    "TRANSPORT_FEEDBACK_FMT",
    "TransportFeedback",
    "TransportFeedbackBuilder",
    "parse_transport_feedback",
    "read_transport_sequence",
    "transport_feedback_from_fci",
]

RTPFB: Final = 205  # RFC 4585 §6.1 transport layer feedback (also rtcp.RTCP_RTPFB)
TRANSPORT_FEEDBACK_FMT: Final = 15  # draft §3.1
DELTA_TICK_US: Final = 250  # receive deltas count 250 µs
REFERENCE_TICK_US: Final = 64_000  # the reference time counts 64 ms
REFERENCE_WRAP_US: Final = (1 << 24) * REFERENCE_TICK_US

_NOT_RECEIVED: Final = 0
_SMALL: Final = 1  # received, delta in one unsigned byte
_LARGE: Final = 2  # received, delta in two signed bytes
_MAX_RUN: Final = 0x1FFF  # 13-bit run length
_MAX_STATUS_COUNT: Final = 0xFFFF
_HEADER_BYTES: Final = 20  # RTCP header 4 + sender/media SSRC 8 + base/count/reference/fb count 8
_EMPTY: Final = -(1 << 62)  # a ring slot that holds no packet (no extended sequence reaches it)

_FB_HEAD = struct.Struct("!BBHIIHHI")
_BASE = struct.Struct("!HHI")


@dataclass(frozen=True, slots=True)
class TransportFeedback:
    """One parsed transport-wide feedback packet. ``arrivals[i]`` is the arrival time in µs of the
    packet with transport-wide sequence number ``(base_sequence + i) & 0xFFFF`` — the reference
    time plus the deltas so far, in the feedback sender's time base — or ``-1`` when it is
    reported not received (a received time is a multiple of 250 µs, never -1)."""

    sender_ssrc: int
    media_ssrc: int
    base_sequence: int
    feedback_count: int
    reference_time_us: int
    arrivals: list[int]

    @property
    def packet_status_count(self) -> int:
        return len(self.arrivals)


def parse_transport_feedback(data: bytes) -> TransportFeedback:
    """One whole RTCP transport feedback packet (header included, RTCP padding allowed).

    Raises :class:`RtpParseError` for anything else or anything malformed."""
    if len(data) < 4:
        raise RtpParseError("RTCP header truncated")
    b0, pt, words = struct.unpack_from("!BBH", data)
    if b0 >> 6 != 2:
        raise RtpParseError(f"RTCP version {b0 >> 6} != 2")
    if pt != RTPFB or b0 & 0x1F != TRANSPORT_FEEDBACK_FMT:
        raise RtpParseError(f"not transport feedback (PT {pt}, FMT {b0 & 0x1F})")
    end = 4 + 4 * words
    if end > len(data):
        raise RtpParseError("RTCP packet longer than data")
    if b0 & 0x20:
        pad = data[end - 1] if end > 4 else 0
        if pad == 0 or end - pad < 4:
            raise RtpParseError("bad RTCP padding")
        end -= pad
    if end < 12:
        raise RtpParseError("RTCP feedback truncated")
    sender, media = struct.unpack_from("!II", data, 4)
    return transport_feedback_from_fci(sender, media, bytes(data[12:end]))


def transport_feedback_from_fci(sender_ssrc: int, media_ssrc: int, fci: bytes) -> TransportFeedback:
    """The feedback control information after the two SSRCs (draft §3.1), parsed. Bytes after the
    last receive delta are padding and ignored."""
    size = len(fci)
    if size < 8:
        raise RtpParseError("transport feedback truncated before its packet chunks")
    base, count, reference = _BASE.unpack_from(fci)
    if count == 0:
        raise RtpParseError("transport feedback reports no packet status")
    symbols, pos = _read_chunks(fci, count)
    ref_ticks = reference >> 8
    if ref_ticks & 0x800000:  # 24-bit two's complement
        ref_ticks -= 0x1000000
    reference_us = ref_ticks * REFERENCE_TICK_US
    arrivals = [-1] * count
    time_us = reference_us
    for i in range(count):
        symbol = symbols[i]
        if symbol == _SMALL:
            if pos >= size:
                raise RtpParseError("transport feedback receive deltas truncated")
            time_us += fci[pos] * DELTA_TICK_US
            pos += 1
            arrivals[i] = time_us
        elif symbol == _LARGE:
            if pos + 2 > size:
                raise RtpParseError("transport feedback receive deltas truncated")
            delta = (fci[pos] << 8) | fci[pos + 1]
            if delta & 0x8000:
                delta -= 0x10000
            time_us += delta * DELTA_TICK_US
            pos += 2
            arrivals[i] = time_us
    return TransportFeedback(
        sender_ssrc, media_ssrc, base, reference & 0xFF, reference_us, arrivals
    )


def _read_chunks(fci: bytes, count: int) -> tuple[list[int], int]:
    """The ``count`` status symbols and the offset where the receive deltas start."""
    size = len(fci)
    symbols: list[int] = []
    pos = 8
    while len(symbols) < count:
        if pos + 2 > size:
            raise RtpParseError("transport feedback packet chunks truncated")
        chunk = (fci[pos] << 8) | fci[pos + 1]
        pos += 2
        left = count - len(symbols)
        if not chunk & 0x8000:  # run length: 0 S(2) length(13)
            symbol = (chunk >> 13) & 0x03
            if symbol == 3:
                raise RtpParseError("transport feedback run of the reserved status symbol")
            symbols.extend([symbol] * min(chunk & _MAX_RUN, left))
        elif not chunk & 0x4000:  # status vector of 14 one-bit symbols
            for k in range(min(14, left)):
                symbols.append((chunk >> (13 - k)) & 0x01)
        else:  # status vector of 7 two-bit symbols
            for k in range(min(7, left)):
                symbol = (chunk >> (12 - 2 * k)) & 0x03
                if symbol == 3:
                    raise RtpParseError("transport feedback reserved status symbol")
                symbols.append(symbol)
    return symbols, pos


class TransportFeedbackBuilder:
    """Arrival times of one transport's packets, turned into feedback packets.

    ``record`` each received packet's 16-bit transport-wide sequence number with its arrival time
    (µs, any monotonic clock); ``build`` reports every sequence number from the first not yet
    reported up to the newest received, missing ones as not received. A packet that arrives late,
    after its range was reported (as lost), moves the start back so the next build reports it
    (again, with what arrived around it), as libwebrtc's receiver does; a duplicate keeps its
    first arrival.

    Memory is a fixed ring of ``capacity`` (a power of two) sequence numbers: a packet more than
    ``capacity`` behind the newest is forgotten (``too_old``), and a jump ahead — a flood of random
    sequence numbers — only moves the window, so nothing grows with what a peer sends.
    """

    __slots__ = (
        "_end",
        "_mask",
        "_seqs",
        "_start",
        "_started",
        "_times",
        "duplicates",
        "feedback_count",
        "last_built_us",
        "max_packet_bytes",
        "too_old",
    )

    def __init__(self, capacity: int = 4096, max_packet_bytes: int = 1200) -> None:
        if capacity < 16 or capacity & (capacity - 1):
            raise ValueError("capacity must be a power of two, at least 16")
        if max_packet_bytes < 64:
            raise ValueError("max_packet_bytes must leave room for chunks and deltas")
        self._mask = capacity - 1
        self._seqs = [_EMPTY] * capacity  # extended sequence number held by each ring slot
        self._times = [0] * capacity  # its arrival time (µs)
        self._started = False
        self._start = 0  # extended sequence number of the first packet the next build reports
        self._end = 0  # one past the newest extended sequence number
        self.max_packet_bytes = max_packet_bytes
        self.feedback_count = 0  # of the next packet built (8 bits)
        self.last_built_us = 0
        self.duplicates = 0
        self.too_old = 0

    def record(self, sequence: int, arrival_us: int) -> None:
        """One received packet: its transport-wide sequence number (16 bits) and arrival (µs)."""
        if not self._started:
            self._started = True
            self._start = sequence
            self._end = sequence + 1
            ext = sequence
        else:
            end = self._end
            ext = extend16(end - 1, sequence)
            if ext >= end:
                end = self._end = ext + 1
                if self._start < end - self._mask - 1:
                    self._start = end - self._mask - 1
            elif ext < end - self._mask - 1:
                self.too_old += 1
                return
        slot = ext & self._mask
        if self._seqs[slot] == ext:
            self.duplicates += 1
            return
        self._seqs[slot] = ext
        self._times[slot] = arrival_us
        if ext < self._start:
            self._start = ext  # late: report again from here

    @property
    def pending(self) -> bool:
        """Something to report (a build would return at least one packet)."""
        return self._started and self._start < self._end

    def build(self, now_us: int, sender_ssrc: int, media_ssrc: int) -> list[bytes]:
        """Feedback packets for everything recorded since the last build, in sequence order.

        Several when the range does not fit one: a delta beyond the 16-bit range, more than 65535
        statuses, or more than ``max_packet_bytes``; each carries the next feedback count."""
        self.last_built_us = now_us
        packets: list[bytes] = []
        if not self.pending:
            return packets
        first, end = self._start, self._end
        while first < end:
            packet, first = self._build_one(first, end, sender_ssrc, media_ssrc)
            if packet:
                packets.append(packet)
        self._start = end
        return packets

    def _build_one(self, first: int, end: int, sender: int, media: int) -> tuple[bytes, int]:
        """One feedback packet from ``first`` on: (packet, where the next one starts)."""
        seqs, times, mask = self._seqs, self._times, self._mask
        received = first
        while received < end and seqs[received & mask] != received:
            received += 1
        if received == end:
            return b"", end  # nothing received in the rest: nothing to report
        # Reference time: the first received packet's arrival, rounded down to 64 ms, so its
        # delta is 0..64 ms (libwebrtc's receiver does the same).
        ref_ticks = times[received & mask] // REFERENCE_TICK_US
        symbols, deltas = self._statuses(first, end, ref_ticks * REFERENCE_TICK_US)
        chunks, count, delta_bytes = _encode_chunks(symbols, self.max_packet_bytes)
        body_size = _HEADER_BYTES + len(chunks) + delta_bytes
        padding = -body_size % 4
        header = _FB_HEAD.pack(
            0x80 | TRANSPORT_FEEDBACK_FMT,
            RTPFB,
            (body_size + padding) // 4 - 1,
            sender,
            media,
            first & 0xFFFF,
            count,
            ((ref_ticks & 0xFFFFFF) << 8) | self.feedback_count,
        )
        self.feedback_count = (self.feedback_count + 1) & 0xFF
        packet = b"".join((header, chunks, deltas[:delta_bytes], bytes(padding)))
        return packet, first + count

    def _statuses(self, first: int, end: int, cursor_us: int) -> tuple[list[int], bytearray]:
        """Status symbols and receive deltas from ``first`` on, until ``end``, a delta that does
        not fit 16 bits (it starts the next packet), or more than can fit one packet."""
        seqs, times, mask = self._seqs, self._times, self._mask
        symbols: list[int] = []
        deltas = bytearray()
        limit = min(end, first + _MAX_STATUS_COUNT)
        max_bytes = self.max_packet_bytes
        seq = first
        while seq < limit and len(deltas) < max_bytes:
            slot = seq & mask
            if seqs[slot] != seq:
                symbols.append(_NOT_RECEIVED)
            else:
                # Rounded to the nearest tick from where the previous rounded delta left off,
                # so rounding errors never add up (each time is within 125 µs).
                ticks = (times[slot] - cursor_us + DELTA_TICK_US // 2) // DELTA_TICK_US
                if 0 <= ticks <= 0xFF:
                    symbols.append(_SMALL)
                    deltas.append(ticks)
                elif -0x8000 <= ticks <= 0x7FFF:
                    symbols.append(_LARGE)
                    deltas += (ticks & 0xFFFF).to_bytes(2, "big")
                else:
                    break
                cursor_us += ticks * DELTA_TICK_US
            seq += 1
        return symbols, deltas


def _encode_chunks(symbols: list[int], max_bytes: int) -> tuple[bytes, int, int]:
    """Packet chunks for a prefix of ``symbols`` that fits ``max_bytes`` with its deltas:
    (chunks, statuses covered, receive-delta bytes of those statuses).

    Greedy: a run of 14 or more equal symbols is one run-length chunk (up to 8191); otherwise
    14 symbols without a large delta share a one-bit status vector; otherwise a run of 7 or more
    is a run-length chunk, and anything else a two-bit vector of 7. Only the last chunk may hold
    fewer symbols than it has room for (the status count says how many count)."""
    out = bytearray()
    total = len(symbols)
    pos = delta_bytes = 0
    while pos < total:
        chunk, taken = _next_chunk(symbols, pos, total)
        added = 0
        for k in range(pos, pos + taken):
            added += symbols[k]  # the symbol is the delta's size in bytes (0, 1 or 2)
        size = _HEADER_BYTES + len(out) + 2 + delta_bytes + added
        if pos and size + (-size % 4) > max_bytes:
            break
        out += chunk.to_bytes(2, "big")
        delta_bytes += added
        pos += taken
    return bytes(out), pos, delta_bytes


def _next_chunk(symbols: list[int], pos: int, total: int) -> tuple[int, int]:
    """(chunk, symbols it covers) at ``pos`` (see :func:`_encode_chunks`)."""
    symbol = symbols[pos]
    run = 1
    while pos + run < total and run < _MAX_RUN and symbols[pos + run] == symbol:
        run += 1
    remaining = total - pos
    if run >= 14 or run == remaining:
        return (symbol << 13) | run, run
    width = min(14, remaining)
    if _LARGE not in symbols[pos : pos + width]:
        chunk = 0x8000
        for k in range(width):
            chunk |= symbols[pos + k] << (13 - k)
        return chunk, width
    if run >= 7:
        return (symbol << 13) | run, run
    width = min(7, remaining)
    chunk = 0xC000
    for k in range(width):
        chunk |= symbols[pos + k] << (12 - 2 * k)
    return chunk, width


def read_transport_sequence(data: bytes, ext_id: int) -> int:
    """The transport-wide sequence number of one RTP packet: the 16-bit value of header
    extension ``ext_id`` (draft §2), in the one-byte (RFC 8285 §4.2) or two-byte (§4.3) form;
    -1 when the packet carries none or its header is malformed (the forwarder names that).

    Runs for every packet a browser sends, before anything else parses it: plain byte reads,
    nothing allocated."""
    size = len(data)
    if size < 12 or not data[0] & 0x10:
        return -1
    offset = 12 + 4 * (data[0] & 0x0F)
    if offset + 4 > size:
        return -1
    profile = (data[offset] << 8) | data[offset + 1]
    i = offset + 4
    end = i + 4 * ((data[offset + 2] << 8) | data[offset + 3])
    if end > size:
        return -1
    if profile == 0xBEDE:
        while i < end:
            element = data[i]
            element_id = element >> 4
            if element_id == 0:  # padding byte
                i += 1
                continue
            if element_id == 15:  # reserved: the rest of the block is to be ignored
                return -1
            length = (element & 0x0F) + 1
            if element_id == ext_id:
                if length != 2 or i + 3 > end:
                    return -1
                return (data[i + 1] << 8) | data[i + 2]
            i += 1 + length
    elif profile & 0xFFF0 == 0x1000:
        while i < end:
            element_id = data[i]
            if element_id == 0:
                i += 1
                continue
            if i + 2 > end:
                return -1
            length = data[i + 1]
            if element_id == ext_id:
                if length != 2 or i + 4 > end:
                    return -1
                return (data[i + 2] << 8) | data[i + 3]
            i += 2 + length
    return -1
