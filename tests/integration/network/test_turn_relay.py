"""Restrictive NATs: a browser that can only use a TURN relay still gets its call.

A real coturn (Debian ``coturn``) runs on loopback with ``use-auth-secret``; the node hands out
TURN REST credentials in ``match-done.iceServers``; one aiortc client with
``iceTransportPolicy=relay`` (no host or server-reflexive candidates at all) takes exactly those
credentials and completes a call through the node.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCIceServer,
    RTCIceTransportPolicy,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamTrack

from benchmarks.media.synthetic import CounterLog, CounterVideoTrack, SyntheticPeer, ToneAudioTrack
from benchmarks.media.synthetic import read_frames as read_counter_frames
from liveloop_sfu.client import WireClient
from tests.coturn import SECRET, loopback_coturn
from tests.helpers import until
from tests.nodes import NodeFactory

pytestmark = pytest.mark.slow

CANDIDATE_TYPES = re.compile(r"a=candidate:\S+ \d+ udp \d+ \S+ \d+ typ (\w+)")


@pytest.fixture
def coturn(tmp_path: Path) -> Iterator[int]:
    with loopback_coturn(tmp_path) as port:
        yield port


class RelayOnlyPeer:
    """A browser behind a NAT that lets nothing through but its TURN server's relay."""

    def __init__(self, ice_servers: list[dict[str, Any]]) -> None:
        servers = [RTCIceServer(**server) for server in ice_servers]
        self.pc = RTCPeerConnection(
            RTCConfiguration(
                iceServers=servers,
                iceTransportPolicy=RTCIceTransportPolicy.RELAY,
                bundlePolicy=RTCBundlePolicy.MAX_BUNDLE,
            )
        )
        self.video = CounterVideoTrack(first=20_000)
        self.pc.addTrack(ToneAudioTrack())
        self.pc.addTrack(self.video)
        self.log = CounterLog()
        self._tasks: list[asyncio.Task[None]] = []
        self.pc.on("track", self._on_track)

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "video":
            self._tasks.append(asyncio.create_task(read_counter_frames(track, self.log)))

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.pc.close(), 5)


async def wait_frames(log: CounterLog, count: int, timeout: float = 20) -> None:
    await until(lambda: len(log.counters) >= count, timeout)


async def test_relay_only_client_calls_through_coturn(
    node_factory: NodeFactory, coturn: int
) -> None:
    node = node_factory(
        "--mode",
        "sfu",
        "--turn-urls",
        f"turn:127.0.0.1:{coturn}?transport=udp",
        "--turn-secret",
        SECRET,
        "--turn-ttl",
        "300",
    )
    alice_wire = await WireClient(node.url).connect()
    bob_wire = await WireClient(node.url).connect()
    alice: RelayOnlyPeer | None = None
    bob = SyntheticPeer()
    try:
        await alice_wire.request_room("alice")
        await bob_wire.request_room("bob")
        alice_match = await alice_wire.next("match-done")
        await bob_wire.next("match-done")

        alice = RelayOnlyPeer(alice_match["iceServers"])
        offer = await alice.offer()
        # Only relayed candidates: the node can reach alice through coturn and no other way.
        assert set(CANDIDATE_TYPES.findall(offer)) == {"relay"}, offer
        await alice_wire.call("negotiation-call-offer", {"sdp": {"type": "offer", "sdp": offer}})
        answer = await alice_wire.next("negotiation-call-answer")
        await alice.pc.setRemoteDescription(RTCSessionDescription(answer["sdp"]["sdp"], "answer"))

        await bob_wire.call(
            "negotiation-call-offer", {"sdp": {"type": "offer", "sdp": await bob.create_offer()}}
        )
        await bob.accept_answer((await bob_wire.next("negotiation-call-answer"))["sdp"]["sdp"])

        await wait_frames(alice.log, 20)
        await wait_frames(bob.video_log, 20)
        assert min(bob.video_log.counters) >= 20_000  # alice's frames, through the relay
        assert alice.log.in_order() and bob.video_log.in_order()
        pair = alice.pc.getTransceivers()[0].receiver.transport.transport._connection
        assert {p.local_candidate.type for p in pair._nominated.values()} == {"relay"}
    finally:
        if alice is not None:
            await alice.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(bob.close(), 5)
        await alice_wire.close()
        await bob_wire.close()


async def test_coturn_refuses_a_forged_or_expired_credential(coturn: int) -> None:
    from liveloop_sfu.rooms.turn import TurnCredentials

    url = f"turn:127.0.0.1:{coturn}?transport=udp"
    forged = TurnCredentials((url,), "not-the-shared-secret").ice_server("mallory", 1e10)
    expired = TurnCredentials((url,), SECRET, ttl=60).ice_server("mallory", 1_000_000_000)
    for server in (forged, expired):
        peer = RelayOnlyPeer([server])
        try:
            offer = await asyncio.wait_for(peer.offer(), 15)
            assert CANDIDATE_TYPES.findall(offer) == []  # no allocation, so no candidate
        finally:
            await peer.close()
