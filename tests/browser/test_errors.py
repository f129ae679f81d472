"""Errors a person can read: camera denied, invalid name, server gone."""

from __future__ import annotations

import pytest
from playwright.async_api import Playwright, expect

from tests.browser.conftest import OpenClient
from tests.browser.pages import ClientPage, launch_chromium
from tests.nodes import NodeFactory

pytestmark = [pytest.mark.browser, pytest.mark.slow]


async def test_denied_camera_shows_a_readable_error(
    node_factory: NodeFactory, playwright: Playwright
) -> None:
    node = node_factory("--mode", "p2p")
    denying = await launch_chromium(playwright, deny_media=True)
    try:
        client = await ClientPage.open(denying, node.url + "/", "Dana")
        await client.page.get_by_role("button", name="Start").click()
        error = client.page.locator("#media-error")
        await expect(error).to_have_text(
            "Camera and microphone access was denied. Allow access for this site in your "
            "browser's settings, then press “Try again”."
        )
        await expect(error).to_have_attribute("role", "alert")
        await expect(client.page.get_by_role("button", name="Try again")).to_be_visible()
        await expect(client.page.get_by_role("button", name="Find a partner")).to_be_disabled()
        # Trying again asks again, and is refused again: still readable, still no crash.
        await client.page.get_by_role("button", name="Try again").click()
        await expect(error).to_contain_text("denied")
        assert client.errors == []
    finally:
        await denying.close()


async def test_name_is_validated_before_queueing(
    node_factory: NodeFactory, open_client: OpenClient
) -> None:
    node = node_factory("--mode", "p2p")
    client = await open_client(node.url + "/", "   ")
    await client.enter_studio()
    await client.find_partner()
    await expect(client.page.locator("#name-error")).to_have_text("Please enter a name.")
    await expect(client.page.get_by_label("Your name")).to_have_attribute("aria-invalid", "true")
    assert (await client.state())["call"]["status"] == "idle"


async def test_lost_server_shows_reconnecting(
    node_factory: NodeFactory, open_client: OpenClient
) -> None:
    node = node_factory("--mode", "p2p")
    client = await open_client(node.url + "/", "Erin")
    await client.join()
    await client.wait_status("waiting")
    banner = client.page.locator("#connection-banner")
    await expect(banner).to_be_hidden()

    # A crash, not a graceful stop: the page must notice on its own (socket.io pings).
    node.process.kill()
    node.process.wait(timeout=5)
    await expect(banner).to_be_visible(timeout=15_000)
    await expect(banner).to_contain_text("reconnecting")
    await client.wait_status("ended")
    await expect(client.page.locator("#call-error")).to_have_text(
        "Lost the connection to the server. Press Next once it is back."
    )
