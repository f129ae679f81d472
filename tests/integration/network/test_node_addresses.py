"""--announced-ip, --rtc-min-port/--rtc-max-port and --rtc-udp-port reach the node's answers
(through the CLI; tests/integration/network/test_node_peer.py and test_udp_mux.py cover the same
settings on a NodePeer directly), and a node whose media addresses browsers elsewhere cannot
reach says so."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from benchmarks.media.synthetic import SyntheticPeer
from liveloop_sfu.app import create_app
from liveloop_sfu.client import WireClient
from liveloop_sfu.config import load_settings
from tests.helpers import until
from tests.nodes import NodeFactory, free_port

pytestmark = pytest.mark.slow

CANDIDATE = re.compile(r"a=candidate:\S+ \d+ udp \d+ (\S+) (\d+) typ (\w+)")


async def test_answers_carry_the_announced_address_and_range_ports(
    node_factory: NodeFactory,
) -> None:
    low = free_port()
    node = node_factory(
        *("--mode", "sfu", "--announced-ip", "203.0.113.7"),
        *("--rtc-min-port", str(low), "--rtc-max-port", str(low + 9)),
    )
    clients = [await WireClient(node.url).connect() for _ in range(2)]
    peers = [SyntheticPeer(), SyntheticPeer()]
    try:
        for index, client in enumerate(clients):
            await client.request_room(f"user{index}")
        ports = set()
        for client, peer in zip(clients, peers, strict=True):
            await client.next("match-done")
            offer = {"sdp": {"type": "offer", "sdp": await peer.create_offer()}}
            await client.call("negotiation-call-offer", offer)
            answer = (await client.next("negotiation-call-answer"))["sdp"]["sdp"]
            candidates = CANDIDATE.findall(answer)
            assert candidates and {(ip, kind) for ip, _, kind in candidates} == {
                ("203.0.113.7", "host")
            }
            ports |= {int(port) for _, port, _ in candidates}
        assert len(ports) == 2 and all(low <= port <= low + 9 for port in ports)
    finally:
        for peer in peers:
            await peer.close()
        for client in clients:
            await client.close()


async def health_of(app: web.Application) -> tuple[int, dict[str, Any]]:
    """``GET /health`` of ``app`` served on a free loopback port."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://{host}:{port}/health") as response,
        ):
            return response.status, await response.json()
    finally:
        await runner.cleanup()


async def test_a_public_listener_with_loopback_media_warns_and_is_degraded(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A node configured to listen on every address but to offer media on loopback only: the
    operator is told at start, in words naming the fix, and /health says degraded, why. (Served
    here on loopback: the settings are what is tested, not the bind.)"""
    settings = load_settings(["--host", "0.0.0.0", "--media-addresses", "127.0.0.1"], {})
    with caplog.at_level("WARNING", logger="liveloop_sfu.app"):
        app = create_app(settings)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("offers media only on loopback" in w and "--media-addresses" in w for w in warnings)
    status, health = await health_of(app)
    assert status == 200  # liveness does not fail on it
    assert health["status"] == "degraded"
    assert [p["code"] for p in health["problems"]] == ["media-loopback-only"]
    assert "never connect" in health["problems"][0]["message"]


async def test_a_loopback_node_is_healthy() -> None:
    """The default node (loopback page, loopback media) has nothing to report."""
    status, health = await health_of(create_app(load_settings([], {})))
    assert (status, health["status"], health["problems"]) == (200, "ok", [])


async def test_a_call_through_one_shared_udp_port(node_factory: NodeFactory) -> None:
    """--rtc-udp-port: both participants' media reach the node on one port and each sees the
    other's video (ICE, DTLS and SRTP of both peers demultiplexed on one socket)."""
    port = free_port()
    node = node_factory("--mode", "sfu", "--rtc-udp-port", str(port))
    clients = [await WireClient(node.url).connect() for _ in range(2)]
    peers = [SyntheticPeer(audio=False), SyntheticPeer(audio=False)]
    try:
        for index, client in enumerate(clients):
            await client.request_room(f"user{index}")
        for client, peer in zip(clients, peers, strict=True):
            await client.next("match-done")
            offer = {"sdp": {"type": "offer", "sdp": await peer.create_offer()}}
            await client.call("negotiation-call-offer", offer)
            answer = (await client.next("negotiation-call-answer"))["sdp"]["sdp"]
            assert CANDIDATE.findall(answer) == [("127.0.0.1", str(port), "host")]
            await peer.accept_answer(answer)
        for peer in peers:
            await peer.wait_connected(timeout=15)
        await until(
            lambda: all(len(peer.video_log.counters) > 20 for peer in peers),
            timeout=20,
            what="each peer receives the other's video",
        )
    finally:
        for peer in peers:
            await peer.close()
        for client in clients:
            await client.close()
