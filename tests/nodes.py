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
# SIGTERM drains a node: calls it still hosts run for --drain-timeout (an hour by default)
# before it ends them. Test nodes get this much unless the test sets its own (flag or env), so
# a teardown stays fast. (Not a second SIGTERM: sent while a node that already finished its drain
# is exiting, after aiohttp restored the default handler, it would kill it with -15.)
TEST_DRAIN_TIMEOUT = "0.5"


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
    # The network namespace the node runs in (tests/lab); None: the test's own.
    netns: str | None = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """SIGTERM: the node drains (liveloop_sfu/drain.py) for at most its --drain-timeout,
        short for test nodes (:data:`TEST_DRAIN_TIMEOUT`), and exits."""
        self.terminate()
        self.wait_stopped()

    def terminate(self) -> None:
        """Send SIGTERM (several nodes drain side by side; then :meth:`wait_stopped` each)."""
        if self.process.poll() is None:
            self.process.terminate()

    def wait_stopped(self) -> None:
        if self.process.poll() is None:
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


def _urlopen(node: Node, request: urllib.request.Request | str, timeout: float) -> Any:
    """``urlopen`` from inside the node's namespace when it has one (a lab node is not reachable
    from the test's own network)."""
    if node.netns is None:
        return urllib.request.urlopen(request, timeout=timeout)
    # Imported here: tests.lab imports this module.
    from tests.lab.netns import call_in

    return call_in(node.netns, lambda: urllib.request.urlopen(request, timeout=timeout))


def get_json(node: Node, path: str, token: str | None = None) -> dict[str, Any]:
    """GET a node's JSON endpoint (``token``: the admin bearer token); raises on an HTTP error."""
    with _urlopen(node, _request(node, path, token), timeout=5) as response:
        result: dict[str, Any] = json.loads(response.read())
        return result


def get_status_and_json(
    node: Node, path: str, token: str | None = None
) -> tuple[int, dict[str, Any]]:
    """GET a node's JSON endpoint; an error status comes back with its JSON body (the tests of
    refusals read both), not raised."""
    try:
        with _urlopen(node, _request(node, path, token), timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


def start_node(
    log_dir: Path,
    *flags: str,
    env: dict[str, str] | None = None,
    wrapper: Sequence[str] = (),
    netns: str | None = None,
    host: str = "127.0.0.1",
    port: int | None = None,
    url_host: str | None = None,
    program: Sequence[str] = (sys.executable, "-m", "liveloop_sfu"),
    cwd: Path = ROOT,
    environ: Mapping[str, str] = os.environ,
) -> Node:
    """Starts a node listening on ``host``:``port`` (a free loopback port by default) and waits
    until ``/health`` answers. ``netns``: run it inside that network namespace (``ip netns
    exec``, which execs in place: the process is the node's own); ``url_host``: the address
    ``Node.url`` names when ``host`` is a wildcard. ``wrapper``: a command the node runs under
    (``strace -f -o FILE``); the node is then that command's child, which ``Node.stop`` does not
    reach: the caller stops it. ``program``: how to start the node (an installed
    ``liveloop-sfu`` in the wheel's test), in ``cwd``; ``environ``: the environment that ``env``
    adds to."""
    port = port if port is not None else free_port()
    argv = [*program, "--host", host, "--port", str(port), *flags]
    if netns is not None:
        argv = ["ip", "netns", "exec", netns, *argv]
    argv = [*wrapper, *argv]
    log_path = log_dir / f"node-{netns + '-' if netns else ''}{port}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            argv,
            cwd=cwd,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env={"LIVELOOP_DRAIN_TIMEOUT": TEST_DRAIN_TIMEOUT, **environ, **(env or {})},
        )
    url_address = url_host or host
    if ":" in url_address:
        url_address = f"[{url_address}]"
    node = Node(
        url=f"http://{url_address}:{port}",
        port=port,
        process=process,
        log_path=log_path,
        netns=netns,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"node exited with {process.returncode}:\n{node.log()}")
        try:
            with _urlopen(node, node.url + "/health", timeout=1) as response:
                if response.status == 200:
                    return node
        except OSError:
            time.sleep(0.1)
    node.stop()
    raise RuntimeError(f"node did not become healthy:\n{node.log()}")


NodeFactory = Callable[..., Node]
