"""The node's peer connection: the addresses, ports and ICE servers the operator chose."""

from __future__ import annotations

import asyncio
import re
import socket

import pytest

from benchmarks.media.synthetic import SyntheticPeer
from liveloop_sfu.errors import Capacity
from liveloop_sfu.media.settings import MediaSettings
from liveloop_sfu.media.transport.peer import NodePeer

pytestmark = pytest.mark.slow

CANDIDATE = re.compile(r"a=candidate:\S+ 1 udp \d+ (\S+) (\d+) typ (\w+)")


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def answer_with(settings: MediaSettings) -> tuple[NodePeer, SyntheticPeer, str]:
    client = SyntheticPeer(audio=False)
    node = NodePeer(settings, label="test")
    answer = await node.answer(
        await client.create_offer(),
        lambda slots: {mid: ("partner", f"partner-{kind}") for mid, kind in slots},
    )
    return node, client, answer


async def test_candidates_use_the_port_range_and_the_announced_address() -> None:
    port = free_udp_port()
    settings = MediaSettings(port_min=port, port_max=port, announced_ip="203.0.113.7")
    node, client, answer = await answer_with(settings)
    try:
        # One host candidate: the announced address, the only port of the range. No STUN/TURN
        # server was configured, so no server-reflexive or relayed candidate either.
        assert CANDIDATE.findall(answer) == [("203.0.113.7", str(port), "host")]
        # The socket itself is bound to the configured local address.
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with probe, pytest.raises(OSError, match="in use"):
            probe.bind(("127.0.0.1", port))
        # The range is exhausted: the next peer cannot get a media port.
        other_client = SyntheticPeer(audio=False)
        other_node = NodePeer(settings, label="second")
        try:
            with pytest.raises(Capacity):
                await other_node.answer(await other_client.create_offer(), lambda slots: {})
        finally:
            await other_node.close()
            await other_client.close()
    finally:
        await node.close()
        await node.close()  # idempotent
        await client.close()


async def test_a_call_connects_through_a_port_range() -> None:
    port = free_udp_port()
    node, client, answer = await answer_with(MediaSettings(port_min=port, port_max=port + 20))
    # The node (DTLS client when the offer says actpass) may finish its handshake a moment after
    # the client: wait for its own "connected" event rather than racing it.
    node_connected = asyncio.Event()
    node.on_state = lambda state: node_connected.set() if state == "connected" else None
    try:
        ports = [int(p) for _, p, _ in CANDIDATE.findall(answer)]
        assert ports and all(port <= p <= port + 20 for p in ports)
        await client.accept_answer(answer)
        await client.wait_connected()
        await asyncio.wait_for(node_connected.wait(), 10)
        assert node.state == "connected"
        assert {line.kind for line in node.media} == {"video"}
    finally:
        await node.close()
        await client.close()
