"""Real node processes on free loopback ports, for tests of every folder."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Node:
    """A real ``liveloop-sfu`` process started by a test."""

    url: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def _request(node: Node, path: str, token: str | None) -> urllib.request.Request:
    request = urllib.request.Request(node.url + path)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    return request


def get_json(node: Node, path: str, token: str | None = None) -> dict[str, Any]:
    """GET a node's JSON endpoint (``token``: the admin bearer token); raises on an HTTP error."""
    with urllib.request.urlopen(_request(node, path, token), timeout=5) as response:
        result: dict[str, Any] = json.loads(response.read())
        return result


def get_status_and_json(
    node: Node, path: str, token: str | None = None
) -> tuple[int, dict[str, Any]]:
    """GET a node's JSON endpoint; an error status comes back with its JSON body (the tests of
    refusals read both), not raised."""
    try:
        with urllib.request.urlopen(_request(node, path, token), timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


def start_node(
    log_dir: Path,
    *flags: str,
    env: dict[str, str] | None = None,
    program: Sequence[str] = (sys.executable, "-m", "liveloop_sfu"),
    cwd: Path = ROOT,
    environ: Mapping[str, str] = os.environ,
) -> Node:
    """``program``: how to start the node (an installed ``liveloop-sfu`` in the wheel's test);
    ``environ``: the environment that ``env`` adds to."""
    port = free_port()
    log_path = log_dir / f"node-{port}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [*program, "--host", "127.0.0.1", "--port", str(port), *flags],
            cwd=cwd,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env={**environ, **(env or {})},
        )
    node = Node(url=f"http://127.0.0.1:{port}", port=port, process=process, log_path=log_path)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"node exited with {process.returncode}:\n{node.log()}")
        try:
            with urllib.request.urlopen(node.url + "/health", timeout=1) as response:
                if response.status == 200:
                    return node
        except OSError:
            time.sleep(0.1)
    node.stop()
    raise RuntimeError(f"node did not become healthy:\n{node.log()}")


NodeFactory = Callable[..., Node]
