"""Call admin on one node in this event loop (no Redis): the listing, ending a call, removing a
participant, refusing to record a p2p call, the audit lines; and, on an in-process cluster of
three nodes, an action routed to the hosting node and a node that never answers.

Real socket.io clients (``liveloop_sfu.client.WireClient``) make the calls; they are p2p calls
and group rooms nobody offers media to, so no media flows and the test stays fast.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from liveloop_sfu.app import NODE_KEY, create_app
from liveloop_sfu.client import WireClient
from liveloop_sfu.cluster.base import ClusterHub
from liveloop_sfu.config import AdminSettings, RoomSettings, Settings
from liveloop_sfu.errors import MatchmakerUnavailable, NotFound
from liveloop_sfu.http.audit import AUDIT_LOGGER, token_id
from liveloop_sfu.matchmaking.memory import MemoryMatchmaker
from liveloop_sfu.rooms.admin import CallAdmin
from liveloop_sfu.rooms.service import RoomService
from liveloop_sfu.signal.messages import RequestRoom
from tests.integration.cluster.test_rooms_in_process import Wire

pytestmark = pytest.mark.slow

TOKEN = "in-process-admin-token-0123"


class AdminNode:
    """A node on a free loopback port, with its admin API and socket.io clients."""

    def __init__(self, runner: web.AppRunner, url: str) -> None:
        self.runner, self.url = runner, url
        self.clients: list[WireClient] = []
        self.http = aiohttp.ClientSession()

    async def client(self) -> WireClient:
        client = await WireClient(self.url, timeout=5).connect()
        self.clients.append(client)
        return client

    async def admin(
        self, method: str, path: str, body: Any = None, token: str | None = TOKEN
    ) -> tuple[int, dict[str, Any]]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        data = None if body is None else json.dumps(body)
        async with self.http.request(method, self.url + path, data=data, headers=headers) as r:
            return r.status, await r.json()

    async def close(self) -> None:
        for client in self.clients:
            await client.close()
        await self.http.close()
        await self.runner.cleanup()


@pytest.fixture
async def node() -> AsyncIterator[AdminNode]:
    # --allow-direct-p2p: without TURN an auto node otherwise ignores a p2p preference.
    rooms = RoomSettings(mode="auto", allow_direct_p2p=True)
    settings = Settings(rooms=rooms, admin=AdminSettings(token=TOKEN))
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    admin_node = AdminNode(runner, f"http://{host}:{port}")
    assert app[NODE_KEY].node_id
    yield admin_node
    await admin_node.close()


def audit_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [
        {"who": r.who, "what": r.what, "when": r.when, "outcome": r.outcome}  # type: ignore[attr-defined]
        for r in caplog.records
        if r.name == AUDIT_LOGGER
    ]


async def test_one_node_lists_ends_removes_and_refuses_to_record_p2p(
    node: AdminNode, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER)
    # Without the token: 401, for the listing and for actions alike.
    assert (await node.admin("GET", "/api/admin/calls", token=None))[0] == 401
    assert (await node.admin("DELETE", "/api/admin/calls/x", token="wrong-token-0123456789"))[
        0
    ] == 401

    # A p2p call between two real clients.
    alice, bob = await node.client(), await node.client()
    await alice.request_room("alice", mode="p2p")
    await bob.request_room("bob", mode="p2p")
    room_id = (await alice.next("match-done"))["roomId"]
    await bob.next("match-done")
    status, calls = await node.admin("GET", "/api/admin/calls")
    assert status == 200 and calls["unreachable"] == [] and len(calls["nodes"]) == 1
    (call,) = calls["calls"]
    assert call["id"] == room_id and call["mode"] == "p2p" and call["kind"] == "call"
    assert call["node"] == calls["nodes"][0] and call["recording"] is False
    assert sorted(p["userName"] for p in call["participants"]) == ["alice", "bob"]
    assert isinstance(call["startedAt"], float)

    # Recording a p2p call is refused with its reason, and the refusal is audited.
    status, body = await node.admin(
        "POST", f"/api/admin/calls/{room_id}/recording", {"action": "start"}
    )
    assert status == 400 and "p2p" in body["error"]["message"]

    # A group room of two: listed under rooms, not calls.
    carol, dave = await node.client(), await node.client()
    await carol.call("join-room", {"roomId": "standup", "userName": "carol"})
    joined = await dave.call("join-room", {"roomId": "standup", "userName": "dave"})
    status, rooms = await node.admin("GET", "/api/admin/rooms")
    (group,) = rooms["rooms"]
    assert group["id"] == "standup" and group["kind"] == "group" and group["mode"] == "sfu"
    assert [p["userName"] for p in group["participants"]] == ["carol", "dave"]

    # Remove dave: he is told, carol sees him leave, the room goes on with her.
    status, body = await node.admin(
        "DELETE", f"/api/admin/rooms/standup/participants/{joined['participantId']}"
    )
    assert status == 200 and body["removed"] == joined["participantId"]
    assert (await dave.next("partner-left"))["reason"] == "removed"
    left = await carol.next("participant-left")
    assert left["participantId"] == joined["participantId"]
    _, rooms = await node.admin("GET", "/api/admin/rooms")
    assert [p["userName"] for p in rooms["rooms"][0]["participants"]] == ["carol"]

    # End the call: both sides told, nothing left; ending it again is 404.
    status, body = await node.admin("DELETE", f"/api/admin/calls/{room_id}")
    assert status == 200 and body == {"ok": True, "roomId": room_id, "ended": True, "removed": 2}
    for client in (alice, bob):
        assert (await client.next("partner-left"))["reason"] == "removed"
    _, calls = await node.admin("GET", "/api/admin/calls")
    assert calls["calls"] == []
    status, body = await node.admin("DELETE", f"/api/admin/calls/{room_id}")
    assert status == 404 and body["error"]["code"] == "not-found"
    # The removed can call again at once.
    await alice.request_room("alice", mode="p2p")

    lines = audit_lines(caplog)
    assert [(line["what"], line["outcome"]) for line in lines] == [
        ("recording.start", "invalid-payload"),
        ("room.remove", "ok"),
        ("room.end", "ok"),
        ("room.end", "not-found"),
    ]
    assert {line["who"] for line in lines} == {token_id(TOKEN)}
    assert TOKEN not in caplog.text and all(line["when"] > 1e9 for line in lines)


async def test_actions_are_routed_to_the_host_and_a_silent_node_is_named() -> None:
    hub, wire = ClusterHub(), Wire()
    matchmaker = MemoryMatchmaker()
    settings = RoomSettings(mode="p2p")
    one, two = (
        RoomService(settings, matchmaker, wire.emit, None, cluster=hub.node(name))
        for name in ("n1", "n2")
    )
    admin_one = CallAdmin(one, wire.emit, timeout=0.2, action_timeout=0.2)
    CallAdmin(two, wire.emit, timeout=0.2, action_timeout=0.2)
    stuck = asyncio.Event()

    async def never_answers(sender: str, request: dict[str, Any]) -> dict[str, Any]:
        await stuck.wait()
        return {"ok": True}

    hub.register("n3", never_answers)
    one.connect("alice")
    two.connect("bob")
    await one.request_room("alice", RequestRoom("alice", None, None))
    await two.request_room("bob", RequestRoom("bob", None, None))  # n2 hosts the call
    await asyncio.sleep(0.01)  # rooms:{roomId} is written in the background
    live = await admin_one.live()
    (room,) = live["rooms"]
    assert room["node"] == "n2" and live["nodes"] == ["n1", "n2"]
    assert live["unreachable"] == ["n3"]
    assert {p["node"] for p in room["participants"]} == {"n1", "n2"}  # alice is n1's guest

    reply = await admin_one.act(room["id"], "end", {})
    assert reply["ended"] is True and two.room(room["id"]) is None
    assert wire.of("alice", "partner-left") == [{"reason": "removed"}]
    assert wire.of("bob", "partner-left") == [{"reason": "removed"}]
    assert one.participant("alice").room_id is None  # type: ignore[union-attr]
    with pytest.raises(NotFound):
        await admin_one.act(room["id"], "end", {})
    hub.rooms["gone"] = {"host": "n3"}
    with pytest.raises(MatchmakerUnavailable):
        await admin_one.act("gone", "end", {})
    stuck.set()
