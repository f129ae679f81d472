"""Recording a room without transcoding: RTP in, one Matroska/WebM file per participant out.

A :class:`RoomRecorder` is attached to a room's media session (:class:`Recordable`, the sfu
session) and, like any subscriber of the forwarding plane, gets every RTP packet each participant
publishes — retransmissions recovered by the node's NACKs included (RTX, RFC 4588, unwrapped
here) — and the participants' RTCP. Per track it reassembles encoded frames
(:class:`~.depacketizer.FrameAssembler`), dates them from RTP timestamps and sender reports
(:mod:`.timing`) and hands them to a :class:`~.writer.WriterThread` that muxes
them with ``av``: VP8 + Opus into WebM, H.264 into Matroska (WebM cannot hold it). No decoder, no
encoder.

A participant's file is opened once every track it publishes is ready to describe itself (video:
the first keyframe, which carries the picture size; audio: its first frame), or ``HEADER_WAIT``
seconds after its first frame with the tracks that are ready; frames before that are held.
Everything here runs on the event loop and is cheap per packet; the writer thread does the I/O.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from liveloop_sfu.media.core.forwarder import TrackConfig
from liveloop_sfu.media.core.rtp import RtcpPacket, RtpParseError, RtpView, SenderReport, rtx_unwrap
from liveloop_sfu.media.recording.depacketizer import EncodedFrame, FrameAssembler, PayloadParser
from liveloop_sfu.media.recording.depacketizer_h264 import H264Parser, parameter_sets
from liveloop_sfu.media.recording.depacketizer_opus import OpusParser, opus_head
from liveloop_sfu.media.recording.depacketizer_vp8 import Vp8Parser, vp8_keyframe_size
from liveloop_sfu.media.recording.sources import (
    RETIRED_SOURCES,
    SourceGenerations,
    classify_source,
    next_pts,
)
from liveloop_sfu.media.recording.timing import TrackClock
from liveloop_sfu.media.recording.writer import (
    CloseFile,
    OpenFile,
    StreamSpec,
    WritePacket,
    WriterThread,
    stream_summary,
)

logger = logging.getLogger(__name__)

__all__ = ["HEADER_WAIT", "Recordable", "RecorderTap", "RoomRecorder"]

HEADER_WAIT = 2.0  # seconds a file waits for a participant's other tracks to become ready
_PARSERS: dict[str, type[Vp8Parser] | type[OpusParser] | type[H264Parser]] = {
    "vp8": Vp8Parser,
    "opus": OpusParser,
    "h264": H264Parser,
}


class RecorderTap(Protocol):
    """What a media session feeds a recorder (on the event loop, per packet: keep it cheap)."""

    def on_rtp(
        self,
        sid: str,
        participant_id: str,
        mid: str,
        track: TrackConfig,
        data: bytes,
        rtx: bool,
        now: float,
    ) -> None:
        """One RTP packet (``rtx``: an RFC 4588 retransmission) published by ``sid`` (public id
        ``participant_id``) on ``mid``."""

    def on_rtcp(self, sid: str, packets: Iterable[RtcpPacket], now: float) -> None:
        """RTCP sent by ``sid`` (its sender reports date its tracks)."""


@runtime_checkable
class Recordable(Protocol):
    """A media session a recorder can attach to (the sfu session; p2p media never passes the
    node, so a p2p call cannot be recorded)."""

    def attach_recorder(self, recorder: RecorderTap | None) -> None: ...

    def request_keyframe(self, sid: str, mid: str) -> None: ...


@dataclass(eq=False)
class _Track:
    mid: str
    kind: str
    codec: str
    assembler: FrameAssembler
    clock: TrackClock
    ssrc: int | None
    spec: StreamSpec | None = None
    index: int | None = None  # stream index in the participant's file, once open
    last_pts: int = -1
    generation: int = 0  # of its participant's sources (sources.py)
    retired: deque[int] = field(default_factory=lambda: deque(maxlen=RETIRED_SOURCES))
    drops: Counter[str] = field(default_factory=Counter)  # of assemblers of earlier sources


@dataclass(eq=False)
class _ParticipantFile:
    sid: str
    participant_id: str
    clocks: SourceGenerations = field(default_factory=SourceGenerations)
    tracks: dict[str, _Track] = field(default_factory=dict)  # by mid
    pending: list[tuple[_Track, EncodedFrame, float]] = field(default_factory=list)
    first_frame_at: float | None = None
    path: Path | None = None  # set when the file is opened
    streams: tuple[StreamSpec, ...] = ()
    frames: Counter[str] = field(default_factory=Counter)  # written, by kind


class RoomRecorder:
    """Records one room; attach with :meth:`start`, finish with :meth:`stop` (idempotent)."""

    def __init__(
        self,
        recording_id: str,
        directory: Path,
        target: Recordable,
        started_at: float,
        max_queued: int = 2000,
    ) -> None:
        self.recording_id = recording_id
        self.directory = directory
        self.started_at = started_at  # node monotonic clock: pts 0 of every file
        self._target = target
        self._files: dict[str, _ParticipantFile] = {}  # by sid, from a participant's first packet
        self._writer = WriterThread(f"rec-{recording_id[-8:]}", max_queued)
        self.counters: Counter[str] = Counter()
        self._stopped = False
        self._logged_failure = False

    def start(self) -> None:
        self._target.attach_recorder(self)

    # -- RecorderTap (hot path) --------------------------------------------------------------

    def on_rtp(
        self,
        sid: str,
        participant_id: str,
        mid: str,
        track: TrackConfig,
        data: bytes,
        rtx: bool,
        now: float,
    ) -> None:
        if self._stopped:
            return
        try:
            self._on_rtp(sid, participant_id, mid, track, data, rtx, now)
        except Exception:
            # Called from the forwarding path: a recorder bug must cost recorded frames, never
            # the call. Counted, and logged once per recording.
            self._failed("rtp")

    def on_rtcp(self, sid: str, packets: Iterable[RtcpPacket], now: float) -> None:
        try:
            self._on_rtcp(sid, packets, now)
        except Exception:
            self._failed("rtcp")

    def _failed(self, what: str) -> None:
        self.counters[f"recorder-errors-{what}"] += 1
        if not self._logged_failure:
            self._logged_failure = True
            logger.exception("recording %s: %s handling failed", self.recording_id, what)

    def _on_rtp(
        self,
        sid: str,
        participant_id: str,
        mid: str,
        track: TrackConfig,
        data: bytes,
        rtx: bool,
        now: float,
    ) -> None:
        owner = self._files.get(sid)
        if owner is None:
            # Whoever publishes gets a file, including a participant who joins a group room
            # after recording started (its file starts then, on the recording's timeline).
            owner = self._files[sid] = _ParticipantFile(sid, participant_id)
        try:
            view = RtpView(data)
            state = owner.tracks.get(mid) or self._new_track(owner, mid, track, view.pt)
            if state is None:
                return
            if rtx:
                apt = track.rtx_payload_types.get(view.pt)
                original = rtx_unwrap(view, apt, state.ssrc or 0) if apt is not None else None
                if original is None:
                    return  # padding-only probe or unknown RTX payload type
                view = RtpView(original)
            elif state.ssrc is None:
                state.ssrc = view.ssrc
            elif view.ssrc != state.ssrc:
                change = classify_source(state.ssrc, state.retired, view.ssrc)
                if change == "stale":
                    self.counters["stale-source-packets"] += 1
                    return
                if track.codecs.get(view.pt, "").lower() != state.codec:
                    # A file's stream keeps its codec: the new source cannot continue it.
                    self.counters["new-source-other-codec"] += 1
                    return
                self._new_source(owner, state, track, view.ssrc, now)
        except RtpParseError:
            self.counters["malformed"] += 1
            return
        state.clock.on_packet(now, view.ts)
        # view.data, not data: for a retransmission that is the restored original packet (the
        # RTX packet's payload begins with the 2-byte OSN, RFC 4588 §4).
        payload = view.data[view.payload_start : view.payload_end]
        frames = state.assembler.push(now, view.seq, view.ts, bool(view.marker), payload)
        if rtx:
            self.counters["recovered-packets"] += 1
        if state.assembler.wants_keyframe:
            state.assembler.wants_keyframe = False
            self.counters["keyframe-requests"] += 1
            self._target.request_keyframe(sid, mid)
        for frame in frames:
            self._on_frame(owner, state, frame, now)

    def _on_rtcp(self, sid: str, packets: Iterable[RtcpPacket], now: float) -> None:
        owner = self._files.get(sid)
        if owner is None:
            return
        for packet in packets:
            if isinstance(packet, SenderReport):
                for state in owner.tracks.values():
                    if state.ssrc == packet.ssrc:
                        state.clock.on_sender_report(now, packet.ntp, packet.rtp_ts)

    def _new_source(
        self, owner: _ParticipantFile, state: _Track, track: TrackConfig, ssrc: int, now: float
    ) -> None:
        """The track's sender changed (a new peer connection after a network change): what the
        old source completed is written, then a new assembler (waiting for a keyframe) and a
        new timeline take over (sources.py)."""
        for frame in state.assembler.flush():
            self._on_frame(owner, state, frame, now)
        state.drops.update(state.assembler.drops)
        assert state.ssrc is not None
        state.retired.append(state.ssrc)
        state.ssrc = ssrc
        state.assembler = FrameAssembler(_PARSERS[state.codec](), video=state.kind == "video")
        state.generation, clock = owner.clocks.clock_for_new_source(state.generation)
        state.clock = TrackClock(track.clock_rate, clock)
        self.counters[f"new-source:{state.kind}"] += 1

    # -- frames -> files ---------------------------------------------------------------------

    def _new_track(
        self, owner: _ParticipantFile, mid: str, track: TrackConfig, pt: int
    ) -> _Track | None:
        codec = track.codecs.get(pt, "").lower()
        parser: PayloadParser | None = _PARSERS[codec]() if codec in _PARSERS else None
        if parser is None:
            self.counters["unsupported-codec"] += 1
            return None
        video = track.kind == "video"
        state = _Track(
            mid,
            track.kind,
            codec,
            FrameAssembler(parser, video=video),
            TrackClock(track.clock_rate, owner.clocks.clock),
            track.ssrc,
            generation=owner.clocks.generation,
        )
        owner.tracks[mid] = state
        return state

    def _on_frame(
        self, owner: _ParticipantFile, track: _Track, frame: EncodedFrame, now: float
    ) -> None:
        when = track.clock.node_time(frame.rtp_ts)
        if when is None:
            return
        if track.spec is None:
            track.spec = _describe(track, frame)
            if track.spec is None:
                self.counters["undescribed-frames"] += 1
                return
        if owner.path is None:
            if owner.first_frame_at is None:
                owner.first_frame_at = now
            owner.pending.append((track, frame, when))
            if self._ready(owner, now):
                self._open(owner)
            return
        self._write(owner, track, frame, when)

    @staticmethod
    def _ready(owner: _ParticipantFile, now: float) -> bool:
        tracks = owner.tracks.values()
        if not any(t.spec is not None for t in tracks):
            return False
        all_ready = all(t.spec is not None for t in tracks)
        both_kinds = {t.kind for t in tracks} >= {"audio", "video"}
        waited = owner.first_frame_at is not None and now - owner.first_frame_at >= HEADER_WAIT
        return (all_ready and both_kinds) or waited

    def _open(self, owner: _ParticipantFile) -> None:
        ready = sorted(
            (t for t in owner.tracks.values() if t.spec is not None), key=lambda t: t.kind
        )
        for index, track in enumerate(ready):
            track.index = index
        owner.streams = tuple(t.spec for t in ready if t.spec is not None)
        matroska = any(t.codec == "h264" for t in ready)
        owner.path = self.directory / f"{owner.participant_id}.{'mkv' if matroska else 'webm'}"
        self._writer.submit(
            OpenFile(owner.sid, owner.path, "matroska" if matroska else "webm", owner.streams)
        )
        pending, owner.pending = owner.pending, []
        for track, frame, when in sorted(pending, key=lambda item: item[2]):
            self._write(owner, track, frame, when)

    def _write(
        self, owner: _ParticipantFile, track: _Track, frame: EncodedFrame, when: float
    ) -> None:
        if track.index is None:
            self.counters["track-started-after-file"] += 1
            return
        pts = next_pts(when, self.started_at, track.last_pts)
        track.last_pts = pts
        command = WritePacket(owner.sid, track.index, pts, frame.keyframe, frame.data)
        if self._writer.submit(command):
            owner.frames[track.kind] += 1
        elif track.kind == "video":
            # A lost video frame breaks the pictures after it: wait for a keyframe again.
            track.assembler.needs_keyframe = track.assembler.wants_keyframe = True

    # -- lifecycle and reporting -------------------------------------------------------------

    async def stop(self) -> None:
        """Detach, write what is still buffered, close every file and end the writer thread."""
        if self._stopped:
            return
        self._target.attach_recorder(None)
        self._stopped = True
        for owner in self._files.values():
            for track in owner.tracks.values():
                for frame in track.assembler.flush():
                    self._on_frame(owner, track, frame, float("inf"))
            if owner.path is None and owner.pending:
                self._open(owner)
            if owner.path is not None:
                self._writer.submit(CloseFile(owner.sid))
        await asyncio.get_running_loop().run_in_executor(None, self._writer.stop)

    @property
    def codecs_opened(self) -> bool:
        return self._writer.codecs_opened

    def files(self) -> list[dict[str, Any]]:
        """The manifest's list of files (one per participant whose file was opened)."""
        return [
            {
                "participantId": owner.participant_id,
                "file": owner.path.name,
                "container": owner.path.suffix.lstrip("."),
                "streams": stream_summary(owner.streams),
                "frames": dict(owner.frames),
            }
            for owner in self._files.values()
            if owner.path is not None
        ]

    def metrics(self) -> dict[str, int]:
        out = dict(self.counters)
        out.update(self._writer.counters)
        for owner in self._files.values():
            for track in owner.tracks.values():
                for reason, count in (track.drops + track.assembler.drops).items():
                    key = f"drop:{track.kind}:{reason}"
                    out[key] = out.get(key, 0) + count
        return out


def _describe(track: _Track, frame: EncodedFrame) -> StreamSpec | None:
    """The stream a track becomes in the file, from its first usable frame."""
    if track.codec == "opus":
        return StreamSpec("audio", "opus", sample_rate=48000, extradata=opus_head())
    if track.codec == "vp8":
        size = vp8_keyframe_size(frame.data)
        return None if size is None else StreamSpec("video", "vp8", size[0], size[1])
    extradata = parameter_sets(frame.data)  # H.264: the keyframe's SPS + PPS
    return None if extradata is None else StreamSpec("video", "h264", extradata=extradata)
