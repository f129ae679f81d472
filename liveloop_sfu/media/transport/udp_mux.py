"""One UDP port for every peer's media (``--rtc-udp-port``), so a firewall or a Kubernetes service
needs one rule, as LiveKit's ``udp_port`` and mediasoup's WebRtcServer allow.

Every peer's ICE, DTLS and SRTP share one socket per local address. The node's ICE agent of each
peer (an aioice ``Connection``) gets a :class:`MuxedStunProtocol` instead of a socket of its own;
its transport (:class:`_PeerTransport`) sends through the shared socket and registers nothing
else. Incoming datagrams are demultiplexed (the compiled
:class:`~.srtp.packet_io.Demultiplexer`):

1. STUN binding requests by their USERNAME attribute (RFC 8445 §7.2.2: ``<receiver's
   ufrag>:<sender's ufrag>``, so the node's own ufrag comes first; RFC 5389 §15.3): the peer
   whose ICE agent has that local ufrag owns the datagram, and its remote address is learnt
   (aioice still checks MESSAGE-INTEGRITY, RFC 8445 §7.3, before it pairs anything);
2. STUN responses (no USERNAME) by transaction id, among the peers that sent to that address;
3. everything else (DTLS, SRTP, SRTCP) by remote address, learnt in step 1 or when a peer
   sends to it.

The socket is opened when the first peer gathers and closed when the last one leaves, so a
node (and a test's event loop) holds no socket while no call uses it.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
import weakref
from typing import Any, cast

from aioice import Connection, ice, turn

from liveloop_sfu.errors import InternalError
from liveloop_sfu.media.transport.srtp.packet_io import Demultiplexer

logger = logging.getLogger("liveloop_sfu.media.transport.peer")

__all__ = ["MuxedStunProtocol", "UdpMux", "shared_mux", "stun_username"]

_STUN_MAGIC = 0x2112A442  # RFC 5389 §6
_USERNAME = 0x0006  # RFC 5389 §15.3
_HEADER = struct.Struct("!HHI12s")
_ATTRIBUTE = struct.Struct("!HH")


def stun_username(data: bytes) -> str | None:
    """The USERNAME attribute of a STUN message (RFC 5389 §6, §15), or None when there is none
    or ``data`` is not a well-formed STUN message."""
    if len(data) < 20:
        return None
    message_type, length, magic, _ = _HEADER.unpack_from(data)
    if magic != _STUN_MAGIC or message_type & 0xC000 or len(data) < 20 + length:
        return None
    offset, end = 20, 20 + length
    while offset + 4 <= end:
        kind, size = _ATTRIBUTE.unpack_from(data, offset)
        offset += 4
        if offset + size > end:
            return None
        if kind == _USERNAME:
            try:
                return data[offset : offset + size].decode("utf-8")
            except UnicodeDecodeError:
                return None
        offset += (size + 3) & ~3  # attributes are padded to 32 bits
    return None


def stun_is_response(data: bytes) -> bool:
    """A success or error response (RFC 5389 §6: class bits C1 C0 = 1x in the message type)."""
    return len(data) >= 20 and bool(data[0] & 0x01)


def transaction_id(data: bytes) -> bytes:
    return data[8:20]


class MuxedStunProtocol(ice.StunProtocol):
    """aioice's per-socket protocol, for one peer on the shared socket. Like
    :class:`~.ice_gathering.GuardedStunProtocol`, DTLS and SRTP pass on only from addresses
    ICE has paired with (the mux routes by address, the guard checks the pair)."""

    def datagram_received(self, data: bytes | str, addr: tuple[Any, ...]) -> None:
        if not isinstance(data, bytes) or not data:
            return
        if data[0] > 3 and not any(pair.remote_addr == addr for pair in self.receiver._check_list):
            return
        super().datagram_received(data, addr)


class _PeerTransport(asyncio.DatagramTransport):
    """What one :class:`MuxedStunProtocol` sees as its transport: sends go out of the shared
    socket, and sending to an address routes that address's replies back to this peer."""

    def __init__(self, mux: UdpMux, protocol: MuxedStunProtocol) -> None:
        super().__init__()
        self._mux = mux
        self._protocol = protocol
        self._closing = False

    def sendto(self, data: Any, addr: Any = None) -> None:
        if self._closing:
            return
        self._mux.learn(addr, self._protocol)
        self._mux.transport.sendto(data, addr)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._mux.transport.get_extra_info(name, default)

    def get_write_buffer_size(self) -> int:
        size: int = self._mux.transport.get_write_buffer_size()
        return size

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._mux.detach(self._protocol)
        # As asyncio does for a real socket: connection_lost on the next loop iteration.
        asyncio.get_running_loop().call_soon(self._protocol.connection_lost, None)

    def abort(self) -> None:
        self.close()


class UdpMux:
    """The shared socket on one local address and port, and which peer owns what."""

    def __init__(self, address: str, port: int) -> None:
        self.address = address
        self.port = port
        self.transport: Any = None
        self.sock: socket.socket | None = None
        self._demux: Demultiplexer | None = None
        self._by_ufrag: dict[str, MuxedStunProtocol] = {}
        self._peers: dict[int, MuxedStunProtocol] = {}
        self.closed: asyncio.Future[None] | None = None

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in self.address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, turn.UDP_SOCKET_BUFFER_SIZE)
            sock.bind((self.address, self.port))
        except OSError as exc:
            sock.close()
            raise InternalError(
                f"cannot bind the shared media port {self.address}:{self.port}: {exc}"
            ) from exc
        drain = sock if isinstance(loop, asyncio.SelectorEventLoop) else None
        demux = Demultiplexer(self._stun, drain)
        closed: asyncio.Future[None] = loop.create_future()

        def lost() -> None:
            if not closed.done():
                closed.set_result(None)

        demux.on_lost = lost
        self.closed = closed
        # The compiled Demultiplexer is a datagram protocol by shape, not by base class.
        await loop.create_datagram_endpoint(
            lambda: cast(asyncio.DatagramProtocol, demux), sock=sock
        )
        self._demux, self.sock, self.transport = demux, sock, demux.transport

    @property
    def dropped(self) -> int:
        """Datagrams that came from no known peer."""
        return self._demux.dropped if self._demux is not None else 0

    @property
    def peers(self) -> int:
        return len(self._peers)

    def attach(self, connection: Connection, component: int) -> MuxedStunProtocol:
        """A protocol for ``connection``'s ``component`` on the shared socket."""
        protocol = MuxedStunProtocol(connection)
        protocol.connection_made(_PeerTransport(self, protocol))
        self._peers[id(protocol)] = protocol
        # RTP/RTCP are multiplexed on component 1 (RFC 5761); a second component would need
        # its own ufrag and is never gathered by the node (BUNDLE + rtcp-mux only).
        self._by_ufrag[connection.local_username] = protocol
        return protocol

    def learn(self, addr: Any, protocol: MuxedStunProtocol) -> None:
        if self._demux is not None and addr is not None:
            self._demux.routes[(addr[0], addr[1])] = protocol

    def detach(self, protocol: MuxedStunProtocol) -> None:
        self._peers.pop(id(protocol), None)
        self._by_ufrag = {u: p for u, p in self._by_ufrag.items() if p is not protocol}
        demux = self._demux
        if demux is not None:
            demux.routes = {a: p for a, p in demux.routes.items() if p is not protocol}
        if not self._peers:
            self.close()

    def close(self) -> None:
        _forget(self)
        if self.transport is not None:
            self.transport.close()
            self.transport = None

    def _stun(self, data: bytes, addr: Any) -> None:
        demux = self._demux
        if demux is None:
            return
        routes = demux.routes
        protocol: MuxedStunProtocol | None = None
        if stun_is_response(data):
            protocol = self._awaiting(transaction_id(data), routes.get(addr))
        else:
            username = stun_username(data)
            if username is not None:
                protocol = self._by_ufrag.get(username.split(":", 1)[0])
                if protocol is not None:
                    routes[addr] = protocol
            else:  # an indication (e.g. a keepalive) on a known address
                protocol = routes.get(addr)
        if protocol is None:
            demux.dropped += 1
            return
        protocol.datagram_received(data, addr)

    def _awaiting(
        self, transaction: bytes, likely: MuxedStunProtocol | None
    ) -> MuxedStunProtocol | None:
        """The peer whose STUN transaction this response answers: usually the one that sent
        to that address last; several peers may ask the same STUN server, so look further."""
        if likely is not None and transaction in likely.transactions:
            return likely
        return next((p for p in self._peers.values() if transaction in p.transactions), None)


# Open muxes by event loop, then (address, port): a node has one loop; tests start several.
_MUXES: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[tuple[str, int], asyncio.Future[UdpMux]]
] = weakref.WeakKeyDictionary()
# Muxes whose socket is closing (asyncio closes it on the next loop iteration): a new one on the
# same port binds after that.
_CLOSING: weakref.WeakSet[UdpMux] = weakref.WeakSet()


def _forget(mux: UdpMux) -> None:
    _CLOSING.add(mux)
    for muxes in _MUXES.values():
        opening = muxes.get((mux.address, mux.port))
        if (
            opening is not None
            and opening.done()
            and not opening.exception()
            and opening.result() is mux
        ):
            del muxes[(mux.address, mux.port)]


async def shared_mux(address: str, port: int) -> UdpMux:
    """The open shared socket on ``address:port`` in this event loop, opened if needed (after a
    previous one on the same port has finished closing). Peers gathering at the same time share
    one opening."""
    loop = asyncio.get_running_loop()
    muxes = _MUXES.setdefault(loop, {})
    opening = muxes.get((address, port))
    if opening is None:
        opening = loop.create_future()
        muxes[(address, port)] = opening
        mux = UdpMux(address, port)
        try:
            for other in list(_CLOSING):
                if other.closed is not None and (other.address, other.port) == (address, port):
                    await other.closed
            await mux.open()
        except BaseException as exc:
            muxes.pop((address, port), None)
            if isinstance(exc, Exception):
                opening.set_exception(exc)
                opening.exception()  # retrieved: only the callers that wait see it
            else:
                opening.cancel()
            raise
        opening.set_result(mux)
    return await asyncio.shield(opening)
