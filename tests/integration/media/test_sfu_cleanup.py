"""Hanging up releases everything: 100 call / hang-up cycles leave no peer connection, no task
and no memory behind on the node."""

from __future__ import annotations

import asyncio
import gc
import time
import tracemalloc
import weakref

import pytest

from liveloop_sfu.media.settings import MediaSettings
from tests.integration.in_process import Room

pytestmark = pytest.mark.slow

CYCLES = 100
WARMUP = 10
# Allowed growth of traced memory over the measured cycles. A leak of one peer connection per call
# (certificate, transports, transceivers, forwarder history: well over 50 KB) would grow by more
# than 5 MB over 100 calls; 1.5 MB leaves room for interpreter caches (interned strings, codec and
# SSL caches, asyncio free lists) that settle after the first calls.
MAX_GROWTH_BYTES = 1_500_000


async def one_call(peers: weakref.WeakSet[object]) -> None:
    room = Room(MediaSettings())
    try:
        await room.join("A", "alice", audio=False, width=160, height=120)
        await room.join("B", "bob", audio=False, width=160, height=120)
        await room.connect("A")
        await room.connect("B")
        for participant in room.session._participants.values():
            peers.add(participant.peer._pc)
        for _ in range(500):
            if room.session.counters["forwarded-packets"] >= 4:
                break
            await asyncio.sleep(0.01)
        assert room.session.counters["forwarded-packets"] >= 4
    finally:
        await room.close()
    assert room.session.forwarded_streams == 0


def traced() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


async def test_hundred_calls_leave_nothing_behind() -> None:
    node_peers: weakref.WeakSet[object] = weakref.WeakSet()
    tasks_before = {t for t in asyncio.all_tasks() if not t.done()}
    started = time.monotonic()
    tracemalloc.start()
    try:
        for _ in range(WARMUP):
            await one_call(node_peers)
        await asyncio.sleep(0.2)
        baseline = traced()
        for _ in range(CYCLES):
            await one_call(node_peers)
        await asyncio.sleep(0.2)
        growth = traced() - baseline
    finally:
        tracemalloc.stop()
    elapsed = time.monotonic() - started
    gc.collect()
    leftover_tasks = {t for t in asyncio.all_tasks() if not t.done()} - tasks_before
    print(
        f"\n{WARMUP + CYCLES} calls in {elapsed:.1f} s; traced memory growth over {CYCLES} calls: "
        f"{growth / 1024:.0f} KiB; node peer connections alive: {len(node_peers)}"
    )
    assert len(node_peers) == 0, "RTCPeerConnections of the node outlived their calls"
    assert leftover_tasks == set()
    assert growth < MAX_GROWTH_BYTES
