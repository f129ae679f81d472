"""A group-room participant that speaks the wire contract: socket.io signaling + aiortc media.

It does what docs/protocol.md asks of a browser in a group room: ``join-room``, then offer (the
browser always offers in sfu), take the node's ``negotiation-call-answer``, and make a new offer
on every ``renegotiate``. Its video paints its own frame counter (``first_frame`` + n), so
whoever decodes it can tell whose video it is.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from aiortc.exceptions import InvalidStateError

from benchmarks.media.synthetic import CounterLog, SyntheticPeer
from liveloop_sfu.client import WireClient, WireError


class Member:
    def __init__(
        self,
        url: str,
        name: str,
        *,
        first_frame: int,
        receivers: int = 3,
        tone_amplitude: int = 8000,
        width: int = 160,
        height: int = 120,
        fps: int = 15,
    ) -> None:
        self.name = name
        self.first_frame = first_frame
        self.wire = WireClient(url, timeout=20)
        # ``receivers`` receive-only audio + video pairs: room for that many other participants.
        self._peer_options: dict[str, Any] = {
            "width": width,
            "height": height,
            "fps": fps,
            "extra_receivers": receivers,
            "tone_amplitude": tone_amplitude,
        }
        self.peer = SyntheticPeer(first_frame=first_frame, **self._peer_options)
        self.ack: dict[str, Any] = {}
        self.offers = 0
        self._lock = asyncio.Lock()
        self._pump: asyncio.Task[None] | None = None

    @property
    def participant_id(self) -> str:
        return str(self.ack["participantId"])

    async def connect(self) -> None:
        await self.wire.connect()

    async def join(self, room_id: str, token: str | None = None) -> dict[str, Any]:
        """join-room, then negotiate (returns the ack; raises WireError)."""
        ack = await self.join_room(room_id, token)
        await self.start_media()
        return ack

    async def join_room(self, room_id: str, token: str | None = None) -> dict[str, Any]:
        if not self.wire.sio.connected:
            await self.connect()
        payload: dict[str, Any] = {"roomId": room_id, "userName": self.name}
        if token is not None:
            payload["token"] = token
        self.ack = await self.wire.call("join-room", payload)
        return self.ack

    async def start_media(self) -> None:
        self._pump = asyncio.create_task(self._renegotiations())
        await self.offer()

    async def offer(self) -> None:
        """One offer/answer exchange at a time, like a browser's signaling state machine."""
        async with self._lock:
            sdp = await self.peer.create_offer()
            await self.wire.call("negotiation-call-offer", {"sdp": {"type": "offer", "sdp": sdp}})
            answer = await self.wire.next("negotiation-call-answer", timeout=20)
            await self.peer.accept_answer(answer["sdp"]["sdp"])
            self.offers += 1

    async def _renegotiations(self) -> None:
        while True:
            await self.wire.next("renegotiate", timeout=3600)
            # Several requests queued while offering are answered by one new offer.
            while self.wire.pending("renegotiate"):
                await self.wire.next("renegotiate")
            try:
                await self.offer()
            except (WireError, InvalidStateError):  # left the room or closed meanwhile
                return

    async def change_network(self, first_frame: int) -> None:
        """Media from a new network while the socket stays up: the old peer connection and its
        UDP socket go, a new one (new port, new ICE credentials, painting from ``first_frame``)
        offers on the same m-lines — an ICE restart as the node sees it (docs/protocol.md)."""
        async with self._lock:
            old = self.peer
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(old.close(), 5)
            self.first_frame = first_frame
            self.peer = SyntheticPeer(first_frame=first_frame, **self._peer_options)
        await self.offer()

    def video_from(self, participant_id: str) -> CounterLog | None:
        return self.peer.video_logs_by_owner().get(participant_id)

    async def frames_from(self, owners: dict[str, int], count: int, timeout: float = 30) -> None:
        """Wait until ``count`` readable frames of each owner (participantId -> its first frame
        number) were decoded, each on the track the node labelled with that owner."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            logs = {owner: self.video_from(owner) for owner in owners}
            got = {o: len(log.counters) if log else 0 for o, log in logs.items()}
            if all(n >= count for n in got.values()):
                return
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"{self.name}: frames per owner {got}, wanted {count}")
            await asyncio.sleep(0.1)

    async def frames_since(
        self, participant_id: str, first: int, count: int, timeout: float = 30
    ) -> None:
        """Wait until ``count`` frames painted from ``first`` on (an owner's new video after
        :meth:`change_network`) were decoded on the track labelled ``participant_id``."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            log = self.video_from(participant_id)
            new = [c for c in log.counters if c >= first] if log else []
            if len(new) >= count:
                return
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"{self.name}: {len(new)} frames from {first} on, not {count}")
            await asyncio.sleep(0.1)

    async def leave(self) -> dict[str, Any]:
        return await self.wire.call("leave-room", {})

    async def close(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.peer.close(), 5)
        await self.wire.close()
