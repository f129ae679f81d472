"""Pure rules of the recording service: names, paths, retention and the disk guard.

No I/O beyond path arithmetic; every decision takes its inputs (free bytes, ``now``) as values.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from pathlib import Path

from liveloop_sfu.errors import NotFound

__all__ = [
    "DiskDecision",
    "disk_decision",
    "expired",
    "recording_id",
    "resolve_inside",
]

# Recording folders and the files in them: what the node creates, nothing else is served.
RECORDING_ID = re.compile(r"[0-9]{8}T[0-9]{6}Z-[A-Za-z0-9_-]{1,64}")
FILE_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}\.(webm|mkv|json)")
MB = 1024 * 1024


def recording_id(room_id: str, started_unix: float) -> str:
    """``20261127T215000Z-<roomId>``: sortable by start time, unique per room and second."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(started_unix))
    return f"{stamp}-{room_id}"


def resolve_inside(root: Path, recording: str, name: str | None = None) -> Path:
    """The path of a recording folder (or of a file in it) named by an untrusted client.

    Only names the node itself makes are accepted (so no ``..``, no separators, no hidden files),
    and the resolved path must still lie inside ``root`` (no symlink escapes). Anything else is
    :class:`NotFound`: a probe learns nothing about what exists outside.
    """
    if not RECORDING_ID.fullmatch(recording) or (
        name is not None and not FILE_NAME.fullmatch(name)
    ):
        raise NotFound("no such recording")
    base = root.resolve()
    path = (base / recording / name) if name is not None else (base / recording)
    resolved = path.resolve()
    if not resolved.is_relative_to(base) or resolved == base:
        raise NotFound("no such recording")
    return resolved


DiskDecision = str  # "ok" | "stop": what the guard does with the active recordings


def disk_decision(free_bytes: int, min_free_mb: int) -> DiskDecision:
    """Stop recording (and start none) when free space is below the threshold."""
    return "stop" if free_bytes < min_free_mb * MB else "ok"


def expired(
    recordings: Iterable[tuple[str, float]], now: float, max_age: float, active: set[str]
) -> list[str]:
    """Ids of recordings (id, start time) older than ``max_age`` seconds; never an active one;
    nothing when ``max_age`` is 0 (keep forever)."""
    if max_age <= 0:
        return []
    return sorted(
        rid for rid, started in recordings if now - started > max_age and rid not in active
    )
