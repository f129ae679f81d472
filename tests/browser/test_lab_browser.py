"""Chromium inside a lab network (tests/lab): Playwright drives it over its pipe across the
namespace boundary, it loads the client from a node on a lab address, and the camera opens on
that plain-http origin because the lab marks the node's origin as secure."""

from __future__ import annotations

import time

import pytest
from playwright.async_api import Playwright

from liveloop_sfu.rooms.turn import TurnCredentials
from tests.browser.pages import ClientPage
from tests.lab import Lab

pytestmark = [pytest.mark.browser, pytest.mark.slow]


async def test_lab_chromium_loads_the_node_and_opens_the_camera(
    lab: Lab, playwright: Playwright
) -> None:
    node = lab.node("--mode", "sfu")
    for kind in ("cone_nat", "ipv6_only"):
        net = lab.browser_net(kind)
        browser = await net.chromium(playwright)
        client = await ClientPage.open(browser, node.url_for(net), kind)
        assert await client.page.evaluate("window.isSecureContext")
        assert client.errors == []
        await client.enter_studio()  # the preview plays: the camera opened
        assert client.errors == []


# Gathers relayed candidates only, for one RTCIceServer; returns them and the gathering errors.
GATHER_RELAYED_JS = """
async (server) => {
  const pc = new RTCPeerConnection({ iceServers: [server], iceTransportPolicy: "relay" });
  pc.createDataChannel("probe");
  const candidates = [];
  const errors = [];
  pc.onicecandidate = (e) => {
    const c = e.candidate;
    if (c) candidates.push({ type: c.type, relayProtocol: c.relayProtocol });
  };
  pc.onicecandidateerror = (e) => errors.push(`${e.url} ${e.errorCode}`);
  const complete = new Promise((resolve) => {
    pc.onicegatheringstatechange = () => pc.iceGatheringState === "complete" && resolve();
  });
  await pc.setLocalDescription(await pc.createOffer());
  await complete;
  pc.close();
  return { candidates, errors };
}
"""


async def test_turn_over_tls_needs_the_test_ca_in_chromiums_nss_database(
    lab: Lab, playwright: Playwright
) -> None:
    """Chromium verifies a TURN server's certificate (no "insecure" TURNS): a browser launched
    before the lab's coturn, so without its CA, gets no relay over TLS; one launched after,
    with the CA in $HOME/.pki/nssdb, does."""
    untrusting = await lab.browser_net("udp_blocked").chromium(playwright)
    turn = lab.coturn()
    trusting = await lab.browser_net("udp_blocked", "udp_blocked_2").chromium(playwright)
    server = TurnCredentials(tuple(turn.urls("tls")), turn.secret).ice_server("probe", time.time())
    gathered = []
    for browser in (untrusting, trusting):
        page = await (await browser.new_context()).new_page()
        gathered.append(await page.evaluate(GATHER_RELAYED_JS, server))
    without_ca, with_ca = gathered
    assert without_ca["candidates"] == [], without_ca
    assert f"turns:{turn.network.ipv4}:443?transport=tcp 701" in without_ca["errors"]
    assert {"type": "relay", "relayProtocol": "tls"} in with_ca["candidates"], with_ca
