"""Frames from RTP packets, for the recorder: reordering, loss, waiting for a keyframe.

Sans-I/O like the forwarding core: :class:`FrameAssembler` takes packets with ``now`` and returns
whole encoded frames; it never reads a clock, sleeps or touches a socket. Codec specifics (where a
frame starts, whether it is a keyframe, how payloads join into a frame) live in one small parser
per payload format (:mod:`.depacketizer_vp8`, :mod:`.depacketizer_h264`,
:mod:`.depacketizer_opus`), each a :class:`PayloadParser`.

A frame is every packet with one RTP timestamp; it is complete when its packets form an unbroken
run of sequence numbers that begins with a packet the codec marks as a frame start and ends with
the RTP marker bit (RFC 3550 §5.1: "for video, the marker bit marks the end of a frame"; for
audio every packet is a frame of its own). Packets may arrive out of order (a retransmission
recovered by the node's NACKs arrives late): a hole in the sequence is waited for up to
``max_wait`` seconds, then declared lost. A frame that lost a packet is dropped whole and, for
video, every frame after it until the next keyframe, since they reference what was lost; the
assembler then sets :attr:`FrameAssembler.wants_keyframe` so its owner asks the publisher for one
(the same happens when recording starts mid-stream).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Protocol

from liveloop_sfu.media.core.seq import Unwrapper

__all__ = [
    "DepacketizeError",
    "EncodedFrame",
    "FrameAssembler",
    "PayloadParser",
    "PayloadUnit",
]


class DepacketizeError(ValueError):
    """A payload that its format's RFC does not allow (truncated, reserved types)."""


@dataclass(frozen=True, slots=True)
class PayloadUnit:
    """What one RTP payload contributes to its frame."""

    data: bytes  # bytes appended to the frame (payload header stripped, NALs in Annex B...)
    frame_start: bool  # the packet begins a frame (VP8: S=1, PID=0; H.264: begins a NAL unit)
    keyframe: bool  # the packet begins a frame that decodes on its own


class PayloadParser(Protocol):
    """One RTP payload format (RFC 7741, RFC 6184, RFC 7587...)."""

    def parse(self, payload: bytes) -> PayloadUnit:
        """Raises :class:`DepacketizeError` for a payload the format does not allow."""
        ...


@dataclass(frozen=True, slots=True)
class EncodedFrame:
    """One whole encoded frame, ready to be muxed."""

    rtp_ts: int  # extended (unwrapped) RTP timestamp of the frame
    data: bytes
    keyframe: bool


@dataclass(slots=True)
class _Packet:
    ts: int
    marker: bool
    unit: PayloadUnit
    broken: bool = False  # the payload was malformed: its frame cannot be complete


class FrameAssembler:
    """Packets of one track (one SSRC) -> complete frames, in order.

    ``video``: a loss breaks the picture until the next keyframe, and the first frame must be a
    keyframe. ``max_wait``: how long a hole in the sequence is waited for (a NACKed packet needs
    about one round trip). ``max_packets``: more buffered packets than this also end the wait.
    Counters (``drops``) say why a packet or frame never became output.
    """

    def __init__(
        self,
        parser: PayloadParser,
        *,
        video: bool,
        max_wait: float = 0.3,
        max_packets: int = 512,
    ) -> None:
        self._parser = parser
        self._video = video
        self._max_wait = max_wait
        self._max_packets = max_packets
        self._seqs = Unwrapper(16)
        self._tss = Unwrapper(32)
        self._buffer: dict[int, _Packet] = {}
        self._next: int | None = None  # next extended sequence number to consume
        self._hole_since: float | None = None
        self._frame: list[_Packet] = []
        self._frame_ok = False
        self.needs_keyframe = video
        self.wants_keyframe = video  # the owner should request one (cleared by the owner)
        self.drops: Counter[str] = Counter()
        self.frames_out = 0

    def push(
        self, now: float, seq: int, ts: int, marker: bool, payload: bytes
    ) -> list[EncodedFrame]:
        """One RTP packet (header fields + payload) -> the frames it completes."""
        ext = self._seqs.unwrap(seq)
        if self._next is None:
            self._next = ext
        if ext < self._next - self._max_packets:
            # Far behind what was consumed: the publisher restarted its sequence (RFC 3550
            # A.1 would probe two packets; one suffices here, as nothing is forwarded from it).
            self._restart(ext)
        elif ext < self._next or ext in self._buffer:
            self.drops["late-or-duplicate"] += 1
            return []
        try:
            packet = _Packet(self._tss.unwrap(ts), marker, self._parser.parse(payload))
        except DepacketizeError:
            self.drops["malformed"] += 1
            # It keeps its place in the sequence, so its frame is dropped without a wait.
            packet = _Packet(self._tss.unwrap(ts), marker, PayloadUnit(b"", False, False), True)
        self._buffer[ext] = packet
        return self.poll(now)

    def get_timer(self) -> float | None:
        """When a hole in the sequence stops being waited for, if one is."""
        return None if self._hole_since is None else self._hole_since + self._max_wait

    def poll(self, now: float) -> list[EncodedFrame]:
        """Consume what is in order; give up on a hole that waited long enough."""
        out: list[EncodedFrame] = []
        while self._buffer and self._next is not None:
            packet = self._buffer.pop(self._next, None)
            if packet is not None:
                self._next += 1
                self._hole_since = None
                self._consume(packet, out)
                continue
            if self._hole_since is None:
                self._hole_since = now
            if now - self._hole_since < self._max_wait and len(self._buffer) <= self._max_packets:
                break
            self._skip_hole()
        return out

    def flush(self) -> list[EncodedFrame]:
        """Stop waiting for anything (the recording ends): what can still be completed is."""
        out: list[EncodedFrame] = []
        while self._buffer:
            out += self.poll(float("inf"))
        return out

    # -- internals ---------------------------------------------------------------------------

    def _skip_hole(self) -> None:
        assert self._next is not None
        first = min(self._buffer)
        self.drops["lost-packet"] += first - self._next
        self._next = first
        self._hole_since = None
        self._frame_ok = False  # the frame being built (if any) lost a packet
        if self._video and not self._frame:
            # The lost packets may have been a whole frame: later ones reference it.
            self._broken()

    def _consume(self, packet: _Packet, out: list[EncodedFrame]) -> None:
        if self._frame and packet.ts != self._frame[0].ts:
            # A new timestamp without the previous frame's marker: that frame lost its end.
            self._frame_ok = False
            self._finish(out)
        if not self._frame:
            self._frame_ok = packet.unit.frame_start
        if packet.broken:
            self._frame_ok = False
        self._frame.append(packet)
        if packet.marker or not self._video:
            self._finish(out)

    def _finish(self, out: list[EncodedFrame]) -> None:
        frame, self._frame = self._frame, []
        first = frame[0]
        if not self._frame_ok or (self._video and not frame[-1].marker):
            self.drops["incomplete-frame"] += 1
            if self._video:
                self._broken()
            return
        keyframe = first.unit.keyframe
        if self.needs_keyframe and not keyframe:
            self.drops["waiting-for-keyframe"] += 1
            return
        self.needs_keyframe = False
        self.frames_out += 1
        data = b"".join(p.unit.data for p in frame)
        out.append(EncodedFrame(first.ts, data, keyframe or not self._video))

    def _restart(self, ext: int) -> None:
        self.drops["sequence-restart"] += 1
        self._buffer.clear()
        self._frame = []
        self._next = ext
        self._hole_since = None
        if self._video:
            self._broken()

    def _broken(self) -> None:
        if not self.needs_keyframe:
            self.needs_keyframe = True
            self.wants_keyframe = True
