"""Report and skip when the two partners' sockets live on different nodes (requirement 8).

Two real node processes share one real ``redis-server`` for the whole module. A 1:1 call is
hosted by the node that made the match (the one of the second request); the partner on the other
node is a *guest* (liveloop_sfu/rooms/cross_node.py). A report or skip is handled by the reporter's
own node and acts through the shared Redis matchmaker, so it must hold whichever side hosts, for
new connections of the same browsers on either node, and leave both free to meet others. The
flows mirror tests/integration/safety/test_report_and_skip.py (one node).
"""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from redis.asyncio import Redis

from liveloop_sfu.client import WireClient, WireError
from tests.nodes import Node, get_json, start_node
from tests.redis_server import RedisServer

pytestmark = pytest.mark.slow

ADMIN = "admin-token-for-cross-node-safety"
# docs/hardening.md: one --client-key-secret on every node of a cluster, so either honours a key.
SECRET = "client-key-secret-shared-by-both-nodes"

Connect = Callable[..., Awaitable[WireClient]]


@dataclass
class TwoNodes:
    redis: RedisServer
    node1: Node
    node2: Node


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoNodes]:
    """Started once for the module: every test leaves no socket, room or queue entry behind."""
    workdir = tmp_path_factory.mktemp("safety-across-nodes")
    redis = RedisServer(workdir)
    redis.start()
    flags = ["--mode", "p2p", "--redis-url", redis.url]
    flags += ["--admin-token", ADMIN, "--client-key-secret", SECRET]
    nodes: list[Node] = []
    try:
        nodes.append(start_node(workdir, *flags))
        nodes.append(start_node(workdir, *flags))
        yield TwoNodes(redis, nodes[0], nodes[1])
    finally:
        for node in nodes:
            node.stop()
        redis.stop()
    for node in nodes:
        assert "no --client-key-secret" not in node.log()  # the warning is for other setups


@pytest.fixture
async def connect(two: TwoNodes) -> AsyncIterator[Connect]:
    """``await connect(node, client_key=None)``; at teardown all are closed and both nodes and
    Redis are checked to hold nothing of them."""
    clients: list[WireClient] = []

    async def make(node: Node, key: str | None = None) -> WireClient:
        client = WireClient(node.url, timeout=10)
        clients.append(client)
        return await client.connect(auth={"clientKey": key} if key else None)

    yield make
    for client in clients:
        await client.close()
    await _settled(two)


# What Redis keeps by design once everybody left: the nodes' registrations, the daily counters,
# the reports and the client-id blocks of reports (for --report-block-days).
_KEPT = ("nodes", "metrics:daily", "reports", "blocks:client:")


async def _settled(two: TwoNodes, timeout: float = 15.0) -> None:
    """No socket, room or Redis key of a user (queue entry, user hash, session blocks, room
    record) is left on either node or in Redis."""
    deadline = time.monotonic() + timeout
    client = Redis.from_url(two.redis.url, decode_responses=True)
    try:
        while True:
            keys = [key async for key in client.scan_iter(match="{liveloop}:*", count=1000)]
            left = sorted(k for k in keys if not k.removeprefix("{liveloop}:").startswith(_KEPT))
            statuses = [get_json(node, "/api/status") for node in (two.node1, two.node2)]
            if not left and all(
                s["connectedSockets"] == 0 and s["activeRooms"] == {"sfu": 0, "p2p": 0}
                for s in statuses
            ):
                return
            assert time.monotonic() < deadline, f"left behind: {left}, nodes {statuses}"
            await asyncio.sleep(0.1)
    finally:
        await client.aclose()


def reports_on(node: Node) -> list[dict[str, Any]]:
    reports: list[dict[str, Any]] = get_json(node, "/api/admin/reports?limit=1000", ADMIN)[
        "reports"
    ]
    return reports


def the_report(node: Node, report_id: str) -> dict[str, Any]:
    """The one stored report with ``report_id`` (a duplicate would fail here)."""
    found = [r for r in reports_on(node) if r["reportId"] == report_id]
    assert len(found) == 1, found
    return found[0]


def rooms_on(node: Node) -> int:
    rooms: dict[str, int] = get_json(node, "/api/status")["activeRooms"]
    return rooms["p2p"]


async def call_between(
    first: WireClient, second: WireClient, names: tuple[str, str]
) -> tuple[str, str, str]:
    """``first`` waits, ``second`` is matched with it (so ``second``'s node hosts the call):
    the room and the client keys of ``first`` and ``second``."""
    waiting = await first.request_room(names[0])
    assert waiting["status"] == "waiting"
    ack = await second.request_room(names[1])
    assert ack["status"] == "matched"
    done_first, done_second = await first.next("match-done"), await second.next("match-done")
    assert done_first["roomId"] == done_second["roomId"] == ack["roomId"]
    return str(ack["roomId"]), str(waiting["clientKey"]), str(ack["clientKey"])


async def meets(newcomer: WireClient, waiting: WireClient) -> None:
    """``newcomer`` asks and is matched with ``waiting``."""
    ack = await newcomer.request_room("newcomer")
    assert ack["status"] == "matched"
    assert (await waiting.next("match-done"))["roomId"] == ack["roomId"]
    assert (await newcomer.next("match-done"))["roomId"] == ack["roomId"]


@pytest.mark.parametrize("reporter_side", ["host", "guest"])
async def test_a_reported_pair_never_meets_again_on_either_node(
    two: TwoNodes, connect: Connect, reporter_side: str
) -> None:
    alice, bob = await connect(two.node1), await connect(two.node2)
    bob_sid = bob.sio.get_sid()
    # The second request makes the match, on its node: alice's node hosts when she is second.
    if reporter_side == "host":
        room_id, bob_key, alice_key = await call_between(bob, alice, ("bob", "alice"))
        host, other = two.node1, two.node2
    else:
        room_id, alice_key, bob_key = await call_between(alice, bob, ("alice", "bob"))
        host, other = two.node2, two.node1
    assert (rooms_on(host), rooms_on(other)) == (1, 0)

    with pytest.raises(WireError) as info:
        await alice.call("report-partner", {"reason": "rude words"})
    assert info.value.code == "invalid-payload"
    ack = await alice.call("report-partner", {"reason": "harassment", "text": "insults"})
    assert ack["ok"] and ack["reportId"]
    # The report does not end the call (chat still crosses the nodes), and the reported user
    # is not told of it.
    await alice.call("newMessage", {"message": "still here"})
    assert (await bob.next("newMessage"))["message"] == "still here"
    assert bob.pending("partner-left") == 0 and rooms_on(host) == 1

    # Next, both: they wait apart instead of meeting again, each on its node.
    await alice.call("stop-call")
    assert (await bob.next("partner-left"))["reason"] == "stopped"
    assert (await alice.request_room("alice"))["status"] == "waiting"
    assert (await bob.request_room("bob"))["status"] == "waiting"
    # New connections of the same two browsers, each now on the other node, do not meet either.
    await alice.close()
    await bob.close()
    alice2, bob2 = await connect(two.node2, alice_key), await connect(two.node1, bob_key)
    assert (await alice2.request_room("alice"))["clientKey"] == alice_key
    assert (await bob2.request_room("bob"))["status"] == "waiting"
    # Both still meet others: carol takes the older waiter (alice2), dave the other.
    await meets(await connect(two.node1), alice2)
    await meets(await connect(two.node2), bob2)

    for node in (two.node1, two.node2):  # one shared store: the same report on either node
        report = the_report(node, ack["reportId"])
        assert report["reason"] == "harassment" and report["text"] == "insults"
        assert report["roomId"] == room_id
        assert report["reporter"]["userName"] == "alice"
        assert report["reporter"]["clientId"] == alice_key.split(".")[0]
        assert report["reported"]["clientId"] == bob_key.split(".")[0]
        assert report["reported"]["userId"] == bob_sid
    with pytest.raises(urllib.error.HTTPError) as refused:
        get_json(two.node2, "/api/admin/reports", token="wrong-token-wrong-token")
    assert refused.value.code == 401
    refused.value.close()


async def test_a_skipped_partner_is_not_met_again_in_that_session_across_nodes(
    two: TwoNodes, connect: Connect
) -> None:
    reports_before = len(reports_on(two.node1))
    dave, erin = await connect(two.node1), await connect(two.node2)
    _, dave_key, _ = await call_between(dave, erin, ("dave", "erin"))  # erin's node hosts
    # The guest skips, then Next (request-room while in the call), as the web client's Skip.
    assert (await dave.call("skip-partner"))["ok"]
    assert (await dave.request_room("dave"))["status"] == "waiting"
    assert (await erin.next("partner-left"))["reason"] == "next"
    assert (await erin.request_room("erin"))["status"] == "waiting"
    # Each still meets others, from either node: frank takes dave (the older), grace erin.
    frank, grace = await connect(two.node1), await connect(two.node2)
    await meets(frank, dave)
    await meets(grace, erin)
    # A new session of dave's browser, on the other node, may meet erin again: a skip is not a
    # report.
    await grace.call("stop-call")
    assert (await erin.next("partner-left"))["reason"] == "stopped"
    assert (await erin.request_room("erin"))["status"] == "waiting"
    await dave.close()
    assert (await frank.next("partner-left"))["reason"] == "disconnected"
    dave2 = await connect(two.node2, dave_key)
    await meets(dave2, erin)
    assert len(reports_on(two.node2)) == reports_before


async def test_a_report_after_the_partner_left_holds_for_new_connections_on_either_node(
    two: TwoNodes, connect: Connect
) -> None:
    alice, bob = await connect(two.node1), await connect(two.node2)
    room_id, alice_key, bob_key = await call_between(alice, bob, ("alice", "bob"))
    # bob, on the host, leaves for good; alice (the guest) is told by her node, then reports
    # the partner she had.
    await bob.close()
    assert (await alice.next("partner-left"))["reason"] == "disconnected"
    ack = await alice.call("report-partner", {"reason": "nudity"})
    report = the_report(two.node2, ack["reportId"])
    assert report["roomId"] == room_id and report["text"] is None
    assert report["reported"]["clientId"] == bob_key.split(".")[0]
    # The browsers come back, each on the other node and with its signed key: never paired.
    await alice.close()
    alice2, bob2 = await connect(two.node2, alice_key), await connect(two.node1, bob_key)
    assert (await bob2.request_room("bob"))["status"] == "waiting"
    assert (await alice2.request_room("alice"))["status"] == "waiting"
    # ... and again, each back on its first node (the same browser's two connections are not
    # kept apart, so one round at a time).
    await alice2.close()
    await bob2.close()
    alice3, bob3 = await connect(two.node1, alice_key), await connect(two.node2, bob_key)
    assert (await alice3.request_room("alice"))["status"] == "waiting"
    assert (await bob3.request_room("bob"))["status"] == "waiting"
    # Both still meet others.
    await meets(await connect(two.node2), alice3)
    await meets(await connect(two.node1), bob3)


async def test_reporting_edge_cases_across_nodes(two: TwoNodes, connect: Connect) -> None:
    xena, yuri = await connect(two.node1), await connect(two.node2)
    # No partner yet — not even while waiting: a clear error on either node, nothing stored.
    reports_before = len(reports_on(two.node1))
    for client in (xena, yuri):
        for event, payload in (("report-partner", {"reason": "spam"}), ("skip-partner", {})):
            with pytest.raises(WireError) as info:
                await client.call(event, payload)
            assert info.value.code == "not-in-room"
    assert (await xena.request_room("xena"))["status"] == "waiting"
    with pytest.raises(WireError) as info:
        await xena.call("report-partner", {"reason": "spam"})
    assert info.value.code == "not-in-room"
    assert len(reports_on(two.node2)) == reports_before

    ack = await yuri.request_room("yuri")  # yuri's node hosts, xena is the guest
    assert (await xena.next("match-done"))["roomId"] == ack["roomId"]
    # Reporting the same partner twice, during the call and after it, files one report.
    for client in (xena, yuri):
        first = await client.call("report-partner", {"reason": "spam"})
        again = await client.call("report-partner", {"reason": "hate", "text": "more"})
        assert again == first
        await client.call("skip-partner")  # after a report: nothing more to do, still ok
    await xena.call("stop-call")
    assert (await yuri.next("partner-left"))["reason"] == "stopped"
    after = await xena.call("report-partner", {"reason": "other"})
    assert len(reports_on(two.node1)) == reports_before + 2
    assert the_report(two.node1, after["reportId"])["reason"] == "spam"
