"""Call admin across two real node processes sharing a real Redis: a call hosted by node A is
listed, recorded (start, stop) and ended through node B's admin API, and a guest on B of a group
room pinned to A is removed through B.

The clients are the wire-contract test clients with real aiortc media (tests/integration/calls/
wire_call.py). bob waits on B and alice asks on A, so A makes the match and hosts the call.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from liveloop_sfu.client import WireClient
from tests.integration.conftest import Caller
from tests.integration.recording.test_recording_node import TOKEN, admin, admin_json
from tests.nodes import NodeFactory, get_json
from tests.redis_server import RedisServer

pytestmark = pytest.mark.slow


async def test_a_call_on_node_a_is_listed_recorded_and_ended_through_node_b(
    node_factory: NodeFactory, caller: Caller, own_redis_server: RedisServer, tmp_path: Path
) -> None:
    flags = ("--mode", "sfu", "--redis-url", own_redis_server.url, "--admin-token", TOKEN)
    node_a = node_factory(*flags, "--recordings-dir", str(tmp_path / "a"))
    node_b = node_factory(*flags, "--recordings-dir", str(tmp_path / "b"))
    id_a, id_b = get_json(node_a, "/health")["node"], get_json(node_b, "/health")["node"]
    bob = await caller(node_b, "bob")
    alice = await caller(node_a, "alice")
    room_id = (await alice.matched())["roomId"]
    await bob.matched()
    await bob.frames_from_partner(10)

    # B lists the call A hosts, with both participants and their nodes.
    listing = await admin_json(node_b, "GET", "/api/admin/calls")
    assert sorted(listing["nodes"]) == sorted([id_a, id_b]) and listing["unreachable"] == []
    (call,) = listing["calls"]
    assert call["id"] == room_id and call["node"] == id_a and call["mode"] == "sfu"
    people = {p["userName"]: p["node"] for p in call["participants"]}
    assert people == {"alice": id_a, "bob": id_b} and call["recording"] is False
    assert (await admin_json(node_b, "GET", "/api/admin/rooms"))["rooms"] == []

    # Recording started and stopped through B happens on A; both clients are told.
    path = f"/api/admin/calls/{room_id}/recording"
    started = await admin_json(node_b, "POST", path, {"action": "start"})
    for client in (alice, bob):
        assert (await client.wire.next("recording")) == {"active": True, "reason": "admin"}
    listed = (await admin_json(node_b, "GET", "/api/admin/calls"))["calls"]
    assert listed[0]["recording"] is True
    seen = len(alice.peer.video_log.counters) if alice.peer else 0
    await alice.frames_from_partner(seen + 30)
    stopped = await admin_json(node_b, "POST", path, {"action": "stop"})
    assert stopped["recordingId"] == started["recordingId"]
    for client in (alice, bob):
        assert (await client.wire.next("recording")) == {"active": False, "reason": "admin"}
    (manifest,) = (await admin_json(node_a, "GET", "/api/admin/recordings"))["recordings"]
    assert manifest["recordingId"] == started["recordingId"] and manifest["status"] == "stopped"
    assert len(manifest["files"]) == 2 and not (tmp_path / "b").exists()

    # Ended through B: both told, nothing live anywhere, the room record gone.
    ended = await admin_json(node_b, "DELETE", f"/api/admin/calls/{room_id}")
    assert ended["ended"] is True
    for client in (alice, bob):
        assert (await client.event("partner-left"))["reason"] == "removed"
    assert (await admin_json(node_a, "GET", "/api/admin/calls"))["calls"] == []
    status, raw = await asyncio.to_thread(admin, node_b, "DELETE", f"/api/admin/calls/{room_id}")
    assert status == 404 and json.loads(raw)["error"]["code"] == "not-found"

    # A group room pinned to A with a guest on B: B lists it and removes the guest, whose own
    # node (B) is told by A and tells its client.
    carol = await WireClient(node_a.url, timeout=10).connect()
    dave = await WireClient(node_b.url, timeout=10).connect()
    try:
        await carol.call("join-room", {"roomId": "standup", "userName": "carol"})
        joined = await dave.call("join-room", {"roomId": "standup", "userName": "dave"})
        (group,) = (await admin_json(node_b, "GET", "/api/admin/rooms"))["rooms"]
        assert group["id"] == "standup" and group["node"] == id_a and group["kind"] == "group"
        assert {p["userName"]: p["node"] for p in group["participants"]} == {
            "carol": id_a,
            "dave": id_b,
        }
        pid = joined["participantId"]
        await admin_json(node_b, "DELETE", f"/api/admin/rooms/standup/participants/{pid}")
        assert (await dave.next("partner-left"))["reason"] == "removed"
        assert (await carol.next("participant-left"))["participantId"] == pid
        # dave's node let go of the room: he can join it again.
        await dave.call("join-room", {"roomId": "standup", "userName": "dave"})
    finally:
        await carol.close()
        await dave.close()

    # B's audit log names each action, the token's id and the outcome; never the token.
    audit = [line for line in _lines(node_b.log()) if "liveloop_sfu.audit" in line]
    assert [_field(line, "what") for line in audit] == [
        "recording.start",
        "recording.stop",
        "room.end",
        "room.end",
        "room.remove",
    ]
    outcomes = [_field(line, "outcome") for line in audit]
    assert outcomes == ["ok", "ok", "ok", "not-found", "ok"]
    assert len({_field(line, "who") for line in audit}) == 1
    assert TOKEN not in node_b.log() and TOKEN not in node_a.log()


def _lines(text: str) -> list[str]:
    return text.splitlines()


def _field(line: str, name: str) -> Any:
    """A ``name=value`` field of a text log line (logs.py's TextFormatter)."""
    for part in line.rsplit("[", 1)[-1].rstrip("]").split():
        key, _, value = part.partition("=")
        if key == name:
            return value
    raise AssertionError(f"no {name} in {line!r}")
