"""A node running in the test's own event loop (so tests can look inside it: rooms, media
sessions, peer connections, tasks) on a free loopback port."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from liveloop_sfu.app import NODE_KEY, Node, create_app
from liveloop_sfu.config import RoomSettings, Settings


@dataclasses.dataclass
class InProcessNode:
    url: str
    node: Node
    settings: Settings


StartNode = Callable[..., Awaitable[InProcessNode]]


@pytest.fixture
async def start_node() -> AsyncIterator[StartNode]:
    runners: list[web.AppRunner] = []

    async def start(**overrides: Any) -> InProcessNode:
        settings = Settings(rooms=dataclasses.replace(RoomSettings(mode="sfu"), **overrides))
        app = create_app(settings)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        host, port = runner.addresses[0][:2]
        return InProcessNode(f"http://{host}:{port}", app[NODE_KEY], settings)

    yield start
    for runner in runners:
        await runner.cleanup()
