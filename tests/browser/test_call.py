"""Two real Chromium pages meet through a real node, in p2p and in sfu mode."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import pytest
from playwright.async_api import expect

from tests.browser.conftest import OpenClient
from tests.browser.pages import REMOTE_LUMA_JS, ClientPage, media_flow, wait_until_flowing
from tests.nodes import NodeFactory

pytestmark = [pytest.mark.browser, pytest.mark.slow]


async def matched_pair(open_client: OpenClient, url: str) -> tuple[ClientPage, ClientPage]:
    alice = await open_client(url, "Alice")
    bob = await open_client(url, "Bob")
    await alice.join()
    await alice.wait_status("waiting")
    await bob.join()
    await asyncio.gather(alice.wait_status("in-call"), bob.wait_status("in-call"))
    return alice, bob


async def assert_media_flows(receiver: ClientPage) -> None:
    """Frames decoded and audio packets received keep rising; the <video> has a picture."""
    await wait_until_flowing(receiver)
    assert await receiver.wait_remote_video() > 0
    before, after = await media_flow(receiver)
    assert after["video"]["framesDecoded"] > before["video"]["framesDecoded"], (before, after)
    assert after["audio"]["packetsReceived"] > before["audio"]["packetsReceived"], (before, after)
    assert after["video"]["frameWidth"] > 0


def candidate_ports(stats: dict[str, Any]) -> set[int]:
    return {c["port"] for c in stats["localCandidates"] if c and c["port"]}


def sdp_candidate_ports(sdp: str) -> set[int]:
    # RFC 8839 §5.1: candidate-attribute = foundation component transport priority address port
    return {int(m.group(1)) for m in re.finditer(r"a=candidate:\S+ \d+ \S+ \d+ \S+ (\d+)", sdp)}


async def assert_chat_both_ways(alice: ClientPage, bob: ClientPage) -> None:
    await alice.send_chat("Hi Bob, can you see me?")
    await expect(bob.page.locator("#chat-list")).to_contain_text("Hi Bob, can you see me?")
    await expect(bob.page.locator("#chat-list .chat-peer .chat-who")).to_have_text("Alice")
    # Not echoed by the node: the sender shows its own message once, from the ack.
    await expect(alice.page.locator("#chat-list li")).to_have_count(1)
    await expect(alice.page.locator("#chat-list .chat-own .chat-who")).to_have_text("You")
    await bob.send_chat("Yes — loud and clear.")
    await expect(alice.page.locator("#chat-list")).to_contain_text("Yes — loud and clear.")
    await expect(bob.page.locator("#chat-list li")).to_have_count(2)


async def test_p2p_call_shows_video_audio_and_chat(
    node_factory: NodeFactory, open_client: OpenClient
) -> None:
    node = node_factory("--mode", "p2p")
    alice, bob = await matched_pair(open_client, node.url + "/")

    for me, partner in ((alice, bob), (bob, alice)):
        state = await me.state()
        assert state["call"]["mode"] == "p2p"
        await expect(me.page.locator("#peer-name")).to_have_text(partner.name)
        await expect(me.status).to_have_text(f"In call with {partner.name}")
        await assert_media_flows(me)
    roles = {(await alice.state())["call"]["role"], (await bob.state())["call"]["role"]}
    assert roles == {"offerer", "answerer"}

    # p2p really is peer to peer: each browser's selected remote candidate is the other browser.
    alice_stats, bob_stats = await alice.stats(), await bob.stats()
    assert alice_stats["pair"]["remote"]["port"] in candidate_ports(bob_stats)
    assert bob_stats["pair"]["remote"]["port"] in candidate_ports(alice_stats)

    await assert_chat_both_ways(alice, bob)


async def test_sfu_call_media_goes_through_the_node(
    node_factory: NodeFactory, open_client: OpenClient
) -> None:
    node = node_factory("--mode", "sfu")
    alice, bob = await matched_pair(open_client, node.url + "/")

    for me, partner in ((alice, bob), (bob, alice)):
        state = await me.state()
        assert (state["call"]["mode"], state["call"]["role"]) == ("sfu", "offerer")
        await assert_media_flows(me)
        # Tracks map to the participant who owns them via the msid stream id.
        participants = await me.page.evaluate("window.liveloop.participants")
        assert participants == [state["call"]["peer"]["participantId"]]
        await expect(me.page.locator("#peer-name")).to_have_text(partner.name)

    alice_stats, bob_stats = await alice.stats(), await bob.stats()
    for me, mine, theirs in ((alice, alice_stats, bob_stats), (bob, bob_stats, alice_stats)):
        remote = mine["pair"]["remote"]
        node_sdp: str = await me.page.evaluate("window.liveloop.pc.remoteDescription.sdp")
        assert remote["address"] == "127.0.0.1"
        # The browser talks to a candidate the node offered, never to the other browser.
        assert remote["port"] in sdp_candidate_ports(node_sdp), (remote, node_sdp)
        assert remote["port"] not in candidate_ports(theirs)

    await assert_chat_both_ways(alice, bob)


async def test_next_requeues_and_meets_someone_else(
    node_factory: NodeFactory, open_client: OpenClient
) -> None:
    node = node_factory("--mode", "p2p")
    alice, bob = await matched_pair(open_client, node.url + "/")
    first_room = (await alice.state())["call"]["roomId"]

    await alice.page.get_by_role("button", name="Next").click()
    await alice.wait_status("waiting")
    await bob.wait_status("partner-left")
    await expect(bob.page.get_by_role("button", name="Next")).to_be_focused()

    carol = await open_client(node.url + "/", "Carol")
    await carol.join()
    await asyncio.gather(alice.wait_status("in-call"), carol.wait_status("in-call"))
    alice_state = await alice.state()
    assert alice_state["call"]["roomId"] != first_room
    assert alice_state["call"]["peer"]["userName"] == "Carol"
    await expect(alice.page.locator("#chat-list li")).to_have_count(0)
    await assert_media_flows(alice)
    await assert_media_flows(carol)

    # Stop leaves the call for the Studio; the partner is told.
    await carol.page.get_by_role("button", name="Stop").click()
    await expect(carol.page.get_by_role("heading", name="Get ready")).to_be_visible()
    await alice.wait_status("partner-left")
    assert (await carol.state())["call"]["status"] == "idle"


async def energy_rise(client: ClientPage, seconds: float = 2.0) -> float:
    before = await client.audio_energy()
    await asyncio.sleep(seconds)
    return await client.audio_energy() - before


async def test_camera_off_and_mute_reach_the_partner(
    node_factory: NodeFactory, open_client: OpenClient
) -> None:
    node = node_factory("--mode", "p2p")
    alice, bob = await matched_pair(open_client, node.url + "/")
    await wait_until_flowing(bob)
    await bob.wait_remote_video()
    assert await bob.remote_luma() > 20  # Chromium's fake camera: a bright green test card

    await alice.page.get_by_role("button", name="Camera off").click()
    await alice.page.get_by_role("button", name="Mute").click()
    await expect(alice.page.get_by_role("button", name="Camera on")).to_have_attribute(
        "aria-pressed", "true"
    )
    await bob.page.wait_for_function(f"({REMOTE_LUMA_JS})() < 2", timeout=5000)
    # media-state -> participant-updated: Bob also sees why (docs/protocol.md).
    await expect(bob.page.locator("#peer-media")).to_have_text("Mic off · Camera off")
    await asyncio.sleep(1.0)  # audio already in flight when muting
    assert await energy_rise(bob) < 1e-3

    await alice.page.get_by_role("button", name="Camera on").click()
    await alice.page.get_by_role("button", name="Unmute").click()
    await bob.page.wait_for_function(f"({REMOTE_LUMA_JS})() > 20", timeout=5000)
    await expect(bob.page.locator("#peer-media")).to_have_text("")
    assert await energy_rise(bob) > 1e-2


async def test_closing_a_page_tells_the_partner_at_once(
    node_factory: NodeFactory, open_client: OpenClient
) -> None:
    node = node_factory("--mode", "p2p")
    alice, bob = await matched_pair(open_client, node.url + "/")

    started = time.monotonic()
    await bob.close()
    await alice.wait_status("partner-left", timeout_ms=3000)
    elapsed = time.monotonic() - started
    await expect(alice.status).to_have_text("Bob left the call. Press Next to meet someone new.")
    await expect(alice.page.locator("#remote-placeholder")).to_have_text("Partner left")
    assert (await alice.state())["call"]["hasRemoteStream"] is False
    assert elapsed < 3.0


# Simulates a network where Alice's first connection (the one to the node) can exchange no ICE
# candidates at all: the node's candidates are stripped from its answer and neither side's
# trickled candidates are delivered, so that connection can never connect. Later connections
# (the p2p fallback) are untouched. Only the network is simulated; the client code is the real one.
BLOCK_FIRST_CONNECTION_JS = """
(() => {
  const Native = window.RTCPeerConnection;
  let created = 0;
  window.RTCPeerConnection = class extends Native {
    constructor(config) {
      super(config);
      this.blocked = created++ === 0;
    }
    addEventListener(type, listener, options) {
      if (this.blocked && type === "icecandidate") return undefined;
      return super.addEventListener(type, listener, options);
    }
    setRemoteDescription(description) {
      if (this.blocked && description && description.sdp) {
        const sdp = description.sdp.replace(/^a=candidate:.*\\r\\n/gm, "");
        return super.setRemoteDescription({ type: description.type, sdp });
      }
      return super.setRemoteDescription(description);
    }
    addIceCandidate(candidate) {
      return this.blocked ? Promise.resolve() : super.addIceCandidate(candidate);
    }
  };
})();
"""


async def test_auto_mode_falls_back_to_p2p_without_leaving_the_call(
    node_factory: NodeFactory, open_client: OpenClient
) -> None:
    # No TURN: the fallback is direct only because the operator allows it (rooms/p2p_policy.py).
    node = node_factory("--mode", "auto", "--media-connect-timeout", "3", "--allow-direct-p2p")
    alice = await open_client(node.url + "/", "Alice")
    bob = await open_client(node.url + "/", "Bob")
    await alice.page.add_init_script(BLOCK_FIRST_CONNECTION_JS)
    await alice.page.reload()
    await alice.join()
    await alice.wait_status("waiting")
    await bob.join()
    await alice.wait_status("connecting")
    first = (await alice.state())["call"]
    assert first["mode"] == "sfu"  # auto starts through the node
    room = first["roomId"]

    # The node gives up on Alice's connection, and both browsers renegotiate peer to peer.
    in_p2p_call = "(s => s.mode === 'p2p' && s.status === 'in-call')(window.liveloop.state.call)"
    for client in (alice, bob):
        await client.page.wait_for_function(in_p2p_call, timeout=30_000)
    for me in (alice, bob):
        state = await me.state()
        assert (state["call"]["mode"], state["call"]["roomId"]) == ("p2p", room)
        await expect(me.page.locator("#call-notice")).to_have_text(
            "Switched to a direct connection between you and your partner."
        )
        # The page tells the user the call is direct: the partner sees their address.
        await expect(me.page.locator("#call-privacy")).to_have_text(
            "Direct connection: your partner's browser can see your IP address."
        )
        await assert_media_flows(me)
    alice_stats, bob_stats = await alice.stats(), await bob.stats()
    assert alice_stats["pair"]["remote"]["port"] in candidate_ports(bob_stats)
    await assert_chat_both_ways(alice, bob)
