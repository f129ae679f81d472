"""A real ``redis-server`` (the Debian package) for tests and benchmarks.

It listens on a free loopback port, keeps nothing on disk (``--save ''``, ``--appendonly no``)
and is stopped by its PID. :meth:`RedisServer.stop` and :meth:`RedisServer.start` on the same
port simulate an outage and the return of Redis (with its data lost, as a restarted Redis without
persistence would).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from tests.nodes import free_port

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


class RedisServer:
    def __init__(self, workdir: Path, *, cluster: bool = False) -> None:
        self.workdir = workdir
        self.cluster = cluster
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        if self.process is not None and self.process.poll() is None:
            return
        args = [
            REDIS_SERVER,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.workdir),
            "--logfile", str(self.workdir / f"redis-{self.port}.log"),
        ]  # fmt: skip
        if self.cluster:
            config = self.workdir / f"nodes-{self.port}.conf"
            config.unlink(missing_ok=True)
            args += ["--cluster-enabled", "yes", "--cluster-config-file", str(config)]
            # The bus port defaults to port + 10000, which may be taken or out of range.
            args += ["--cluster-port", str(free_port())]
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL)
        self._wait_for_pong(timeout)
        if self.cluster:
            self._serve_all_slots(timeout)

    def stop(self) -> None:
        """SIGTERM by PID, then SIGKILL if it lingers."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def command(self, *args: str) -> str:
        """One command over a raw RESP socket (no client library): the first reply line."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=1.0) as sock:
            parts = [f"${len(a.encode())}\r\n{a}\r\n" for a in args]
            sock.sendall(f"*{len(args)}\r\n{''.join(parts)}".encode())
            return sock.recv(65536).decode(errors="replace").split("\r\n", 1)[0]

    def _wait_for_pong(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}")
            try:
                if self.command("PING") == "+PONG":
                    return
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError(f"redis-server on port {self.port} did not answer PING")

    def _serve_all_slots(self, timeout: float) -> None:
        """A one-node cluster: this node owns all 16384 slots, so any key is local and only the
        cluster's rule that one script stays within one slot is tested."""
        self.command("CLUSTER", "ADDSLOTSRANGE", "0", "16383")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1.0) as sock:
                sock.sendall(b"*2\r\n$7\r\nCLUSTER\r\n$4\r\nINFO\r\n")
                if b"cluster_state:ok" in sock.recv(65536):
                    return
            time.sleep(0.05)
        raise RuntimeError("one-node redis cluster did not reach cluster_state:ok")
