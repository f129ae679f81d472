"""Draining a node for a rolling deploy (liveloop_sfu/drain.py, docs/protocol.md "Shutdown and
drain"): ``POST /api/admin/drain`` and SIGTERM stop new calls at once, let the live ones run, tell
idle clients to reconnect elsewhere, and end the process once the last call is over (or at a
second SIGTERM). The media side — a call's RTP flowing on through a drain, on two nodes sharing
Redis — is tests/integration/cluster/test_drain_across_nodes.py."""

from __future__ import annotations

import asyncio
import logging
import signal
import urllib.error
import urllib.request

import aiohttp
import pytest
import socketio

from liveloop_sfu.client import WireClient, WireError
from liveloop_sfu.config import AdminSettings, NetworkSettings, Settings
from liveloop_sfu.drain import DRAINING_EVENT
from tests.integration.in_process import StartNode
from tests.nodes import NodeFactory, get_status_and_json

TOKEN = "drain-test-token-0123456789"


async def _matched_pair(url: str) -> tuple[WireClient, WireClient]:
    alice = await WireClient(url).connect()
    bob = await WireClient(url).connect()
    await alice.request_room("alice")
    await bob.request_room("bob")
    for client in (alice, bob):
        await client.next("match-done")
    return alice, bob


async def _post_drain(url: str, token: str | None) -> tuple[int, dict[str, object]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        aiohttp.ClientSession() as http,
        http.post(url + "/api/admin/drain", headers=headers) as response,
    ):
        return response.status, await response.json()


async def _readyz(url: str) -> tuple[int, dict[str, object]]:
    async with aiohttp.ClientSession() as http, http.get(url + "/readyz") as response:
        return response.status, await response.json()


async def test_admin_drain_keeps_calls_tells_idle_clients_and_ends_with_the_last_call(
    start_node: StartNode, caplog: pytest.LogCaptureFixture
) -> None:
    base = Settings(network=NetworkSettings(drain_timeout=60), admin=AdminSettings(token=TOKEN))
    node = await start_node(base, mode="p2p")
    drain = node.node.drain
    assert drain is not None
    done = asyncio.Event()
    drain.on_done = done.set
    alice, bob = await _matched_pair(node.url)
    carol = await WireClient(node.url).connect()
    try:
        assert (await carol.request_room("carol"))["status"] == "waiting"
        assert (await _readyz(node.url))[0] == 200

        # The token is required, as for the whole admin API.
        assert (await _post_drain(node.url, None))[0] == 401
        assert (await _post_drain(node.url, "wrong-token-wrong-token"))[0] == 401
        assert drain.state == "serving"
        caplog.set_level(logging.INFO, logger="liveloop_sfu.audit")
        status, body = await _post_drain(node.url, TOKEN)
        assert status == 200 and body["started"] is True and body["state"] == "draining"
        # Not ready from the very answer on, while the node still serves.
        status, ready = await _readyz(node.url)
        assert status == 503 and ready["reasons"] == ["draining"]
        # Asking again changes nothing.
        assert (await _post_drain(node.url, TOKEN))[1]["started"] is False
        (entry, _) = [r for r in caplog.records if r.name == "liveloop_sfu.audit"]
        assert entry.__dict__["what"] == "drain" and entry.__dict__["who"].startswith("admin-")
        assert TOKEN not in entry.__dict__["who"] and entry.__dict__["when"] > 0

        # The waiting client is told at once to reconnect elsewhere, and let go.
        assert await carol.next("server-shutdown") == DRAINING_EVENT
        await asyncio.wait_for(carol.disconnected.wait(), 5)
        # No new connection, no new match.
        late = WireClient(node.url)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await late.connect()
        await late.close()
        # The call goes on: chat still passes between the two.
        await alice.call("newMessage", {"message": "still here"})
        assert (await bob.next("newMessage"))["message"] == "still here"
        assert not done.is_set() and alice.pending("server-shutdown") == 0

        # The call ends: both are now idle, told to move on, and the drain is over.
        await alice.call("stop-call")
        assert (await bob.next("partner-left"))["reason"] == "stopped"
        for client in (alice, bob):
            assert await client.next("server-shutdown") == DRAINING_EVENT
        await asyncio.wait_for(done.wait(), 10)
        assert drain.state == "done"
    finally:
        for client in (alice, bob, carol):
            await client.close()


async def test_drain_refuses_a_new_match_from_a_call_that_ended(start_node: StartNode) -> None:
    """Next after the drain began: the call ends, the new request is refused with ``capacity``
    and the client is told to reconnect (the web client then queues on another node)."""
    base = Settings(network=NetworkSettings(drain_timeout=60))
    node = await start_node(base, mode="p2p")
    drain = node.node.drain
    assert drain is not None
    drain.on_done = lambda: None
    alice, bob = await _matched_pair(node.url)
    try:
        assert drain.start("test")
        with pytest.raises(WireError) as refused:
            await alice.request_room("alice")  # Next: leaves the call, is refused a new one
        assert refused.value.code == "capacity"
        assert (await bob.next("partner-left"))["reason"] == "next"
        for client in (alice, bob):
            assert await client.next("server-shutdown") == DRAINING_EVENT
    finally:
        for client in (alice, bob):
            await client.close()


def _ready(url: str) -> int:
    try:
        with urllib.request.urlopen(url + "/readyz", timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        error.close()
        return int(error.code)


@pytest.mark.slow
async def test_sigterm_drains_and_a_second_sigterm_ends_calls_at_once(
    node_factory: NodeFactory,
) -> None:
    node = node_factory("--mode", "p2p", "--drain-timeout", "600")
    alice, bob = await _matched_pair(node.url)
    idle = await WireClient(node.url).connect()
    try:
        node.process.send_signal(signal.SIGTERM)
        assert (await idle.next("server-shutdown"))["reason"] == "draining"
        # Still serving HTTP, not ready, and the call goes on.
        status, ready = get_status_and_json(node, "/readyz")
        assert status == 503 and "draining" in ready["reasons"]  # type: ignore[operator]
        await alice.call("newMessage", {"message": "during the drain"})
        assert (await bob.next("newMessage"))["message"] == "during the drain"
        assert node.process.poll() is None

        node.process.send_signal(signal.SIGTERM)
        for client in (alice, bob):
            assert (await client.next("partner-left", timeout=10))["reason"] == "shutdown"
            event = await client.next("server-shutdown", timeout=10)
            assert event == {"reason": "shutdown", "reconnect": True}
        assert await asyncio.to_thread(node.process.wait, 15) == 0
        assert "Traceback" not in node.log()
    finally:
        for client in (alice, bob, idle):
            await client.close()


@pytest.mark.slow
async def test_drained_node_exits_by_itself_when_its_last_call_ends(
    node_factory: NodeFactory,
) -> None:
    node = node_factory(
        "--mode", "p2p", "--admin-token", TOKEN, "--drain-timeout", "600",
        "--log-format", "json",
    )  # fmt: skip
    alice, bob = await _matched_pair(node.url)
    try:
        status, body = await _post_drain(node.url, TOKEN)
        assert status == 200 and body["started"] is True
        assert _ready(node.url) == 503
        await alice.call("stop-call")
        assert await asyncio.to_thread(node.process.wait, 15) == 0
        audit = [line for line in node.log().splitlines() if '"liveloop_sfu.audit"' in line]
        assert len(audit) == 1 and '"what": "drain"' in audit[0] and TOKEN not in audit[0]
    finally:
        for client in (alice, bob):
            await client.close()


async def test_a_group_room_runs_on_but_takes_no_new_member(start_node: StartNode) -> None:
    node = await start_node(Settings(network=NetworkSettings(drain_timeout=60)))
    drain = node.node.drain
    assert drain is not None
    done = asyncio.Event()
    drain.on_done = done.set
    alice = await WireClient(node.url).connect()
    bob = await WireClient(node.url).connect()
    carol = await WireClient(node.url).connect()
    try:
        for client, name in ((alice, "alice"), (bob, "bob")):
            await client.call("join-room", {"roomId": "standup", "userName": name})
        # Carol sits in a room of her own, so the drain does not send her away at once.
        await carol.call("join-room", {"roomId": "lobby", "userName": "carol"})
        assert drain.start("test")
        with pytest.raises(WireError) as refused:
            await carol.call("join-room", {"roomId": "standup", "userName": "carol"})
        assert refused.value.code == "capacity"
        # The rooms go on: nobody is told anything, and chat still passes.
        await alice.call("newMessage", {"message": "still meeting"})
        assert (await bob.next("newMessage"))["message"] == "still meeting"
        assert alice.pending("server-shutdown") == bob.pending("server-shutdown") == 0
        assert carol.pending("server-shutdown") == 0
        # Members leave one by one (each then told to move on); the last one out ends the drain.
        await carol.call("leave-room")
        assert await carol.next("server-shutdown") == DRAINING_EVENT
        await alice.call("leave-room")
        assert await alice.next("server-shutdown") == DRAINING_EVENT
        assert not done.is_set()
        await bob.call("leave-room")
        assert await bob.next("server-shutdown") == DRAINING_EVENT
        await asyncio.wait_for(done.wait(), 10)
    finally:
        for client in (alice, bob, carol):
            await client.close()
