"""--rtc-udp-port: every peer's ICE, DTLS and SRTP through one socket of the node."""

from __future__ import annotations

import asyncio
import socket

import pytest

from benchmarks.media.synthetic import SyntheticPeer
from liveloop_sfu.media.settings import MediaSettings
from liveloop_sfu.media.transport.peer import NodePeer
from liveloop_sfu.media.transport.udp_mux import shared_mux
from tests.helpers import until
from tests.integration.network.test_node_peer import CANDIDATE, free_udp_port

pytestmark = pytest.mark.slow


class Call:
    """One synthetic browser sending video to one node peer."""

    def __init__(self, settings: MediaSettings, label: str) -> None:
        self.client = SyntheticPeer(audio=False)
        self.node = NodePeer(settings, label=label)
        self.packets = 0
        self.connected = asyncio.Event()

    def _count(self, data: bytes, now: float) -> None:
        self.packets += 1

    async def start(self) -> str:
        self.node.on_state = lambda state: self.connected.set() if state == "connected" else None
        self.node.on_rtp = self._count
        answer = await self.node.answer(
            await self.client.create_offer(),
            lambda slots: {mid: ("partner", f"partner-{kind}") for mid, kind in slots},
        )
        await self.client.accept_answer(answer)
        return answer

    async def close(self) -> None:
        await self.node.close()
        await self.client.close()


async def test_two_calls_share_one_udp_port() -> None:
    port = free_udp_port()
    settings = MediaSettings(udp_port=port)
    first, second = Call(settings, "first"), Call(settings, "second")
    try:
        answers = [await first.start(), await second.start()]
        # Both answers offer the same one port; nothing else is bound for media.
        for answer in answers:
            assert CANDIDATE.findall(answer) == [("127.0.0.1", str(port), "host")]
        await asyncio.wait_for(first.connected.wait(), 15)
        await asyncio.wait_for(second.connected.wait(), 15)
        # Each peer gets its own media, decrypted with its own keys.
        await until(lambda: first.packets > 50 and second.packets > 50, timeout=15)

        # A stranger spraying the shared port (DTLS-looking, RTP-looking, bad STUN) is dropped
        # without disturbing either call.
        mux = await shared_mux("127.0.0.1", port)
        dropped = mux.dropped
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stranger:
            for payload in (b"\x16\xfe\xfd" + bytes(40), b"\x80\x60" + bytes(30), b"\x00\x01"):
                stranger.sendto(payload, ("127.0.0.1", port))
        await until(lambda: mux.dropped >= dropped + 3, timeout=5)
        before = (first.packets, second.packets)
        await until(lambda: first.packets > before[0] + 30 and second.packets > before[1] + 30)

        # One call ends; the other keeps its media on the same socket.
        await first.close()
        before_second = second.packets
        await until(lambda: second.packets > before_second + 30, timeout=10)
        assert mux.peers == 1
    finally:
        await first.close()
        await second.close()
    # The last peer gone, the port is released.
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", port))
