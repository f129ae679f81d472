"""The hand-off's outbox: pending webhook deliveries and operator commands, one JSON file each,
beside the recordings (``<recordings-dir>/.outbox/<jobId>.json``).

A job is written before anything is attempted and removed once it is done, so a node stopped
(or killed) meanwhile finds it again at start. Every write is atomic (a temporary file, fsync,
then ``os.replace``): a crash leaves the old file or the new one, never half of one. The folder
starts with a dot, so the recordings listing (whose ids never do) passes it by.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

log = logging.getLogger(__name__)

__all__ = ["OUTBOX", "Job", "JobKind", "Outbox"]

OUTBOX = ".outbox"
FAILED = "failed"  # given-up deliveries and unreadable jobs are moved here, never deleted
JobKind = Literal["webhook", "command"]
KINDS: tuple[JobKind, ...] = ("webhook", "command")


@dataclass(slots=True)
class Job:
    """One pending hand-off of one finished recording."""

    id: str  # also the webhook's delivery id: the same across retries and restarts
    kind: JobKind
    recording_id: str
    body: str  # the webhook's body exactly as first sent (the manifest); "" for a command
    created_at: float
    attempts: int = 0
    next_attempt_at: float = 0.0

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Job:
        raw: Any = json.loads(text)
        if not isinstance(raw, dict) or raw.get("kind") not in KINDS:
            raise ValueError("not a hand-off job")
        return cls(
            id=_name(raw["id"]),
            kind=raw["kind"],
            recording_id=str(raw["recording_id"]),
            body=str(raw["body"]),
            created_at=float(raw["created_at"]),
            attempts=int(raw["attempts"]),
            next_attempt_at=float(raw["next_attempt_at"]),
        )


def _name(value: object) -> str:
    text = str(value)
    if not text.isalnum() or len(text) > 64:
        raise ValueError("a job id is 1-64 letters and digits")
    return text


class Outbox:
    """The job files of one recordings folder (blocking I/O: call from a worker thread)."""

    def __init__(self, recordings_dir: Path) -> None:
        self.folder = recordings_dir / OUTBOX

    def save(self, job: Job) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{job.id}.json"
        tmp = path.with_suffix(".tmp")
        with tmp.open("w") as file:
            file.write(job.to_json())
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)

    def remove(self, job: Job) -> None:
        (self.folder / f"{job.id}.json").unlink(missing_ok=True)

    def set_aside(self, job_id: str) -> None:
        """Keep a job that will not be tried again where an operator can look at it."""
        aside = self.folder / FAILED
        aside.mkdir(parents=True, exist_ok=True)
        source = self.folder / f"{job_id}.json"
        if source.exists():
            os.replace(source, aside / source.name)

    def load(self) -> list[Job]:
        """Every pending job, oldest first; an unreadable file is set aside and logged."""
        if not self.folder.is_dir():
            return []
        jobs = []
        for path in sorted(self.folder.glob("*.json")):
            try:
                jobs.append(Job.from_json(path.read_text()))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.error("hand-off job %s is unreadable (%s); set aside", path.name, exc)
                self.set_aside(path.stem)
        return sorted(jobs, key=lambda job: job.created_at)
