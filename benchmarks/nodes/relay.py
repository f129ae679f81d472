"""The baseline node of the forwarding benchmark: decode and re-encode with aiortc's ``MediaRelay``.

``python -m benchmarks.nodes.relay --host 127.0.0.1 --port P --mode sfu`` starts the SAME
application as ``liveloop-sfu`` (same signaling, rooms and wire contract, ``create_app``) with one
difference: each sfu call's media is a :class:`RelaySession`, the way an aiortc application relays
media without an RTP-level forwarder. The node's receivers decode every frame, ``MediaRelay`` fans
the decoded frames out and each sender encodes them again. Comparing it with the forwarding node in
one run shows what forwarding without codecs saves.

The only tuning: aiortc's VP8 encoder starts at 500 kbps; the benchmark's streams are ~1 Mbps, so
the baseline starts at that bitrate too (its packet rate then matches the forwarded stream's).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiortc.codecs.vpx
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc import sdp as aiortc_sdp
from aiortc.contrib.media import MediaRelay

from liveloop_sfu.__main__ import main as node_main
from liveloop_sfu.config import Settings
from liveloop_sfu.errors import InvalidPayload, NotInRoom
from liveloop_sfu.media.session import Emit, MediaFailure, MediaSession, UnwatchedMedia
from liveloop_sfu.media.settings import MediaSettings
from liveloop_sfu.media.transport.ice_gathering import restrict_gathering
from liveloop_sfu.modes import CallMode
from liveloop_sfu.rooms.service import SfuFactory

log = logging.getLogger("benchmarks.nodes.relay")

RELAY_VIDEO_BITRATE = 1_000_000


class RelayedTrack(MediaStreamTrack):
    """What the node sends on one m-line: frames of a partner's track once it exists (the
    partner may connect after this participant's answer was made)."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self._source: asyncio.Future[MediaStreamTrack] = asyncio.get_running_loop().create_future()

    @property
    def has_source(self) -> bool:
        return self._source.done()

    def set_source(self, track: MediaStreamTrack) -> None:
        if not self._source.done():
            self._source.set_result(track)

    async def recv(self) -> Any:
        source = await self._source
        return await source.recv()

    def stop(self) -> None:
        super().stop()
        if self._source.done():
            self._source.result().stop()
        else:
            self._source.cancel()


@dataclass(eq=False)
class _RelayPeer:
    sid: str
    participant_id: str
    pc: RTCPeerConnection
    incoming: dict[str, MediaStreamTrack] = field(default_factory=dict)  # by kind
    outgoing: dict[str, RelayedTrack] = field(default_factory=dict)  # by kind


class RelaySession(UnwatchedMedia):
    """:class:`~liveloop_sfu.media.session.MediaSession` of one call on the relay baseline."""

    mode: CallMode = "sfu"
    # It re-encodes one stream per subscriber: no layers to choose.
    NO_LAYERS = "this node's media has no per-subscriber layers"

    def __init__(
        self, room_id: str, settings: MediaSettings, emit: Emit, on_failure: MediaFailure
    ) -> None:
        self.room_id = room_id
        self._settings = settings
        self._emit = emit
        self._on_failure = on_failure
        self._relay = MediaRelay()
        self._peers: dict[str, _RelayPeer] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    async def add_participant(self, sid: str, participant_id: str) -> None:
        if self._closed or sid in self._peers:
            return
        peer = _RelayPeer(sid, participant_id, RTCPeerConnection(RTCConfiguration(iceServers=[])))
        self._peers[sid] = peer

        def on_track(track: MediaStreamTrack) -> None:
            peer.incoming[track.kind] = track
            self._wire()

        def on_state() -> None:
            if peer.pc.connectionState == "failed" and not self._closed:
                self._spawn(self._on_failure(sid, "connection to the node failed"))

        peer.pc.on("track", on_track)
        peer.pc.on("connectionstatechange", on_state)

    async def on_offer(self, sid: str, sdp: str) -> None:
        peer = self._member(sid)
        try:
            await peer.pc.setRemoteDescription(RTCSessionDescription(sdp, "offer"))
        except ValueError as exc:
            raise InvalidPayload(f"unusable SDP offer: {exc}") from exc
        for transceiver in peer.pc.getTransceivers():
            if transceiver.kind not in peer.outgoing:
                track = RelayedTrack(transceiver.kind)
                peer.outgoing[transceiver.kind] = track
                peer.pc.addTrack(track)  # takes the offer's transceiver of that kind
        restrict_gathering(peer.pc, self._settings)
        await peer.pc.setLocalDescription(await peer.pc.createAnswer())
        self._wire()
        answer = {"sdp": {"type": "answer", "sdp": peer.pc.localDescription.sdp}}
        await self._emit(sid, "negotiation-call-answer", answer)

    async def on_answer(self, sid: str, sdp: str) -> None:
        self._member(sid)
        raise InvalidPayload("the node never makes offers: there is nothing to answer")

    async def on_candidate(self, sid: str, candidate: Mapping[str, Any] | None) -> None:
        peer = self._member(sid)
        text = None if candidate is None else candidate.get("candidate")
        if not text or not isinstance(text, str) or peer.pc.remoteDescription is None:
            return  # the benchmark clients put their candidates in the offer
        parsed = aiortc_sdp.candidate_from_sdp(text.removeprefix("candidate:"))
        parsed.sdpMLineIndex = 0
        await peer.pc.addIceCandidate(parsed)

    async def remove_participant(self, sid: str) -> None:
        peer = self._peers.pop(sid, None)
        if peer is None:
            return
        for track in peer.outgoing.values():
            track.stop()
        await peer.pc.close()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for sid in list(self._peers):
            await self.remove_participant(sid)
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _member(self, sid: str) -> _RelayPeer:
        peer = self._peers.get(sid)
        if peer is None or self._closed:
            raise NotInRoom("not a participant of this call")
        return peer

    def _wire(self) -> None:
        """Feed every partner's decoded track into each participant's outgoing track."""
        for publisher in self._peers.values():
            for subscriber in self._peers.values():
                if publisher is subscriber:
                    continue
                for kind, track in publisher.incoming.items():
                    out = subscriber.outgoing.get(kind)
                    if out is not None and not out.has_source:
                        out.set_source(self._relay.subscribe(track))

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def relay_factory(settings: Settings, emit: Emit) -> SfuFactory:
    """``create_app``'s sfu media factory for the baseline: every sfu call is a RelaySession."""
    media = settings.media

    def make(room_id: str, on_failure: MediaFailure) -> MediaSession:
        return RelaySession(room_id, media, emit, on_failure)

    return make


def main(argv: Sequence[str] | None = None) -> int:
    """The product's own entry point, with every sfu call's media on MediaRelay."""
    # Module constant read by each new Vp8Encoder: the baseline encodes at the stream's bitrate.
    aiortc.codecs.vpx.DEFAULT_BITRATE = RELAY_VIDEO_BITRATE
    return node_main(argv, media_factory=relay_factory)


if __name__ == "__main__":
    sys.exit(main())
