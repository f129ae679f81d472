"""A client whose socket drops resumes its call within the grace (liveloop_sfu/rooms/resume.py)."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import re
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from liveloop_sfu.client import WireClient, WireError
from tests.helpers import scrape, until
from tests.integration.calls.wire_call import WireCall
from tests.integration.conftest import Caller
from tests.integration.faults.test_faults import start_vanishing_client
from tests.nodes import Node, NodeFactory, get_json

pytestmark = pytest.mark.slow


@pytest.fixture
def resumable(caller: Caller) -> Callable[[Node, str], Awaitable[WireCall]]:
    """Browser stand-ins that declare they can resume."""
    return functools.partial(caller, resumable=True)


async def drop_socket(call: WireCall) -> None:
    """Close the websocket under socket.io, as a network switch does: no goodbye."""
    ws = call.wire.sio.eio.ws
    assert ws is not None
    await ws.close()
    await asyncio.wait_for(call.wire.disconnected.wait(), 10)


async def test_a_dropped_socket_resumes_its_call(node_factory: NodeFactory, resumable: Any) -> None:
    node = node_factory("--mode", "sfu", "--resume-grace", "15")
    alice, bob = await resumable(node, "alice"), await resumable(node, "bob")
    match = await alice.matched()
    await bob.matched()
    await alice.frames_from_partner(10)
    await bob.frames_from_partner(10)
    token = match["resumeToken"]
    assert isinstance(token, str) and len(token) >= 24

    await drop_socket(alice)
    # Another socket cannot take the call with a wrong token.
    stranger = await WireClient(node.url, timeout=5).connect()
    with pytest.raises(WireError) as info:
        await stranger.call("resume", {"token": token[:-2] + "xx"})
    assert info.value.code == "not-in-room"
    await stranger.close()

    back = await WireClient(node.url, timeout=5).connect(auth={"resume": True})
    try:
        ack = await back.call("resume", {"token": token})
        assert ack["roomId"] == match["roomId"] and ack["mode"] == "sfu"
        assert ack["role"] == "offerer"
        assert ack["participantId"] == match["participantId"]
        assert ack["resumeToken"] != token  # used once
        # The media path never depended on the socket: both keep receiving.
        alice_before = len(alice.peer.video_log.counters) if alice.peer else 0
        bob_before = len(bob.peer.video_log.counters) if bob.peer else 0
        await alice.frames_from_partner(alice_before + 20)
        await bob.frames_from_partner(bob_before + 20)
        # Signaling follows the new socket both ways; the partner was never told anything.
        await back.call("newMessage", {"message": "sorry, my wifi"})
        assert (await bob.wire.next("newMessage"))["message"] == "sorry, my wifi"
        await bob.wire.call("newMessage", {"message": "no problem"})
        assert (await back.next("newMessage"))["message"] == "no problem"
        assert not [e for e, _ in bob.events if e == "partner-left"]
        # The old token is spent.
        with pytest.raises(WireError):
            await back.call("resume", {"token": token})
        assert scrape(node)["liveloop_connected_sockets"] == 2
        # Stop on the new socket ends the call for the partner as usual.
        await back.call("stop-call")
        assert (await bob.event("partner-left"))["reason"] == "stopped"
        # Let bob's pump finish closing its peer, and close alice's (its socket never heard of
        # the end) before teardown cancels anything mid-close: aiortc's close can swallow a
        # cancellation and hang the fixture.
        for _ in range(200):
            if bob.peer is None:
                break
            await asyncio.sleep(0.05)
        if alice.peer is not None:
            await WireCall._close_peer(alice.peer)
            alice.peer = None
    finally:
        await back.close()


@pytest.mark.parametrize("mode", ["p2p", "sfu"])
async def test_without_resume_the_partner_is_told_after_the_grace(
    node_factory: NodeFactory, resumable: Any, mode: str
) -> None:
    """A resumable client that vanishes for good (a crashed tab: socket closed, media gone, no
    stop-call) ends its partner's call within 10 s (issue 8) with the default grace."""
    node = node_factory("--mode", mode)
    alice, bob = await resumable(node, "alice"), await resumable(node, "bob")
    await alice.matched()
    await bob.matched()
    if mode == "sfu":
        await bob.frames_from_partner(5)
    await drop_socket(alice)
    dropped = time.monotonic()
    if alice.peer is not None:
        await WireCall._close_peer(alice.peer)
        alice.peer = None
    left = await bob.event("partner-left", timeout=15)
    took = time.monotonic() - dropped
    assert left["reason"] == "disconnected"
    assert 6 <= took <= 10, took  # the grace (8 s by default), not the media timeout
    for _ in range(50):
        metrics = scrape(node)
        if metrics["liveloop_connected_sockets"] == 1:
            break
        await asyncio.sleep(0.1)
    assert metrics[f'liveloop_rooms{{mode="{mode}"}}'] == 0


async def test_a_client_that_cannot_resume_gets_no_grace(
    node_factory: NodeFactory, resumable: Any
) -> None:
    node = node_factory("--mode", "p2p", "--resume-grace", "15")
    alice = WireClient(node.url, timeout=5)
    await alice.connect()  # no {"resume": true}
    bob = await resumable(node, "bob")
    await alice.request_room("alice")
    match = await alice.next("match-done")
    assert "resumeToken" not in match
    await bob.matched()
    assert alice.sio.eio.ws is not None
    await alice.sio.eio.ws.close()
    assert (await bob.event("partner-left", timeout=5))["reason"] == "disconnected"
    await alice.close()


def udp_sockets(node: Node) -> int:
    """UDP sockets the node process holds open (its peers' ICE sockets), read from /proc."""
    tables = ("/proc/net/udp", "/proc/net/udp6")
    inodes = set()
    for table in tables:
        with open(table) as lines:
            inodes |= {line.split()[9] for line in list(lines)[1:]}
    fds = f"/proc/{node.process.pid}/fd"
    held = 0
    for fd in os.listdir(fds):
        try:
            target = os.readlink(f"{fds}/{fd}")
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            held += 1
    return held


@pytest.mark.parametrize("node_sees_close", [True, False], ids=["socket-closed", "socket-lingers"])
async def test_a_network_change_restarts_ice_through_the_node(
    node_factory: NodeFactory, resumable: Any, node_sees_close: bool
) -> None:
    """Alice switches networks: her socket drops and her media path dies with it. She resumes
    and offers from a new peer connection (new port, new ICE credentials: an ICE restart); the
    node answers from a new connection of its own and both directions flow again. Whether the
    node saw the old socket close or not: if not, the resume supersedes (and closes) it."""
    node = node_factory("--mode", "sfu", "--resume-grace", "15", "--media-timeout", "2")
    alice, bob = await resumable(node, "alice"), await resumable(node, "bob")
    match = await alice.matched()
    await bob.matched()
    await alice.frames_from_partner(10)
    await bob.frames_from_partner(10)
    sockets = udp_sockets(node)
    assert sockets >= 2  # one ICE socket per browser (max-bundle, one host address)

    await alice.change_network(node_sees_close=node_sees_close)
    if node_sees_close:
        # Longer than --media-timeout: alice's silent media is held for her resume, not failed.
        await asyncio.sleep(3)
        assert not [e for e, _ in bob.events if e == "partner-left"]

    ack = await alice.resume(node.url)
    assert (ack["roomId"], ack["mode"], ack["role"]) == (match["roomId"], "sfu", "offerer")
    if alice.old_wire is not None:
        # The node could not know the old socket was dead: the resume closed it.
        await asyncio.wait_for(alice.old_wire.disconnected.wait(), 10)
    assert alice.first_frame > 0
    # Both directions flow again: alice decodes bob, bob decodes alice's *new* counters, in
    # order after the old ones (same output stream for bob: the node switched its source).
    await alice.frames_from_partner(10, timeout=20)
    assert bob.peer is not None
    bob_log = bob.peer.video_log
    await until(lambda: sum(c >= alice.first_frame for c in bob_log.counters) >= 10, 20)
    assert bob_log.in_order()
    assert not [e for e, _ in bob.events if e in ("partner-left", "mode-changed")]
    metrics = scrape(node)
    assert metrics["liveloop_ice_restarts_total"] == 1
    assert metrics.get("liveloop_media_failures_total", 0) == 0
    assert metrics["liveloop_connected_sockets"] == 2
    # Signaling follows the new socket both ways.
    await alice.wire.call("newMessage", {"message": "new network"})
    assert (await bob.wire.next("newMessage"))["message"] == "new network"
    # The connection the restart replaced is gone: no UDP socket more than before.
    await until(lambda: udp_sockets(node) == sockets, 10)
    assert "Traceback" not in node.log()


async def test_a_p2p_client_back_after_its_ping_timeout_keeps_its_call(
    node_factory: NodeFactory,
) -> None:
    """A browser whose network changed: its old socket goes silent (frozen here), and the node's
    ping timeout fires before the client is back on a new socket. A p2p call's media never
    passes the node, so the node holds the call for what is left of the vanish budget since
    that socket's last pong (signal/liveness.py), and the resume that comes within it keeps the
    call: the partner is never told."""
    node = node_factory("--mode", "p2p", "--ping-interval", "1", "--ping-timeout", "1")
    frozen = await start_vanishing_client(node.url, resume=True)
    bob = await WireClient(node.url, timeout=5).connect()
    back = WireClient(node.url, timeout=5)
    try:
        await until(lambda: get_json(node, "/api/status")["waitingUsers"] == 1, 20)
        await bob.request_room("bob")
        match = await bob.next("match-done")
        assert frozen.stdout is not None
        printed = json.loads(await frozen.stdout.readline())
        assert printed["roomId"] == match["roomId"]
        os.kill(frozen.pid, signal.SIGSTOP)
        # The node notices the silence (after 1 s + 2 × 1 s at most) and holds the call.
        await until(lambda: "socket dropped (ping timeout)" in node.log(), 10)
        held = float(re.findall(r"ping timeout\); holding the call for ([\d.]+) s", node.log())[0])
        # Until 9 s after the last pong, which came at least ping interval + ping timeout (2 s)
        # before the node could tell.
        assert 0 < held < 7
        await back.connect(auth={"resume": True})
        ack = await back.call("resume", {"token": printed["token"]})
        assert ack["roomId"] == match["roomId"] and ack["mode"] == "p2p"
        assert ack["role"] == "offerer"  # the frozen client joined the queue first
        # The same call: signaling reaches the partner, who never heard that anyone left.
        await back.call("newMessage", {"message": "back"})
        assert (await bob.next("newMessage"))["message"] == "back"
        with pytest.raises(asyncio.TimeoutError):
            await bob.next("partner-left", timeout=9)  # past the end of the budget
        assert get_json(node, "/api/status")["activeRooms"] == {"sfu": 0, "p2p": 1}
    finally:
        if frozen.returncode is None:
            frozen.kill()  # SIGKILL works on a stopped process
            await frozen.wait()
        await back.close()
        await bob.close()
