"""The node's public address, asked of a STUN server once at start (``--announced-ip auto``).

A node behind 1:1 NAT (a cloud VM with a private address and an elastic one) must write the
public address into its ICE candidates. Rather than the operator looking it up, the node sends a
STUN Binding request (RFC 8489 §6) from the address it offers media on and reads the
XOR-MAPPED-ADDRESS of the answer: the source address the NAT gave it, which is where browsers
can send. Retransmissions follow RFC 8489 §6.2.1 (aioice's :class:`~aioice.stun.Transaction`,
public API). One query at start, not one per call like aioice's server-reflexive gathering.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Sequence
from typing import Any, cast

from aioice import stun

log = logging.getLogger(__name__)

# Transmissions at 0.5, 1, 2 and 4 s after the first: up to 7.5 s per server before giving up.
RETRANSMISSIONS = 3


class PublicAddressUnknown(Exception):
    """No STUN server answered; the message names the servers asked."""


class _StunClient(asyncio.DatagramProtocol):
    """Sends Binding requests and hands each answer to the transaction that asked."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.pending: dict[bytes, stun.Transaction] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's UDP transport has sendto but is no asyncio.DatagramTransport subclass.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        try:
            message = stun.parse_message(data)
        except ValueError:
            return  # not STUN: whoever sent it is ignored
        transaction = self.pending.get(message.transaction_id)
        if transaction is not None and message.message_class in (
            stun.Class.RESPONSE,
            stun.Class.ERROR,
        ):
            transaction.response_received(message, (addr[0], addr[1]))

    def send_stun(self, message: stun.Message, addr: tuple[str, int]) -> None:
        if self.transport is not None:
            self.transport.sendto(bytes(message), addr)


def _bind_address(family: int, offered: Sequence[str]) -> str:
    """The offered address of ``family`` the media will use (its NAT mapping is the one that
    matters), or the wildcard when only loopback is offered."""
    for address in offered:
        ip = ipaddress.ip_address(address)
        if (ip.version == 6) == (family == socket.AF_INET6) and not ip.is_loopback:
            return address
    return "::" if family == socket.AF_INET6 else "0.0.0.0"


async def _ask(server: tuple[str, int], offered: Sequence[str]) -> str:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(server[0], server[1], type=socket.SOCK_DGRAM)
    if not infos:
        raise OSError(f"{server[0]} does not resolve")
    family, _, _, _, target = infos[0]
    local = _bind_address(family, offered)
    transport, client = await loop.create_datagram_endpoint(
        _StunClient, local_addr=(local, 0), family=family
    )
    try:
        request = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
        destination = (str(target[0]), int(target[1]))
        transaction = stun.Transaction(
            request, destination, client, retransmissions=RETRANSMISSIONS
        )
        client.pending[request.transaction_id] = transaction
        response, _ = await transaction.run()
    finally:
        transport.close()
    mapped = response.attributes.get("XOR-MAPPED-ADDRESS") or response.attributes.get(
        "MAPPED-ADDRESS"
    )
    if not mapped:
        raise OSError("the answer carries no mapped address")
    public = str(ipaddress.ip_address(mapped[0]))
    log.info(
        "--announced-ip auto: STUN server %s:%s sees this node (local %s) as %s",
        *server,
        local,
        public,
    )
    return public


async def public_address(servers: Sequence[tuple[str, int]], offered: Sequence[str]) -> str:
    """The address the first answering STUN server of ``servers`` (host, port) sees the node's
    media address at. Raises :class:`PublicAddressUnknown` when none answers."""
    failures = []
    for server in servers:
        try:
            return await _ask(server, offered)
        except (OSError, stun.TransactionError, ValueError) as exc:
            failures.append(f"{server[0]}:{server[1]} ({exc or type(exc).__name__})")
    raise PublicAddressUnknown("no STUN server answered: " + ", ".join(failures))
