"""The node inside the test's own event loop, so tests can look inside it.

* :class:`Room`: a room on the node with real aiortc client peers on loopback, driven without
  socket.io: the session's ``emit`` hands each answer straight to the client object.
* :class:`InProcessNode`: a whole node (app, rooms, media sessions, peer connections, tasks) on
  a free loopback port.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiortc.rtcrtpreceiver
import aiortc.rtcrtpsender
import pytest

from benchmarks.media.synthetic import SyntheticPeer
from liveloop_sfu.app import Node
from liveloop_sfu.config import Settings
from liveloop_sfu.media.settings import MediaSettings
from liveloop_sfu.media.sfu.session import SfuSession


class Room:
    """One :class:`SfuSession` plus the synthetic browsers in it."""

    def __init__(self, settings: MediaSettings) -> None:
        self.answers: dict[str, str] = {}
        self.events: list[tuple[str, str]] = []
        self.failures: list[tuple[str, str]] = []
        self.session = SfuSession("room-1", settings, self._emit, self._on_failure)
        self.peers: dict[str, SyntheticPeer] = {}

    async def _emit(self, sid: str, event: str, payload: Mapping[str, Any]) -> None:
        self.events.append((sid, event))
        if event == "negotiation-call-answer":
            self.answers[sid] = payload["sdp"]["sdp"]

    async def _on_failure(self, sid: str, reason: str) -> None:
        self.failures.append((sid, reason))

    async def join(self, sid: str, participant_id: str, **peer_options: Any) -> SyntheticPeer:
        peer = SyntheticPeer(**peer_options)
        self.peers[sid] = peer
        await self.session.add_participant(sid, participant_id)
        return peer

    async def connect(self, sid: str) -> float:
        """Offer, answer, and wait until the client is connected; returns the seconds it took."""
        start = time.monotonic()
        peer = self.peers[sid]
        await self.session.on_offer(sid, await peer.create_offer())
        await peer.accept_answer(self.answers[sid])
        await peer.wait_connected()
        return time.monotonic() - start

    async def close(self) -> None:
        for peer in self.peers.values():
            await peer.close()
        await self.session.close()
        self.peers.clear()


@dataclasses.dataclass
class InProcessNode:
    url: str
    node: Node
    settings: Settings


StartNode = Callable[..., Awaitable[InProcessNode]]


def count_codecs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records every encoder and decoder aiortc creates from now on (``"enc:video/VP8"``...): a
    forwarding node must create none."""
    created: list[str] = []

    def counting(factory: Callable[[Any], Any], what: str) -> Callable[[Any], Any]:
        def make(codec: Any) -> Any:
            created.append(f"{what}:{codec.mimeType}")
            return factory(codec)

        return make

    monkeypatch.setattr(
        aiortc.rtcrtpsender, "get_encoder", counting(aiortc.rtcrtpsender.get_encoder, "enc")
    )
    monkeypatch.setattr(
        aiortc.rtcrtpreceiver, "get_decoder", counting(aiortc.rtcrtpreceiver.get_decoder, "dec")
    )
    return created
