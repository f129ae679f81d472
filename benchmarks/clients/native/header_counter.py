"""A cheap receiver: counts from the clear RTP header and decrypts only a sample.

SRTP (RFC 3711 §3.1) encrypts an RTP packet's payload but not its header, and authenticates
both. Payload type, marker, sequence number, timestamp and SSRC can therefore be read without
the keys, which is what :class:`MediaReceiver` counts from; a node must never do this (it would
count forged packets), a load client may: its peer is the node under test. To still notice a
node that sends garbage, :class:`MediaReceiver` authenticates and decrypts a sample — one packet
in ``sample_every``, every packet of one video frame in ``frame_every`` (those frames' payloads
go to :attr:`MediaReceiver.frames` for a content check), every retransmission (its original
sequence number is in the encrypted payload, RFC 4588 §4) and every RTCP packet.

Per incoming stream it keeps the node's own receiver-side state (:class:`ReceptionStats` for
RFC 3550 receiver reports, :class:`NackGenerator` for RFC 4585 NACKs), so the node gets the
feedback a browser would send — and, when the node negotiated transport-wide congestion control
(draft-holmer-rmcat-transport-wide-cc-extensions-01), the arrival of every packet by its
transport-wide sequence number, for the transport feedback (RTPFB FMT 15) a browser sends about
what it receives; the node's own builder (:class:`TransportFeedbackBuilder`) makes the packets.
The arrival time of each packet is the kernel's (``SO_TIMESTAMPNS``, read with the datagram by
``recvmmsg``: :mod:`.datagrams`), as a browser's is, not the client's 20 ms tick, which the
node's delay-based estimator would see as jitter that is not there; the receiver reports' jitter
(RFC 3550 §6.4.1) is computed from the same times. :meth:`MediaReceiver.drain` reads every
datagram waiting on the socket, many per system call; the client calls it from a timer, so no
Python runs per packet. STUN and DTLS datagrams
(RFC 7983 §7) are handed on to aioice unchanged.
"""

from __future__ import annotations

import contextlib
import fcntl
import struct
from collections.abc import Callable
from typing import Any

from pylibsrtp import Error as SrtpError

from benchmarks.clients.native import wire
from benchmarks.clients.native.datagrams import DatagramBatch, available
from liveloop_sfu.media.codecs.vp8 import descriptor_size, starts_frame
from liveloop_sfu.media.core.nack_generator import NackGenerator
from liveloop_sfu.media.core.reception import ReceptionStats
from liveloop_sfu.media.core.seq import Unwrapper
from liveloop_sfu.media.core.transport_feedback import (
    TransportFeedbackBuilder,
    read_transport_sequence,
)
from liveloop_sfu.media.recording.depacketizer import DepacketizeError
from liveloop_sfu.media.recording.depacketizer_h264 import H264Parser
from liveloop_sfu.media.transport.srtp.packet_io import DATAGRAM_MAX, SrtpContext

SIOCGSTAMP = 0x8906  # Linux: the kernel's receive time of the last datagram read (struct timeval)
_TIMEVAL = struct.Struct("@qq")
_H264 = H264Parser()  # sampled frames only: RFC 6184 payloads back to Annex B
StunPath = Callable[[bytes, Any], None]


class SampledFrame:
    """One video frame decrypted whole: its payload (VP8 descriptors removed, RFC 7741 §4.2),
    in sequence order, and when its last packet arrived (wall clock, kernel time if known)."""

    def __init__(self, ssrc: int, ts: int, data: bytes, complete: bool, arrival: float) -> None:
        self.ssrc = ssrc
        self.ts = ts
        self.data = data
        self.complete = complete
        self.arrival = arrival


class StreamCount:
    """What arrived of one incoming RTP stream (one SSRC)."""

    def __init__(self, ssrc: int, kind: str, clock_rate: int, codec: str = "") -> None:
        self.ssrc = ssrc
        self.kind = kind  # video | audio | rtx | other
        self.h264 = codec == "h264"
        self.clock_rate = clock_rate
        self.jitter = 0  # RFC 3550 interarrival jitter of the last report, in timestamp units
        self.packets = 0
        self.octets = 0
        self.frames = 0  # packets with the marker bit (video: one per frame, RFC 7741 §4.1)
        self.repaired = 0  # retransmissions that arrived for this stream
        self.first = -1  # extended sequence numbers
        self.highest = -1
        self.first_frame_at = 0.0  # wall clock of the first marker packet (0: none yet)
        self.reception = ReceptionStats(clock_rate, ssrc)
        self.nacks = NackGenerator()
        self.given_up = 0  # losses NACKed in vain (aged out unrepaired)
        self._seq = Unwrapper()
        # frame sampling (video)
        self.frame_ts = -1
        self.frame_number = 0
        self.sampling = False
        self.parts: dict[int, bytes] = {}
        self.frame_start = -1  # sequence number of the sampled frame's first packet (S bit)
        self.next_start = -1  # the packet after the last marker: the next frame's first

    def expected(self) -> int:
        return self.highest - self.first + 1 if self.first >= 0 else 0

    def add(self, now: float, arrival: float, seq: int, ts: int, size: int) -> bool:
        """A media packet that arrived at ``arrival`` (for the jitter), read at ``now``; True
        when it revealed a sequence gap (NACKs may be due)."""
        ext = self._seq.unwrap(seq)
        if self.first < 0:
            self.first = ext
        if ext > self.highest:
            self.highest = ext
        self.packets += 1
        self.octets += size
        self.reception.on_packet(arrival, self.ssrc, seq, ts)
        return self.nacks.on_packet(now, ext)

    def repair(self, now: float, seq: int) -> None:
        """A retransmission of ``seq`` arrived: counted received, no more NACKs for it."""
        self.repaired += 1
        self.nacks.on_packet(now, self._seq.peek(seq))

    def due_nacks(self, now: float) -> list[int]:
        before = len(self.nacks.missing)
        due = self.nacks.handle_timer(now)
        # Entries leave only when repaired (in add/repair) or expired (here): what left here
        # without being NACKed now was given up.
        self.given_up += max(0, before - len(self.nacks.missing))
        return due


class MediaReceiver:
    """The receive side of one cheap peer connection (its one BUNDLE socket)."""

    def __init__(
        self,
        sock: Any,
        session: Any,
        stun_path: StunPath,
        *,
        sample_every: int,
        frame_every: int,
        batch: bool = True,
    ) -> None:
        """``session``: aiortc's receiving ``pylibsrtp.Session``; ``stun_path``: aioice's
        ``datagram_received`` of the socket's protocol; ``sample_every`` / ``frame_every``: 0
        turns that sampling off; ``batch``: read with ``recvmmsg`` where there is one."""
        self._sock = sock
        self._rx = SrtpContext(session)
        self._stun_path = stun_path
        self.sample_every = sample_every
        self.frame_every = frame_every
        self.kinds: dict[int, str] = {}  # payload type -> video | audio | rtx
        self.clock_rates: dict[int, int] = {}  # payload type -> RTP clock rate
        self.codecs: dict[int, str] = {}  # payload type -> codec name, lower case (vp8, h264)
        self.rtx_ssrcs: dict[int, int] = {}  # RTX SSRC -> media SSRC (a=ssrc-group:FID)
        self.streams: dict[int, StreamCount] = {}  # media SSRC -> counts
        self.rtcp: list[bytes] = []  # decrypted RTCP compounds, for the client's timer
        self.frames: list[SampledFrame] = []  # sampled video frames, for the client's timer
        self.datagrams = 0
        self.decrypted = 0  # packets authenticated and decrypted (the sample)
        self.srtp_errors = 0  # of those, failed authentication / decryption
        self.rtx = 0
        self.gaps = False  # some stream has NACKs pending
        self.stamps = True  # kernel receive times (SIOCGSTAMP) work on this socket
        self.first_video_at = 0.0  # monotonic time of the first video frame's end (0: none)
        self.remote: Any = None  # the node's address (the nominated pair's remote one)
        # Transport-wide feedback: the extension's id in the node's answer (0: not negotiated).
        self.transport_cc_id = 0
        self.feedback = TransportFeedbackBuilder()
        self.feedback_recorded = 0  # packets with a transport-wide sequence number
        self.transport_feedback = 0  # transport feedback packets the node sent us
        self._buf = bytearray(DATAGRAM_MAX)
        # recvmmsg in C (wire.py) where it was built, else through ctypes (datagrams.py):
        # the same reads, the same interface.
        self._batch: Any = None
        if batch:
            self._batch = wire.reader(sock)
            if self._batch is None and available():
                self._batch = DatagramBatch(sock)

    def drain(self, now: float, wallclock: float, limit: int) -> int:
        """Read and handle every datagram already queued on the socket (at most ``limit``,
        rounded up to a whole batch). Into buffers allocated once, without the sender's address:
        a counted packet allocates nothing; only what is decrypted or handed on is copied out.
        With ``recvmmsg`` (:class:`DatagramBatch`), many datagrams per system call, each with
        the kernel's receive time."""
        batch = self._batch
        if batch is None:
            return self._drain_each(now, wallclock, limit)
        offset = wallclock - now  # kernel times are CLOCK_REALTIME; ours monotonic
        buffers = batch.buffers
        count = 0
        while count < limit:
            read = batch.read()
            for i in range(read):
                size = batch.size(i)
                stamp: float = batch.arrival(i)
                if size >= 0:
                    arrival = stamp - offset if stamp > 0.0 else now
                    self._handle(buffers[i], size, now, wallclock, arrival)
            count += read
            if read < batch.slots:  # drained: no read that only finds the socket empty
                break
        self.datagrams += count
        return count

    def _drain_each(self, now: float, wallclock: float, limit: int) -> int:
        """:meth:`drain` one ``recv_into`` per datagram (no ``recvmmsg`` here): arrivals are
        the tick's ``now``."""
        sock = self._sock
        buf = self._buf
        count = 0
        while count < limit:
            try:
                size = sock.recv_into(buf)
            except OSError:  # drained (EAGAIN), or an error the next read reports
                break
            count += 1
            self._handle(buf, size, now, wallclock, now)
        self.datagrams += count
        return count

    def _handle(
        self, data: bytearray, size: int, now: float, wallclock: float, arrival: float
    ) -> None:
        """One datagram; ``arrival`` is when it arrived on ``now``'s (monotonic) clock."""
        # RFC 7983 §7: 128..191 is RTP/RTCP; STUN and DTLS go to aioice. After ICE completed,
        # everything on this socket comes from the node, so its address is the nominated
        # pair's remote one (not read per datagram: recvfrom would allocate two tuples).
        if size < 12 or not 127 < data[0] < 192:
            self._stun_path(bytes(data[:size]), self.remote)
            return
        second = data[1]
        if 191 < second < 209:  # RTCP (RFC 5761 §4)
            rtcp = self._decrypt(bytes(data[:size]), True)
            if rtcp is None:
                return
            if _transport_feedback_alone(rtcp):
                # The node's transport feedback about what we send, about 20 a second per
                # publisher: counted here, not handed to Python to parse (a load client sends
                # its cached bitrate whatever the feedback says; a browser's estimator reads it).
                self.transport_feedback += 1
            else:
                self.rtcp.append(rtcp)
            return
        if self.transport_cc_id:  # every RTP packet counts, retransmissions too (draft §3)
            # A copy of the header, up to the end of its extensions (the node's reader takes
            # bytes, and needs no more): a few dozen bytes, not the packet.
            end = 12 + 4 * (data[0] & 0x0F)
            if data[0] & 0x10 and end + 4 <= size:
                end += 4 + 4 * (data[end + 2] << 8 | data[end + 3])
            header = bytes(data[: min(end, size)])
            transport_seq = read_transport_sequence(header, self.transport_cc_id)
            if transport_seq >= 0:
                self.feedback.record(transport_seq, int(arrival * 1e6))
                self.feedback_recorded += 1
        pt = second & 0x7F
        seq = data[2] << 8 | data[3]
        ts = data[4] << 24 | data[5] << 16 | data[6] << 8 | data[7]
        ssrc = data[8] << 24 | data[9] << 16 | data[10] << 8 | data[11]
        media_ssrc = self.rtx_ssrcs.get(ssrc, -1)
        if media_ssrc >= 0 or self.kinds.get(pt, "") == "rtx":
            self._retransmission(bytes(data[:size]), media_ssrc, now)
            return
        stream = self.streams.get(ssrc)
        clear: bytes | None = None  # the packet decrypted, when it already was
        if stream is None:
            kind = self.kinds.get(pt, "other")
            stream = StreamCount(
                ssrc, kind, self.clock_rates.get(pt, 90000), self.codecs.get(pt, "")
            )
            self.streams[ssrc] = stream
            # libsrtp numbers a new stream's packets from the first one it authenticates
            # (RFC 3711 §3.3.1: the rollover counter starts at 0 there), and every later guess
            # of the rollover counter from the last one: authenticate the very first, and the
            # sample's gaps stay far below 2^15, so no sampled packet is ever misnumbered.
            clear = self._decrypt(bytes(data[:size]), False)
        if stream.add(now, arrival, seq, ts, size):
            self.gaps = True
        marker = second > 127
        first = seq == stream.next_start  # follows the last frame's marker packet
        if marker:
            stream.next_start = (seq + 1) & 0xFFFF
            stream.frames += 1
            if stream.first_frame_at == 0.0:
                stream.first_frame_at = wallclock
                if stream.kind == "video" and self.first_video_at == 0.0:
                    self.first_video_at = now
        sampled = stream.kind == "video" and self.frame_every > 0
        if sampled and self._sample_frame(
            stream, data, size, clear, seq, ts, marker, first, wallclock + arrival - now
        ):
            return
        if clear is None and self.sample_every > 0 and stream.packets % self.sample_every == 0:
            self._decrypt(bytes(data[:size]), False)

    def _sample_frame(
        self,
        stream: StreamCount,
        data: bytearray,
        size: int,
        clear: bytes | None,
        seq: int,
        ts: int,
        marker: bool,
        first: bool,
        wallclock: float,
    ) -> bool:
        """Collect every packet of one frame in ``frame_every``; True if this one was taken."""
        if ts != stream.frame_ts:
            stream.frame_ts = ts
            stream.frame_number += 1
            stream.sampling = stream.frame_number % self.frame_every == 0
            stream.parts = {}
            stream.frame_start = -1
        if not stream.sampling:
            return False
        # Never twice: libsrtp would reject the second as a replay (RFC 3711 §3.3.2).
        packet = clear if clear is not None else self._decrypt(bytes(data[:size]), False)
        if packet is not None and stream.h264:
            # RFC 6184 has no frame-start flag: the first packet is the one after the last
            # frame's marker.
            try:
                stream.parts[seq] = _H264.parse(packet[_payload_start(packet) :]).data
                if first:
                    stream.frame_start = seq
            except (DepacketizeError, IndexError):
                pass
        elif packet is not None:
            start = _payload_start(packet)
            if start < len(packet):
                skip = descriptor_size(packet, start, len(packet))
                if skip > 0 and start + skip <= len(packet):
                    stream.parts[seq] = packet[start + skip :]
                    if starts_frame(packet[start]):
                        stream.frame_start = seq
        if marker:
            stream.sampling = False
            self.frames.append(self._assemble(stream, ts, seq, self._arrival(wallclock)))
        return True

    def _assemble(self, stream: StreamCount, ts: int, last: int, arrival: float) -> SampledFrame:
        parts = stream.parts
        stream.parts = {}
        first = (last - len(parts) + 1) & 0xFFFF
        # Whole: from the packet that starts the frame (S bit) to the marker, none missing.
        complete = (
            len(parts) > 0
            and stream.frame_start == first
            and all(((first + i) & 0xFFFF) in parts for i in range(len(parts)))
        )
        stream.frame_start = -1
        data = b"".join(parts[(first + i) & 0xFFFF] for i in range(len(parts))) if complete else b""
        return SampledFrame(stream.ssrc, ts, data, complete, arrival)

    def _arrival(self, wallclock: float) -> float:
        """The kernel's receive time of the datagram just read, else ``wallclock`` (which is
        that time already when it came with the datagram, from ``recvmmsg``)."""
        if self.stamps and self._batch is None:
            try:
                raw = fcntl.ioctl(self._sock.fileno(), SIOCGSTAMP, bytes(_TIMEVAL.size))
                seconds, micros = _TIMEVAL.unpack(raw)
                return float(seconds) + float(micros) / 1e6
            except OSError:
                self.stamps = False
        return wallclock

    def enable_stamps(self) -> None:
        """The first SIOCGSTAMP only switches kernel time stamps on for the socket."""
        with contextlib.suppress(OSError):
            fcntl.ioctl(self._sock.fileno(), SIOCGSTAMP, bytes(_TIMEVAL.size))

    def _retransmission(self, data: bytes, media_ssrc: int, now: float) -> None:
        self.rtx += 1
        packet = self._decrypt(data, False)
        if packet is None:
            return
        start = _payload_start(packet)
        stream = self.streams.get(media_ssrc)
        if stream is not None and start + 2 <= len(packet):
            stream.repair(now, packet[start] << 8 | packet[start + 1])

    def _decrypt(self, data: bytes, rtcp: bool) -> bytes | None:
        self.decrypted += 1
        try:
            if rtcp:
                return self._rx.unprotect_rtcp(data)
            return self._rx.unprotect_rtp(data)
        except (SrtpError, ValueError):
            self.srtp_errors += 1
            return None

    def due_nacks(self, now: float) -> list[tuple[int, list[int]]]:
        """(media SSRC, sequence numbers) to NACK now (RFC 4585 §6.2.1)."""
        out: list[tuple[int, list[int]]] = []
        if not self.gaps:
            return out
        pending = False
        for stream in self.streams.values():
            if not stream.nacks.missing:
                continue
            seqs = stream.due_nacks(now)
            if seqs:
                out.append((stream.ssrc, seqs))
            if stream.nacks.missing:
                pending = True
        self.gaps = pending
        return out


def _transport_feedback_alone(rtcp: bytes) -> bool:
    """One RTCP transport-wide feedback packet (RTPFB, PT 205, FMT 15; draft-holmer-rmcat-
    transport-wide-cc-extensions-01 §3.1) and nothing else in the compound."""
    return (
        len(rtcp) >= 8
        and rtcp[1] == 205
        and rtcp[0] & 0x1F == 15
        and 4 * ((rtcp[2] << 8 | rtcp[3]) + 1) == len(rtcp)
    )


def _payload_start(packet: bytes) -> int:
    """Offset of an RTP packet's payload: after CSRCs and the header extension (RFC 3550 §5.3.1)."""
    start = 12 + 4 * (packet[0] & 0x0F)
    if packet[0] & 0x10 and start + 4 <= len(packet):
        start += 4 + 4 * (packet[start + 2] << 8 | packet[start + 3])
    return start
