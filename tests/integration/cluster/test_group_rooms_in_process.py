"""Group rooms of several nodes joined in one process by the in-process Cluster: the rules that
pin a room to one node and make participants of the other nodes its guests.

Each node is a RoomService + GroupRooms with real (group-mode) SfuSessions; one Wire records what
socket.io would deliver to every socket, whichever node emitted it. No media is negotiated here
(tests/integration/cluster/test_group_rooms_across_nodes.py does that between real processes).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from liveloop_sfu.app import group_media_factory, sfu_factory
from liveloop_sfu.cluster.base import ClusterHub
from liveloop_sfu.config import RoomSettings, Settings
from liveloop_sfu.errors import MatchmakerUnavailable, RoomFull, Unauthorized
from liveloop_sfu.matchmaking.memory import MemoryMatchmaker
from liveloop_sfu.rooms.groups import GroupRooms
from liveloop_sfu.rooms.service import RoomService
from liveloop_sfu.signal.messages import JoinRoom, MediaState, RequestRoom

from .test_rooms_in_process import Wire

pytestmark = pytest.mark.slow

SECRET = "a-room-token-secret-for-tests"


@dataclasses.dataclass
class GroupNode:
    name: str
    rooms: RoomService
    groups: GroupRooms


def group_nodes(hub: ClusterHub, wire: Wire, *names: str, **overrides: Any) -> list[GroupNode]:
    settings = Settings(rooms=dataclasses.replace(RoomSettings(mode="sfu"), **overrides))
    matchmaker = MemoryMatchmaker()
    made = []
    for name in names:
        rooms = RoomService(
            settings.rooms,
            matchmaker,
            wire.emit,
            sfu_factory(settings, wire.emit),
            cluster=hub.node(name),
        )
        media = group_media_factory(settings, wire.emit)
        groups = GroupRooms(settings.rooms, rooms, wire.emit, media)
        made.append(GroupNode(name, rooms, groups))
    return made


async def join(node: GroupNode, sid: str, room: str = "team", **kw: Any) -> dict[str, Any]:
    if node.rooms.participant(sid) is None:
        node.rooms.connect(sid)
    return await node.groups.join(sid, JoinRoom(room, sid, kw.get("token")))


async def close_all(*nodes: GroupNode) -> None:
    for node in nodes:
        await node.rooms.close()


async def test_the_first_node_pins_the_room_and_the_others_join_as_guests() -> None:
    hub, wire = ClusterHub(), Wire()
    one, two = group_nodes(hub, wire, "n1", "n2")
    try:
        ana = await join(one, "ana")
        bo = await join(two, "bo")
        cy = await join(two, "cy")
        assert hub.rooms["team"]["host"] == "n1"
        room = one.rooms.room("team")
        assert room is not None and room.members == ["ana", "bo", "cy"]
        assert two.rooms.room("team") is None  # n2 only holds sockets
        # The acks come from the room's node and list who was there (guests included).
        assert [p["userName"] for p in cy["participants"]] == ["ana", "bo"]
        bo_home = two.rooms.participant("bo")
        assert bo_home is not None and bo["participantId"] == bo_home.participant_id
        assert bo_home.host == "n1" and bo_home.room_id == "team"
        # Everyone already in hears of each newcomer, on whichever node its socket is.
        assert [p["userName"] for p in wire.of("ana", "participant-joined")] == ["bo", "cy"]
        assert [p["userName"] for p in wire.of("bo", "participant-joined")] == ["cy"]
        # Chat from a guest reaches the others; chat from the host's member reaches the guests.
        await two.rooms.chat("bo", "from n2")
        assert wire.of("ana", "newMessage")[0]["message"] == "from n2"
        assert wire.of("cy", "newMessage")[0]["message"] == "from n2"
        await one.rooms.chat("ana", "from n1")
        assert [m["message"] for m in wire.of("bo", "newMessage")] == ["from n1"]
        # A guest's media state is shown to the others by the room's node.
        muted = MediaState(audio=False, video=True, screen_track_id=None)
        await two.groups.media_state("cy", muted)
        updated = wire.of("ana", "participant-updated")
        assert updated == [{**cy_state(cy), "audio": False}]
        assert wire.of("bo", "participant-updated") == updated
        assert ana["participantId"] not in {p["participantId"] for p in updated}
    finally:
        await close_all(one, two)


def cy_state(ack: dict[str, Any]) -> dict[str, Any]:
    return {"participantId": ack["participantId"], "audio": True, "video": True,
            "screenTrackId": None}  # fmt: skip


@pytest.mark.parametrize("how", ["leave-room", "disconnect", "request-room"])
async def test_a_guest_leaving_goes_from_the_room_on_its_node(how: str) -> None:
    hub, wire = ClusterHub(), Wire()
    one, two = group_nodes(hub, wire, "n1", "n2")
    try:
        await join(one, "ana")
        bo = await join(two, "bo")
        if how == "leave-room":
            assert await two.groups.leave("bo") == {"ok": True, "left": True}
        elif how == "disconnect":
            await two.rooms.disconnect("bo")
        else:
            await two.rooms.request_room("bo", RequestRoom("bo", None, None))
        assert wire.of("ana", "participant-left") == [{"participantId": bo["participantId"]}]
        room = one.rooms.room("team")
        assert room is not None and room.members == ["ana"]
        assert one.rooms.guest_of("bo") is None
        person = two.rooms.participant("bo")
        assert person is None or (person.room_id is None and person.host is None)
    finally:
        await close_all(one, two)


async def test_the_last_one_out_frees_the_room_for_any_node() -> None:
    hub, wire = ClusterHub(), Wire()
    one, two = group_nodes(hub, wire, "n1", "n2")
    try:
        await join(one, "ana")
        await join(two, "bo")
        await one.groups.leave("ana")  # the room stays on n1 while its guest is in it
        assert one.rooms.room("team") is not None and hub.rooms["team"]["host"] == "n1"
        await two.groups.leave("bo")
        assert one.rooms.room("team") is None and "team" not in hub.rooms
        await join(two, "bo")  # opened again: now pinned to n2
        assert hub.rooms["team"]["host"] == "n2" and two.rooms.room("team") is not None
    finally:
        await close_all(one, two)


@pytest.mark.parametrize("who", ["guest", "local"])
async def test_the_last_member_joining_its_room_again_keeps_it_pinned(who: str) -> None:
    hub, wire = ClusterHub(), Wire()
    one, two = group_nodes(hub, wire, "n1", "n2")
    try:
        await join(one, "ana")
        await join(two, "bo")
        leaver, stayer = (one, "ana") if who == "guest" else (two, "bo")
        await leaver.groups.leave(stayer)
        rejoiner, sid = (two, "bo") if who == "guest" else (one, "ana")
        ack = await join(rejoiner, sid)  # the room closes and opens again on n1
        assert ack["participants"] == []
        assert hub.rooms["team"]["host"] == "n1"
        room = one.rooms.room("team")
        assert room is not None and room.members == [sid]
        person = rejoiner.rooms.participant(sid)
        assert person is not None and person.room_id == "team"
        assert person.host == (None if who == "local" else "n1")
    finally:
        await close_all(one, two)


async def test_the_rooms_node_decides_room_full_and_tokens() -> None:
    hub, wire = ClusterHub(), Wire()
    one, two = group_nodes(
        hub,
        wire,
        "n1",
        "n2",
        max_room_participants=2,
        require_room_token=True,
        room_token_secret=SECRET,
    )
    try:
        token = one.groups.mint_token("team")
        await join(one, "ana", token=token)
        with pytest.raises(Unauthorized):
            await join(two, "bo", token="not-a-token")
        await join(two, "bo", token=token)
        with pytest.raises(RoomFull):
            await join(two, "cy", token=token)
        room = one.rooms.room("team")
        assert room is not None and room.members == ["ana", "bo"]
        assert one.rooms.guest_of("cy") is None
        cy = two.rooms.participant("cy")
        assert cy is not None and cy.room_id is None and cy.host is None
    finally:
        await close_all(one, two)


async def test_a_guest_joining_another_room_leaves_the_first() -> None:
    hub, wire = ClusterHub(), Wire()
    one, two = group_nodes(hub, wire, "n1", "n2")
    try:
        await join(one, "ana", room="first")
        await join(two, "di", room="second")  # pinned to n2
        bo = await join(two, "bo", room="first")
        await join(two, "bo", room="second")  # bo's own node now hosts his room
        assert wire.of("ana", "participant-left") == [{"participantId": bo["participantId"]}]
        second = two.rooms.room("second")
        assert second is not None and second.members == ["di", "bo"]
        bo_here = two.rooms.participant("bo")
        assert bo_here is not None and bo_here.host is None and bo_here.room_id == "second"
    finally:
        await close_all(one, two)


async def test_a_room_whose_node_died_is_claimed_again_and_its_guests_are_told() -> None:
    hub, wire = ClusterHub(), Wire()
    one, two = group_nodes(hub, wire, "n1", "n2")
    try:
        await join(one, "ana")
        await join(two, "bo")
        hub.leave("n1")  # n1 dies (its claim on the room stays behind)
        with pytest.raises(MatchmakerUnavailable):
            await two.rooms.chat("bo", "anyone?")  # one failed forward keeps the membership
        await two.rooms.resync()
        await two.rooms.resync()  # two denials: the room is gone for bo
        assert wire.of("bo", "partner-left") == [{"reason": "node-unreachable"}]
        # A participant joining now gets the room on a live node.
        await join(two, "cy")
        assert hub.rooms["team"]["host"] == "n2"
        room = two.rooms.room("team")
        assert room is not None and room.members == ["cy"]
    finally:
        await close_all(two)
        await one.rooms.close()


async def test_a_guest_whose_node_died_leaves_the_room_after_two_checks() -> None:
    hub, wire = ClusterHub(), Wire()
    one, two = group_nodes(hub, wire, "n1", "n2")
    try:
        await join(one, "ana")
        bo = await join(two, "bo")
        hub.leave("n2")
        await one.rooms.resync()
        assert not wire.of("ana", "participant-left")  # one denial may be a claim in flight
        await one.rooms.resync()
        assert wire.of("ana", "participant-left") == [{"participantId": bo["participantId"]}]
        room = one.rooms.room("team")
        assert room is not None and room.members == ["ana"] and one.rooms.guest_of("bo") is None
    finally:
        await close_all(one)
        await two.rooms.close()


async def test_a_refused_join_does_not_pin_a_room_that_never_opened() -> None:
    hub, wire = ClusterHub(), Wire()
    one, two = group_nodes(hub, wire, "n1", "n2", require_room_token=True, room_token_secret=SECRET)
    try:
        with pytest.raises(Unauthorized):
            await join(one, "ana", token="not-a-token")
        assert "team" not in hub.rooms and one.rooms.room("team") is None
        hub.claim("team", "n1")  # pinned to n1 (as by a join racing this one), never opened
        with pytest.raises(Unauthorized):
            await join(two, "bo", token="not-a-token")  # refused by n1
        assert "team" not in hub.rooms and one.rooms.room("team") is None
        await join(two, "bo", token=two.groups.mint_token("team"))
        assert hub.rooms["team"]["host"] == "n2"
    finally:
        await close_all(one, two)


async def test_a_guest_whose_media_fails_is_dropped_and_told_through_its_node() -> None:
    hub, wire = ClusterHub(), Wire()
    one, two = group_nodes(hub, wire, "n1", "n2")
    try:
        ana = await join(one, "ana")
        bo = await join(two, "bo")
        room = one.rooms.room("team")
        assert room is not None
        session: Any = room.media
        await session._on_failure("bo", "ice-failed")
        assert wire.of("ana", "participant-left") == [{"participantId": bo["participantId"]}]
        assert wire.of("bo", "partner-left") == [{"reason": "media-failed"}]
        person = two.rooms.participant("bo")
        assert person is not None and person.room_id is None and person.host is None
        assert room.members == ["ana"] and ana["participants"] == []
    finally:
        await close_all(one, two)
