"""--rtc-udp-port in the network lab: a firewall in front of the node lets exactly one UDP port
in (and the page's TCP port), and two calls of browsers behind two different NATs connect
through that one socket (issue 16 item 4)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from playwright.async_api import Playwright

from tests.browser.pages import ClientPage, wait_until_flowing
from tests.lab import Lab, netns
from tests.lab.lab import NODE_PORT

pytestmark = [pytest.mark.browser, pytest.mark.slow]

MEDIA_PORT = 40_000


async def selected_pair(client: ClientPage) -> dict[str, Any]:
    """The selected candidate pair, once its remote candidate shows in the stats (under load
    Chromium may report the pair a moment before the candidate's own stats entry)."""
    pair: dict[str, Any] | None = None
    for _ in range(50):
        pair = (await client.stats())["pair"]
        if pair is not None and pair["remote"] is not None:
            return pair
        await asyncio.sleep(0.2)
    raise AssertionError(f"{client.name}: no selected pair with a remote candidate: {pair}")


def one_port_firewall(udp_port: int) -> str:
    """What an operator's firewall would say: the web port and one UDP port in, nothing else
    (replies to what the node itself opened pass). Counters show what the rules saw."""
    return f"""
table inet node_firewall {{
  chain input {{
    type filter hook input priority 0; policy drop;
    ct state established,related accept
    iifname "lo" accept
    meta l4proto {{ icmp, ipv6-icmp }} accept
    tcp dport {NODE_PORT} accept
    udp dport {udp_port} counter accept
    counter drop
  }}
}}
"""


async def test_two_calls_through_one_udp_port_behind_a_firewall(
    lab: Lab, playwright: Playwright
) -> None:
    node = lab.node("--mode", "sfu", "--rtc-udp-port", str(MEDIA_PORT))
    netns.nft(node.network.namespace, one_port_firewall(MEDIA_PORT))
    clients: list[ClientPage] = []
    for kind in ("cone_nat", "symmetric_nat"):
        net = lab.browser_net(kind)
        browser = await net.chromium(playwright)
        for index in range(2):
            clients.append(await ClientPage.open(browser, node.url_for(net), f"{kind}-{index}"))
    for client in clients:
        await client.join()
    await asyncio.gather(*(client.wait_remote_video() for client in clients))
    for client in clients:
        await wait_until_flowing(client)
        pair = await selected_pair(client)
        # Every browser's media goes to the node's one port, on the node's host candidate.
        assert pair["remote"]["port"] == MEDIA_PORT, (client.name, pair)
        assert pair["remote"]["type"] == "host", (client.name, pair)
        assert client.errors == []
    rules = netns.ns_run(node.network.namespace, "nft", "list", "table", "inet", "node_firewall")
    assert f"udp dport {MEDIA_PORT} counter packets 0 " not in rules, rules
