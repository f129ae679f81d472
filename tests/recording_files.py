"""Reading recorded files back in tests: ffprobe's view and the painted frame counters."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import av

from benchmarks.media.synthetic import read_counter


def ffprobe(path: Path) -> dict[str, Any]:
    """ffprobe's streams (with counted frames) and format of a file."""
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-count_frames",
            "-show_entries",
            "stream=codec_name,codec_type,nb_read_frames,width,height,start_time:"
            "format=duration,format_name",
            "-of",
            "json",
            str(path),
        ],
        capture_output=True,
        check=True,
        timeout=60,
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def streams_by_type(probe: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {stream["codec_type"]: stream for stream in probe["streams"]}


def decoded_counters(path: Path, limit: int = 10_000) -> list[int | None]:
    """The counter painted into each decoded video frame of a recorded file (test side: the
    node never decodes)."""
    counters: list[int | None] = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            counters.append(read_counter(frame))
            if len(counters) >= limit:
                break
    return counters


def packet_times(path: Path, kind: str) -> list[float]:
    """Presentation times (s) of every packet of the first stream of ``kind``."""
    with av.open(str(path)) as container:
        stream = next(s for s in container.streams if s.type == kind)
        return [
            float(packet.pts * stream.time_base)
            for packet in container.demux(stream)
            if packet.pts is not None
        ]
