"""Real headless Chromium for the tests and ``liveloop-sfu bench --browsers``: the Debian
``/usr/bin/chromium`` (nothing is downloaded; ``playwright install`` is never run), its flags
(DESIGN.md "Chromium in tests"), and one browser process the bench starts itself so that it
knows its PID: to count its CPU apart from the node's and the load clients', and to stop it (and
every process under it) by PID whatever happens to the run.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.harness.processes import dies_with_parent
from benchmarks.reports.stats import cpu_ticks

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS: tuple[str, ...] = (
    "--headless=new",
    "--no-sandbox",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
)
START_TIMEOUT = 30.0
TICKS_PER_SECOND = float(os.sysconf("SC_CLK_TCK"))


def _read_stat(pid: int) -> tuple[int, int, int] | None:
    """(parent PID, CPU ticks, start time) of a live process (proc(5): fields 4, 14+15, 22)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The fields after the command name (which may hold spaces and parentheses).
    fields = stat[stat.rindex(")") + 2 :].split()
    try:
        return int(fields[1]), cpu_ticks(stat), int(fields[19])
    except (IndexError, ValueError):
        return None


def _tree_stats(root: int) -> dict[int, tuple[int, int, int]]:
    stats: dict[int, tuple[int, int, int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            found = _read_stat(int(entry.name))
            if found is not None:
                stats[int(entry.name)] = found
    tree = {root} if root in stats else set()
    grew = True
    while grew:
        grew = False
        for pid, (parent, _, _) in stats.items():
            if parent in tree and pid not in tree:
                tree.add(pid)
                grew = True
    return {pid: stats[pid] for pid in tree}


def process_tree(root: int) -> dict[int, int]:
    """``{pid: utime + stime ticks}`` of ``root`` and every process under it (Chromium's
    renderers, GPU and utility processes), read from ``/proc``."""
    return {pid: ticks for pid, (_, ticks, _) in _tree_stats(root).items()}


class ChromiumProcess:
    """One Chromium with a fresh profile, driven over the DevTools protocol
    (``playwright.chromium.connect_over_cdp(process.endpoint)``); all pages of a run live in it,
    one browser context (one fresh profile) per person."""

    def __init__(self, profile: Path, log_path: Path, extra_args: Sequence[str] = ()) -> None:
        self.profile = profile
        profile.mkdir(parents=True, exist_ok=True)
        (profile / "DevToolsActivePort").unlink(missing_ok=True)
        self._log = log_path.open("wb")
        command = [
            CHROMIUM,
            *CHROMIUM_ARGS,
            *extra_args,
            f"--user-data-dir={profile}",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",  # Chromium picks a free port and writes it down
            "about:blank",
        ]
        # Its own session: a Ctrl-C in the terminal reaches the harness, which stops it by PID.
        self.process = subprocess.Popen(
            dies_with_parent(command),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.endpoint = ""

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self, timeout: float = START_TIMEOUT) -> str:
        """The DevTools endpoint (``http://127.0.0.1:PORT``) once Chromium listens on it."""
        port_file = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"chromium exited with {self.process.returncode} (see its log)")
            lines = port_file.read_text().split() if port_file.is_file() else []
            if lines and lines[0].isdigit():
                self.endpoint = f"http://127.0.0.1:{lines[0]}"
                return self.endpoint
            time.sleep(0.1)
        raise TimeoutError(f"chromium gave no DevTools port in {timeout} s")

    def cpu_seconds(self) -> dict[int, float]:
        """CPU seconds of each process of its tree, now."""
        return {pid: t / TICKS_PER_SECOND for pid, t in process_tree(self.pid).items()}

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM the browser (it ends its children), then SIGKILL whatever of its tree is
        left, every process by its PID."""
        try:
            # Start times tell a leftover child from a new process that reused its PID.
            tree = _tree_stats(self.pid) if self.process.poll() is None else {}
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(grace)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(5)
            for pid, (_, _, started) in tree.items():
                now = _read_stat(pid)
                if pid != self.pid and now is not None and now[2] == started:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
        finally:
            self._log.close()
            # A fresh profile per run: nothing in it is worth keeping beside the report.
            shutil.rmtree(self.profile, ignore_errors=True)
