"""``liveloop-sfu bench --browsers N``: a few real headless Chromium pages join a run as people, to
report the quality a person would see while the cheap clients make the load.

* **One Chromium** for all of them (:class:`benchmarks.browsers.chromium.ChromiumProcess`,
  started by the harness, its PID known): one browser context, a fresh profile, per person. Its
  whole process tree's CPU is counted on its own, so the node's and the clients' figures stay
  clean. The fake camera is a y4m file at the run's ``--resolution`` and ``--fps``
  (:mod:`benchmarks.browsers.camera`).
* **1:1 scenarios** (steady, churn): the pages pair with each other through the matchmaker, two by
  two, before the cheap clients start (the queue is empty then, so no page is matched with a
  cheap client) and hold that call for the whole run: both ends of each call are measured.
* **Rooms** (group, fanout): once the cheap clients have joined (after the ramp-up) each page
  joins one of the scenario's rooms, in turn. A page publishes its camera like any person in a
  room, but the cheap members offer receiving slots only for the publishers the plan has, so the
  node forwards a page's camera to other pages only: to the load, a page is a receiver.
* Every second, every page's ``getStats`` (:mod:`benchmarks.browsers.users`); the summaries and
  the verdict are :mod:`benchmarks.reports.browsers`.

Playwright's asyncio API runs on a thread of its own with its own event loop; the harness calls
into it and waits with timeouts. Chromium is stopped by its PID (and what is left of its tree by
theirs) when the run ends, fails or is interrupted.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import shutil
import threading
import time
import urllib.parse
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

from benchmarks.browsers.camera import y4m_camera
from benchmarks.browsers.chromium import CHROMIUM, ChromiumProcess
from benchmarks.browsers.users import BrowserUser
from benchmarks.media.cache import MediaSpec
from benchmarks.reports.browsers import chromium_cpu, summarize_browser, tree_cpu_seconds

# Targets whose page is ours: our node (sfu) and a running service (--url). Janus serves no Live
# Loop page; the relay and p2p baselines were not tried with pages.
BROWSER_TARGETS = ("sfu", "remote")
ONE_TO_ONE = ("steady", "churn")
MAX_BROWSERS = 8
OPEN_TIMEOUT = 120.0  # launching Chromium and loading N pages on a loaded 2-core machine
JOIN_TIMEOUT = 75.0  # per pair of pages (each step waits at most 30 s)
CAMERA_NOISE = 0
SAMPLE_EVERY = 1.0

T = TypeVar("T")


def browsers_problem(
    count: int, targets: Sequence[str], scenario: str, workers: bool
) -> str | None:
    """Why ``--browsers count`` cannot run with these options (None: it can)."""
    if count == 0:
        return None
    if not 1 <= count <= MAX_BROWSERS:
        return f"--browsers must be within 1..{MAX_BROWSERS} (they share one machine's CPU)"
    unsupported = [t for t in targets if t not in BROWSER_TARGETS]
    if unsupported:
        return (
            f"--browsers needs --targets sfu or --url (not {','.join(unsupported)}): the pages "
            "are the service's own client, which Janus does not serve, and the relay and p2p "
            "baselines were not tried with them"
        )
    if scenario in ONE_TO_ONE and count % 2:
        return "--browsers must be even in 1:1 scenarios: the pages call each other in pairs"
    if workers:
        return "--browsers runs on a single load machine, not with --workers/--worker"
    return missing_browser()


def missing_browser() -> str | None:
    """What this machine lacks to run the pages (None: nothing)."""
    if importlib.util.find_spec("playwright") is None:
        return (
            "--browsers needs Playwright, which comes with the `bench` extra: run "
            "`scripts/install.sh --bench` (or `.venv/bin/pip install -e '.[bench]'`)"
        )
    if not os.access(CHROMIUM, os.X_OK):
        return f"--browsers needs Chromium at {CHROMIUM} (Debian: apt install chromium)"
    if shutil.which("ffmpeg") is None:
        return "--browsers needs ffmpeg for the pages' fake camera (Debian: apt install ffmpeg)"
    return None


def _chromium_flags(url: str, camera: Path) -> list[str]:
    flags = [f"--use-file-for-fake-video-capture={camera}"]
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        # A camera needs a secure context: https, or localhost. A plain-http service on another
        # address is the load tester's own, so the bench treats its origin as secure.
        flags.append(f"--unsafely-treat-insecure-origin-as-secure={parts.scheme}://{parts.netloc}")
    return flags


class BrowserPanel:
    """The real pages of one run (one target, one step)."""

    def __init__(
        self, count: int, url: str, scenario: str, spec: MediaSpec, logs: Path, cache_dir: Path
    ) -> None:
        self.count = count
        self.url = url.rstrip("/")
        self.scenario = scenario
        self.spec = spec
        self.logs = logs
        self.cache_dir = cache_dir
        self.users: list[BrowserUser] = []
        self.errors: dict[str, str] = {}  # browser name -> why it never joined
        self.cpu: list[tuple[float, float]] = []  # (t since the start, Chromium tree CPU s)
        self.chromium: ChromiumProcess | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._driver: Any = None
        self._tasks: list[asyncio.Task[None]] = []
        self._start_at = 0.0

    def _run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    # --- the harness's calls, in order --------------------------------------------------------
    def open(self) -> None:
        """Start Chromium and open every page on the service's home page."""
        camera = y4m_camera(
            self.cache_dir / "cameras", self.spec.width, self.spec.height, self.spec.fps,
            CAMERA_NOISE,
        )  # fmt: skip
        self.chromium = ChromiumProcess(
            self.logs / "chromium-profile",
            self.logs / "chromium.log",
            _chromium_flags(self.url, camera),
        )
        endpoint = self.chromium.wait_ready()
        self._thread.start()
        try:
            self._run(self._open(endpoint), OPEN_TIMEOUT)
        except (OSError, RuntimeError, TimeoutError):
            raise
        except Exception as exc:  # Playwright's own errors: the run reports this target failed
            raise RuntimeError(f"the browsers' pages did not open: {_short(exc)}") from exc

    async def _open(self, endpoint: str) -> None:
        from playwright.async_api import async_playwright

        self._driver = await async_playwright().start()
        browser = await self._driver.chromium.connect_over_cdp(endpoint)
        names = [f"browser{i}" for i in range(self.count)]
        self.users = list(
            await asyncio.gather(*(BrowserUser.open(browser, self.url + "/", n) for n in names))
        )

    def join_calls(self) -> None:
        """1:1: the pages call each other two by two, before the load starts."""
        if self.scenario in ONE_TO_ONE:
            self._run(self._pairs(), JOIN_TIMEOUT * max(1, self.count // 2))

    async def _pairs(self) -> None:
        for first, second in zip(self.users[::2], self.users[1::2], strict=True):
            try:
                # One waits in the queue, then the other is matched with it.
                await first.find_partner()
                await first.wait_call_state(("waiting",))
                await second.find_partner()
                await asyncio.gather(
                    first.wait_call_state(("in-call",)), second.wait_call_state(("in-call",))
                )
                first.joined, second.joined = f"1:1 with {second.name}", f"1:1 with {first.name}"
                await asyncio.gather(first.wait_first_frame(), second.wait_first_frame())
            except Exception as exc:
                for user in (first, second):
                    self.errors.setdefault(user.name, f"did not get a call: {_short(exc)}")

    def start(self, start_at: float, ramp_up: float, rooms: Sequence[str]) -> None:
        """From the run's start: sample every second; rooms: join once the ramp-up is over."""
        self._start_at = start_at
        self._run(self._start_tasks(start_at + ramp_up, list(rooms)), 10.0)

    async def _start_tasks(self, join_at: float, rooms: list[str]) -> None:
        self._tasks.append(asyncio.create_task(self._sample_forever()))
        if self.scenario not in ONE_TO_ONE:
            self._tasks.append(asyncio.create_task(self._join_rooms(join_at, rooms)))

    async def _sample_forever(self) -> None:
        chromium = self.chromium
        assert chromium is not None
        before: dict[int, float] = {}
        total = 0.0
        next_at = time.monotonic()
        while True:
            now = time.monotonic()
            readings = await asyncio.to_thread(chromium.cpu_seconds)
            total = tree_cpu_seconds(before, readings, total)
            before = readings
            self.cpu.append((now - self._start_at, total))
            await asyncio.gather(*(u.sample(now - self._start_at) for u in self.users))
            # A late round (a busy machine) does not make the next ones come in a burst.
            next_at = max(next_at + SAMPLE_EVERY, time.monotonic() + SAMPLE_EVERY / 2)
            await asyncio.sleep(next_at - time.monotonic())

    async def _join_rooms(self, join_at: float, rooms: list[str]) -> None:
        await asyncio.sleep(max(0.0, join_at - time.monotonic()))

        async def join(index: int, user: BrowserUser) -> None:
            try:
                await user.join_room(self.url, rooms[index % len(rooms)])
                await user.wait_first_frame()
            except Exception as exc:
                self.errors.setdefault(user.name, f"did not join its room: {_short(exc)}")

        await asyncio.gather(*(join(i, u) for i, u in enumerate(self.users)))

    def results(self, window: tuple[float, float]) -> tuple[list[dict[str, Any]], float | None]:
        """Per-browser summaries over the steady window, and Chromium's CPU % over it."""
        summaries = [
            summarize_browser(
                user.name,
                user.joined or "-",
                list(user.samples),
                window,
                float(self.spec.fps),
                setup_ms=user.setup_ms,
                errors=[e for e in (self.errors.get(user.name),) if e]
                + [f"page error: {e}" for e in user.errors[:3]],
            ).to_json()
            for user in self.users
        ]
        return summaries, chromium_cpu(self.cpu, window[0], window[1])

    def stop(self) -> None:
        """Close the pages and the driver, then stop Chromium by its PID (always)."""
        try:
            if self._thread.is_alive():
                # Chromium is stopped below whatever happened to the pages.
                with contextlib.suppress(Exception):
                    self._run(self._close(), 20.0)
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._thread.join(timeout=10)
            if not self._thread.is_alive() and not self._loop.is_closed():
                self._loop.close()
        finally:
            if self.chromium is not None:
                self.chromium.stop()

    async def _close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for user in self.users:
            await user.close()
        if self._driver is not None:
            await self._driver.stop()


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:200]
