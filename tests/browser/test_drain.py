"""A rolling deploy seen from the browser: the page waiting for a partner on a node that drains
is told to move, reconnects through the load balancer to the other node, queues again by itself
and meets a partner there (web/js/signaling.js, app.js; docs/protocol.md "Shutdown and drain")."""

from __future__ import annotations

import asyncio
import signal

import pytest
from playwright.async_api import expect

from tests.browser.conftest import OpenClient
from tests.helpers import until
from tests.load_balancer import LoadBalancer
from tests.nodes import NodeFactory, get_json
from tests.redis_server import RedisServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]


async def test_waiting_page_moves_to_another_node_and_is_matched_there(
    node_factory: NodeFactory, open_client: OpenClient, own_redis_server: RedisServer
) -> None:
    flags = ("--mode", "sfu", "--redis-url", own_redis_server.url)
    node1, node2 = node_factory(*flags), node_factory(*flags)
    balancer = LoadBalancer([node1, node2])
    url = await balancer.start()
    try:
        alice = await open_client(url + "/", "Alice")
        await alice.join()
        await alice.wait_status("waiting")
        assert set(balancer.chosen) == {node1.port}  # page, assets and socket: all on node 1

        node1.process.send_signal(signal.SIGTERM)
        # Nothing else holds node 1: once Alice is told to move, it exits by itself.
        assert await asyncio.to_thread(node1.process.wait, 20) == 0
        # The page reconnected (to node 2, the one ready) and queued again by itself.
        await until(lambda: node2.port in balancer.chosen, what="no reconnection to node 2")
        await until(
            lambda: get_json(node2, "/api/status")["waitingUsers"] == 1,
            what="Alice not queued on node 2",
            in_thread=True,
        )
        await alice.wait_status("waiting")

        bob = await open_client(url + "/", "Bob")
        await bob.join()
        await alice.wait_status("in-call")
        await bob.wait_status("in-call")
        assert await alice.wait_remote_video() > 0
        await expect(alice.page.locator("#call-error")).to_have_text("")
    finally:
        await balancer.close()
