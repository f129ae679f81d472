"""Fixtures of the integration folders (real nodes, real aiortc peers)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any, Protocol

import pytest
from aiohttp import web

from liveloop_sfu.app import NODE_KEY, create_app
from liveloop_sfu.config import RoomSettings, Settings
from liveloop_sfu.media.settings import MediaSettings
from tests.integration.calls.wire_call import WireCall
from tests.integration.in_process import InProcessNode, Room, StartNode
from tests.nodes import Node


class Caller(Protocol):
    """``await caller(node, name)``: a WireCall connected to ``node`` that requested a room
    (``resumable``: it declares it can resume, socket.io auth ``{"resume": true}``)."""

    async def __call__(self, node: Node, name: str, resumable: bool = False) -> WireCall: ...


async def call_pair(node: Node, caller: Caller) -> tuple[WireCall, WireCall]:
    """Alice and Bob ask ``node`` for a room and are matched with each other."""
    alice = await caller(node, "alice")
    bob = await caller(node, "bob")
    await alice.matched()
    await bob.matched()
    return alice, bob


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


@pytest.fixture
async def room() -> AsyncIterator[Room]:
    """An sfu session in this event loop with aiortc clients (:class:`Room`)."""
    room = Room(MediaSettings())
    yield room
    await room.close()
    # Let the peers' closing callbacks run before the loop is torn down.
    await asyncio.sleep(0)


@pytest.fixture
async def start_node() -> AsyncIterator[StartNode]:
    """``await start_node(**settings_overrides)``: a node in this event loop on a free loopback
    port (:class:`InProcessNode`); all are stopped at teardown."""
    runners: list[web.AppRunner] = []

    async def start(base: Settings | None = None, **overrides: Any) -> InProcessNode:
        """``base``: the other subtrees (admin token, network...); ``overrides``: room settings
        (mode ``sfu`` unless given)."""
        # The node shares this loop with the test's own clients, so its self-measurement
        # (rooms/self_measure.py) would measure them: off unless a test turns it on.
        admission_off = {"admission_lag_ms": 0, "admission_cpu": 0}
        rooms = dataclasses.replace(RoomSettings(mode="sfu"), **{**admission_off, **overrides})
        settings = dataclasses.replace(base or Settings(), rooms=rooms)
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
