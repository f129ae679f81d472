"""A node as an operator starts it on a server, called by Chromium in other networks of the lab
(tests/lab): no media flags (issue 16, item 3), behind a 1:1 NAT with ``--announced-ip auto``,
and a browser whose network drops all UDP with no TURN to fall back on (item 6)."""

from __future__ import annotations

import asyncio
import re

import pytest
from playwright.async_api import Browser, Playwright, expect

from tests.browser.pages import ClientPage, wait_until_flowing
from tests.lab import Lab
from tests.lab import netns as lab_netns
from tests.lab import rules as lab_rules
from tests.nodes import get_json, start_node

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# RFC 8839 §5.1: candidate:foundation component transport priority address port typ type
SDP_CANDIDATE = re.compile(r"a=candidate:\S+ \d+ \S+ \d+ (\S+) \d+ typ (\w+)")


async def pair_in_call(
    browsers: tuple[Browser, Browser], url: str
) -> tuple[ClientPage, ClientPage]:
    alice = await ClientPage.open(browsers[0], url, "Alice")
    bob = await ClientPage.open(browsers[1], url, "Bob")
    await alice.join()
    await alice.wait_status("waiting")
    await bob.join()
    await asyncio.gather(alice.wait_status("in-call"), bob.wait_status("in-call"))
    return alice, bob


async def node_candidates(client: ClientPage) -> set[tuple[str, str]]:
    """(address, type) of every candidate in the node's answer this browser holds."""
    sdp: str = await client.page.evaluate("window.liveloop.pc.remoteDescription.sdp")
    return set(SDP_CANDIDATE.findall(sdp))


async def test_a_node_on_0000_with_no_media_flags_is_called_from_two_networks(
    lab: Lab, playwright: Playwright
) -> None:
    node = lab.node("--mode", "sfu", host="0.0.0.0", media_flags=False)
    public = node.network.ipv4
    assert get_json(node.node, "/health")["problems"] == []
    cone, symmetric = lab.browser_net("cone_nat"), lab.browser_net("symmetric_nat")
    browsers = (await cone.chromium(playwright), await symmetric.chromium(playwright))
    alice, bob = await pair_in_call(browsers, node.url_for(cone))
    for me in (alice, bob):
        await wait_until_flowing(me)
        # The node offered its real address — never loopback — and media flows to it.
        assert await node_candidates(me) == {(public, "host")}
        assert (await me.stats())["pair"]["remote"]["address"] == public
    assert f"Media on {public}" in node.node.log()


async def test_announced_ip_auto_behind_a_one_to_one_nat(lab: Lab, playwright: Playwright) -> None:
    """The node sits behind a 1:1 NAT (a cloud VM's private address and elastic address) and
    learns the public address from coturn, as a STUN server, at start."""
    turn = lab.coturn()
    home = lab.browser_net("cone_nat", name="node-home")
    assert home.ipv4 and home.public_ipv4
    lab_netns.nft(home.edge, lab_rules.one_to_one_ruleset(home.uplink, home.ipv4))
    node = start_node(
        lab.workdir,
        *("--mode", "sfu", "--announced-ip", "auto"),
        *("--ice-servers", f"stun:{turn.network.ipv4}:3478"),
        netns=home.namespace,
        host="0.0.0.0",
        port=443,
        url_host=home.ipv4,  # the health check runs inside the node's own network
    )
    lab.track(node.process)
    origin = f"http://{home.public_ipv4}:443"
    lab.secure_origins.append(origin)
    assert f"Media on {home.ipv4} announced as {home.public_ipv4}" in node.log()

    net = lab.browser_net("cone_nat")
    browser = await net.chromium(playwright)
    alice, bob = await pair_in_call((browser, browser), origin + "/")
    for me in (alice, bob):
        await wait_until_flowing(me)
        # The host candidate names the public address; the private one is never offered.
        candidates = await node_candidates(me)
        assert (home.public_ipv4, "host") in candidates
        assert home.ipv4 not in {address for address, _ in candidates}
        assert (await me.stats())["pair"]["remote"]["address"] == home.public_ipv4


async def test_a_network_that_drops_udp_is_explained(lab: Lab, playwright: Playwright) -> None:
    """No TURN, and Alice's firewall lets only TCP to port 443 out: her page loads and she is
    matched, but no media can reach the node. The call ends and her page says her network blocks
    calls, and what the operator can do; Bob's says it was his partner's connection."""
    # Long enough for Bob's own connection to be up on a loaded machine: his page then
    # knows the failure was his partner's.
    node = lab.node("--media-connect-timeout", "8", host="0.0.0.0", media_flags=False)
    blocked, cone = lab.browser_net("udp_blocked"), lab.browser_net("cone_nat")
    browsers = (await blocked.chromium(playwright), await cone.chromium(playwright))
    alice = await ClientPage.open(browsers[0], node.url_for(blocked), "Alice")
    bob = await ClientPage.open(browsers[1], node.url_for(cone), "Bob")
    await alice.join()
    await alice.wait_status("waiting")
    await bob.join()
    for client in (alice, bob):
        await client.wait_status("partner-left", timeout_ms=20_000)
    error = alice.page.locator("#call-error")
    await expect(error).to_contain_text("Your network seems to block video calls")
    await expect(error).to_contain_text("TURN server over TCP or TLS on port 443")
    await expect(bob.page.locator("#call-error")).to_have_text(
        "Your partner's video connection to the server failed, so the call ended."
    )
