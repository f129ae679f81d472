"""Muxing encoded frames into files with ``av`` (libavformat), on a writer thread.

No codec is ever opened: each output stream is created from a *template* stream (PyAV's
``add_stream_from_template``, which marks the codec context as initialised, so writing the file
header does not open an encoder), and its parameters (size, sample rate, extradata) are set by
hand. Packets are the frames the depacketizer assembled, muxed as they are.

Crash safety (a ``kill -9`` leaves a file that plays up to about the last second): the Matroska
muxer keeps the open cluster in memory and writes it when the cluster closes, so clusters are
closed every ``CLUSTER_MS`` (``cluster_time_limit``), ``flush_packets`` hands every write to the
OS at once, and ``max_interleave_delta`` keeps libavformat from holding packets of one stream for
up to 10 s (its default) while it waits for the other. The segment size and cues are only written
when the file is closed; demuxers read a file without them (ffprobe reports no duration).

Disk I/O never runs on the event loop: :class:`WriterThread` takes commands through a queue and
owns every open file. Packets beyond ``max_queued`` are dropped (counted), so a slow disk costs
recorded frames, never forwarding.
"""

from __future__ import annotations

import io
import logging
import queue
import threading
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import av

logger = logging.getLogger(__name__)

__all__ = ["CLUSTER_MS", "CloseFile", "OpenFile", "StreamSpec", "WritePacket", "WriterThread"]

CLUSTER_MS = 1000
MS = Fraction(1, 1000)  # Matroska's default timestamp scale is 1 ms
# codec name -> the encoder whose (never opened) context describes the stream
_TEMPLATE_CODECS = {"vp8": "libvpx", "opus": "libopus", "h264": "libx264"}


@dataclass(frozen=True, slots=True)
class StreamSpec:
    kind: Literal["audio", "video"]
    codec: Literal["vp8", "opus", "h264"]
    width: int = 0
    height: int = 0
    sample_rate: int = 48000
    extradata: bytes = b""


@dataclass(frozen=True, slots=True)
class OpenFile:
    key: str
    path: Path
    container: Literal["webm", "matroska"]
    streams: tuple[StreamSpec, ...]


@dataclass(frozen=True, slots=True)
class WritePacket:
    key: str
    stream: int  # index into OpenFile.streams
    pts_ms: int
    keyframe: bool
    data: bytes


@dataclass(frozen=True, slots=True)
class CloseFile:
    key: str


Command = OpenFile | WritePacket | CloseFile


class _File:
    """One open output file (writer thread only)."""

    def __init__(self, command: OpenFile) -> None:
        self.path = command.path
        self.packets = 0
        self._container: Any = av.open(
            str(command.path),
            "w",
            format=command.container,
            container_options={
                "cluster_time_limit": str(CLUSTER_MS),
                "flush_packets": "1",
                "max_interleave_delta": "500000",  # µs
            },
        )
        scratch: Any = av.open(io.BytesIO(), "w", format=command.container)
        try:
            self._streams = [self._add(scratch, spec) for spec in command.streams]
        finally:
            scratch.close()

    def _add(self, scratch: Any, spec: StreamSpec) -> Any:
        template = scratch.add_stream(_TEMPLATE_CODECS[spec.codec])
        stream = self._container.add_stream_from_template(template)
        context = stream.codec_context
        if spec.kind == "video":
            context.width, context.height = spec.width, spec.height
        else:
            context.sample_rate = spec.sample_rate
        if spec.extradata:
            context.extradata = spec.extradata
        stream.time_base = MS
        return stream

    @property
    def codecs_opened(self) -> bool:
        """Whether any stream's codec context was opened (never, by design; tests check)."""
        return any(stream.codec_context.is_open for stream in self._streams)

    def write(self, command: WritePacket) -> None:
        packet = av.Packet(command.data)
        packet.stream = self._streams[command.stream]
        packet.pts = packet.dts = command.pts_ms
        packet.time_base = MS
        packet.is_keyframe = command.keyframe
        self._container.mux(packet)
        self.packets += 1

    def close(self) -> None:
        self._container.close()


class WriterThread:
    """Owns the files of one recording; ``submit`` from the event loop, never blocks."""

    def __init__(self, name: str, max_queued: int = 2000) -> None:
        self._queue: queue.SimpleQueue[Command | Future[None] | None] = queue.SimpleQueue()
        self._max_queued = max_queued
        self._queued = 0  # packets submitted and not yet written (approximate across threads)
        self._lock = threading.Lock()
        self._files: dict[str, _File] = {}
        self.counters: Counter[str] = Counter()
        self.codecs_opened = False
        self._thread = threading.Thread(target=self._run, name=f"{name}-writer", daemon=True)
        self._thread.start()

    def submit(self, command: Command) -> bool:
        """Queue a command; a packet is refused (False, counted) when the queue is full."""
        if isinstance(command, WritePacket):
            with self._lock:
                if self._queued >= self._max_queued:
                    self.counters["dropped-queue-full"] += 1
                    return False
                self._queued += 1
        self._queue.put(command)
        return True

    def barrier(self) -> Future[None]:
        """A future resolved once every command submitted before it has been carried out."""
        done: Future[None] = Future()
        self._queue.put(done)
        return done

    def stop(self) -> None:
        """Close every file and end the thread (blocking: call it from an executor)."""
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                break
            if isinstance(item, Future):
                item.set_result(None)
                continue
            self._execute(item)
        for key in list(self._files):
            self._execute(CloseFile(key))

    def _execute(self, command: Command) -> None:
        try:
            if isinstance(command, WritePacket):
                with self._lock:
                    self._queued -= 1
                file = self._files.get(command.key)
                if file is not None:
                    file.write(command)
                    self.counters["packets-written"] += 1
            elif isinstance(command, OpenFile):
                self._files[command.key] = _File(command)
                self.counters["files-opened"] += 1
            else:
                file = self._files.pop(command.key, None)
                if file is not None:
                    self.codecs_opened = self.codecs_opened or file.codecs_opened
                    file.close()
        except Exception as exc:
            # One bad packet, a full disk or a muxer refusal must not end the thread (the files
            # of the other participants go on): count it, log it, keep going.
            self.counters["write-errors"] += 1
            errors = self.counters["write-errors"]
            if errors & (errors - 1) == 0:  # 1st, 2nd, 4th, 8th...: a full disk must not flood
                name = type(command).__name__
                logger.warning(
                    "recording %s: %s failed (%d so far): %r", command.key, name, errors, exc
                )


def stream_summary(streams: Sequence[StreamSpec]) -> list[dict[str, Any]]:
    """The manifest's description of a file's streams."""
    out: list[dict[str, Any]] = []
    for spec in streams:
        item: dict[str, Any] = {"kind": spec.kind, "codec": spec.codec}
        if spec.kind == "video":
            item.update(width=spec.width, height=spec.height)
        else:
            item["sampleRate"] = spec.sample_rate
        out.append(item)
    return out
