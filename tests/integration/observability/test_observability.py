"""/metrics, /api/status and the JSON log of a node carrying a real call."""

from __future__ import annotations

import asyncio
import json
import re
import socket

import pytest

from liveloop_sfu.client import WireClient
from liveloop_sfu.rooms.turn import turn_credential
from tests.helpers import scrape
from tests.integration.conftest import Caller
from tests.nodes import NodeFactory, get_json

pytestmark = pytest.mark.slow

SECRET = "very-secret-turn-key-42"
CANDIDATE_PORT = re.compile(r"a=candidate:\S+ 1 udp \d+ 127\.0\.0\.1 (\d+) typ host")


async def test_metrics_agree_with_status_and_logs_are_json_without_secrets(
    node_factory: NodeFactory, caller: Caller
) -> None:
    node = node_factory(
        "--mode",
        "sfu",
        "--log-format",
        "json",
        "--log-level",
        "debug",
        "--turn-urls",
        "turn:127.0.0.1:3478",
        "--turn-secret",
        SECRET,
    )
    alice = await caller(node, "alice")
    bob = await caller(node, "bob")
    waiting = await WireClient(node.url, timeout=5).connect()
    try:
        match = await alice.matched()
        await bob.matched()
        await waiting.request_room("carol")
        await alice.frames_from_partner(20)
        await bob.frames_from_partner(20)

        # match-done carries a TURN REST credential coturn will accept.
        turn = match["iceServers"][-1]
        assert turn["urls"] == ["turn:127.0.0.1:3478"]
        assert turn["username"].endswith(":" + match["participantId"])
        assert turn["credential"] == turn_credential(SECRET, turn["username"])

        status = get_json(node, "/api/status")
        metrics = scrape(node)
        assert status["connectedSockets"] == metrics["liveloop_connected_sockets"] == 3
        assert status["waitingUsers"] == metrics["liveloop_waiting_users"] == 1
        assert status["activeRooms"]["sfu"] == metrics['liveloop_rooms{mode="sfu"}'] == 1
        assert status["activeRooms"]["p2p"] == metrics['liveloop_rooms{mode="p2p"}'] == 0
        assert status["forwardedStreams"] == metrics["liveloop_forwarded_streams"] == 4
        assert metrics["liveloop_peer_connections"] == 2
        assert metrics["liveloop_forwarded_packets_total"] > 100
        assert (
            metrics["liveloop_forwarded_bytes_total"] > metrics["liveloop_forwarded_packets_total"]
        )
        # New subscribers wait for a keyframe: requested (counted by why), and the wait counted
        # as a drop reason.
        assert metrics['liveloop_keyframe_requests_total{reason="new-subscriber"}'] >= 1
        assert metrics["liveloop_simulcast_paused_layers"] == 0
        assert "liveloop_nacks_sent_total" in metrics and "liveloop_rtx_sent_total" in metrics
        assert metrics["liveloop_match_latency_seconds_count"] == 2
        assert metrics["liveloop_call_setup_seconds_count"] == 2
        assert 0 < metrics["liveloop_call_setup_seconds_sum"] < 20

        # Datagrams from a stranger on the node's media port are refused and counted.
        assert alice.peer is not None and alice.peer.pc.remoteDescription is not None
        ports = {int(p) for p in CANDIDATE_PORT.findall(alice.peer.pc.remoteDescription.sdp)}
        assert ports
        refused = metrics["liveloop_refused_datagrams_total"]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for port in ports:
                for _ in range(10):
                    sock.sendto(b"\x16\xfe\xfdnot-dtls-from-a-stranger", ("127.0.0.1", port))
        for _ in range(50):
            if scrape(node)["liveloop_refused_datagrams_total"] >= refused + 10 * len(ports):
                break
            await asyncio.sleep(0.1)
        assert scrape(node)["liveloop_refused_datagrams_total"] >= refused + 10 * len(ports)

        # Counters survive the end of the call (folded into totals), gauges drop.
        before = metrics["liveloop_forwarded_packets_total"]
        await alice.wire.call("stop-call")
        await bob.event("partner-left")
        for _ in range(50):
            after = scrape(node)
            if after['liveloop_rooms{mode="sfu"}'] == 0:
                break
            await asyncio.sleep(0.1)
        assert after["liveloop_forwarded_packets_total"] >= before
        assert after["liveloop_peer_connections"] == 0
        assert after["liveloop_forwarded_streams"] == 0
    finally:
        await waiting.close()

    log = node.log()
    assert SECRET not in log
    records = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert records, log[:2000]
    opened = [r for r in records if r["msg"].startswith("room ") and "opened" in r["msg"]]
    assert opened and opened[0]["room_id"] == match["roomId"]
    assert opened[0]["event"] == "request-room" and opened[0]["peer_id"]
    assert any(r.get("peer_id") == match["participantId"] for r in records)
