"""Recording hand-off: when a recording is complete, tell the operator's systems.

Two optional hand-offs of a finished recording (its folder and final manifest), each a job in
the outbox (:mod:`.handoff_outbox`) until it is done, so pending ones survive a restart:

- **Webhook** (``--recording-webhook-url``, ``--recording-webhook-secret``): POST the manifest
  as JSON with ``Liveloop-Event: recording.finished``, ``Liveloop-Delivery-Id`` (the job id,
  the same on every retry, so a receiver drops duplicates) and ``Liveloop-Signature``
  (:mod:`.handoff_policy`). Any answer but 2xx (redirects included) or no answer within 10 s is
  a failed attempt, retried with exponential backoff (1 s, 2 s, 4 s, ... 15 min) and given up
  after three days (set aside in ``.outbox/failed/``, logged).
- **Command** (``--recording-finished-command``, e.g. ``rclone copy --config ... remote:bucket``):
  run as an argument list (split like a shell would at start, never run by one) with the
  recording's folder appended, stdin closed, in a process group of its own, one command at a
  time. After ``--recording-finished-command-timeout`` seconds the group is killed. Its exit
  status is logged (with the tail of its output when it failed) and counted by outcome: ``ok``,
  ``failed`` (non-zero exit), ``timeout``, ``error`` (it could not be started, or the folder is
  gone). It is not retried; one interrupted by a restart runs again at start.

Counters (``/metrics``) are kept here and read at scrape time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import aiohttp

from liveloop_sfu import __version__
from liveloop_sfu.config import RecordingSettings
from liveloop_sfu.rooms.handoff_outbox import Job, JobKind, Outbox
from liveloop_sfu.rooms.handoff_policy import command_argv, gave_up, retry_delay, signature_header

log = logging.getLogger(__name__)

__all__ = ["RecordingHandOff", "run_command"]

EVENT = "recording.finished"
HTTP_TIMEOUT = 10.0  # seconds one delivery attempt may take
OUTPUT_TAIL = 2048  # bytes of a command's output kept for the log


class RecordingHandOff:
    """Owns the outbox, the delivery and command tasks and their HTTP session (closed by
    :meth:`close`). Does nothing unless a webhook or a command is configured."""

    def __init__(
        self,
        settings: RecordingSettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._root = settings.recordings_dir.resolve()
        self._outbox = Outbox(self._root)
        self._tasks: dict[str, asyncio.Task[None]] = {}  # by job id
        self._http: aiohttp.ClientSession | None = None
        self._command_turn = asyncio.Lock()
        self._started = False
        self.webhook_outcomes: Counter[str] = Counter()  # delivered, retry, gave-up
        self.command_outcomes: Counter[str] = Counter()  # ok, failed, timeout, error

    @property
    def enabled(self) -> bool:
        return self._settings.webhook_url is not None or bool(self._settings.finished_command)

    def pending_webhooks(self) -> int:
        return sum(1 for job_id in self._tasks if job_id.startswith("w"))

    async def start(self) -> None:
        """Resume the jobs a previous run left pending (at once, or when their retry is due)."""
        self._started = True
        jobs = await asyncio.to_thread(self._outbox.load)
        if jobs:
            log.info("hand-off: resuming %d pending job(s)", len(jobs))
        for job in jobs:
            self._spawn(job)

    async def recording_finished(self, folder: Path, manifest: Mapping[str, Any]) -> None:
        """A recording is complete (files closed, final manifest written): queue its hand-offs,
        on disk first."""
        rid = str(manifest["recordingId"])
        kinds: list[JobKind] = []
        if self._settings.webhook_url is not None:
            kinds.append("webhook")
        if self._settings.finished_command:
            kinds.append("command")
        body = json.dumps(manifest, sort_keys=True, separators=(",", ":"))
        for kind in kinds:
            job = Job(
                # The prefix tells the kinds apart in the task table; the rest is random.
                id=("w" if kind == "webhook" else "c") + uuid.uuid4().hex,
                kind=kind,
                recording_id=rid,
                body=body if kind == "webhook" else "",
                created_at=self._clock(),
            )
            await asyncio.to_thread(self._outbox.save, job)
            if self._started:
                self._spawn(job)

    async def close(self) -> None:
        """Stop every task; their jobs stay in the outbox for the next start."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._http is not None:
            await self._http.close()
            self._http = None

    # ---- tasks ---------------------------------------------------------------------------------
    def _spawn(self, job: Job) -> None:
        run = self._deliver(job) if job.kind == "webhook" else self._run_command(job)
        task = asyncio.get_running_loop().create_task(run)
        self._tasks[job.id] = task
        task.add_done_callback(lambda _: self._tasks.pop(job.id, None))

    async def _deliver(self, job: Job) -> None:
        while True:
            wait = job.next_attempt_at - self._clock()
            if wait > 0:
                await asyncio.sleep(wait)
            url, secret = self._settings.webhook_url, self._settings.webhook_secret
            if url is None or secret is None:
                log.warning("hand-off: webhook delivery %s kept: no webhook configured", job.id)
                return
            failure = await self._post(url, secret, job)
            if failure is None:
                self.webhook_outcomes["delivered"] += 1
                await asyncio.to_thread(self._outbox.remove, job)
                log.info("hand-off: recording %s delivered to the webhook (%s, attempt %d)",
                         job.recording_id, job.id, job.attempts + 1)  # fmt: skip
                return
            job.attempts += 1
            now = self._clock()
            if gave_up(job.created_at, now):
                self.webhook_outcomes["gave-up"] += 1
                await asyncio.to_thread(self._outbox.set_aside, job.id)
                log.error("hand-off: webhook delivery %s of %s given up after %d attempts: %s",
                          job.id, job.recording_id, job.attempts, failure)  # fmt: skip
                return
            self.webhook_outcomes["retry"] += 1
            job.next_attempt_at = now + retry_delay(job.attempts)
            await asyncio.to_thread(self._outbox.save, job)
            log.warning("hand-off: webhook delivery %s failed (%s); attempt %d in %.0f s",
                        job.id, failure, job.attempts + 1, job.next_attempt_at - now)  # fmt: skip

    async def _post(self, url: str, secret: str, job: Job) -> str | None:
        """One attempt: None when the receiver took it (2xx), else what went wrong."""
        body = job.body.encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"liveloop-sfu/{__version__}",
            "Liveloop-Event": EVENT,
            "Liveloop-Delivery-Id": job.id,
            "Liveloop-Signature": signature_header(secret, int(self._clock()), body),
        }
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT))
        try:
            async with self._http.post(
                url, data=body, headers=headers, allow_redirects=False
            ) as response:
                if 200 <= response.status < 300:
                    return None
                return f"HTTP {response.status}"
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return f"{type(exc).__name__}: {exc}".rstrip(": ")

    async def _run_command(self, job: Job) -> None:
        async with self._command_turn:
            folder = self._root / job.recording_id
            if not folder.is_dir():
                outcome, code, output = "error", None, f"folder {folder} is gone"
            else:
                argv = command_argv(self._settings.finished_command, folder)
                timeout = self._settings.finished_command_timeout
                outcome, code, output = await run_command(argv, timeout)
            self.command_outcomes[outcome] += 1
            await asyncio.to_thread(self._outbox.remove, job)
        if outcome == "ok":
            log.info("hand-off: command for recording %s exited with 0", job.recording_id)
        else:
            log.warning("hand-off: command for recording %s: %s (exit status %s)%s",
                        job.recording_id, outcome, code,
                        f"; output ends: {output!r}" if output else "")  # fmt: skip


async def run_command(argv: Sequence[str], timeout: float) -> tuple[str, int | None, str]:
    """Run ``argv`` (no shell) in a process group of its own: (outcome, exit status, the tail
    of its output). The whole group is killed after ``timeout`` seconds, or when the caller is
    cancelled (node shutdown)."""
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        return "error", None, str(exc)
    tail = bytearray()
    reader = asyncio.create_task(_keep_tail(process, tail))
    try:
        code = await asyncio.wait_for(process.wait(), timeout)
        outcome = "ok" if code == 0 else "failed"
    except TimeoutError:
        _kill_group(process.pid)
        code, outcome = await process.wait(), "timeout"
    except asyncio.CancelledError:
        _kill_group(process.pid)
        await process.wait()
        raise
    finally:
        # A child it left behind may hold the pipe open: wait briefly, then stop reading.
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(reader, 1.0)
    return outcome, code, tail.decode(errors="replace").strip()


async def _keep_tail(process: asyncio.subprocess.Process, tail: bytearray) -> None:
    assert process.stdout is not None
    while chunk := await process.stdout.read(4096):
        tail.extend(chunk)
        del tail[:-OUTPUT_TAIL]


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
