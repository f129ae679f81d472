"""A browser changes networks mid-call, for real (issue 16 item 7): in the network lab its host
moves from behind one NAT to behind another (tests/lab/moves.py), so its address, its NAT
mapping and every socket it had are gone. The call recovers through the client's resume and ICE
restart (docs/protocol.md) without a new match, with the node's default settings, in both modes:

- sfu: the ICE restart goes through the node, which holds the call for the client's resume until
  10 s after the browser's last media packet (issue 8's budget for a vanished partner;
  rooms/resume.py).
- p2p: the browsers restart ICE between themselves through the node's relay. The node sees no
  media, so it measures the same budget from the last pong of the moved browser's old socket
  (signal/liveness.py).

In both, the moved browser does not wait for socket.io's ping timeout: when its inbound media
stops (web/js/media-watch.js) it probes its socket (web/js/signaling.js, ``probe``) and
reconnects at once when no answer comes; its partner's page says the video is interrupted and
waits (docs/networks.md, "Network changes"). Run repeatedly under load, both modes recovered in
every run (the times are in docs/networks.md).
"""

from __future__ import annotations

import asyncio
import time

import pytest
from playwright.async_api import Playwright

from tests.browser.pages import ClientPage
from tests.browser.test_ice_restart import credentials, flows_both_ways
from tests.lab import Lab
from tests.lab.moves import move

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# Until the page has a new ICE session (new ufrag), connected, with a remote picture.
RECOVERED_JS = """(ufrag) => {
  const pc = window.liveloop.pc;
  if (!pc || !pc.localDescription || pc.iceConnectionState !== "connected") return false;
  const now = pc.localDescription.sdp.match(/a=ice-ufrag:(\\S+)/)[1];
  return now !== ufrag && document.getElementById("remote-video").videoWidth > 0;
}"""


PAGE_REPORT_JS = """() => {
  const pc = window.liveloop.pc;
  return {
    state: window.liveloop.state.call,
    socket: window.liveloop.socket?.connected ?? null,
    ice: pc?.iceConnectionState ?? null,
    connection: pc?.connectionState ?? null,
    signaling: pc?.signalingState ?? null,
  };
}"""


async def page_report(client: ClientPage) -> object:
    return await client.page.evaluate(PAGE_REPORT_JS)


# media-watch.js's pure functions in a real page: [got, expected] pairs.
MEDIA_WATCH_JS = """async () => {
  const { STALL_MS, inboundPackets, stalled, watchInbound } = await import("/js/media-watch.js");
  const report = new Map([
    ["a", { type: "inbound-rtp", packetsReceived: 5 }],
    ["b", { type: "outbound-rtp", packetsSent: 9 }],
    ["c", { type: "inbound-rtp", packetsReceived: 7 }],
  ]);
  const none = watchInbound(null, 0, 0); // no media yet: never "stalled"
  const first = watchInbound(null, 10, 1000);
  const moved = watchInbound(first, 60, 1500);
  const still = watchInbound(moved, 60, 2000);
  const again = watchInbound(still, 61, 1500 + STALL_MS + 500);
  const live = inboundPackets(await window.liveloop.pc.getStats());
  return [
    [STALL_MS, 1500],
    [inboundPackets(report), 12],
    [stalled(none, 1e9), false],
    [first.movedAt, 1000],
    [still.movedAt, 1500],
    [stalled(still, 1500 + STALL_MS - 1), false],
    [stalled(still, 1500 + STALL_MS), true],
    [stalled(again, again.movedAt + 100), false],
    [live > 0, true],
  ];
}"""


async def frames_decoded(client: ClientPage) -> int:
    video = (await client.stats())["video"]
    return int(video["framesDecoded"]) if video else 0


async def frames_grew(clients: tuple[ClientPage, ...], before: list[int]) -> bool:
    return all([await frames_decoded(c) > n for c, n in zip(clients, before, strict=True)])


# The page tells its user that the call's media is interrupted (and that it is recovering).
INTERRUPTED_JS = """() =>
  window.liveloop.state.call.error.startsWith("The video connection is interrupted")"""

# Why the page's socket dropped, from now on ("forced close": the page's own probe found it dead;
# "ping timeout": socket.io's heartbeat did).
WATCH_DROPS_JS = """() => {
  window.drops = [];
  window.liveloop.socket.on("disconnect", (reason) => window.drops.push(reason));
}"""


@pytest.mark.parametrize("mode", ["sfu", "p2p"])
async def test_a_browser_that_changes_networks_keeps_its_call(
    lab: Lab, playwright: Playwright, mode: str
) -> None:
    # p2p without TURN: direct, as an operator's explicit --mode p2p is (Alice reaches Bob's
    # public address from behind either NAT).
    node = lab.node("--mode", mode)
    moving_net = lab.browser_net("cone_nat", "home")
    other_net = lab.browser_net("cone_nat", "mobile")
    staying_net = lab.browser_net("public", "office")
    alice = await ClientPage.open(
        await moving_net.chromium(playwright), node.url_for(moving_net), "Alice"
    )
    bob = await ClientPage.open(
        await staying_net.chromium(playwright), node.url_for(staying_net), "Bob"
    )
    await alice.join()
    await alice.wait_status("waiting")
    await bob.join()
    await alice.wait_status("in-call")
    await bob.wait_status("in-call")
    await flows_both_ways(alice, bob)
    room_before = (await bob.state())["call"]["roomId"]
    assert room_before
    ufrag_before = (await credentials(alice))[0]

    await alice.page.evaluate(WATCH_DROPS_JS)
    moved_at = time.monotonic()
    move(moving_net, other_net)
    # What both had decoded when the media stopped (what was on its way has arrived by now).
    await asyncio.sleep(1.0)
    frames_before = [await frames_decoded(client) for client in (alice, bob)]
    # Bob's page waits, saying what happens (web/js/connection-text.js), with no partner-left.
    await bob.page.wait_for_function(INTERRUPTED_JS, timeout=10_000)
    # Alice's page notices on its own: her media stopped, so she probes her socket, finds it
    # dead (or socket.io's ping timeout does), reconnects and resumes, and restarts ICE from the
    # new network; Bob's page follows (a new offer or answer: from the node in sfu, from Bob in
    # p2p).
    try:
        await alice.page.wait_for_function(RECOVERED_JS, arg=ufrag_before, timeout=45_000)
    except Exception as exc:
        raise AssertionError(
            f"not recovered: {await page_report(alice)}\n{node.node.log()[-3000:]}"
        ) from exc
    recovered_after = time.monotonic() - moved_at
    # Pictures again both ways (the ICE restart's new path carries media).
    deadline = time.monotonic() + 20
    while not await frames_grew((alice, bob), frames_before):
        assert time.monotonic() < deadline, f"no new frames: {await page_report(alice)}"
        await asyncio.sleep(0.1)
    media_after = time.monotonic() - moved_at
    await flows_both_ways(alice, bob)
    assert alice.errors == [] and bob.errors == []
    # The same call, not a new match; Bob was never told his partner left.
    bob_call, alice_call = (await bob.state())["call"], (await alice.state())["call"]
    assert (bob_call["roomId"], bob_call["status"]) == (room_before, "in-call")
    assert bob_call["error"] == ""  # the interruption notice went with the interruption
    assert (alice_call["roomId"], alice_call["status"]) == (room_before, "in-call")
    assert alice_call["mode"] == mode
    stats = await alice.stats()
    assert stats["pair"] is not None
    watch_cases = await alice.page.evaluate(MEDIA_WATCH_JS)
    assert [got for got, _ in watch_cases] == [expected for _, expected in watch_cases]
    drops = await alice.page.evaluate("window.drops")
    print(
        f"{mode}: recovered {recovered_after:.1f} s after the move (video both ways "
        f"{media_after:.1f} s), socket dropped {drops}, pair {stats['pair']}"
    )
