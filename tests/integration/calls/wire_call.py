"""A browser stand-in that speaks the whole wire contract: socket.io signaling + aiortc media.

It follows docs/protocol.md the way web/js does: in sfu it always offers and takes the node's
answer; in p2p it offers or answers by its role; on ``mode-changed`` it starts a new peer
connection in the new mode; on ``partner-left`` it closes it.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from aiortc import RTCSessionDescription

from benchmarks.media.synthetic import SyntheticPeer
from liveloop_sfu.client import WireClient
from liveloop_sfu.media.settings import MediaSettings
from liveloop_sfu.media.transport.ice_gathering import restrict_gathering


class WireCall:
    def __init__(
        self, url: str, name: str, *, sfu_blocked: bool = False, resumable: bool = False
    ) -> None:
        """``sfu_blocked``: like a browser whose UDP to the node is firewalled, this one signals
        normally in sfu but its media never reaches the node (p2p still works)."""
        self.name = name
        self.sfu_blocked = sfu_blocked
        self.resumable = resumable  # asks the node for a resume token (docs: resume)
        self.wire = WireClient(url, timeout=10)
        self.peer: SyntheticPeer | None = None
        self.match: dict[str, Any] | None = None
        self.mode: str | None = None
        self.events: list[tuple[str, dict[str, Any]]] = []
        self._tasks: list[asyncio.Task[None]] = []
        # Events arrive in per-event queues; an offer can be read before match-done was handled.
        self._has_peer = asyncio.Event()
        self.first_frame = 0  # the first counter the current peer paints
        self.old_wire: WireClient | None = None  # see change_network

    async def start(self) -> dict[str, Any]:
        await self.wire.connect(auth={"resume": True} if self.resumable else None)
        self._start_pumps()
        return await self.wire.request_room(self.name)

    def _start_pumps(self) -> None:
        for event, handler in (
            ("negotiation-call-offer", self._on_offer),
            ("negotiation-call-answer", self._on_answer),
            ("mode-changed", self._on_mode_changed),
            ("partner-left", self._on_partner_left),
        ):
            self._tasks.append(asyncio.create_task(self._pump(event, handler)))

    async def _stop_pumps(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def change_network(self, *, node_sees_close: bool = True) -> None:
        """What a switch from one network to another does to a browser: its websocket is lost
        without a goodbye, and its media path dies — here its peer connection is closed with its
        UDP socket, and the next one binds a new port: a new address as the node sees it.

        ``node_sees_close``: the TCP close reaches the node (as from a proxy restart). Without
        it the old socket stays open as far as the node can tell (a close sent on the old
        network never arrives): kept in :attr:`old_wire`, no longer read."""
        await self._stop_pumps()
        if node_sees_close:
            ws = self.wire.sio.eio.ws
            assert ws is not None
            await ws.close()
            await asyncio.wait_for(self.wire.disconnected.wait(), 10)
            await self.wire.close()
        else:
            self.old_wire = self.wire
        if self.peer is not None:
            await self._close_peer(self.peer)
            if self.peer.video_track is not None:
                # The next peer paints on from here, so the partner can tell old from new. Read
                # once the old peer is closed: while closing, it may still paint and send a frame.
                self.first_frame += self.peer.video_track.counter
            self.peer = None
        self._has_peer.clear()

    async def resume(self, url: str) -> dict[str, Any]:
        """Back on a new socket after :meth:`change_network`: ``resume {token}``, then media
        again as the web client does in sfu (docs/protocol.md, "Resume"): a new peer connection
        and a fresh offer, whose new ICE credentials make it an ICE restart for the node. (Not
        for p2p: an aiortc partner cannot restart ICE on its connection, a browser can.)"""
        assert self.mode == "sfu", "an aiortc stand-in resumes media through the node only"
        assert self.match is not None
        token = self.match["resumeToken"]
        self.wire = WireClient(url, timeout=10)
        await self.wire.connect(auth={"resume": True})
        ack = await self.wire.call("resume", {"token": token})
        self.match = {**self.match, "resumeToken": ack["resumeToken"]}
        self._start_pumps()
        await self._negotiate(ack["mode"], ack["role"], first_frame=self.first_frame)
        return ack

    async def matched(self, timeout: float = 10) -> dict[str, Any]:
        self.match = await self.wire.next("match-done", timeout)
        await self._negotiate(self.match["mode"], self.match["role"])
        return self.match

    @staticmethod
    async def _close_peer(peer: SyntheticPeer) -> None:
        # aiortc's RTCRtpReceiver.stop() can wait forever for an RTCP task that never started
        # (a peer closed before it connected); the test client must not hang on it.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(peer.close(), 5)

    async def _negotiate(self, mode: str, role: str, first_frame: int = 0) -> None:
        if self.peer is not None:
            await self._close_peer(self.peer)
        self.mode = mode
        self.peer = SyntheticPeer(first_frame=first_frame)
        self.first_frame = first_frame
        self._has_peer.set()
        if role == "offerer":
            offer = await self.peer.create_offer()
            if mode == "sfu" and self.sfu_blocked:
                await self._close_peer(self.peer)
                self.peer = None
            await self.wire.call("negotiation-call-offer", {"sdp": {"type": "offer", "sdp": offer}})

    async def _pump(self, event: str, handler: Any) -> None:
        while True:
            payload = await self.wire.next(event, timeout=3600)
            self.events.append((event, payload))
            await handler(payload)

    async def _on_offer(self, payload: dict[str, Any]) -> None:
        await asyncio.wait_for(self._has_peer.wait(), 10)
        assert self.peer is not None and self.mode == "p2p"
        pc = self.peer.pc
        await pc.setRemoteDescription(RTCSessionDescription(payload["sdp"]["sdp"], "offer"))
        restrict_gathering(pc, MediaSettings(host_addresses=("127.0.0.1",)))
        await pc.setLocalDescription(await pc.createAnswer())
        answer = {"sdp": {"type": "answer", "sdp": pc.localDescription.sdp}}
        await self.wire.call("negotiation-call-answer", answer)

    async def _on_answer(self, payload: dict[str, Any]) -> None:
        await asyncio.wait_for(self._has_peer.wait(), 10)
        if self.peer is None:  # sfu_blocked: nothing to connect
            return
        await self.peer.accept_answer(payload["sdp"]["sdp"])

    async def _on_mode_changed(self, payload: dict[str, Any]) -> None:
        await self._negotiate(payload["mode"], payload["role"])

    async def _on_partner_left(self, payload: dict[str, Any]) -> None:
        if self.peer is not None:
            self._has_peer.clear()
            await self._close_peer(self.peer)
            self.peer = None

    async def event(self, name: str, timeout: float = 10, nth: int = 1) -> dict[str, Any]:
        """The ``nth`` ``name`` event this call has handled (its pump consumes the queue)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            seen = [payload for event, payload in self.events if event == name]
            if len(seen) >= nth:
                return seen[nth - 1]
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"{self.name}: no {name} within {timeout} s")
            await asyncio.sleep(0.05)

    async def frames_from_partner(self, count: int, timeout: float = 15) -> None:
        """Wait until ``count`` frames with readable counters were decoded."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self.peer is None or len(self.peer.video_log.counters) < count:
            if asyncio.get_running_loop().time() > deadline:
                got = len(self.peer.video_log.counters) if self.peer else 0
                raise TimeoutError(f"{self.name}: {got} of {count} frames decoded")
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        await self._stop_pumps()
        if self.old_wire is not None:
            await self.old_wire.close()
        if self.peer is not None:
            await self._close_peer(self.peer)
        await self.wire.close()
