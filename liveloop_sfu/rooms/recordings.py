"""The recording service: which rooms are recorded, their manifests, retention and the disk guard.

Rooms call it through :class:`~liveloop_sfu.rooms.records.RecordingHooks` (a room opens or
closes); the admin API (:mod:`liveloop_sfu.http.admin`) starts and stops recordings, lists, serves
and deletes them. Each recording is one folder under ``--recordings-dir``::

    20261127T215000Z-<roomId>/manifest.json   room, participants, files, codecs, start/stop
    20261127T215000Z-<roomId>/<participantId>.webm   (.mkv for H.264)

The manifest is written when recording starts and rewritten when it stops; the finished
recording then goes to the hand-off (``on_finished``: webhook, command). Participants of a
recorded room are told: ``match-done.recording`` and ``recording {active, reason}`` events.
One background task (owned here, cancelled by :meth:`close`) runs the disk guard and retention.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from liveloop_sfu.config import RecordingSettings
from liveloop_sfu.errors import Capacity, InvalidPayload, NotFound, NotInRoom
from liveloop_sfu.media.session import Emit
from liveloop_sfu.rooms.recording_policy import (
    disk_decision,
    expired,
    recording_id,
    resolve_inside,
)

if TYPE_CHECKING:
    from liveloop_sfu.media.recording.recorder import RoomRecorder
    from liveloop_sfu.rooms.records import Participant, Room

log = logging.getLogger(__name__)

__all__ = ["RecordingService", "disk_free_bytes"]

# A recording is complete: (its folder, its final manifest). The hand-off (rooms/handoff.py).
OnFinished = Callable[[Path, Mapping[str, Any]], Awaitable[None]]

CHECK_INTERVAL = 5.0  # seconds between disk-guard checks
RETENTION_INTERVAL = 60.0  # seconds between retention sweeps


def disk_free_bytes(path: Path) -> int:
    """Free bytes on the file system holding ``path`` (its nearest existing parent)."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free


@dataclass(eq=False)
class _Active:
    room: Room
    recorder: RoomRecorder
    manifest: dict[str, Any]
    folder: Path


class RecordingService:
    def __init__(
        self,
        settings: RecordingSettings,
        emit: Emit,
        disk_free: Callable[[Path], int] = disk_free_bytes,
        check_interval: float = CHECK_INTERVAL,
        on_finished: OnFinished | None = None,
    ) -> None:
        self._settings = settings
        self._on_finished = on_finished
        self._emit = emit
        self._disk_free = disk_free
        self._check_interval = check_interval
        self._root = settings.recordings_dir
        self._active: dict[str, _Active] = {}  # by room id
        self._task: asyncio.Task[None] | None = None
        self.stopped_by_disk_guard = 0

    # -- RecordingHooks (calls.py, service.py) ---------------------------------------------------

    def records_all(self) -> bool:
        return self._settings.record == "all"

    async def room_opened(self, room: Room, members: Sequence[Participant]) -> None:
        """A call opened: record it if the operator records every call and the disk allows."""
        if not self.records_all():
            return
        try:
            await self.start(room, members, reason="config")
        except (Capacity, InvalidPayload) as exc:
            log.warning("room %s not recorded: %s", room.room_id, exc.message)

    async def room_closing(self, room: Room) -> None:
        await self.stop(room.room_id, reason="call-ended", notify=False)

    # -- start / stop ------------------------------------------------------------------------

    def is_recording(self, room_id: str) -> bool:
        return room_id in self._active

    async def start(self, room: Room, members: Sequence[Participant], reason: str) -> str:
        """Start recording ``room``; returns the recording id. Raises if it cannot be recorded."""
        from liveloop_sfu.media.recording.recorder import Recordable, RoomRecorder

        if room.room_id in self._active:
            return str(self._active[room.room_id].manifest["recordingId"])
        if room.mode != "sfu" or not isinstance(room.media, Recordable):
            raise InvalidPayload("this call's media does not pass through the node (p2p)")
        if self._disk_low():
            raise Capacity("not enough free disk space to record")
        started = time.time()
        rid, folder = await asyncio.to_thread(self._new_folder, room.room_id, started)
        recorder = RoomRecorder(rid, folder, room.media, time.monotonic())
        manifest = {
            "recordingId": rid,
            "roomId": room.room_id,
            "startedAt": started,
            "stoppedAt": None,
            "startReason": reason,
            "stopReason": None,
            "participants": [
                {"participantId": m.participant_id, "userName": m.user_name} for m in members
            ],
            "files": [],
        }
        await _write_manifest(folder, manifest)
        recorder.start()
        self._active[room.room_id] = _Active(room, recorder, manifest, folder)
        room.recording = True
        log.info("recording %s started (%s)", rid, reason)
        return rid

    def _new_folder(self, room_id: str, started: float) -> tuple[str, Path]:
        """A fresh folder: a room recorded twice within one second gets ``-2``, ``-3``..."""
        base = recording_id(room_id, started)
        for attempt in range(1, 100):
            rid = base if attempt == 1 else f"{base}-{attempt}"
            folder = self._root / rid
            try:
                folder.mkdir(parents=True)
            except FileExistsError:
                continue
            return rid, folder
        raise Capacity("too many recordings of this room in one second")

    async def stop(self, room_id: str, reason: str, notify: bool = True) -> dict[str, Any] | None:
        """Stop and finalize a room's recording (files closed, manifest completed); ``notify``
        tells the participants. Returns the final manifest, or None if it was not recording."""
        active = self._active.pop(room_id, None)
        if active is None:
            return None
        active.room.recording = False
        try:
            await active.recorder.stop()
        finally:
            known = {p["participantId"] for p in active.manifest["participants"]}
            for item in active.recorder.files():  # joined after the start (group rooms)
                if item["participantId"] not in known:
                    active.manifest["participants"].append(
                        {"participantId": item["participantId"], "userName": None}
                    )
            active.manifest.update(
                stoppedAt=time.time(),
                stopReason=reason,
                files=active.recorder.files(),
                counters=active.recorder.metrics(),
            )
            await _write_manifest(active.folder, active.manifest)
            log.info("recording %s stopped (%s)", active.manifest["recordingId"], reason)
        await self._hand_off(active)
        if notify:
            await self.notify(active.room, active=False, reason=reason)
        return active.manifest

    async def _hand_off(self, active: _Active) -> None:
        """Its files closed and its manifest final, the recording goes to the hand-off; a
        failure there (a full disk) is logged, and the call goes on."""
        if self._on_finished is None:
            return
        try:
            await self._on_finished(active.folder, active.manifest)
        except OSError as exc:
            log.error("recording %s: hand-off not queued: %s", active.manifest["recordingId"], exc)

    async def notify(self, room: Room, active: bool, reason: str) -> None:
        for sid in room.members:
            await self._emit(sid, "recording", {"active": active, "reason": reason})

    # -- disk guard and retention ------------------------------------------------------------

    def _disk_low(self) -> bool:
        free = self._disk_free(self._root)
        return disk_decision(free, self._settings.recordings_min_free_mb) == "stop"

    async def check_disk(self) -> int:
        """Stop every recording when free space is below the threshold; returns how many."""
        if not self._active or not self._disk_low():
            return 0
        stopped = 0
        for room_id in list(self._active):
            log.warning("free disk space below threshold: stopping recording of %s", room_id)
            if await self.stop(room_id, reason="disk-space") is not None:
                stopped += 1
        self.stopped_by_disk_guard += stopped
        return stopped

    async def sweep(self, now: float) -> list[str]:
        """Delete recordings older than ``--recordings-max-age``; returns their ids."""
        running = {str(a.manifest["recordingId"]) for a in self._active.values()}
        listed = [(m["recordingId"], float(m["startedAt"])) for m in await self.recordings()]
        doomed = expired(listed, now, self._settings.recordings_max_age, running)
        for rid in doomed:
            await self.delete(rid)
        if doomed:
            log.info("retention: deleted %d recording(s)", len(doomed))
        return doomed

    def start_background(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        next_sweep = 0.0
        while True:
            try:
                await self.check_disk()
                if time.monotonic() >= next_sweep:
                    next_sweep = time.monotonic() + RETENTION_INTERVAL
                    await self.sweep(time.time())
            except OSError as exc:
                log.warning("recording housekeeping failed: %s", exc)
            await asyncio.sleep(self._check_interval)

    async def close(self) -> None:
        """Cancel the background task and finalize every recording (shutdown)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for room_id in list(self._active):
            await self.stop(room_id, reason="shutdown", notify=False)

    # -- admin: list, file, delete ------------------------------------------------------------

    async def recordings(self) -> list[dict[str, Any]]:
        """Every recording's manifest, newest first; ``status`` is recording, stopped or
        interrupted (the node died while recording: the files are readable up to then)."""
        return await asyncio.to_thread(self._list_sync)

    def _list_sync(self) -> list[dict[str, Any]]:
        running = {str(a.manifest["recordingId"]) for a in self._active.values()}
        out: list[dict[str, Any]] = []
        if not self._root.is_dir():
            return out
        for folder in sorted(self._root.iterdir(), reverse=True):
            try:
                manifest = _read_manifest(self._root, folder.name)
            except NotFound:
                continue
            if manifest["recordingId"] in running:
                status = "recording"
            else:
                status = "stopped" if manifest.get("stoppedAt") else "interrupted"
            manifest["status"] = status
            out.append(manifest)
        return out

    async def manifest(self, rid: str) -> dict[str, Any]:
        return await asyncio.to_thread(_read_manifest, self._root, rid)

    def file(self, rid: str, name: str) -> Path:
        path = resolve_inside(self._root, rid, name)
        if not path.is_file():
            raise NotFound("no such file")
        return path

    async def delete(self, rid: str) -> None:
        folder = resolve_inside(self._root, rid)
        if any(str(a.manifest["recordingId"]) == rid for a in self._active.values()):
            raise NotInRoom("this recording is still running: stop it first")
        if not folder.is_dir():
            raise NotFound("no such recording")
        await asyncio.to_thread(shutil.rmtree, folder)


def _read_manifest(root: Path, rid: str) -> dict[str, Any]:
    path = resolve_inside(root, rid, "manifest.json")
    try:
        manifest: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise NotFound("no such recording") from exc
    return manifest


async def _write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """Atomically (write + rename), so a crash never leaves half a manifest."""

    def write() -> None:
        tmp = folder / "manifest.json.tmp"
        tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True))
        tmp.replace(folder / "manifest.json")

    await asyncio.to_thread(write)
