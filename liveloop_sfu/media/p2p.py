"""Peer-to-peer media: the node relays offer, answer and ICE candidates between two browsers.

This is the seed's design, kept as the fallback mode. The node never reads the SDP beyond the
validation done in :mod:`liveloop_sfu.signal.messages`; a participant can only ever reach its own
partner because the partner comes from the room, never from the payload.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from liveloop_sfu.errors import NotInRoom
from liveloop_sfu.media.session import Emit, UnwatchedMedia
from liveloop_sfu.modes import CallMode


class P2PSession(UnwatchedMedia):
    """The browsers restart ICE between themselves, through the relay: the node watches nothing
    of their media (:class:`~.session.UnwatchedMedia`)."""

    mode: CallMode = "p2p"

    def __init__(self, emit: Emit) -> None:
        self._emit = emit
        self._members: list[str] = []

    async def add_participant(self, sid: str, participant_id: str) -> None:
        if sid not in self._members:
            self._members.append(sid)

    async def on_offer(self, sid: str, sdp: str) -> None:
        await self._relay(sid, "negotiation-call-offer", {"sdp": {"type": "offer", "sdp": sdp}})

    async def on_answer(self, sid: str, sdp: str) -> None:
        await self._relay(sid, "negotiation-call-answer", {"sdp": {"type": "answer", "sdp": sdp}})

    async def on_candidate(self, sid: str, candidate: Mapping[str, Any] | None) -> None:
        await self._relay(sid, "send-new-ice-candidates", {"candidate": candidate})

    async def remove_participant(self, sid: str) -> None:
        if sid in self._members:
            self._members.remove(sid)

    async def close(self) -> None:
        self._members.clear()

    async def _relay(self, sid: str, event: str, payload: Mapping[str, Any]) -> None:
        partners = [member for member in self._members if member != sid]
        if sid not in self._members or not partners:
            raise NotInRoom("your partner is not connected")
        for partner in partners:
            await self._emit(partner, event, payload)
