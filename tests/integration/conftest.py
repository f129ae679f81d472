"""Fixtures of the integration folders (real nodes, real aiortc peers)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

import pytest

from tests.integration.calls.wire_call import WireCall
from tests.nodes import Node


class Caller(Protocol):
    """``await caller(node, name)``: a WireCall connected to ``node`` that requested a room
    (``resumable``: it declares it can resume, socket.io auth ``{"resume": true}``)."""

    async def __call__(self, node: Node, name: str, resumable: bool = False) -> WireCall: ...


@pytest.fixture
async def caller() -> AsyncIterator[Caller]:
    """Browser stand-ins for the test; every one is closed at teardown."""
    calls: list[WireCall] = []

    async def make(node: Node, name: str, resumable: bool = False) -> WireCall:
        call = WireCall(node.url, name, resumable=resumable)
        calls.append(call)
        await call.start()
        return call

    yield make
    for call in calls:
        await call.close()
