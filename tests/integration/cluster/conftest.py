"""Several real node processes sharing one real ``redis-server``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.calls.wire_call import WireCall
from tests.nodes import Node
from tests.redis_server import RedisServer

Caller = Callable[[Node, str], Coroutine[Any, Any, WireCall]]


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """Each test has its own server, so it may stop and restart it."""
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def caller() -> AsyncIterator[Caller]:
    """``await caller(node, name)``: a WireCall connected to ``node`` that requested a room."""
    calls: list[WireCall] = []

    async def make(node: Node, name: str) -> WireCall:
        call = WireCall(node.url, name)
        calls.append(call)
        await call.start()
        return call

    yield make
    for call in calls:
        await call.close()
