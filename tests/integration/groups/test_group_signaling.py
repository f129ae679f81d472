"""Group-room signaling through a node in the test's loop: joining, leaving, room-full, tokens,
media state, and the HTTP side (POST /api/rooms, /room/<id>). No media is negotiated here."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from liveloop_sfu.client import WireClient, WireError
from tests.integration.in_process import InProcessNode, StartNode
from tests.nodes import ROOT

pytestmark = pytest.mark.slow

SECRET = "a-room-token-secret-for-tests"
Connect = Callable[[InProcessNode], Awaitable[WireClient]]


@pytest.fixture
async def connect() -> AsyncIterator[Connect]:
    clients: list[WireClient] = []

    async def make(server: InProcessNode) -> WireClient:
        client = WireClient(server.url, timeout=10)
        clients.append(client)
        return await client.connect()

    yield make
    for client in clients:
        await client.close()


async def join(client: WireClient, room: str, name: str, **extra: Any) -> dict[str, Any]:
    return await client.call("join-room", {"roomId": room, "userName": name, **extra})


async def test_join_announce_leave(start_node: StartNode, connect: Connect) -> None:
    server = await start_node()
    ana, bo = await connect(server), await connect(server)
    first = await join(ana, "team", "ana")
    assert first["participants"] == [] and first["mode"] == "sfu" and first["role"] == "offerer"
    assert first["iceServers"] == [] and first["recording"] is False
    second = await join(bo, "team", "bo")
    assert second["participants"] == [
        {
            "participantId": first["participantId"],
            "userName": "ana",
            "audio": True,
            "video": True,
            "screenTrackId": None,
        }
    ]
    joined = await ana.next("participant-joined")
    assert joined == {
        "participantId": second["participantId"],
        "userName": "bo",
        "audio": True,
        "video": True,
        "screenTrackId": None,
    }
    # Chat reaches the other members, not the sender.
    sent = await bo.call("newMessage", {"message": "hi all"})
    assert (await ana.next("newMessage"))["message"] == "hi all" == sent["message"]["message"]
    assert await bo.call("leave-room") == {"ok": True, "left": True}
    assert await ana.next("participant-left") == {"participantId": second["participantId"]}
    assert await bo.call("leave-room") == {"ok": True, "left": False}
    # A disconnect is a leave too; the last one out closes the room.
    await ana.close()
    for _ in range(100):
        if server.node.rooms.room("team") is None:
            break
        await ana.sio.sleep(0.02)
    assert server.node.rooms.room("team") is None


async def test_media_state_reaches_the_others_in_group_and_one_to_one_rooms(
    start_node: StartNode, connect: Connect
) -> None:
    server = await start_node()
    ana, bo = await connect(server), await connect(server)
    ana_id = (await join(ana, "team", "ana"))["participantId"]
    await join(bo, "team", "bo")
    state = {"audio": False, "video": True, "screenTrackId": "screen-1"}
    assert await ana.call("media-state", state) == {"ok": True}
    assert await bo.next("participant-updated") == {"participantId": ana_id, **state}
    # A screen share appearing asks the others for a new offer (a slot for it).
    assert await bo.next("renegotiate") == {"reason": "tracks-changed"}
    # A newcomer sees the state in its ack.
    cy = await connect(server)
    present = (await join(cy, "team", "cy"))["participants"]
    assert present[0] == {"participantId": ana_id, "userName": "ana", **state}
    with pytest.raises(WireError, match="invalid-payload"):
        await ana.call("media-state", {"audio": "yes", "video": True})

    # 1:1: the partner is told as well.
    await ana.call("leave-room")
    await bo.call("leave-room")
    await ana.request_room("ana")
    await bo.request_room("bo")
    await ana.next("match-done")
    await bo.next("match-done")
    assert await bo.call("media-state", {"audio": True, "video": False, "screenTrackId": None})
    updated = await ana.next("participant-updated")
    assert updated["video"] is False and updated["screenTrackId"] is None


async def test_one_room_at_a_time(start_node: StartNode, connect: Connect) -> None:
    server = await start_node()
    ana, bo, cy = await connect(server), await connect(server), await connect(server)
    # In a 1:1 call, join-room leaves it: the partner gets partner-left.
    await ana.request_room("ana")
    await bo.request_room("bo")
    await ana.next("match-done")
    await join(ana, "team", "ana")
    assert (await bo.next("partner-left"))["reason"] == "stopped"
    # Waiting in the queue, join-room cancels the ticket.
    await cy.request_room("cy")
    await join(cy, "team", "cy")
    assert (await server.node.rooms.status())["waitingUsers"] == 0
    # request-room leaves the group room: the others see participant-left.
    cy_id = server.node.rooms.participant(cy.sio.get_sid()).participant_id  # type: ignore[union-attr]
    assert (await ana.next("participant-joined"))["participantId"] == cy_id
    await cy.request_room("cy")
    assert await ana.next("participant-left") == {"participantId": cy_id}
    room = server.node.rooms.room("team")
    assert room is not None and len(room.members) == 1
    # Joining another group room leaves the first.
    await join(ana, "other", "ana")
    assert server.node.rooms.room("team") is None


async def test_room_full_and_refusals_change_nothing(
    start_node: StartNode, connect: Connect
) -> None:
    server = await start_node(max_room_participants=2)
    clients = [await connect(server) for _ in range(3)]
    await join(clients[0], "pair", "ana")
    await join(clients[1], "pair", "bo")
    with pytest.raises(WireError, match="room-full"):
        await join(clients[2], "pair", "cy")
    room = server.node.rooms.room("pair")
    assert room is not None and len(room.members) == 2
    # Re-joining one's own room is not "one more".
    assert (await join(clients[1], "pair", "bo"))["participants"][0]["userName"] == "ana"
    for payload in (
        {"roomId": "a b", "userName": "cy"},
        {"roomId": "x" * 65, "userName": "cy"},
        {"roomId": "ok", "userName": ""},
        {"roomId": "ok", "userName": "cy", "token": 5},
    ):
        with pytest.raises(WireError, match="invalid-payload"):
            await clients[2].call("join-room", payload)
    assert server.node.rooms.room("ok") is None


async def test_capacity_counts_group_streams(start_node: StartNode, connect: Connect) -> None:
    # Two members forward 2*2*1 = 4 streams; a third would add 4*2 = 8 more.
    server = await start_node(max_forwarded_streams=10)
    clients = [await connect(server) for _ in range(3)]
    await join(clients[0], "big", "ana")
    await join(clients[1], "big", "bo")
    assert server.node.rooms.forwarded_streams() == 4
    with pytest.raises(WireError, match="capacity"):
        await join(clients[2], "big", "cy")
    # ...and 1:1 calls see the group's streams: 4 + 4 > 6 is refused in sfu mode.
    small = await start_node(max_forwarded_streams=6)
    more = [await connect(small) for _ in range(3)]
    await join(more[0], "g", "ana")
    await join(more[1], "g", "bo")
    with pytest.raises(WireError, match="capacity"):
        await more[2].request_room("cy")


async def test_a_p2p_node_refuses_group_rooms(start_node: StartNode, connect: Connect) -> None:
    server = await start_node(mode="p2p")
    client = await connect(server)
    with pytest.raises(WireError, match="capacity") as refused:
        await join(client, "team", "ana")
    assert "p2p" in refused.value.message


async def post_room(server: InProcessNode, body: Any, **kwargs: Any) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(server.url + "/api/rooms", json=body, **kwargs) as response,
    ):
        return response.status, await response.json()


async def test_private_rooms_need_a_valid_token(start_node: StartNode, connect: Connect) -> None:
    server = await start_node(require_room_token=True, room_token_secret=SECRET)
    status, created = await post_room(server, {"name": "Standup"})
    assert status == 200
    room_id, token = created["roomId"], created["token"]
    assert created["link"] == f"/room/{room_id}" and created["name"] == "Standup"
    client = await connect(server)
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    for bad in ({}, {"token": "v1.1.xxx"}, {"token": tampered}):
        with pytest.raises(WireError, match="unauthorized"):
            await join(client, room_id, "ana", **bad)
    # A token opens only its own room.
    with pytest.raises(WireError, match="unauthorized"):
        await join(client, "another-room", "ana", token=token)
    welcome = await join(client, room_id, "ana", token=token)
    assert welcome["name"] == "Standup"
    # The operator's CLI mints tokens with the node's secret.
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "liveloop_sfu",
        "mint-room-token",
        "ops-room",
        cwd=ROOT,
        env={**os.environ, "LIVELOOP_ROOM_TOKEN_SECRET": SECRET},
        stdout=asyncio.subprocess.PIPE,
    )
    stdout, _ = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0
    minted = stdout.decode().strip()
    other = await connect(server)
    assert (await join(other, "ops-room", "bo", token=minted))["roomId"] == "ops-room"


async def test_http_rooms(start_node: StartNode) -> None:
    server = await start_node()
    status, created = await post_room(server, None)
    assert status == 200 and set(created) == {"roomId", "link"}  # no token when not required
    for body in ({"name": 5}, {"name": "x" * 65}, ["name"]):
        status, error = await post_room(server, body)
        assert status == 400 and error["error"]["code"] == "invalid-payload"
    async with aiohttp.ClientSession() as http:
        async with http.post(server.url + "/api/rooms", data=b"{not json") as response:
            assert response.status == 400
        async with http.get(server.url + created["link"]) as response:
            assert response.status == 200
            assert "<html" in (await response.text()).lower()
        async with http.get(server.url + "/room/bad%20id") as response:
            assert response.status == 404
        async with http.get(server.url + "/api/status") as response:
            assert (await response.json())["groupRooms"] == 0
