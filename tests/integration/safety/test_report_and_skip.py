"""report-partner and skip-partner against a real node, in process memory and in Redis."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

import pytest

from liveloop_sfu.client import WireClient, WireError
from tests.nodes import Node, NodeFactory, get_json

pytestmark = pytest.mark.slow

ADMIN = "admin-token-for-safety-tests"


@pytest.fixture(params=["memory", "redis"])
def node(request: pytest.FixtureRequest, node_factory: NodeFactory) -> Node:
    flags = ["--mode", "p2p", "--admin-token", ADMIN]
    if request.param == "redis":
        flags += ["--redis-url", request.getfixturevalue("redis_server").url]
    return node_factory(*flags)


@pytest.fixture
async def connect(node: Node) -> AsyncIterator[Any]:
    clients: list[WireClient] = []

    async def make(key: str | None = None) -> WireClient:
        client = WireClient(node.url, timeout=5)
        clients.append(client)
        return await client.connect(auth={"clientKey": key} if key else None)

    yield make
    for client in clients:
        await client.close()


def admin_reports(node: Node, token: str | None = ADMIN) -> dict[str, Any]:
    return get_json(node, "/api/admin/reports?limit=10", token)


async def matched(a: WireClient, b: WireClient) -> bool:
    """Whether ``a`` and ``b`` were paired (each got match-done naming the other)."""
    done_a, done_b = await a.next("match-done"), await b.next("match-done")
    return bool(done_a["roomId"] == done_b["roomId"])


async def test_a_reported_pair_is_never_matched_again(node: Node, connect: Any) -> None:
    alice, bob = await connect(), await connect()
    alice_key = (await alice.request_room("alice"))["clientKey"]
    bob_key = (await bob.request_room("bob"))["clientKey"]
    assert await matched(alice, bob)

    with pytest.raises(WireError) as info:
        await alice.call("report-partner", {"reason": "rude words"})
    assert info.value.code == "invalid-payload"
    ack = await alice.call("report-partner", {"reason": "harassment", "text": "insults"})
    assert ack["ok"] and ack["reportId"]

    # Next, both: they wait apart instead of meeting again.
    await alice.call("stop-call")
    await bob.next("partner-left")
    assert (await alice.request_room("alice"))["status"] == "waiting"
    assert (await bob.request_room("bob"))["status"] == "waiting"
    # New connections of the same two browsers do not meet either.
    await alice.close()
    await bob.close()
    alice2, bob2 = await connect(alice_key), await connect(bob_key)
    assert (await alice2.request_room("alice"))["clientKey"] == alice_key
    assert (await bob2.request_room("bob"))["status"] == "waiting"
    # A key the node did not sign is a new browser, who meets the first one waiting.
    forged = alice_key[:-4] + "0000"
    carol = await connect(forged)
    ack = await carol.request_room("carol")
    assert ack["status"] == "matched" and ack["clientKey"] != forged
    assert (await alice2.next("match-done"))["roomId"] == ack["roomId"]

    report = admin_reports(node)["reports"][0]  # newest first
    assert report["reason"] == "harassment" and report["text"] == "insults"
    assert report["reporter"]["userName"] == "alice" and report["roomId"]
    assert report["reporter"]["clientId"] == alice_key.split(".")[0]
    assert report["reported"]["clientId"] == bob_key.split(".")[0]
    with pytest.raises(urllib.error.HTTPError) as refused:
        admin_reports(node, token="wrong-token-wrong-token")
    assert refused.value.code == 401
    refused.value.close()


async def test_a_skipped_partner_is_not_met_again_in_that_session(node: Node, connect: Any) -> None:
    reports_before = len(admin_reports(node)["reports"])  # Redis is shared by the module
    dave, erin = await connect(), await connect()
    with pytest.raises(WireError) as info:
        await dave.call("skip-partner")
    assert info.value.code == "not-in-room"
    dave_key = (await dave.request_room("dave"))["clientKey"]
    await erin.request_room("erin")
    assert await matched(dave, erin)
    assert (await dave.call("skip-partner"))["ok"]
    await dave.call("stop-call")
    await erin.next("partner-left")
    assert (await erin.request_room("erin"))["status"] == "waiting"
    assert (await dave.request_room("dave"))["status"] == "waiting"
    # A new session of dave's browser may meet erin again: a skip is not a report.
    await dave.close()
    dave2 = await connect(dave_key)
    assert (await dave2.request_room("dave"))["status"] == "matched"
    assert len(admin_reports(node)["reports"]) == reports_before


async def test_reporting_edge_cases_are_the_same_on_both_backends(node: Node, connect: Any) -> None:
    """The edge cases of tests/integration/cluster/test_safety_across_nodes.py on one node."""
    reports_before = len(admin_reports(node)["reports"])
    fay, gus = await connect(), await connect()
    # No partner yet, not even while waiting: a clear error, nothing stored.
    with pytest.raises(WireError) as info:
        await fay.call("report-partner", {"reason": "spam"})
    assert info.value.code == "not-in-room"
    await fay.request_room("fay")
    with pytest.raises(WireError) as info:
        await fay.call("report-partner", {"reason": "spam"})
    assert info.value.code == "not-in-room"
    await gus.request_room("gus")
    assert await matched(fay, gus)
    # The same partner reported twice (and skipped after it): one report, the first.
    first = await fay.call("report-partner", {"reason": "spam"})
    assert await fay.call("report-partner", {"reason": "hate", "text": "more"}) == first
    assert (await fay.call("skip-partner"))["ok"]
    # After the partner left for good, the report still names them (and is still the first).
    await gus.close()
    assert (await fay.next("partner-left"))["reason"] == "disconnected"
    assert await fay.call("report-partner", {"reason": "other"}) == first
    reports = admin_reports(node)["reports"]
    assert len(reports) == reports_before + 1 and reports[0]["reason"] == "spam"


async def test_a_report_from_a_group_room_names_the_call_where_they_met(
    node_factory: NodeFactory,
) -> None:
    """Group rooms need an sfu node; the report still acts on the last 1:1 partner, so it must
    carry that call's room, not the group room the reporter is in now."""
    node = node_factory("--mode", "sfu", "--admin-token", ADMIN)
    hana, ivan = WireClient(node.url, timeout=10), WireClient(node.url, timeout=10)
    try:
        await hana.connect()
        await ivan.connect()
        await hana.request_room("hana")
        call = await ivan.request_room("ivan")
        assert call["status"] == "matched"
        joined = await hana.call("join-room", {"roomId": "after-the-call", "userName": "hana"})
        assert joined["roomId"] == "after-the-call"
        assert (await ivan.next("partner-left"))["reason"] == "stopped"
        ack = await hana.call("report-partner", {"reason": "hate"})
        report = admin_reports(node)["reports"][0]
        assert report["reportId"] == ack["reportId"] and report["roomId"] == call["roomId"]
    finally:
        await hana.close()
        await ivan.close()
