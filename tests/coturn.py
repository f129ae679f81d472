"""A real coturn (Debian ``turnserver``) on loopback for tests of any folder: UDP and TCP on one
port, ``use-auth-secret`` (the node hands out TURN REST credentials), loopback peers allowed
(the node's and the browsers' addresses in these tests). The network lab (tests/lab) runs its
own, in a namespace, with TLS."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from tests.nodes import free_port

SECRET = "coturn-shared-secret-for-tests"


@contextlib.contextmanager
def loopback_coturn(folder: Path) -> Iterator[int]:
    """Runs turnserver on 127.0.0.1 until the block ends; yields its port."""
    binary = shutil.which("turnserver")
    assert binary, "Debian package coturn (scripts/test.sh installs it)"
    port = free_port()
    relay_low = free_port()
    log = (folder / "turn.log").open("wb")
    process = subprocess.Popen(
        [
            binary,
            "-n",  # no configuration file: everything is on this line
            "--listening-ip=127.0.0.1",
            "--relay-ip=127.0.0.1",
            f"--listening-port={port}",
            f"--min-port={relay_low}",
            f"--max-port={relay_low + 50}",
            "--allow-loopback-peers",  # the node's media address in these tests
            "--use-auth-secret",
            f"--static-auth-secret={SECRET}",
            "--realm=liveloop.test",
            "--fingerprint",
            "--no-tls",
            "--no-dtls",
            "--no-cli",
            f"--userdb={folder / 'turndb'}",
            f"--pidfile={folder / 'turn.pid'}",
            "--log-file=stdout",
            "--simple-log",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_listening(port, process)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _wait_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        assert process.poll() is None, "turnserver exited"
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError("turnserver did not listen")
