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


async def test_auto_mode_is_sfu_by_default(node_factory: NodeFactory, caller: Caller) -> None:
    node = node_factory()
    alice, bob = await call_pair(node, caller)
    assert alice.mode == "sfu"
    await bob.frames_from_partner(10)
    assert get_json(node, "/api/status")["forwardedStreams"] == 4


async def test_auto_mode_at_capacity_goes_p2p(node_factory: NodeFactory, caller: Caller) -> None:
    node = node_factory("--max-forwarded-streams", "4")
    first = await call_pair(node, caller)
    second = await call_pair(node, caller)
    assert [c.mode for c in (*first, *second)] == ["sfu", "sfu", "p2p", "p2p"]
    await second[0].frames_from_partner(10)
    await second[1].frames_from_partner(10)


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


async def test_sfu_mode_never_falls_back(node_factory: NodeFactory, caller: Caller) -> None:
    node = node_factory("--mode", "sfu", "--media-connect-timeout", "2")
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
