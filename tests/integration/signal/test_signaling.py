"""The wire contract against a real node process with real socket.io clients."""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import pytest

from liveloop_sfu.client import WireClient, WireError
from tests.nodes import Node, NodeFactory, get_status_and_json, start_node

pytestmark = pytest.mark.slow

OFFER = {"sdp": {"type": "offer", "sdp": "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\n"}}
ANSWER = {"sdp": {"type": "answer", "sdp": "v=0\r\no=- 2 1 IN IP4 127.0.0.1\r\ns=-\r\n"}}
CANDIDATE = {
    "candidate": {
        "candidate": "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host",
        "sdpMid": "0",
        "sdpMLineIndex": 0,
    }
}

Connect = Callable[[], Coroutine[Any, Any, WireClient]]


@pytest.fixture(scope="module")
def p2p_node(tmp_path_factory: pytest.TempPathFactory) -> Any:
    # The order test sends 30 chat messages at once: more than the default chat burst.
    node = start_node(tmp_path_factory.mktemp("node"), "--mode", "p2p", "--rate-chat", "50/50")
    yield node
    node.stop()


@pytest.fixture
async def connect(p2p_node: Node) -> AsyncIterator[Connect]:
    clients: list[WireClient] = []

    async def make() -> WireClient:
        client = await WireClient(p2p_node.url, timeout=5).connect()
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()
    # The module shares one node: wait until it has processed these disconnects.
    for _ in range(50):
        _, status = await asyncio.to_thread(get_status_and_json, p2p_node, "/api/status")
        if status["connectedSockets"] == 0:
            break
        await asyncio.sleep(0.1)


async def matched_pair(
    connect: Connect,
) -> tuple[WireClient, WireClient, dict[str, Any], dict[str, Any]]:
    alice, bob = await connect(), await connect()
    assert (await alice.request_room("alice"))["status"] == "waiting"
    assert (await bob.request_room("bob"))["status"] == "matched"
    return alice, bob, await alice.next("match-done"), await bob.next("match-done")


async def test_match_roles_profiles_and_relay(connect: Connect) -> None:
    alice, bob, to_alice, to_bob = await matched_pair(connect)
    assert to_alice["roomId"] == to_bob["roomId"]
    assert to_alice["mode"] == to_bob["mode"] == "p2p"
    assert {to_alice["role"], to_bob["role"]} == {"offerer", "answerer"}
    assert to_alice["peer"]["userName"] == "bob" and to_bob["peer"]["userName"] == "alice"
    assert to_alice["iceServers"] == [] and to_alice["recording"] is False

    assert await alice.call("negotiation-call-offer", OFFER) == {"ok": True}
    assert (await bob.next("negotiation-call-offer")) == OFFER
    await bob.call("negotiation-call-answer", ANSWER)
    assert (await alice.next("negotiation-call-answer")) == ANSWER
    await bob.call("send-new-ice-candidates", CANDIDATE)
    assert (await alice.next("send-new-ice-candidates")) == CANDIDATE
    await alice.call("send-new-ice-candidates", {"candidate": None})
    assert (await bob.next("send-new-ice-candidates")) == {"candidate": None}


async def test_chat_both_ways_not_echoed(connect: Connect) -> None:
    alice, bob, to_alice, _ = await matched_pair(connect)
    ack = await alice.call("newMessage", {"message": "hello bob"})
    received = await bob.next("newMessage")
    assert received == ack["message"]
    assert received["message"] == "hello bob" and received["userName"] == "alice"
    assert received["roomId"] == to_alice["roomId"] and isinstance(received["timestamp"], int)
    await bob.call("newMessage", {"message": "hi alice"})
    assert (await alice.next("newMessage"))["message"] == "hi alice"
    await asyncio.sleep(0.2)
    assert alice.pending("newMessage") == 0 and bob.pending("newMessage") == 0


async def test_next_requeues_and_avoids_the_partner_just_left(connect: Connect) -> None:
    alice, bob, _, _ = await matched_pair(connect)
    carol = await connect()
    assert (await carol.request_room("carol"))["status"] == "waiting"
    # Bob presses Next: alice is told, bob is matched with carol (waiting), not alice again.
    await bob.call("stop-call")
    assert (await alice.next("partner-left"))["reason"] == "stopped"
    assert (await bob.request_room("bob"))["status"] == "matched"
    assert (await bob.next("match-done"))["peer"]["userName"] == "carol"
    # Alice re-queues and waits: nobody else is free.
    assert (await alice.request_room("alice"))["status"] == "waiting"


async def test_last_partner_matched_again_when_nobody_else_waits(connect: Connect) -> None:
    alice, bob, _, _ = await matched_pair(connect)
    await alice.call("stop-call")
    await bob.next("partner-left")
    assert (await alice.request_room("alice"))["status"] == "waiting"
    assert (await bob.request_room("bob"))["status"] == "matched"


async def test_request_room_in_a_call_is_next(connect: Connect) -> None:
    alice, bob, _, _ = await matched_pair(connect)
    assert (await alice.request_room("alice"))["status"] == "waiting"
    assert (await bob.next("partner-left"))["reason"] == "next"


async def test_requeue_is_idempotent(connect: Connect, p2p_node: Node) -> None:
    alice = await connect()
    await alice.request_room("alice")
    await alice.request_room("alice")
    _, status = get_status_and_json(p2p_node, "/api/status")
    assert status["waitingUsers"] == 1


async def test_disconnect_while_waiting_removes_the_entry(connect: Connect, p2p_node: Node) -> None:
    alice = await connect()
    await alice.request_room("alice")
    await alice.close()
    await asyncio.sleep(0.3)
    bob = await connect()
    assert (await bob.request_room("bob"))["status"] == "waiting"


async def test_disconnect_in_call_tells_the_partner(connect: Connect) -> None:
    alice, bob, _, _ = await matched_pair(connect)
    await alice.close()
    assert (await bob.next("partner-left", timeout=3))["reason"] == "disconnected"
    with pytest.raises(WireError) as info:
        await bob.call("newMessage", {"message": "anyone?"})
    assert info.value.code == "not-in-room"


async def test_signaling_outside_a_room_is_refused(connect: Connect) -> None:
    loner = await connect()
    for event, payload in (
        ("negotiation-call-offer", OFFER),
        ("negotiation-call-answer", ANSWER),
        ("send-new-ice-candidates", CANDIDATE),
        ("newMessage", {"message": "hi"}),
    ):
        with pytest.raises(WireError) as info:
            await loner.call(event, payload)
        assert info.value.code == "not-in-room"


async def test_payload_fields_cannot_reach_another_room(connect: Connect) -> None:
    alice, bob, to_alice, _ = await matched_pair(connect)
    carol, dave, _, _ = await matched_pair(connect)
    # Carol names alice's room and bob's identity; the node ignores both.
    forged = {"message": "psst", "roomId": to_alice["roomId"], "to": "bob", "from": "alice"}
    ack = await carol.call("newMessage", forged)
    assert ack["message"]["roomId"] != to_alice["roomId"]
    assert (await dave.next("newMessage"))["message"] == "psst"
    await asyncio.sleep(0.2)
    assert alice.pending("newMessage") == 0 and bob.pending("newMessage") == 0


BAD_PAYLOADS: list[tuple[str, Any]] = [
    ("request-room", None),
    ("request-room", "alice"),
    ("request-room", {"userName": ""}),
    ("request-room", {"userName": "x" * 33}),
    ("request-room", {"userName": 42}),
    ("request-room", {"userName": "ok\u0000"}),
    ("request-room", {"userName": "ok", "mode": "mesh"}),
    ("request-room", {"userName": "ok", "userImage": "http://evil.example/x.png"}),
    ("request-room", {"userName": "ok", "userImage": "data:image/png;base64," + "A" * 70000}),
    ("newMessage", {"message": ""}),
    ("newMessage", {"message": "x" * 1001}),
    ("newMessage", {"message": ["a"]}),
    ("negotiation-call-offer", {"sdp": {"type": "answer", "sdp": "v=0\r\n"}}),
    ("negotiation-call-offer", {"sdp": {"type": "offer", "sdp": "hello"}}),
    ("negotiation-call-offer", {"sdp": {"type": "offer", "sdp": "v=0" + "a" * 70000}}),
    ("negotiation-call-offer", {"sdp": "v=0"}),
    ("negotiation-call-answer", {"sdp": {"type": "answer"}}),
    ("send-new-ice-candidates", {}),
    ("send-new-ice-candidates", {"candidate": "candidate:1 1 udp"}),
    ("send-new-ice-candidates", {"candidate": {"candidate": "x", "sdpMid": "0"}}),
    ("send-new-ice-candidates", {"candidate": {"candidate": "candidate:1"}}),
    ("stop-call", [1, 2]),
]


@pytest.mark.parametrize(("event", "payload"), BAD_PAYLOADS)
async def test_bad_payload_gets_invalid_payload_and_changes_nothing(
    connect: Connect, event: str, payload: Any
) -> None:
    alice, bob, _, _ = await matched_pair(connect)
    ack = await alice.call_raw(event, payload)
    assert ack["error"]["code"] == "invalid-payload", ack
    assert ack["error"]["message"]
    # The call is untouched: chat still flows and nobody was told anything.
    await alice.call("newMessage", {"message": "still here"})
    assert (await bob.next("newMessage"))["message"] == "still here"
    assert bob.pending("partner-left") == 0 and bob.pending("negotiation-call-offer") == 0


async def test_unknown_event_is_ignored_with_an_error_ack(connect: Connect) -> None:
    alice, bob, _, _ = await matched_pair(connect)
    ack = await alice.call_raw("delete-everything", {"all": True})
    assert ack["error"]["code"] == "invalid-payload"
    await alice.call("newMessage", {"message": "fine"})
    assert (await bob.next("newMessage"))["message"] == "fine"


async def test_oversized_message_drops_only_the_sender(connect: Connect) -> None:
    alice, bob, _, _ = await matched_pair(connect)
    carol, dave, _, _ = await matched_pair(connect)
    # Over the transport's 256 KiB limit: the node closes that one connection.
    await carol.sio.emit("newMessage", {"message": "x" * 400_000})
    await asyncio.wait_for(carol.disconnected.wait(), 5)
    assert (await dave.next("partner-left", timeout=5))["reason"] == "disconnected"
    await alice.call("newMessage", {"message": "unaffected"})
    assert (await bob.next("newMessage"))["message"] == "unaffected"


async def test_events_of_one_client_keep_their_order(connect: Connect) -> None:
    alice, bob, _, _ = await matched_pair(connect)
    messages = [f"m{i}" for i in range(30)]
    await asyncio.gather(*(alice.call("newMessage", {"message": m}) for m in messages))
    received = [(await bob.next("newMessage"))["message"] for _ in messages]
    assert received == messages


async def test_http_health_ready_status(connect: Connect, p2p_node: Node) -> None:
    code, health = get_status_and_json(p2p_node, "/health")
    assert code == 200 and health["status"] == "ok" and health["version"]
    assert health["uptime"] >= 0
    code, ready = get_status_and_json(p2p_node, "/readyz")
    assert code == 200 and ready["ready"] is True
    _, before = get_status_and_json(p2p_node, "/api/status")
    await matched_pair(connect)
    waiting = await connect()
    await waiting.request_room("w")
    _, status = get_status_and_json(p2p_node, "/api/status")
    assert status["activeRooms"]["p2p"] == before["activeRooms"]["p2p"] + 1
    assert status["waitingUsers"] == before["waitingUsers"] + 1
    assert status["connectedSockets"] == before["connectedSockets"] + 3


def test_static_files_and_traversal(p2p_node: Node) -> None:
    with urllib.request.urlopen(p2p_node.url + "/", timeout=5) as response:
        assert response.status == 200 and b"<html" in response.read().lower()
    with urllib.request.urlopen(
        p2p_node.url + "/vendor/socket.io/socket.io.esm.min.js", timeout=5
    ) as response:
        assert response.status == 200 and len(response.read()) > 10_000
    for path in (
        "/../pyproject.toml",
        "/%2e%2e/pyproject.toml",
        "/node_modules/socket.io-client/package.json",
        "/package.json",
        "/vendor/socket.io/../../../package.json",
    ):
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(p2p_node.url + path, timeout=5)
        info.value.close()
        assert info.value.code == 404, path


def test_foreign_origin_is_refused(p2p_node: Node, node_factory: NodeFactory) -> None:
    request = urllib.request.Request(
        p2p_node.url + "/api/status", headers={"Origin": "https://evil.example"}
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=5)
    info.value.close()
    assert info.value.code == 403
    allowed = node_factory("--mode", "p2p", "--allowed-origins", "https://app.example")
    request = urllib.request.Request(
        allowed.url + "/api/status", headers={"Origin": "https://app.example"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.headers["Access-Control-Allow-Origin"] == "https://app.example"


async def test_foreign_origin_cannot_open_a_socket(p2p_node: Node) -> None:
    client = WireClient(p2p_node.url, timeout=3)
    with pytest.raises(Exception):  # noqa: B017,PT011 - python-socketio raises ConnectionError
        await client.connect(headers={"Origin": "https://evil.example"})
    await client.close()


def test_cli_help_and_config_errors() -> None:
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "liveloop_sfu", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for flag in (
        "--host",
        "--port",
        "--mode",
        "--allowed-origins",
        "--log-level",
        "--ice-servers",
        "--tls-cert",
        "--tls-key",
        "LIVELOOP_PORT",
    ):
        assert flag in out
    bad = subprocess.run(
        [sys.executable, "-m", "liveloop_sfu", "--mode", "mesh"], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "--mode must be one of" in bad.stderr
