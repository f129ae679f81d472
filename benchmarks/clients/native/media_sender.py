"""A publisher of pre-encoded media, one RTP stream: the cached frames are cut into payload
chunks once, at start (:func:`packetize`); per frame, :meth:`StreamSender.send_frame` writes each
packet's RTP header (RFC 3550 §5.1, plus the VP8 payload descriptor of RFC 7741 §4.2) and hands
it to the node's own compiled packet path (:class:`~liveloop_sfu.media.transport.srtp.packet_io.
PeerIo`: SRTP protect, then the socket). Python calls this once per frame, never per packet.

A frame of several packets goes to the kernel in one system call when it can (Linux UDP GSO,
``UDP_SEGMENT``: the packets of a frame are all of one size but the last, which may be shorter,
exactly what GSO requires); the kernel cuts it into the same datagrams a packet-by-packet send
gives, so the node sees no difference. :meth:`StreamSender.batch_through` turns it on.

A browser answers the node's NACKs with retransmissions (RFC 4588), so the last
:data:`HISTORY` packets are kept for :meth:`StreamSender.packet`.

Where the node negotiated transport-wide congestion control
(draft-holmer-rmcat-transport-wide-cc-extensions-01 §2), every packet of the peer connection,
audio, video and retransmissions alike, carries the next number of one
:class:`TransportSequence`, as a browser's do, so the node records their arrivals and sends the
publisher transport feedback.
"""

from __future__ import annotations

import struct
from typing import Any, Final

from pylibsrtp import Error as SrtpError

from benchmarks.clients.native.wire import WireSender, available, frame_writer
from liveloop_sfu.media.transport.srtp.packet_io import PeerIo, SrtpContext

_HEADER = struct.Struct("!BBHII")
# X=1 (extended control bits follow), S on a frame's first packet; then I=1 (PictureID
# present); then M=1 and a 15-bit PictureID, as libwebrtc sends it (RFC 7741 §4.2).
_VP8_DESCRIPTOR = struct.Struct("!BBH")
_VP8_FIRST: Final = 0x90
_VP8_NEXT: Final = 0x80
HISTORY: Final = 1024  # packets kept for retransmission (a power of two); ~6 s of 1 Mbps video
RTP_HEADER: Final = 12
SOL_UDP: Final = 17
UDP_SEGMENT: Final = 103  # linux/udp.h; not in Python's socket module
GSO_MAX_SEGMENTS: Final = 64  # the kernel's UDP_MAX_SEGMENTS


def packetize(frame: bytes, max_payload: int) -> list[bytes]:
    """One encoded frame as payload chunks of at most ``max_payload`` bytes, of even sizes
    (as libwebrtc splits a frame: no small trailing packet)."""
    if max_payload < 1:
        raise ValueError("max_payload must be positive")
    if not frame:
        return [b""]
    count = -(-len(frame) // max_payload)
    size = -(-len(frame) // count)
    return [frame[i : i + size] for i in range(0, len(frame), size)]


FU_A: Final = 28  # RFC 6184 §5.8 fragmentation unit
_START = b"\x00\x00\x01"


def annexb_nals(frame: bytes) -> list[bytes]:
    """The NAL units of an Annex B access unit (3- or 4-byte start codes, H.264 Annex B.1)."""
    nals: list[bytes] = []
    at = frame.find(_START)
    while at >= 0:
        begin = at + 3
        at = frame.find(_START, begin)
        end = len(frame) if at < 0 else (at - 1 if at > begin and frame[at - 1] == 0 else at)
        if end > begin:
            nals.append(frame[begin:end])
    return nals


def packetize_h264(frame: bytes, max_payload: int) -> list[bytes]:
    """One Annex B access unit as RFC 6184 packetization-mode 1 payloads: a NAL unit that fits
    is a single NAL unit packet (§5.6), a larger one FU-A fragments of even sizes (§5.8: FU
    indicator with the NAL's F and NRI, FU header with S on the first, E on the last)."""
    if max_payload < 3:
        raise ValueError("max_payload must leave room for the FU-A headers")
    payloads: list[bytes] = []
    for nal in annexb_nals(frame):
        if len(nal) <= max_payload:
            payloads.append(nal)
            continue
        indicator = (nal[0] & 0xE0) | FU_A
        body = nal[1:]
        count = -(-len(body) // (max_payload - 2))
        size = -(-len(body) // count)
        for offset in range(0, len(body), size):
            header = nal[0] & 0x1F
            if offset == 0:
                header |= 0x80
            if offset + size >= len(body):
                header |= 0x40
            payloads.append(bytes((indicator, header)) + body[offset : offset + size])
    return payloads


def annexb_reference(frame: bytes) -> bytes:
    """An access unit as a receiver rebuilds it from RFC 6184 payloads (4-byte start codes,
    as the recorder's depacketizer writes them): what sampled frames are compared with."""
    return b"".join(b"\x00" + _START + nal for nal in annexb_nals(frame))


_U16 = struct.Struct("!H")


class TransportSequence:
    """The transport-wide sequence numbers of one peer connection (16 bits, draft §2): one
    counter for every RTP packet it sends."""

    def __init__(self, start: int = 0) -> None:
        self.value = start & 0xFFFF
        self._u16: Any = _U16  # an attribute: a module global is a dictionary look-up

    def take(self) -> bytes:
        """The next number, as the extension's two bytes."""
        value = self.value
        self.value = (value + 1) & 0xFFFF
        result: bytes = self._u16.pack(value)
        return result


class StreamSender:
    """One outgoing RTP stream (SSRC) of a cheap publisher."""

    def __init__(
        self,
        io: PeerIo,
        pt: int,
        ssrc: int,
        extensions: bytes,
        *,
        vp8: bool,
        seq: int,
        marker: bool | None = None,
        transport: TransportSequence | None = None,
        transport_at: int = -1,
    ) -> None:
        """``extensions``: the whole RTP header-extension block (profile, length, elements;
        RFC 8285), or empty; with ``transport``, the two bytes at ``transport_at`` in it are
        each packet's transport-wide sequence number. ``vp8``: write the VP8 payload descriptor
        before each chunk (other codecs' chunks are whole payloads already); ``marker``: set the
        marker bit on a frame's last packet, as video does (default: ``vp8``)."""
        self.io = io
        self.pt = pt
        self.ssrc = ssrc
        self.vp8 = vp8
        self.marker = vp8 if marker is None else marker
        self.seq = seq & 0xFFFF
        self.packets = 0  # RTP packets numbered (RFC 3550 SR sender's packet count)
        self.octets = 0  # payload octets numbered (SR sender's octet count)
        self.sent = 0  # packets the transport took
        # A simulcast encoding the node asked to pause (set-video-layers): its frames are
        # skipped, as a browser's encoder with ``active = false`` stops.
        self.paused = False
        self.last_ts = 0
        self.drop_every = 0  # tests: leave out every Nth packet, as a lossy link would
        self.forget_dropped = False  # tests: and keep no copy (lost for good, NACKs in vain)
        self._extensions = extensions
        # Attributes, not module globals (a dictionary look-up each in compiled code).
        self._header: Any = _HEADER
        self._descriptor: Any = _VP8_DESCRIPTOR
        self._transport = transport if transport_at >= 0 else None
        self._transport_at = transport_at
        self._ext_head = extensions[:transport_at] if transport_at >= 0 else extensions
        self._ext_tail = extensions[transport_at + 2 :] if transport_at >= 0 else b""
        self._b0 = 0x90 if extensions else 0x80
        self._history: list[bytes] = [b""] * HISTORY
        # One-call frames (batch_through): the SRTP session, raw socket and node address.
        self._gso_srtp: SrtpContext | None = None
        self._gso_sock: Any = None
        self._gso_datagrams: Any = None  # asyncio's transport of the socket, for a fallback
        self._gso_connected: object = None
        self._gso_addr: Any = None
        self._wire: WireSender | None = None  # where the C frame writer sends (wire.py)
        self._writer: Any = None  # whole frames built, kept and sent in C, where it was built
        self.batched = 0  # frames sent in one system call

    def batch_through(
        self,
        srtp: SrtpContext,
        sock: Any,
        datagrams: Any,
        addr: Any,
        connected: object,
        *,
        native: bool = True,
    ) -> None:
        """Send whole frames with one ``sendmsg`` (UDP GSO) on ``sock`` to ``addr``, protected
        with ``srtp`` (the session ``PeerIo`` protects with), while the DTLS transport's state
        is ``connected``; GSO is turned off by the first refusal. With ``native`` and the C
        packet I/O built (:mod:`.wire`), every frame of the stream, audio too, is built, kept,
        protected and sent in C; otherwise from here through Python's socket and cffi."""
        self._gso_srtp, self._gso_sock, self._gso_addr = srtp, sock, addr
        self._gso_datagrams = datagrams
        self._gso_connected = connected
        self._wire = self._writer = None
        if native and available():
            try:
                self._wire = WireSender(srtp.session, sock, addr)
            except (OSError, ValueError):  # e.g. a host name, not a numeric address
                return
            # The writer keeps the history (packet()): only for a stream that sent nothing yet.
            if self.packets > 0:
                self._wire = None
            else:
                self._writer = frame_writer(
                    self._wire,
                    b0=self._b0,
                    pt=self.pt,
                    marker=self.marker,
                    vp8=self.vp8,
                    ssrc=self.ssrc,
                    ext_head=self._ext_head,
                    ext_tail=self._ext_tail,
                    transport=self._transport is not None,
                )

    def _write_frame(self, writer: Any, chunks: list[bytes], ts: int, picture_id: int) -> int:
        """:meth:`send_frame` in C (:meth:`batch_through`): the same packets, numbers and
        history; sent only while the transport is connected, as ``PeerIo.send`` does."""
        transport = self.io.transport
        connected = transport is not None and transport._state is self._gso_connected
        count = len(chunks)
        wide = self._transport
        first_wide = wide.value if wide is not None else 0
        gso = self._gso_srtp is not None
        assert self._wire is not None
        spill = self._wire.spill
        sent = 0
        try:
            sent = writer.send_frame(
                chunks,
                self.seq,
                ts,
                picture_id,
                first_wide,
                gso,
                connected,
                spill,
                self.packets,
                self.drop_every,
                self.forget_dropped,
            )
        except ValueError:
            pass  # a chunk too long for a packet, or libsrtp refused: the frame is lost
        except OSError:
            # No GSO here (or the socket failed): this frame is lost, later ones go one by one.
            self._gso_srtp = None
        self.seq = (self.seq + count) & 0xFFFF
        if wide is not None:
            wide.value = (first_wide + count) & 0xFFFF
        self.packets += count
        self.octets += writer.octets
        if spill:
            sent += self._spill(spill)
        if gso and count > 1 and connected:
            self.batched += 1
        self.sent += sent
        self.last_ts = ts
        return sent

    def _spill(self, spill: list[bytes]) -> int:
        """A full socket buffer: the rest, protected already, through asyncio's transport,
        which queues them in order."""
        spilled = list(spill)
        spill.clear()
        if self._gso_datagrams.is_closing():
            return 0
        for packet in spilled:
            self._gso_datagrams.sendto(packet, self._gso_addr)
        return len(spilled)

    def _send_batch(self, packets: list[bytes]) -> bool:
        """The packets of one frame in one system call; False (nothing sent, nothing
        protected) when this frame cannot go that way."""
        srtp = self._gso_srtp
        transport = self.io.transport
        # As PeerIo.send: nothing once the transport closed (its socket may be gone); the
        # per-packet path then says so.
        if srtp is None or transport is None or transport._state is not self._gso_connected:
            return False
        if len(packets) > GSO_MAX_SEGMENTS:
            return False
        size = len(packets[0])
        for packet in packets:
            if len(packet) > size:
                return False  # GSO: every segment but the last of one size, the last no longer
        try:
            protected = [srtp.protect(packet) for packet in packets]
        except (SrtpError, ValueError, IndexError):
            return False
        segment = struct.pack("=H", len(protected[0]))
        try:
            self._gso_sock.sendmsg(
                [b"".join(protected)], [(SOL_UDP, UDP_SEGMENT, segment)], 0, self._gso_addr
            )
        except (BlockingIOError, InterruptedError):
            # A full socket buffer: the packets are protected already, so they go one by one
            # through asyncio's transport, which queues them in order.
            if not self._gso_datagrams.is_closing():
                for packet in protected:
                    self._gso_datagrams.sendto(packet, self._gso_addr)
            return True
        except OSError:
            # No GSO here (or the socket failed): this frame is lost, later ones go one by one.
            self._gso_srtp = None
            return True
        self.batched += 1
        return True

    def send_frame(self, chunks: list[bytes], ts: int, picture_id: int) -> int:
        """The packets of one frame (the marker bit on the last one for video, RFC 7741 §4.1,
        RFC 6184 §5.1; none for audio): numbered, protected and sent. Returns how many the
        transport took."""
        ts &= 0xFFFFFFFF
        writer = self._writer
        if writer is not None:
            return self._write_frame(writer, chunks, ts, picture_id)
        last = len(chunks) - 1
        sent = 0
        overhead = RTP_HEADER + len(self._extensions)
        batch: list[bytes] | None = [] if self._gso_srtp is not None and last > 0 else None
        transport = self._transport
        extensions = self._extensions
        for index, chunk in enumerate(chunks):
            seq = self.seq
            self.seq = (seq + 1) & 0xFFFF
            second = self.pt | (0x80 if self.marker and index == last else 0)
            header = self._header.pack(self._b0, second, seq, ts, self.ssrc)
            if transport is not None:
                extensions = b"".join((self._ext_head, transport.take(), self._ext_tail))
            if self.vp8:
                first = _VP8_FIRST if index == 0 else _VP8_NEXT
                descriptor = self._descriptor.pack(first, 0x80, 0x8000 | (picture_id & 0x7FFF))
                packet = b"".join((header, extensions, descriptor, chunk))
            else:
                packet = b"".join((header, extensions, chunk))
            self.packets += 1
            self.octets += len(packet) - overhead
            dropped = self.drop_every > 0 and self.packets % self.drop_every == 0
            if not (dropped and self.forget_dropped):
                self._history[seq & (HISTORY - 1)] = packet
            if dropped:
                continue
            if batch is not None:
                batch.append(packet)
            elif self.io.send(packet):
                sent += 1
        if batch is not None:
            if len(batch) > 1 and self._send_batch(batch):
                sent = len(batch)
            else:
                for packet in batch:
                    if self.io.send(packet):
                        sent += 1
        self.sent += sent
        self.last_ts = ts
        return sent

    def restamp(self, packet: bytes) -> bytes:
        """``packet`` (one of this stream's, or its RFC 4588 retransmission, whose header
        extensions are the original's) with the next transport-wide sequence number: every
        packet sent counts, retransmissions too (draft §2)."""
        transport = self._transport
        if transport is None:
            return packet
        at = RTP_HEADER + self._transport_at
        return b"".join((packet[:at], transport.take(), packet[at + 2 :]))

    def packet(self, seq: int) -> bytes | None:
        """The packet numbered ``seq`` if it is still kept."""
        if self._writer is not None:
            kept: bytes | None = self._writer.packet(seq)
            return kept
        packet = self._history[seq & (HISTORY - 1)]
        if len(packet) >= RTP_HEADER and (packet[2] << 8 | packet[3]) == seq:
            return packet
        return None
