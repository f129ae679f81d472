"""ICE candidate gathering on the operator's addresses, and the guarded media sockets.

aioice picks its own addresses and ports; the node must offer the operator's
(``settings.addresses``, loopback included), in the operator's UDP port range, under the
announced address, and its media sockets must not hand a stranger's datagrams to DTLS
(:class:`GuardedStunProtocol`). Apart from the adapter (:mod:`.peer`) because it has
one job of its own, used by the node's peers and by ordinary aiortc peers alike (test and
benchmark clients call :func:`restrict_gathering`). The aioice internals it touches are listed
in :data:`.hooks.REQUIRED_HOOKS` with the adapter's.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import random
import socket
import weakref
from typing import Any, ClassVar

from aioice import Candidate, Connection, ice, turn
from aioice.candidate import candidate_foundation, candidate_priority
from aiortc import RTCPeerConnection
from aiortc.rtcicetransport import RTCIceTransport

from liveloop_sfu.errors import Capacity, InternalError
from liveloop_sfu.media.settings import MediaSettings
from liveloop_sfu.media.transport.hooks import override
from liveloop_sfu.media.transport.udp_mux import MuxedStunProtocol, shared_mux

# The adapter's logger: these lines were always the adapter's, and operators filter on it.
logger = logging.getLogger("liveloop_sfu.media.transport.peer")

STUN_TIMEOUT = 5.0

# The socket under each ICE protocol this module bound (weak: it goes with its protocol).
_SOCKETS: weakref.WeakKeyDictionary[ice.StunProtocol, socket.socket] = weakref.WeakKeyDictionary()


def raw_socket(protocol: ice.StunProtocol) -> socket.socket | None:
    """Our own socket object under ``protocol``, if this module bound it (None otherwise)."""
    return _SOCKETS.get(protocol)


def drained_socket(protocol: ice.StunProtocol) -> socket.socket | None:
    """The socket a peer may drain itself: its own, never the shared one (``--rtc-udp-port``),
    whose datagrams belong to every peer and which the mux drains."""
    return None if isinstance(protocol, MuxedStunProtocol) else _SOCKETS.get(protocol)


def restrict_gathering(pc: RTCPeerConnection, settings: MediaSettings) -> None:
    """Make an ordinary aiortc peer (a test or benchmark client) gather only on
    ``settings.addresses``. Call it after adding tracks and before ``setLocalDescription``;
    give the peer ``RTCConfiguration(iceServers=[])`` so it asks no STUN server either."""
    seen: set[int] = set()
    for transceiver in pc.getTransceivers():
        ice_transport: RTCIceTransport = transceiver.receiver.transport.transport
        if id(ice_transport) not in seen:
            seen.add(id(ice_transport))
            install_gatherer(ice_transport._connection, settings)


def install_gatherer(connection: Connection, settings: MediaSettings) -> None:
    """Make ``connection`` offer the operator's addresses instead of aioice's own choice."""

    async def gather_candidates() -> None:
        if connection._local_candidates_start:
            return
        connection._local_candidates_start = True
        try:
            for component in sorted(connection._components):
                connection._local_candidates += await _gather_component(
                    connection, component, settings
                )
        finally:
            connection._local_candidates_end = True

    override(connection, "gather_candidates", gather_candidates)


async def _gather_component(
    connection: Connection, component: int, settings: MediaSettings
) -> list[Candidate]:
    candidates: list[Candidate] = []
    protocols: list[ice.StunProtocol] = []
    for address in settings.addresses:
        protocol: ice.StunProtocol
        if settings.udp_port is not None:
            mux = await shared_mux(address, settings.udp_port)
            protocol = mux.attach(connection, component)
            if mux.sock is not None:
                _SOCKETS[protocol] = mux.sock  # for sending only: the mux reads it
        else:
            protocol = await _bind(connection, address, settings)
        # Owned by the connection at once, so its close() releases it even if a later bind fails.
        connection._protocols.append(protocol)
        sockname = protocol.transport.get_extra_info("sockname")
        # The candidate names the announced address; the socket stays bound to the local one
        # (aioice only uses the candidate's address for logging and srflx bookkeeping).
        host = settings.announced_ip or sockname[0]
        protocol.local_candidate = Candidate(
            foundation=candidate_foundation("host", "udp", host),
            component=component,
            transport="udp",
            priority=candidate_priority(component, "host"),
            host=host,
            port=sockname[1],
            type="host",
        )
        protocols.append(protocol)
        candidates.append(protocol.local_candidate)
    candidates += await _server_candidates(connection, component, protocols)
    return candidates


async def _server_candidates(
    connection: Connection, component: int, protocols: list[ice.StunProtocol]
) -> list[Candidate]:
    """Server-reflexive (STUN) and relayed (TURN) candidates, only when the operator configured
    ICE servers for the node."""
    found: list[Candidate] = []
    stun_server = connection.stun_server
    if stun_server is not None:
        for protocol in protocols:
            try:
                candidate, _ = await asyncio.wait_for(
                    ice.server_reflexive_candidate(protocol, stun_server), STUN_TIMEOUT
                )
            except (TimeoutError, OSError, ConnectionError) as exc:
                logger.info("STUN query through %s failed: %s", stun_server, exc)
                continue
            found.append(candidate)
    if connection.turn_server is not None:
        # With no addresses aioice's own routine only allocates the TURN relay.
        found += await connection.get_component_candidates(component=component, addresses=[])
    return found


class GuardedStunProtocol(ice.StunProtocol):
    """A node media socket that passes DTLS/SRTP on only from the peer's ICE candidates.

    RFC 7983 demultiplexing by first byte: 0-3 is STUN, which aioice itself authenticates
    (MESSAGE-INTEGRITY, RFC 8445 §7.3) and which may legitimately come from a new address
    (peer-reflexive candidates). Anything else must come from an address ICE has paired with —
    a stranger's datagrams never reach DTLS — and must not be empty."""

    dropped: ClassVar[int] = 0  # datagrams refused, over every guarded socket of the process

    def datagram_received(self, data: bytes | str, addr: tuple[Any, ...]) -> None:
        if not isinstance(data, bytes) or not data:
            GuardedStunProtocol.dropped += 1
            return
        if data[0] > 3 and not self._from_paired((addr[0], addr[1])):
            GuardedStunProtocol.dropped += 1
            return
        super().datagram_received(data, addr)

    def _from_paired(self, addr: tuple[Any, Any]) -> bool:
        return any(pair.remote_addr == addr for pair in self.receiver._check_list)


async def _bind(connection: Connection, address: str, settings: MediaSettings) -> ice.StunProtocol:
    loop = asyncio.get_running_loop()
    if settings.port_min is None or settings.port_max is None:
        ports = [0]
    else:
        span = settings.port_max - settings.port_min + 1
        start = random.randrange(span)
        ports = [settings.port_min + (start + i) % span for i in range(span)]
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    for port in ports:
        # Our own socket object (asyncio only lends out a wrapper), so the node can read a burst
        # of datagrams in one go (see NodePeer._hook_protocol).
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, turn.UDP_SOCKET_BUFFER_SIZE)
            sock.bind((address, port))
        except OSError as exc:
            sock.close()
            if exc.errno == errno.EADDRINUSE and port != 0:
                continue
            raise InternalError(f"cannot bind a media socket on {address}: {exc}") from exc
        # Guarded: what is not SRTP for the hot path (NodePeer._hook_protocol) goes through the
        # guard's datagram_received before aioice sees it.
        _, protocol = await loop.create_datagram_endpoint(
            lambda: GuardedStunProtocol(connection), sock=sock
        )
        assert isinstance(protocol, ice.StunProtocol)
        _SOCKETS[protocol] = sock
        return protocol
    raise Capacity(f"no free UDP port on {address} in the configured media port range")
