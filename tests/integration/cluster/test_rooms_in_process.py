"""Rooms of several nodes joined in one process by the in-process Cluster (no Redis, no
sockets): the cross-node rules of rooms/ driven directly, p2p so no media is involved.

Each node is a RoomService with its own emit log; one MemoryMatchmaker stands for the shared
queue (it returns each partner's node, as the Redis one does).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from liveloop_sfu.cluster.base import ClusterHub
from liveloop_sfu.config import RoomSettings
from liveloop_sfu.errors import MatchmakerUnavailable, NotInRoom
from liveloop_sfu.matchmaking.memory import MemoryMatchmaker
from liveloop_sfu.matchmaking.rules import Waiter
from liveloop_sfu.rooms.safety import MemoryReports, SafetyService
from liveloop_sfu.rooms.service import RoomService
from liveloop_sfu.signal.messages import ReportPartner, RequestRoom

pytestmark = pytest.mark.slow


@dataclass
class Wire:
    """Every emit of every node, by socket id: what socket.io would deliver."""

    events: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    async def emit(self, sid: str, event: str, payload: Mapping[str, Any]) -> None:
        self.events.append((sid, event, dict(payload)))

    def of(self, sid: str, event: str) -> list[dict[str, Any]]:
        return [p for s, e, p in self.events if s == sid and e == event]


def nodes(hub: ClusterHub, wire: Wire, *names: str) -> tuple[MemoryMatchmaker, list[RoomService]]:
    matchmaker = MemoryMatchmaker()
    settings = RoomSettings(mode="p2p")
    services = [
        RoomService(settings, matchmaker, wire.emit, None, cluster=hub.node(name)) for name in names
    ]
    return matchmaker, services


async def matched(one: RoomService, two: RoomService) -> None:
    one.connect("alice")
    two.connect("bob")
    assert (await one.request_room("alice", RequestRoom("alice", None, None)))[
        "status"
    ] == "waiting"
    assert (await two.request_room("bob", RequestRoom("bob", None, None)))["status"] == "matched"


async def test_the_matching_node_hosts_and_the_guest_signals_through_it() -> None:
    hub, wire = ClusterHub(), Wire()
    _, (one, two) = nodes(hub, wire, "n1", "n2")
    await matched(one, two)
    room_id = wire.of("alice", "match-done")[0]["roomId"]
    assert wire.of("bob", "match-done")[0]["roomId"] == room_id
    assert two.room(room_id) is not None and one.room(room_id) is None
    await asyncio.sleep(0.01)  # rooms:{roomId} is written in the background
    assert hub.rooms[room_id]["host"] == "n2"
    # alice's offer (she joined first: the p2p offerer) is relayed by the host to bob.
    await one.offer("alice", "v=0\r\n")
    assert wire.of("bob", "negotiation-call-offer") == [
        {"sdp": {"type": "offer", "sdp": "v=0\r\n"}}
    ]
    await two.answer("bob", "v=1\r\n")
    assert wire.of("alice", "negotiation-call-answer")[0]["sdp"]["sdp"] == "v=1\r\n"
    ack = await one.chat("alice", "hi")
    assert ack["message"]["userName"] == "alice"
    assert wire.of("bob", "newMessage")[0]["message"] == "hi"


@pytest.mark.parametrize("leaver", ["guest-stops", "guest-disconnects", "host-user-stops"])
async def test_either_side_ending_the_call_frees_both_nodes(leaver: str) -> None:
    hub, wire = ClusterHub(), Wire()
    _, (one, two) = nodes(hub, wire, "n1", "n2")
    await matched(one, two)
    room_id = wire.of("alice", "match-done")[0]["roomId"]
    if leaver == "guest-stops":
        assert (await one.stop_call("alice"))["left"] is True
        told, reason = "bob", "stopped"
    elif leaver == "guest-disconnects":
        await one.disconnect("alice")
        told, reason = "bob", "disconnected"
    else:
        await two.stop_call("bob")
        told, reason = "alice", "stopped"
    assert wire.of(told, "partner-left") == [{"reason": reason}]
    await asyncio.sleep(0.01)
    assert two.room(room_id) is None and room_id not in hub.rooms
    alice = one.participant("alice")
    assert alice is None or (alice.room_id is None and alice.host is None)
    with pytest.raises(NotInRoom):
        await two.chat("bob", "anyone?")


async def test_a_user_who_is_not_waiting_is_never_claimed() -> None:
    hub, wire = ClusterHub(), Wire()
    matchmaker, (one, two) = nodes(hub, wire, "n1", "n2")
    one.connect("alice")
    two.connect("bob")
    await one.request_room("alice", RequestRoom("alice", None, None))
    # alice stopped, but (as with Redis unreachable) her queue entry stayed behind.
    alice = one.participant("alice")
    assert alice is not None
    alice.waiting = False
    assert (await two.request_room("bob", RequestRoom("bob", None, None)))["status"] == "waiting"
    assert not wire.of("bob", "match-done") and not wire.of("alice", "match-done")
    assert await matchmaker.is_waiting("bob")


@pytest.mark.parametrize("partner", ["stopped", "node-died"])
async def test_a_partner_who_could_not_be_claimed_is_nobody_to_report(partner: str) -> None:
    """The matchmaker paired bob with alice, but her node refused the claim (she had just
    stopped) or is gone: bob never met her, so his report or skip names his real last partner
    (carl), and alice may still meet bob."""
    hub, wire = ClusterHub(), Wire()
    matchmaker, (one, two) = nodes(hub, wire, "n1", "n2")
    safety = SafetyService(two, matchmaker, MemoryReports(), block_days=1)
    for sid in ("bob", "carl"):
        two.connect(sid)
        await two.request_room(sid, RequestRoom(sid, None, None))
    await two.stop_call("carl")
    one.connect("alice")
    await one.request_room("alice", RequestRoom("alice", None, None))
    if partner == "stopped":  # her queue entry stayed behind (as with Redis unreachable)
        alice = one.participant("alice")
        assert alice is not None
        alice.waiting = False
    else:
        hub.leave("n1")
    assert (await two.request_room("bob", RequestRoom("bob", None, None)))["status"] == "waiting"
    assert not wire.of("alice", "match-done")
    assert (await safety.report("bob", ReportPartner("spam", None)))["ok"]
    report = (await safety.reports.recent(1))[0]
    assert report["reported"]["userId"] == "carl"
    with pytest.raises(NotInRoom):  # and alice has had no partner at all
        await SafetyService(one, matchmaker, MemoryReports(), block_days=1).skip("alice")
    if partner == "stopped":  # alice asks again and meets bob: nothing keeps them apart
        await two.stop_call("bob")
        await two.request_room("bob", RequestRoom("bob", None, None))
        ack = await one.request_room("alice", RequestRoom("alice", None, None))
        assert ack["status"] == "matched"
        assert wire.of("alice", "match-done")[0]["peer"]["userName"] == "bob"


class StopsWhilePairing(MemoryMatchmaker):
    """The real memory matchmaker; the requester's stop-call lands while its match is made (as
    it can while a Redis round trip is in flight)."""

    rooms: RoomService | None = None

    async def match_or_enqueue(self, waiter: Waiter) -> Waiter | None:
        partner = await super().match_or_enqueue(waiter)
        if partner is not None and self.rooms is not None:
            await self.rooms.stop_call(waiter.user_id)
        return partner


async def test_a_requester_who_stopped_while_paired_is_nobody_to_report() -> None:
    """bob was paired with alice but stopped before she could be claimed: neither met the
    other, so alice has no partner to report or skip, and the two may still meet later."""
    hub, wire = ClusterHub(), Wire()
    matchmaker = StopsWhilePairing()
    one, two = (
        RoomService(RoomSettings(mode="p2p"), matchmaker, wire.emit, None, cluster=hub.node(name))
        for name in ("n1", "n2")
    )
    one.connect("alice")
    await one.request_room("alice", RequestRoom("alice", None, None))
    two.connect("bob")
    matchmaker.rooms = two
    assert (await two.request_room("bob", RequestRoom("bob", None, None)))["status"] == "stopped"
    matchmaker.rooms = None
    assert not wire.of("alice", "match-done")
    for sid, node in (("alice", one), ("bob", two)):
        with pytest.raises(NotInRoom):
            await SafetyService(node, matchmaker, MemoryReports(), block_days=1).skip(sid)
    # alice's entry was left unclaimed; her node queues her again (resync), and bob meets her.
    await one.resync()
    ack = await two.request_room("bob", RequestRoom("bob", None, None))
    assert ack["status"] == "matched"
    assert wire.of("alice", "match-done")[0]["peer"]["userName"] == "bob"


async def test_a_host_out_of_reach_refuses_signaling_but_keeps_the_call() -> None:
    """One failed forward may be a Redis hiccup: the guest gets matchmaker-unavailable and
    keeps its call; only the periodic check (two denials) ends it."""
    hub, wire = ClusterHub(), Wire()
    _, (one, two) = nodes(hub, wire, "n1", "n2")
    await matched(one, two)
    hub.leave("n2")
    with pytest.raises(MatchmakerUnavailable):
        await one.offer("alice", "v=0\r\n")
    alice = one.participant("alice")
    assert alice is not None and alice.host == "n2"
    assert not wire.of("alice", "partner-left")
    hub.register("n2", two.handle_remote)  # back
    await one.offer("alice", "v=0\r\n")
    assert len(wire.of("bob", "negotiation-call-offer")) == 1


async def test_resync_queues_waiting_users_again() -> None:
    hub, wire = ClusterHub(), Wire()
    matchmaker, (one,) = nodes(hub, wire, "n1")
    one.connect("alice")
    await one.request_room("alice", RequestRoom("alice", None, None))
    await matchmaker.close()  # the queue is lost, as with a Redis restarted without data
    assert not await matchmaker.is_waiting("alice")
    await one.resync()
    assert await matchmaker.is_waiting("alice")


@pytest.mark.parametrize("dead", ["host", "home"])
async def test_a_call_whose_other_node_died_is_ended_by_the_periodic_check(dead: str) -> None:
    hub, wire = ClusterHub(), Wire()
    _, (one, two) = nodes(hub, wire, "n1", "n2")
    await matched(one, two)  # hosted by n2, alice (on n1) is its guest
    survivor, told, reason = (one, "alice", "node-unreachable")
    if dead == "home":
        survivor, told, reason = (two, "bob", "disconnected")
    hub.leave("n2" if dead == "host" else "n1")
    await survivor.resync()  # one denial is not enough (a claim may be in flight)
    assert not wire.of(told, "partner-left")
    await survivor.resync()
    assert wire.of(told, "partner-left") == [{"reason": reason}]
    person = survivor.participant(told)
    assert person is not None and person.room_id is None


async def test_the_periodic_check_keeps_live_cross_node_calls() -> None:
    hub, wire = ClusterHub(), Wire()
    _, (one, two) = nodes(hub, wire, "n1", "n2")
    await matched(one, two)
    for _ in range(3):
        await one.resync()
        await two.resync()
    assert not wire.of("alice", "partner-left") and not wire.of("bob", "partner-left")
    await one.chat("alice", "still here")
    assert wire.of("bob", "newMessage")[0]["message"] == "still here"
