"""Strangers don't learn each other's address (issue 16, item 5), in real Chromium.

An auto node whose browser cannot connect its media to the node falls back to p2p. With TURN
configured (a real coturn on loopback) the fallback is relay-only on both sides: every remote
candidate either browser ever sees is a relay. Without TURN, and without --allow-direct-p2p, the
call ends instead, and the pages say why. (test_call.py has the direct fallback the operator
allowed, and the page saying the call is direct.)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import expect

from tests.browser.conftest import OpenClient
from tests.browser.pages import ClientPage
from tests.browser.test_call import (
    BLOCK_FIRST_CONNECTION_JS,
    assert_chat_both_ways,
    assert_media_flows,
)
from tests.coturn import SECRET, loopback_coturn
from tests.nodes import NodeFactory

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def coturn(tmp_path: Path) -> Iterator[int]:
    with loopback_coturn(tmp_path) as port:
        yield port


async def alice_blocked_from_the_node(
    open_client: OpenClient, url: str
) -> tuple[ClientPage, ClientPage]:
    """Alice's connection to the node gets no candidates through (BLOCK_FIRST_CONNECTION_JS);
    Bob's works. Both are matched and connecting through the node."""
    alice = await open_client(url, "Alice")
    bob = await open_client(url, "Bob")
    await alice.page.add_init_script(BLOCK_FIRST_CONNECTION_JS)
    await alice.page.reload()
    await alice.join()
    await alice.wait_status("waiting")
    await bob.join()
    await alice.wait_status("connecting")
    assert (await alice.state())["call"]["mode"] == "sfu"
    return alice, bob


async def test_auto_fallback_with_turn_is_relay_only(
    node_factory: NodeFactory, open_client: OpenClient, coturn: int
) -> None:
    node = node_factory(
        *("--mode", "auto", "--media-connect-timeout", "3"),
        *("--turn-urls", f"turn:127.0.0.1:{coturn}?transport=udp", "--turn-secret", SECRET),
    )
    alice, bob = await alice_blocked_from_the_node(open_client, node.url + "/")

    in_p2p_call = "(s => s.mode === 'p2p' && s.status === 'in-call')(window.liveloop.state.call)"
    for client in (alice, bob):
        await client.page.wait_for_function(in_p2p_call, timeout=30_000)
    for me in (alice, bob):
        assert (await me.state())["call"]["iceTransportPolicy"] == "relay"
        await expect(me.page.locator("#call-notice")).to_have_text(
            "Switched to a connection between you and your partner through a relay server."
        )
        await expect(me.page.locator("#call-privacy")).to_have_text(
            "Relayed connection: your partner cannot see your IP address."
        )
        await assert_media_flows(me)
    for me in (alice, bob):
        stats = await me.stats()
        # Everything this browser was told about its partner, and everything it gathered
        # itself, is a TURN relay; so is the pair media flows on.
        remote_types = {c["type"] for c in stats["remoteCandidates"] if c}
        local_types = {c["type"] for c in stats["localCandidates"] if c}
        assert remote_types == {"relay"}, stats["remoteCandidates"]
        assert local_types == {"relay"}, stats["localCandidates"]
        assert stats["pair"]["remote"]["type"] == stats["pair"]["local"]["type"] == "relay"
        # Nor does the SDP carry any other candidate.
        sdp: str = await me.page.evaluate("window.liveloop.pc.remoteDescription.sdp")
        assert " typ host" not in sdp and " typ srflx" not in sdp, sdp
    await assert_chat_both_ways(alice, bob)


async def test_auto_without_turn_ends_the_call_and_the_pages_say_why(
    node_factory: NodeFactory, open_client: OpenClient
) -> None:
    node = node_factory("--mode", "auto", "--media-connect-timeout", "3")
    alice, bob = await alice_blocked_from_the_node(open_client, node.url + "/")

    for client in (alice, bob):
        await client.wait_status("partner-left", timeout_ms=20_000)
        await expect(client.status).to_contain_text("A video connection to the server failed")
        assert (await client.state())["call"]["mode"] == "sfu"  # never went p2p
    # Bob's own connection worked: the page says it was his partner's that failed.
    await expect(bob.page.locator("#call-error")).to_have_text(
        "Your partner's video connection to the server failed, so the call ended."
    )
    await expect(alice.page.locator("#call-privacy")).to_have_text("")
    assert "without TURN the fallback would be direct p2p" in node.log()
