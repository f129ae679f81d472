"""The per-packet half of :mod:`liveloop_sfu.media.transport.peer`: SRTP in and out, sockets.

Compiled with mypyc like the forwarding core (setup.py), which is why it lives apart from the
adapter: it imports neither asyncio nor aiortc (the adapter's coroutines, closures and aiortc
subclasses are what crashed mypyc's build in the garbage collector, docs/benchmarks.md), and it
runs once per datagram in, once per packet out — the Python-level calls that were left of a
forwarded packet's cost after the core was compiled. Everything aiortc-specific stays in the
adapter, which hands this module the objects to use; the two private aiortc attributes read here
per packet (``RTCDtlsTransport._state`` and ``._tx_srtp``) are in the adapter's
``REQUIRED_HOOKS`` like every other one.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import logging
import struct
import time
from collections.abc import Callable
from typing import Any

from pylibsrtp import Error as SrtpError

from liveloop_sfu.media.core.transport_feedback import (
    TransportFeedbackBuilder,
    read_transport_sequence,
)

logger = logging.getLogger("liveloop_sfu.media.transport.peer")

# (decrypted bytes, arrival time as time.monotonic()); called synchronously per packet.
PacketHandler = Callable[[bytes, float], None]
# A nominated candidate pair -> (our raw socket or None, asyncio datagram transport, address).
Locate = Callable[[Any], tuple[Any, Any, Any]]

# After asyncio hands over one datagram, read up to this many more that are already queued on
# the socket (a video frame arrives as a burst of packets): one event-loop iteration per burst
# instead of one per packet.
DRAIN_LIMIT = 32
DATAGRAM_MAX = 9216  # bytes read per datagram when draining; media datagrams are MTU-sized

# socket(7): SIOCGSTAMP (linux/sockios.h) returns the kernel's receive time of the datagram last
# read from a socket, as a struct timeval in CLOCK_REALTIME. Read right after each datagram (by
# asyncio's or uvloop's read, then ours when draining), it is that datagram's arrival however
# late the event loop got to it.
_SIOCGSTAMP = 0x8906
_TIMEVAL = struct.Struct("@qq")

# pylibsrtp's C binding (no type stubs): Session.protect/unprotect allocate an ``int *`` and
# re-check types on every packet; SrtpContext calls the same libsrtp functions without that.
_SRTP_BINDING: Any = importlib.import_module("pylibsrtp._binding")
_SRTP_RTP_TRAILER: int = importlib.import_module("pylibsrtp").SRTP_MAX_TRAILER_LEN
_SRTP_RTCP_TRAILER: int = importlib.import_module("pylibsrtp").SRTP_MAX_SRTCP_TRAILER_LEN


class SrtpContext:
    """One ``pylibsrtp.Session`` (aiortc's per-direction SRTP context) driven through libsrtp
    directly, reusing the session's own buffer: the same work as ``Session.protect`` & co. minus
    their per-call allocation and checks. Raises ``SrtpError`` / ``ValueError`` as they do."""

    def __init__(self, session: Any) -> None:
        self.session: Any = session  # keeps the C context alive
        self._ctx: Any = session._srtp[0]
        self._cdata: Any = session._cdata
        self._buffer: Any = session._buffer
        self._size: int = len(session._cdata)  # room for one packet and its trailer
        self._length: Any = _SRTP_BINDING.ffi.new("int *")
        # Looked up once: attribute reads on cffi's lib object are not free.
        lib = _SRTP_BINDING.lib
        self._protect: Any = lib.srtp_protect
        self._protect_rtcp: Any = lib.srtp_protect_rtcp
        self._unprotect: Any = lib.srtp_unprotect
        self._unprotect_rtcp: Any = lib.srtp_unprotect_rtcp

    def _apply(self, function: Any, data: bytes, room: int) -> bytes:
        size = len(data)
        if size > self._size - room:
            raise ValueError("packet is too long")
        self._buffer[0:size] = data
        length = self._length
        length[0] = size
        status = function(self._ctx, self._cdata, length)
        if status:
            raise SrtpError(f"libsrtp status {status}")
        result: bytes = self._buffer[0 : length[0]]
        return result

    def protect(self, data: bytes) -> bytes:
        """RTP or RTCP (RFC 5761 §4: second byte 192..208 is RTCP) -> SRTP or SRTCP."""
        if 191 < data[1] < 209:
            return self._apply(self._protect_rtcp, data, _SRTP_RTCP_TRAILER)
        return self._apply(self._protect, data, _SRTP_RTP_TRAILER)

    def unprotect_rtp(self, data: bytes) -> bytes:
        return self._apply(self._unprotect, data, 0)

    def unprotect_rtcp(self, data: bytes) -> bytes:
        return self._apply(self._unprotect_rtcp, data, 0)


class PeerIo:
    """The packet I/O of one peer connection: where its decrypted packets go (``on_rtp``,
    ``on_rtcp``) and how packets are sent to it (:meth:`send`). The adapter sets ``transport``
    (the BUNDLE ``RTCDtlsTransport``), ``nominated`` (its ICE connection's nominated pairs by
    component) and ``locate`` once the transport exists, and clears ``transport`` on close."""

    def __init__(self, label: str, connected: object, locate: Locate) -> None:
        self.label = label
        self.on_rtp: PacketHandler | None = None
        self.on_rtcp: PacketHandler | None = None
        self.srtp_errors = 0  # datagrams that failed SRTP authentication / decryption
        # Transport-wide congestion control (media/sfu/transport_cc.py): the header extension id
        # of the transport-wide sequence number (0: not negotiated) and where each RTP packet's
        # (sequence, arrival) goes. Recorded here, as the datagram leaves the socket, with the
        # kernel's receive time: the sender's delay-based estimator reads queueing from these
        # arrivals, and a busy event loop that reads a burst late must not look like a queue
        # building up on the path (it did on a loaded machine: the browser's estimate fell to
        # half while the link was idle).
        self.transport_cc_id = 0
        self.transport_feedback: TransportFeedbackBuilder | None = None
        self.transport: Any = None
        self.nominated: dict[int, Any] = {}
        self._connected = connected  # aiortc's DtlsState.CONNECTED
        self._locate = locate
        # The nominated pair and SRTP session last sent with, and what they resolve to:
        # re-resolved only when ICE nominates another pair or DTLS re-keys.
        self._pair: object = None
        self._session: object = None
        self._srtp: SrtpContext | None = None
        self._sock: Any = None
        self._datagrams: Any = None
        self._addr: Any = None
        self._queued = False  # packets of ours may be waiting in asyncio's transport

    def forget_egress(self) -> None:
        self._pair = self._session = self._srtp = None
        self._sock = self._datagrams = self._addr = None
        self._queued = False

    def send(self, data: bytes) -> bool:
        """SRTP-protect and send one RTP packet or compound RTCP packet, synchronously (no await,
        no task switch: the hot path calls this once per packet per subscriber); False if the
        transport is not (or no longer) connected."""
        transport = self.transport
        if transport is None or transport._state is not self._connected:
            return False
        pair = self.nominated.get(1)
        if pair is None:
            return False
        session = transport._tx_srtp
        srtp = self._srtp
        if srtp is None or pair is not self._pair or session is not self._session:
            srtp = SrtpContext(session)
            self._sock, self._datagrams, self._addr = self._locate(pair)
            self._queued = True  # a new transport: ask it once whether it holds a queue
            self._srtp, self._pair, self._session = srtp, pair, session
        try:
            protected = srtp.protect(data)
        except (SrtpError, ValueError, IndexError):  # too long/short for SRTP
            return False
        sock = self._sock
        # Straight to the socket unless our packets are queued in asyncio's transport (a full
        # socket buffer earlier): then behind them, in order, until that queue has drained.
        # Asked only then, not per packet (get_write_buffer_size is a Python-level call).
        if sock is not None and (not self._queued or not self._datagrams.get_write_buffer_size()):
            self._queued = False
            try:
                sock.sendto(protected, self._addr)
                return True
            except (BlockingIOError, InterruptedError):
                pass  # socket buffer full: asyncio's transport queues it below
            except OSError:
                return False
        self._queued = True
        self._datagrams.sendto(protected, self._addr)  # queued behind earlier datagrams, in order
        return True

    def dispatch(self, handler: PacketHandler | None, data: bytes, now: float) -> None:
        """Run a packet handler; its failure must not reach asyncio's datagram transport, which
        would close the socket on an exception from ``datagram_received``."""
        if handler is None:
            return
        try:
            handler(data, now)
        except Exception:
            logger.exception("%s: packet handler failed", self.label)


class SocketReader:
    """Stands in for one ICE socket's ``StunProtocol.datagram_received``: once the DTLS
    handshake has produced the SRTP keys, media skips aioice's STUN parse, its per-datagram
    ``asyncio.Queue`` and aiortc's receive task, is decrypted here and handed to the peer's
    handler as bytes; STUN and DTLS (and media before the keys exist) go ``stun_path``."""

    def __init__(
        self,
        io: PeerIo,
        transport: Any,
        stun_path: Callable[[Any, Any], None],
        sock: Any,
        stamp_fd: int = -1,
    ) -> None:
        self._io = io
        self._transport = transport
        self._stun_path = stun_path
        self._sock = sock  # our raw socket under the protocol, for draining; None if not ours
        self._rx: SrtpContext | None = None  # the transport's receiving context, once it exists
        # The socket each datagram handed to this reader was last read from (its own, or the
        # shared one of --rtc-udp-port), for the kernel's receive time; -1: none.
        self._stamp_fd = stamp_fd
        self._stamp = bytearray(_TIMEVAL.size)
        if stamp_fd >= 0:
            # The first SIOCGSTAMP switches the socket's timestamps on (ENOENT until then).
            with contextlib.suppress(OSError):
                fcntl.ioctl(stamp_fd, _SIOCGSTAMP, self._stamp, True)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self._receive(data, addr)
        sock = self._sock
        if sock is None:
            return
        for _ in range(DRAIN_LIMIT):
            try:
                data, addr = sock.recvfrom(DATAGRAM_MAX)
            except OSError:  # drained (EAGAIN), or an error asyncio's next read reports
                return
            self._receive(data, addr)

    def _receive(self, data: bytes, addr: Any) -> None:
        # RFC 7983 §7: a first byte of 128..191 is RTP/RTCP; STUN (0..3) and DTLS (20..63)
        # take aioice's path, and so does media before the handshake produced SRTP keys
        # (aiortc drops it there, as it always did).
        rx = self._rx
        if rx is None or len(data) < 12 or not 127 < data[0] < 192:
            session = self._transport._rx_srtp
            if session is None or len(data) < 12 or not 127 < data[0] < 192:
                self._stun_path(data, addr)
                return
            rx = self._rx = SrtpContext(session)
        now = time.monotonic()
        io = self._io
        rtcp = 191 < data[1] < 209  # RFC 5761 §4
        try:
            if rtcp:
                packet, handler = rx.unprotect_rtcp(data), io.on_rtcp
            else:
                packet, handler = rx.unprotect_rtp(data), io.on_rtp
        except (SrtpError, ValueError):  # forged, replayed or oversized: dropped
            io.srtp_errors += 1
            return
        if handler is None:
            return
        tcc_id = io.transport_cc_id
        if tcc_id and not rtcp:
            # Every RTP packet of the transport counts, RTX and padding probes included,
            # routable or not (draft-holmer-rmcat-transport-wide-cc-extensions-01 §2).
            transport_seq = read_transport_sequence(packet, tcc_id)
            builder = io.transport_feedback
            if transport_seq >= 0 and builder is not None:
                builder.record(transport_seq, int(self._arrival(now) * 1_000_000.0))
        try:
            handler(packet, now)
        except Exception:
            # Never let it reach asyncio's datagram transport: it would close the socket.
            logger.exception("%s: packet handler failed", io.label)

    def _arrival(self, now: float) -> float:
        """The kernel's receive time of the datagram just read, on the monotonic clock of
        ``now`` (never after it); ``now`` when the kernel has none (the first datagram since
        the socket's timestamps were switched on: SIOCGSTAMP switches them on)."""
        fd = self._stamp_fd
        if fd < 0:
            return now
        stamp = self._stamp
        try:
            fcntl.ioctl(fd, _SIOCGSTAMP, stamp, True)
        except OSError:
            return now
        seconds, micros = _TIMEVAL.unpack_from(stamp)
        arrival = seconds + micros * 1e-6 - (time.time() - now)
        return arrival if arrival < now else now


class Demultiplexer:
    """The datagram protocol of one UDP socket that every peer shares (``--rtc-udp-port``,
    :mod:`liveloop_sfu.media.transport.udp_mux`): each datagram goes to the ICE protocol of the
    peer that its remote address belongs to.

    ``routes`` maps a remote ``(host, port)`` to that peer's protocol (whose
    ``datagram_received`` is the peer's :class:`SocketReader` once hooked); the mux fills it.
    STUN (RFC 7983 §7: first byte 0..3) always goes to ``stun``, which routes by the USERNAME
    of a request (RFC 8445 §7.2.2: the node's own ufrag comes first) and by transaction for a
    response: a known address may start a new ICE session (a restart), and a new address is
    only ever learnt from STUN that names a peer. Anything else from an unknown address is
    dropped and counted. Like :class:`SocketReader`, drains up to :data:`DRAIN_LIMIT` queued
    datagrams per wake-up when given the raw socket (asyncio's selector loop)."""

    def __init__(self, stun: Callable[[bytes, Any], None], sock: Any) -> None:
        self.routes: dict[Any, Any] = {}
        self.dropped = 0  # datagrams from no known peer
        self.transport: Any = None
        self.on_lost: Callable[[], None] | None = None
        self._stun = stun
        self._sock = sock

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        on_lost = self.on_lost
        if on_lost is not None:
            on_lost()

    def error_received(self, exc: Exception) -> None:
        # ICMP errors (a peer that went away) concern one peer, never the shared socket.
        pass

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self._one(data, addr)
        sock = self._sock
        if sock is None:
            return
        for _ in range(DRAIN_LIMIT):
            try:
                data, addr = sock.recvfrom(DATAGRAM_MAX)
            except OSError:
                return
            self._one(data, addr)

    def _one(self, data: bytes, addr: Any) -> None:
        if len(addr) != 2:  # IPv6: (host, port, flowinfo, scope_id)
            addr = (addr[0], addr[1])
        try:
            if data and data[0] < 4:
                self._stun(data, addr)
                return
            protocol = self.routes.get(addr)
            if protocol is None:
                self.dropped += 1
                return
            protocol.datagram_received(data, addr)
        except Exception:
            # Never let it reach asyncio's datagram transport: it would close every peer's socket.
            logger.exception("shared media socket: datagram from %s failed", addr)
