"""Chromium inside a lab network (tests/lab): Playwright drives it over its pipe across the
namespace boundary, it loads the client from a node on a lab address, and the camera opens on
that plain-http origin because the lab marks the node's origin as secure."""

from __future__ import annotations

import pytest
from playwright.async_api import Playwright

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
        await client.enter_studio()  # the preview plays: the camera opened
        assert client.errors == []
