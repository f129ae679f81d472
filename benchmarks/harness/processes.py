"""Child processes of a benchmark run: the node under test and the client processes.

Every process is started here, watched by PID and stopped by PID (terminate, then kill after a
grace period) — nothing is ever matched by name. CPU time comes from ``/proc/<pid>/stat``.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from benchmarks.reports.stats import cpu_ticks

TICKS_PER_SECOND = float(os.sysconf("SC_CLK_TCK"))
NODE_MODULES = {"sfu": "liveloop_sfu", "relay": "benchmarks.nodes.relay"}


# util-linux's setpriv(1) (Debian: essential) sets prctl(2) PR_SET_PDEATHSIG, then execs the
# command in place (same PID): the child gets SIGTERM when the harness dies, even by SIGKILL,
# which no cleanup code of ours survives, so a killed harness leaves no node, client or browser
# loading the machine. (Popen's preexec_fn could call prctl itself, but it is unsafe in a
# process with threads, and the harness runs reader threads.) The signal follows the death of
# the *thread* that started the child: every caller starts them from the harness's main thread.
SETPRIV = shutil.which("setpriv")


def dies_with_parent(command: Sequence[str]) -> list[str]:
    """``command`` run so that it gets SIGTERM if the process starting it dies (unchanged
    where there is no ``setpriv``)."""
    if SETPRIV is None:
        return list(command)
    return [SETPRIV, "--pdeathsig", "TERM", "--", *command]


def process_ticks(pid: int) -> int:
    """utime + stime of a live process (all its threads), in clock ticks."""
    return cpu_ticks(Path(f"/proc/{pid}/stat").read_text())


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_process(process: subprocess.Popen[Any], grace: float = 10.0) -> None:
    """Terminate one child by its PID and reap it (kill it if it ignores SIGTERM)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


# Every client of a load test comes from 127.0.0.1, so the node's per-address abuse limits
# (signal/limits.py, tuned for browsers at human speed) would throttle the load generator
# itself: nodes started by a benchmark lift them. A node under test elsewhere (``--url``) needs
# the same flags from its operator.
LOAD_TEST_LIMITS = (
    "--max-connections-per-ip", "100000", "--rate-ip-multiplier", "1000",
    "--rate-churn", "1000/1000", "--rate-signaling", "10000/10000",
    "--rate-chat", "1000/1000", "--rate-other", "1000/1000",
    "--rate-connect", "100000/100000",
    # Fan-out rooms of up to 64 (benchmarks/harness/scenarios.py FANOUT_ROOM_MAX).
    "--max-room-participants", "64",
)  # fmt: skip


# SIGTERM drains a node: its calls may run for --drain-timeout (an hour by default) before it
# exits. A benchmark stops its node after its clients, so a second is plenty.
STOP_FAST = ("--drain-timeout", "1")


class Node:
    """A node process (``sfu``: the product; ``relay``: the decode/re-encode baseline)."""

    def __init__(
        self, kind: str, log_path: Path, mode: str = "sfu", extra: Sequence[str] = ()
    ) -> None:
        """``extra``: more node flags (e.g. ``--record all``)."""
        self.kind = kind
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = log_path.open("wb")
        command = [
            sys.executable, "-m", NODE_MODULES[kind], "--host", "127.0.0.1",
            "--port", str(self.port), "--mode", mode, "--log-level", "warning",
            *LOAD_TEST_LIMITS, *STOP_FAST, *extra,
        ]  # fmt: skip
        self.process = subprocess.Popen(
            dies_with_parent(command),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_healthy(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.kind} node exited with {self.process.returncode}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=1) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{self.kind} node not healthy after {timeout} s")

    def stop(self) -> None:
        try:
            stop_process(self.process)
        finally:
            self._log.close()


class CommandedChild:
    """A client process driven by JSON lines on stdin/stdout (the other side is
    ``benchmarks.clients.call_client.serve``): one command, one JSON reply."""

    def __init__(self, command: Sequence[str], name: str, log_path: Path) -> None:
        self.name = name
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            dies_with_parent(command),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            bufsize=1,
        )
        self._lines: queue.Queue[str] = queue.Queue()
        assert self.process.stdout is not None
        self._reader = threading.Thread(target=self._read, args=(self.process.stdout,), daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.process.pid

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self._lines.put(line)
        self._lines.put("")  # end of output

    def command(self, command: str, timeout: float) -> dict[str, Any]:
        """Send one command; return its JSON reply (raises on an error reply or a timeout)."""
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty as exc:
            raise TimeoutError(
                f"client {self.name}: no reply to {command!r} in {timeout} s"
            ) from exc
        if not line:
            raise RuntimeError(f"client {self.name} exited (see its log)")
        reply: dict[str, Any] = json.loads(line)
        if reply.get("event") == "error":
            raise RuntimeError(f"client {self.name}: {reply.get('message')}")
        return reply

    def stop(self) -> None:
        """Ask the process to stop (it closes its peer connections), then stop it by PID."""
        try:
            if self.process.poll() is None and self.process.stdin is not None:
                try:
                    self.process.stdin.write("stop\n")
                    self.process.stdin.flush()
                    self.process.stdin.close()
                    self.process.wait(15)
                except (BrokenPipeError, subprocess.TimeoutExpired):
                    pass
            stop_process(self.process)
        finally:
            self._reader.join(timeout=5)
            self._log.close()


class Client(CommandedChild):
    """A ``benchmarks.clients.call_client`` process (see its docstring for the commands)."""

    def __init__(
        self,
        url: str,
        calls: int,
        decode: int,
        name: str,
        cache_dir: Path,
        log_path: Path,
        target: str = "liveloop",
        host_address: str = "127.0.0.1",
    ) -> None:
        command = [
            sys.executable, "-m", "benchmarks.clients.call_client", "--url", url,
            "--calls", str(calls), "--decode", str(decode), "--name", name,
            "--cache-dir", str(cache_dir), "--target", target, "--host-address", host_address,
        ]  # fmt: skip
        super().__init__(command, name, log_path)
