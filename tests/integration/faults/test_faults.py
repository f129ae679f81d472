"""Faults: clients that vanish without closing, and a node told to stop (SIGTERM)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

from liveloop_sfu.client import WireClient
from tests.helpers import until
from tests.integration.calls.wire_call import WireCall
from tests.integration.conftest import Caller
from tests.nodes import ROOT, NodeFactory, get_json

pytestmark = pytest.mark.slow

# DESIGN/issue 8: a vanished partner ends the call for the other side within 10 s.
VANISH_BUDGET = 10.0


async def test_frozen_client_ends_the_call_within_ten_seconds(node_factory: NodeFactory) -> None:
    """Its socket stays open but nothing answers: only the ping timeout can tell."""
    node = node_factory("--mode", "p2p")  # defaults: ping interval 3 s, ping timeout 3 s
    frozen = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "tests.integration.faults.vanishing_client", node.url, "zed"),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    bob = await WireClient(node.url).connect()
    try:
        await until(lambda: get_json(node, "/api/status")["waitingUsers"] == 1, 20)
        await bob.request_room("bob")
        match = await bob.next("match-done")
        assert frozen.stdout is not None
        assert json.loads(await frozen.stdout.readline())["roomId"] == match["roomId"]
        os.kill(frozen.pid, signal.SIGSTOP)
        frozen_at = time.monotonic()
        left = await bob.next("partner-left", timeout=VANISH_BUDGET + 5)
        took = time.monotonic() - frozen_at
        print(f"partner-left after {took:.1f} s")
        assert left["reason"] == "disconnected"
        assert took < VANISH_BUDGET
        assert get_json(node, "/api/status")["activeRooms"] == {"sfu": 0, "p2p": 0}
    finally:
        if frozen.returncode is None:
            frozen.kill()  # SIGKILL works on a stopped process
            await frozen.wait()
        await bob.close()


def cut_media(call: WireCall) -> Callable[[], None]:
    """The browser's network for media is gone (ICE consent lost) while its signaling socket
    lives on: nothing it sends — media, RTCP, STUN consent answers — leaves its sockets.
    Returns the function that brings the network back (so the test client can close cleanly)."""
    assert call.peer is not None
    transceiver = call.peer.pc.getTransceivers()[0]
    protocols = list(transceiver.receiver.transport.transport._connection._protocols)

    async def drop_data(data: bytes, addr: Any) -> None:
        return None

    def drop_stun(message: Any, addr: Any) -> None:
        return None

    for protocol in protocols:
        protocol.send_data = drop_data
        protocol.send_stun = drop_stun

    def restore() -> None:
        for protocol in protocols:
            del protocol.send_data, protocol.send_stun  # the class's methods again

    return restore


async def test_lost_media_ends_an_sfu_call_within_ten_seconds(
    node_factory: NodeFactory, caller: Caller
) -> None:
    node = node_factory("--mode", "sfu")  # default --media-timeout 6 s
    alice = await caller(node, "alice")
    bob = await caller(node, "bob")
    await alice.matched()
    await bob.matched()
    await bob.frames_from_partner(20)
    restore = cut_media(alice)
    cut_at = time.monotonic()
    try:
        left = await bob.event("partner-left", timeout=VANISH_BUDGET + 5)
        took = time.monotonic() - cut_at
    finally:
        restore()
    print(f"partner-left after {took:.1f} s")
    assert left["reason"] == "media-failed"
    assert took < VANISH_BUDGET
    assert get_json(node, "/api/status")["activeRooms"] == {"sfu": 0, "p2p": 0}


async def test_sigterm_drain_ends_calls_at_the_drain_timeout(
    node_factory: NodeFactory, caller: Caller
) -> None:
    """A drain whose calls outlast ``--drain-timeout``: they run until it passes, then end
    (``partner-left`` ``shutdown``, ``server-shutdown``) and the node exits. The rest of the
    drain is tested in test_drain.py."""
    node = node_factory("--mode", "sfu", "--drain-timeout", "3")
    alice = await caller(node, "alice")
    bob = await caller(node, "bob")
    await alice.matched()
    await bob.matched()
    await bob.frames_from_partner(10)
    carol = await WireClient(node.url).connect()
    try:
        await carol.request_room("carol")
        node.process.send_signal(signal.SIGTERM)
        sent_at = time.monotonic()
        # The idle client is told at once; the call is not.
        assert (await carol.next("server-shutdown"))["reason"] == "draining"
        assert not [e for e, _ in alice.events + bob.events if e == "partner-left"]
        for call in (alice, bob):
            assert (await call.event("partner-left"))["reason"] == "shutdown"
            assert (await call.wire.next("server-shutdown"))["reason"] == "shutdown"
        ended_after = time.monotonic() - sent_at
        for client in (alice.wire, bob.wire, carol):
            await asyncio.wait_for(client.disconnected.wait(), 10)
        code = await asyncio.to_thread(node.process.wait, 15)
        took = time.monotonic() - sent_at
        print(f"calls ended after {ended_after:.1f} s, exited {code} after {took:.1f} s")
        assert code == 0
        assert ended_after >= 3  # not before the drain timeout
        log = node.log()
        assert "closed (shutdown)" in log  # the room, its media and peer connections closed
        assert "Traceback" not in log
    finally:
        await carol.close()
