"""Peer-to-peer media: the node relays offer, answer and ICE candidates between two browsers.

This is the seed's design, kept as the fallback mode. The node never reads the SDP beyond the
validation done in :mod:`liveloop_sfu.signal.messages`; a participant can only ever reach its own
partner because the partner comes from the room, never from the payload.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from liveloop_sfu.errors import InvalidPayload, NotInRoom
from liveloop_sfu.media.session import Emit
from liveloop_sfu.modes import CallMode


class P2PSession:
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

    def hold(self, sid: str) -> None:
        """Nothing to hold: the node does not watch media that never passes through it (the
        browsers restart ICE between themselves, through the relay)."""

    def release(self, sid: str) -> None:
        """See :meth:`hold`."""

    def media_lost(self, sid: str) -> bool:
        """Never: the node sees no media here, so reports no failure."""
        return False

    def last_heard(self, sid: str) -> float | None:
        """The media never passes the node."""
        return None

    def set_video_quality(
        self, sid: str, participant_id: str, track_id: str, max_height: int
    ) -> None:
        """The browsers' own business: the node forwards nothing here."""
        raise InvalidPayload("the media of this call does not pass the node")

    def video_layers(self, sid: str) -> list[dict[str, Any]]:
        """The browsers' own business: the node forwards nothing here."""
        raise InvalidPayload("the media of this call does not pass the node")

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
