"""Two real node processes sharing one Redis, one group room: its participants' sockets are on
both nodes, yet they meet in one room (pinned to the node that opened it) and each decodes the
others' painted frame counters, on the tiles the node labelled with their owners; a guest's
``set-video-quality`` reaches the room's node."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from tests.helpers import scrape
from tests.integration.groups.member import Member
from tests.integration.groups.video_off import asks_off_and_back
from tests.nodes import NodeFactory, get_json
from tests.redis_server import RedisServer

pytestmark = pytest.mark.slow

# Every client of this test comes from 127.0.0.1: generous per-address limits (as the benchmarks'
# LOAD_TEST_LIMITS, within what config.py accepts).
LIMITS = (
    "--max-connections-per-ip", "1000", "--rate-ip-multiplier", "1000",
    "--rate-signaling", "10000/10000", "--rate-chat", "1000/1000", "--rate-other", "1000/1000",
)  # fmt: skip


async def test_three_participants_on_two_nodes_share_one_room(
    node_factory: NodeFactory, redis_server: RedisServer
) -> None:
    flags = ("--mode", "sfu", "--redis-url", redis_server.url, *LIMITS)
    node1, node2 = node_factory(*flags), node_factory(*flags)
    ana = Member(node1.url, "ana", first_frame=10_000, receivers=2)
    bo = Member(node2.url, "bo", first_frame=20_000, receivers=2)
    cy = Member(node2.url, "cy", first_frame=30_000, receivers=2)
    members = [ana, bo, cy]
    client = Redis.from_url(redis_server.url, decode_responses=True)
    try:
        for i, member in enumerate(members):
            ack = await member.join_room("standup")
            assert [p["userName"] for p in ack["participants"]] == [m.name for m in members[:i]]
            for earlier in members[:i]:  # through node 2's socket.io manager for bo
                joined = await earlier.wire.next("participant-joined", timeout=10)
                assert joined["participantId"] == member.participant_id
            await member.start_media()
        # The room lives on node 1, which opened it; node 2 holds two guests' sockets.
        room = await client.hgetall("{liveloop}:rooms:standup")
        assert room["host"] == get_json(node1, "/health")["node"] and room["kind"] == "group"
        assert get_json(node1, "/api/status")["groupRooms"] == 1
        assert get_json(node2, "/api/status")["groupRooms"] == 0

        for member in members:
            others = {o.participant_id: o.first_frame for o in members if o is not member}
            await member.frames_from(others, 15, timeout=45)
            for owner in members:
                if owner is not member:
                    log = member.video_from(owner.participant_id)
                    assert log is not None
                    assert all(owner.first_frame <= c < owner.first_frame + 10_000
                               for c in log.counters)  # fmt: skip
            assert member.peer.audio_frames > 0

        # A guest's quality requests go through node 2 to the room's node, which applies them.
        await asks_off_and_back(cy, ana, bo)

        # Chat from a guest reaches the room's node's member and the other guest.
        await bo.wire.call("newMessage", {"message": "hello from node 2"})
        assert (await ana.wire.next("newMessage"))["message"] == "hello from node 2"
        assert (await cy.wire.next("newMessage"))["userName"] == "bo"

        # A guest's network changes while its socket stays up: its restart offer (new port, new
        # ICE credentials) goes through node 2 to the room's node, which answers from a new
        # connection; the guest decodes the others again and they decode its new counters.
        await cy.change_network(first_frame=60_000)
        await cy.frames_from({o.participant_id: o.first_frame for o in (ana, bo)}, 10, timeout=30)
        for member in (ana, bo):
            await member.frames_since(cy.participant_id, 60_000, 10)
        assert scrape(node1)["liveloop_ice_restarts_total"] == 1

        # A guest's media state reaches the others through the room's node.
        state = {"audio": False, "video": True, "screenTrackId": None}
        assert await cy.wire.call("media-state", state) == {"ok": True}
        for member in (ana, bo):
            updated = await member.wire.next("participant-updated", timeout=10)
            assert updated == {"participantId": cy.participant_id, **state}

        # A guest leaves: its tile goes on both nodes; a guest's socket closing does the same.
        assert await bo.leave() == {"ok": True, "left": True}
        for member in (ana, cy):
            left = await member.wire.next("participant-left", timeout=10)
            assert left == {"participantId": bo.participant_id}
        await cy.close()
        assert await ana.wire.next("participant-left", timeout=10) == {
            "participantId": cy.participant_id
        }
        # The last one out closes the room and lets go of its claim.
        await ana.leave()
        for _ in range(50):
            if not await client.exists("{liveloop}:rooms:standup"):
                break
            await asyncio.sleep(0.1)
        assert not await client.exists("{liveloop}:rooms:standup")
        assert get_json(node1, "/api/status")["groupRooms"] == 0
    finally:
        await client.aclose()
        for member in members:
            await member.close()
