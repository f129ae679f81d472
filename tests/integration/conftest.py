"""Fixtures of the integration folders (real nodes, real aiortc peers)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import pytest

from tests.integration.calls.wire_call import WireCall
from tests.nodes import Node

# ``await caller(node, name)``: a WireCall connected to ``node`` that requested a room.
Caller = Callable[[Node, str], Coroutine[Any, Any, WireCall]]


@pytest.fixture
async def caller() -> AsyncIterator[Caller]:
    """Browser stand-ins for the test; every one is closed at teardown."""
    calls: list[WireCall] = []

    async def make(node: Node, name: str) -> WireCall:
        call = WireCall(node.url, name)
        calls.append(call)
        await call.start()
        return call

    yield make
    for call in calls:
        await call.close()
