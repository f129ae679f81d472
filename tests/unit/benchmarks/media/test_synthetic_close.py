"""SyntheticPeer.close survives a cancelled caller (benchmarks/media/synthetic.py).

CI once failed at a test's teardown: the call's pump was closing its peer when teardown cancelled
the pump, and the teardown's own close then raised CancelledError from aiortc."""

from __future__ import annotations

import asyncio

from benchmarks.media.synthetic import SyntheticPeer


async def test_a_close_cancelled_midway_leaves_the_peer_closable() -> None:
    peer = SyntheticPeer()
    await peer.create_offer()
    first = asyncio.create_task(peer.close())
    second = asyncio.create_task(peer.close())
    await asyncio.sleep(0)  # both are now inside close()
    second.cancel()
    await asyncio.gather(second, return_exceptions=True)
    assert second.cancelled()
    await asyncio.wait_for(peer.close(), 5)  # a third caller: no CancelledError
    await first
    assert peer.pc.connectionState == "closed"


async def test_cancelling_the_only_caller_still_closes() -> None:
    peer = SyntheticPeer()
    await peer.create_offer()
    caller = asyncio.create_task(peer.close())
    await asyncio.sleep(0)
    caller.cancel()
    await asyncio.gather(caller, return_exceptions=True)
    await asyncio.wait_for(peer.close(), 5)
    assert peer.pc.connectionState == "closed"
