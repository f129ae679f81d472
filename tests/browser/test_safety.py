"""Report and Skip in the 1:1 call view, with real Chromium pages and a real node."""

from __future__ import annotations

import asyncio

import pytest
from playwright.async_api import expect

from tests.browser.conftest import OpenClient
from tests.browser.pages import media_flow, wait_until_flowing
from tests.browser.test_call import matched_pair
from tests.nodes import Node, NodeFactory, get_json

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ADMIN = "admin-token-for-browser-safety"


async def waiting_users(node: Node, count: int) -> None:
    for _ in range(100):
        if get_json(node, "/api/status")["waitingUsers"] == count:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"waitingUsers never became {count}: {get_json(node, '/api/status')}")


async def test_report_and_skip_keep_partners_apart(
    node_factory: NodeFactory, open_client: OpenClient
) -> None:
    node = node_factory("--mode", "p2p", "--admin-token", ADMIN)
    alice, bob = await matched_pair(open_client, node.url + "/")
    key = await alice.page.evaluate("localStorage.getItem('liveloop.clientKey')")
    assert isinstance(key, str) and "." in key  # kept for the next connections

    # Alice reports Bob: a reason from the picker and a few words; she is queued again.
    await alice.page.get_by_role("button", name="Report").click()
    dialog = alice.page.locator("#report-dialog")
    await expect(dialog).to_be_visible()
    await dialog.get_by_label("What happened?").select_option("spam")
    await dialog.get_by_label("Details (optional)").fill("selling things")
    await dialog.get_by_role("button", name="Send report").click()
    await alice.wait_status("waiting")
    await expect(alice.page.locator("#call-notice")).to_have_text(
        "Thank you. Your report was sent."
    )
    await bob.wait_status("partner-left")
    await bob.page.get_by_role("button", name="Next").click()
    await waiting_users(node, 2)  # they wait apart instead of meeting again
    await bob.wait_status("waiting")

    (report,) = get_json(node, "/api/admin/reports", ADMIN)["reports"]
    assert (report["reason"], report["text"]) == ("spam", "selling things")
    assert report["reporter"]["userName"] == "Alice"
    assert report["reporter"]["clientId"] == key.split(".")[0]

    # Bob stops. Carol meets Alice, skips her, and neither meets the other again.
    await bob.page.get_by_role("button", name="Stop").click()
    await waiting_users(node, 1)
    carol = await open_client(node.url + "/", "Carol")
    await carol.join()
    await asyncio.gather(alice.wait_status("in-call"), carol.wait_status("in-call"))
    await carol.page.get_by_role("button", name="Skip").click()
    await alice.wait_status("partner-left")
    await alice.page.get_by_role("button", name="Next").click()
    await waiting_users(node, 2)
    for person in (alice, carol):
        await person.wait_status("waiting")


async def test_a_dropped_socket_resumes_the_call(
    node_factory: NodeFactory, open_client: OpenClient
) -> None:
    node = node_factory("--mode", "sfu", "--resume-grace", "15")
    alice, bob = await matched_pair(open_client, node.url + "/")
    await wait_until_flowing(alice)
    first_sid = await alice.page.evaluate("window.liveloop.socket.id")
    # The websocket dies under socket.io (as on a network switch); the client reconnects.
    await alice.page.evaluate("window.liveloop.socket.io.engine.transport.ws.close()")
    await alice.page.wait_for_function(
        f"window.liveloop.socket.connected && window.liveloop.socket.id !== '{first_sid}'",
        timeout=15_000,
    )
    await expect(alice.page.locator("#call-notice")).to_have_text("")
    for person in (alice, bob):
        assert (await person.state())["call"]["status"] == "in-call"
    before, after = await media_flow(alice)
    assert after["video"]["framesDecoded"] > before["video"]["framesDecoded"]
    # Chat reaches the resumed socket; the partner never saw the call end.
    await bob.send_chat("still there?")
    await expect(alice.page.locator("#chat-list")).to_contain_text("still there?")
    await expect(bob.status).to_have_attribute("data-state", "in-call")
