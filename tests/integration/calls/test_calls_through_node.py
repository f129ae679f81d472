"""Whole calls through a real node process: socket.io signaling + real aiortc media.

Both ends are aiortc peers that paint a frame counter into their video and read the partner's
back, so "media flows" means "the partner's frames decode, in order".
"""

from __future__ import annotations

import pytest

from tests.integration.calls.wire_call import WireCall
from tests.integration.conftest import Caller, call_pair
from tests.nodes import NodeFactory, get_json

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("mode", ["sfu", "p2p"])
async def test_call_media_flows_both_ways(
    node_factory: NodeFactory, caller: Caller, mode: str
) -> None:
    node = node_factory("--mode", mode)
    alice, bob = await call_pair(node, caller)
    assert alice.mode == bob.mode == mode
    await alice.frames_from_partner(20)
    await bob.frames_from_partner(20)
    for call in (alice, bob):
        assert call.peer is not None
        assert call.peer.video_log.in_order()
        assert call.peer.audio_frames > 0
    assert get_json(node, "/api/status")["activeRooms"][mode] == 1
    # --mode p2p without TURN is the operator's choice; the node says what it means.
    warned = "--mode p2p without TURN: the two browsers of every call connect directly"
    assert (warned in node.log()) is (mode == "p2p")


async def test_auto_mode_is_sfu_by_default(node_factory: NodeFactory, caller: Caller) -> None:
    node = node_factory()
    alice, bob = await call_pair(node, caller)
    assert alice.mode == "sfu"
    await bob.frames_from_partner(10)
    assert get_json(node, "/api/status")["forwardedStreams"] == 4


async def test_auto_mode_at_capacity_goes_p2p(node_factory: NodeFactory, caller: Caller) -> None:
    # Direct p2p between strangers needs the operator's word (no TURN here).
    node = node_factory("--max-forwarded-streams", "4", "--allow-direct-p2p")
    first = await call_pair(node, caller)
    second = await call_pair(node, caller)
    assert [c.mode for c in (*first, *second)] == ["sfu", "sfu", "p2p", "p2p"]
    assert [c.match["iceTransportPolicy"] for c in (*first, *second) if c.match] == ["all"] * 4
    await second[0].frames_from_partner(10)
    await second[1].frames_from_partner(10)


async def test_auto_mode_at_capacity_without_turn_refuses(
    node_factory: NodeFactory, caller: Caller
) -> None:
    """No TURN to hide the strangers' addresses and no --allow-direct-p2p: an auto node at
    capacity refuses like an sfu node instead of going direct (rooms/p2p_policy.py)."""
    from liveloop_sfu.client import WireError

    node = node_factory("--max-forwarded-streams", "4")
    await call_pair(node, caller)
    late = WireCall(node.url, "late")
    try:
        with pytest.raises(WireError) as info:
            await late.start()
        assert info.value.code == "capacity"
    finally:
        await late.close()


async def test_auto_mode_at_capacity_with_turn_goes_relay_only_p2p(
    node_factory: NodeFactory,
) -> None:
    """With TURN configured the p2p call of a full auto node is relay-only: match-done tells
    both browsers ``iceTransportPolicy: "relay"`` (the relay itself: tests/browser)."""
    from liveloop_sfu.client import WireClient

    node = node_factory(
        *("--max-forwarded-streams", "0", "--turn-secret", "s" * 16),
        *("--turn-urls", "turn:127.0.0.1:3478"),
    )
    clients = [await WireClient(node.url).connect() for _ in range(2)]
    try:
        for index, client in enumerate(clients):
            await client.request_room(f"user{index}", mode="p2p")
        matches = [await client.next("match-done") for client in clients]
        assert {(m["mode"], m["iceTransportPolicy"]) for m in matches} == {("p2p", "relay")}
        assert all(m["iceServers"][0]["urls"] == ["turn:127.0.0.1:3478"] for m in matches)
    finally:
        for client in clients:
            await client.close()


async def test_sfu_mode_at_capacity_refuses(node_factory: NodeFactory, caller: Caller) -> None:
    from liveloop_sfu.client import WireError

    node = node_factory("--mode", "sfu", "--max-forwarded-streams", "4")
    await call_pair(node, caller)
    late = WireCall(node.url, "late")
    try:
        with pytest.raises(WireError) as info:
            await late.start()
        assert info.value.code == "capacity"
    finally:
        await late.close()


@pytest.mark.parametrize("mode", ["sfu", "auto"])
async def test_sfu_mode_never_falls_back(
    node_factory: NodeFactory, caller: Caller, mode: str
) -> None:
    """Nor does an auto node without TURN: its fallback would be direct p2p between strangers
    (rooms/p2p_policy.py), so the call ends, and the log says why."""
    node = node_factory("--mode", mode, "--media-connect-timeout", "2")
    alice = WireCall(node.url, "alice", sfu_blocked=True)
    try:
        await alice.start()
        bob = await caller(node, "bob")
        await alice.matched()
        await bob.matched()
        assert (await bob.event("partner-left"))["reason"] == "media-failed"
        assert (await alice.event("partner-left", timeout=1))["reason"] == "media-failed"
        assert not [event for event, _ in alice.events if event == "mode-changed"]
        assert get_json(node, "/api/status")["activeRooms"] == {"sfu": 0, "p2p": 0}
        if mode == "auto":
            assert "without TURN the fallback would be direct p2p" in node.log()
    finally:
        await alice.close()


async def test_sfu_refuses_an_answer_and_a_bad_offer(
    node_factory: NodeFactory, caller: Caller
) -> None:
    from liveloop_sfu.client import WireError

    node = node_factory("--mode", "sfu")
    alice, bob = await call_pair(node, caller)
    bad = {"sdp": {"type": "offer", "sdp": "v=0\r\nthis is not sdp\r\n"}}
    for event, payload in (
        ("negotiation-call-answer", {"sdp": {"type": "answer", "sdp": "v=0\r\n"}}),
        ("negotiation-call-offer", bad),
    ):
        with pytest.raises(WireError) as info:
            await alice.wire.call(event, payload)
        assert info.value.code == "invalid-payload"
    # The call is unaffected.
    await bob.frames_from_partner(10)
