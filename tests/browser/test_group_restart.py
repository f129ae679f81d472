"""A group room in real Chromium survives a participant's network trouble: ICE restart while the
socket is up, and a rejoin after the socket dropped.

What is simulated, exactly (a page cannot be moved to another network from a test):
- "the path died" (second test): the node process is frozen (SIGSTOP) until every page has
  noticed on its own — nothing arrives, Chromium turns ICE `disconnected` — and has restarted ICE
  by itself 2 s later (its new offer waits in the frozen node's socket buffer); then the node goes
  on (SIGCONT). That is every member's path dying at once rather than one member's network
  changing, but detection, restart and renegotiation are all the client's and the node's own.
- "ICE failed, restart" (first test) is the call ``window.liveloop.recoverMedia()``, which is what
  the group client itself runs when its connection turns ``failed`` (or stays ``disconnected``):
  ``pc.restartIce()`` on the page's own RTCPeerConnection and an offer through its own serialized
  negotiation. Everything after that is real: new ICE credentials, the node's answer from a new
  connection (new DTLS fingerprint), Chromium's new DTLS association, media both ways again.
  The restart is made *while* a node-initiated renegotiation is in flight (a third person
  joining makes the node send ``renegotiate``), the case where the two must not deadlock.
- "the socket dropped" closes the websocket under socket.io without a goodbye, as a proxy
  restart or a lost TCP connection does; the node sees the close, lets the participant leave,
  and the client joins the room again by itself when socket.io has reconnected.
"""

from __future__ import annotations

import asyncio
import os
import signal

import pytest
from playwright.async_api import expect

from tests.browser.conftest import OpenClient
from tests.browser.pages import MEDIA_TIMEOUT_MS, ClientPage
from tests.browser.test_group import (
    REMOTE_TILES,
    assert_tiles_decode,
    create_room,
    join_room,
    room_of_two,
    room_state,
)
from tests.browser.test_ice_restart import credentials, remote_ssrcs, until_restarted
from tests.helpers import scrape
from tests.nodes import NodeFactory

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# framesDecoded of every inbound video stream of the page's connection, by SSRC.
FRAMES_DECODED_JS = """async () => {
  const out = {};
  (await window.liveloop.pc.getStats()).forEach((r) => {
    if (r.type === "inbound-rtp" && r.kind === "video") out[r.ssrc] = r.framesDecoded ?? 0;
  });
  return out;
}"""


async def frames_decoded(client: ClientPage) -> dict[str, int]:
    result: dict[str, int] = await client.page.evaluate(FRAMES_DECODED_JS)
    return result


async def every_stream_decodes(client: ClientPage, streams: int) -> None:
    """At least ``streams`` inbound video streams whose framesDecoded rises, each of them."""
    deadline = asyncio.get_running_loop().time() + MEDIA_TIMEOUT_MS / 1000
    before = await frames_decoded(client)
    while True:
        await asyncio.sleep(1.0)
        now = await frames_decoded(client)
        rising = [ssrc for ssrc, n in now.items() if n > before.get(ssrc, 0)]
        if len(rising) >= streams:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{client.name}: video decoding {rising} of {now}")
        before = now


async def test_group_ice_restart_during_renegotiation_and_rejoin_after_socket_drop(
    node_factory: NodeFactory, open_client: OpenClient
) -> None:
    node = node_factory("--mode", "sfu")
    alice, bob, link = await room_of_two(node.url, open_client)

    # 1. Alice restarts ICE the moment the node asks her to renegotiate for Carol (her group
    # client's own handler runs first and has its offer in flight).
    before, ssrcs = await credentials(alice), await remote_ssrcs(alice)
    await alice.page.evaluate(
        "window.liveloop.socket.once('renegotiate', () => window.liveloop.recoverMedia())"
    )
    carol = await open_client(link, "Carol")
    await join_room(carol)
    assert await room_state(carol) == "in-room"
    await until_restarted(alice, before, fingerprint=True)
    # The node goes on sending to Alice with the SSRCs her connection already received on.
    assert set(ssrcs) <= set(await remote_ssrcs(alice))
    people = (alice, bob, carol)
    everyone = {c.name for c in people}
    await asyncio.gather(*(assert_tiles_decode(c, everyone - {c.name}) for c in people))
    await asyncio.gather(*(every_stream_decodes(c, 2) for c in people))
    metrics = scrape(node)
    assert metrics["liveloop_ice_restarts_total"] == 1
    assert metrics.get("liveloop_media_failures_total", 0) == 0
    for client in people:
        assert await client.page.evaluate("window.liveloop.state.room.status") == "in-room"

    # 2. Bob's socket drops. The node lets him leave at once (group rooms have no resume grace);
    # his client joins again when socket.io is back: the same tiles on every page, decoding.
    old_id = await bob.page.evaluate("window.liveloop.state.room.participantId")
    await bob.page.evaluate("window.liveloop.socket.io.engine.transport.ws.close()")
    await bob.page.wait_for_function(
        f"window.liveloop.state.room.status === 'in-room'"
        f" && window.liveloop.state.room.participantId !== {old_id!r}",
        timeout=MEDIA_TIMEOUT_MS,
    )
    for me in (alice, carol):
        await expect(me.page.locator(REMOTE_TILES)).to_have_count(2, timeout=MEDIA_TIMEOUT_MS)
    await asyncio.gather(*(assert_tiles_decode(c, everyone - {c.name}) for c in people))
    await asyncio.gather(*(every_stream_decodes(c, 2) for c in people))
    assert await bob.page.locator("#room-error").text_content() in ("", None)
    assert "Traceback" not in node.log()


# The ICE states the page's connection goes through from now on (window.iceStates).
WATCH_ICE_JS = """() => {
  window.iceStates = [];
  const pc = window.liveloop.pc;
  const note = () => window.iceStates.push(pc.iceConnectionState);
  pc.addEventListener("iceconnectionstatechange", note);
}"""


async def test_group_clients_restart_ice_by_themselves_when_the_path_dies(
    node_factory: NodeFactory, open_client: OpenClient
) -> None:
    # Signaling and the node's media watch outlast the freeze; the browsers' ICE does not.
    node = node_factory(
        "--mode", "sfu", "--ping-interval", "5", "--ping-timeout", "20", "--media-timeout", "20"
    )
    alice = await open_client(node.url + "/", "Alice")
    link = await create_room(alice)
    await alice.page.goto(link)
    bob = await open_client(link, "Bob")
    people = (alice, bob)
    for client in people:
        await join_room(client)
        assert await room_state(client) == "in-room"
    await asyncio.gather(assert_tiles_decode(alice, {"Bob"}), assert_tiles_decode(bob, {"Alice"}))
    before = {client.name: await credentials(client) for client in people}
    for client in people:
        await client.page.evaluate(WATCH_ICE_JS)

    os.kill(node.process.pid, signal.SIGSTOP)
    try:
        for client in people:
            # restartIce() and the new offer's setLocalDescription come before it is sent.
            await client.page.wait_for_function(
                f"window.liveloop.pc.localDescription.sdp.match(/a=ice-ufrag:(\\S+)/)[1]"
                f" !== {before[client.name][0]!r}",
                timeout=30_000,
            )
    finally:
        os.kill(node.process.pid, signal.SIGCONT)

    for client in people:
        assert "disconnected" in await client.page.evaluate("window.iceStates"), client.name
        await until_restarted(client, before[client.name], fingerprint=True)
    await asyncio.gather(assert_tiles_decode(alice, {"Bob"}), assert_tiles_decode(bob, {"Alice"}))
    await asyncio.gather(*(every_stream_decodes(c, 1) for c in people))
    metrics = scrape(node)
    assert metrics["liveloop_ice_restarts_total"] == 2
    assert metrics.get("liveloop_media_failures_total", 0) == 0
    for client in people:
        assert await client.page.evaluate("window.liveloop.state.room.status") == "in-room"
