"""ICE restart in real Chromium: through the node (sfu) and between browsers (p2p).

What is simulated, exactly: a browser cannot be moved to another network from a test, so
- "ICE failed, restart" is the call the client itself makes on a failed connection,
  ``pc.restartIce()``, made here on a working connection (the negotiation that follows is the
  client's own: a new offer with new ICE credentials, the node's or partner's answer);
- "the network changed" closes the page's RTCPeerConnection (its UDP sockets go: nothing of the
  old media path is left) together with the websocket under socket.io (no goodbye). The client
  then resumes, sees that its connection carries no media, and offers from a new one: new ports,
  new ICE credentials, new DTLS fingerprint — what a new network looks like to the node.
"""

from __future__ import annotations

import pytest

from tests.browser.conftest import OpenClient
from tests.browser.pages import ClientPage, media_flow, wait_until_flowing
from tests.browser.test_call import matched_pair
from tests.helpers import scrape
from tests.nodes import NodeFactory

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# (local ICE ufrag, remote DTLS fingerprint) of the page's current connection.
CREDENTIALS_JS = """() => {
  const pc = window.liveloop.pc;
  if (!pc || !pc.localDescription || !pc.remoteDescription) return null;
  const ufrag = pc.localDescription.sdp.match(/a=ice-ufrag:(\\S+)/)[1];
  const fingerprint = pc.remoteDescription.sdp.match(/a=fingerprint:(.+)/)[1].trim();
  return [ufrag, fingerprint];
}"""


# The SSRCs the page's current connection receives on (a=ssrc of the remote description).
REMOTE_SSRCS_JS = """() => [...new Set(
  [...window.liveloop.pc.remoteDescription.sdp.matchAll(/a=ssrc:(\\d+) /g)].map((m) => m[1])
)].sort()"""


async def remote_ssrcs(client: ClientPage) -> list[str]:
    result: list[str] = await client.page.evaluate(REMOTE_SSRCS_JS)
    return result


async def credentials(client: ClientPage) -> list[str]:
    result: list[str] = await client.page.evaluate(CREDENTIALS_JS)
    return result


async def until_restarted(client: ClientPage, before: list[str], fingerprint: bool) -> None:
    """New ICE credentials (and, through the node, a new DTLS fingerprint), connected again."""
    await client.page.wait_for_function(
        f"""(() => {{
          const now = ({CREDENTIALS_JS})();
          const pc = window.liveloop.pc;
          return now && now[0] !== {before[0]!r}
            && ({"now[1] !== " + repr(before[1]) if fingerprint else "true"})
            && pc.iceConnectionState === "connected";
        }})()""",
        timeout=20_000,
    )


async def flows_both_ways(*clients: ClientPage) -> None:
    for client in clients:
        await wait_until_flowing(client)
        before, after = await media_flow(client)
        assert after["video"]["framesDecoded"] > before["video"]["framesDecoded"], client.name
        assert after["audio"]["packetsReceived"] > before["audio"]["packetsReceived"], client.name


async def test_sfu_ice_restart_and_network_change(
    node_factory: NodeFactory, open_client: OpenClient
) -> None:
    node = node_factory("--mode", "sfu", "--resume-grace", "15", "--media-timeout", "3")
    alice, bob = await matched_pair(open_client, node.url + "/")
    await flows_both_ways(alice, bob)

    # 1. restartIce() on a live connection: the node answers from a new connection (new DTLS
    # fingerprint) and Chromium keeps its RTCPeerConnection, tracks and <video> through it; the
    # node sends with the same SSRCs as before.
    before, ssrcs = await credentials(alice), await remote_ssrcs(alice)
    assert len(ssrcs) >= 2
    await alice.page.evaluate("window.liveloop.pc.restartIce()")
    await until_restarted(alice, before, fingerprint=True)
    assert await remote_ssrcs(alice) == ssrcs
    await flows_both_ways(alice, bob)

    # 2. A network change: media path and socket gone at once; resume, then a new connection.
    first_sid = await alice.page.evaluate("window.liveloop.socket.id")
    await alice.page.evaluate(
        "window.liveloop.pc.close(); window.liveloop.socket.io.engine.transport.ws.close()"
    )
    await alice.page.wait_for_function(
        f"window.liveloop.socket.connected && window.liveloop.socket.id !== '{first_sid}'"
        " && window.liveloop.pc?.connectionState === 'connected'",
        timeout=20_000,
    )
    await flows_both_ways(alice, bob)
    for person in (alice, bob):
        assert (await person.state())["call"]["status"] == "in-call"
    metrics = scrape(node)
    assert metrics["liveloop_ice_restarts_total"] == 2
    assert metrics.get("liveloop_media_failures_total", 0) == 0


async def test_p2p_ice_restart_between_browsers(
    node_factory: NodeFactory, open_client: OpenClient
) -> None:
    node = node_factory("--mode", "p2p")
    alice, bob = await matched_pair(open_client, node.url + "/")
    await flows_both_ways(alice, bob)
    # Whichever role Alice has, her restart renegotiates through the relay and both browsers
    # gather anew (new ICE credentials on both sides; DTLS goes on, so no new fingerprint).
    alice_before, bob_before = await credentials(alice), await credentials(bob)
    await alice.page.evaluate("window.liveloop.pc.restartIce()")
    await until_restarted(alice, alice_before, fingerprint=False)
    await until_restarted(bob, bob_before, fingerprint=False)
    await flows_both_ways(alice, bob)
