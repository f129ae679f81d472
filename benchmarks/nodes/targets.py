"""What ``liveloop-sfu bench`` loads: a node it starts itself (``sfu``, ``p2p``, the ``relay``
baseline, ``janus``) or a running service named by URL (``remote``), and the probe that samples
the node's CPU time and memory while it runs — from ``/proc/<pid>`` when the node is a local
process, else from its Prometheus ``/metrics`` (``process_cpu_seconds_total``,
``process_resident_memory_bytes``, which every node exports: liveloop_sfu/http/metrics.py) — at
``URL/metrics``, or at ``--metrics-url`` for a node that serves them on a private address of its
own (``--metrics-listen``)."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.harness.processes import TICKS_PER_SECOND, Node, process_ticks
from benchmarks.nodes.janus import JanusNode, janus_available
from benchmarks.reports.stats import prometheus_value, rss_bytes

TARGETS = ("sfu", "relay", "p2p", "janus")
# Which scenarios each target can run: the relay baseline and p2p mode are 1:1 only; Janus has
# no matchmaker (its "calls" are VideoRoom rooms the harness makes), so no churn through one.
SUPPORTED = {
    "sfu": ("steady", "churn", "group", "fanout"),
    "remote": ("steady", "churn", "group", "fanout"),
    "relay": ("steady", "churn"),
    "p2p": ("steady", "churn"),
    "janus": ("steady", "group", "fanout"),
}


def unavailable(kind: str) -> str | None:
    """Why ``kind`` cannot run on this machine, or None."""
    return janus_available() if kind == "janus" else None


@dataclass
class Target:
    kind: str
    url: str
    pid: int | None  # the node process when local
    host_address: str  # where the clients gather ICE candidates
    client_target: str  # "liveloop" (wire protocol) or "janus" (VideoRoom API)
    forwards: bool  # media goes through the node (False: p2p)
    _node: Node | JanusNode | None = None
    metrics_url: str | None = None  # remote: its /metrics (default URL/metrics)

    def stop(self) -> None:
        if self._node is not None:
            self._node.stop()
            self._node = None


def source_address(url: str) -> str:
    """The local address of the interface that routes to ``url``'s host: where the clients
    gather their ICE candidates, so that the node can reach them back. Asked of the kernel's
    routing table by connecting a UDP socket, which sends nothing."""
    parsed = urllib.parse.urlsplit(url)
    if not parsed.hostname:
        raise ValueError(f"no host in {url!r}")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        family, _, _, _, address = socket.getaddrinfo(
            parsed.hostname, port, type=socket.SOCK_DGRAM
        )[0]
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect(address)
            local: str = probe.getsockname()[0]
    except OSError as exc:
        raise OSError(f"no route to {parsed.hostname}: {exc}") from exc
    return local


def start_target(
    kind: str,
    log_dir: Path,
    url: str | None = None,
    metrics_url: str | None = None,
    node_flags: Sequence[str] = (),
) -> Target:
    """Start (or, for ``remote``, name) one target; ``node_flags`` go to our own nodes."""
    if kind == "remote":
        if url is None:
            raise ValueError("a remote target needs a URL")
        base = url.rstrip("/")
        target = Target("remote", base, None, source_address(base), "liveloop", True)
        target.metrics_url = metrics_url or f"{base}/metrics"
        return target
    log = log_dir / f"{kind}-node.log"
    if kind == "janus":
        janus = JanusNode(log)
        try:
            janus.wait_healthy()
        except BaseException:
            janus.stop()
            raise
        return Target(kind, janus.url, janus.pid, janus.client_address, "janus", True, janus)
    node_kind = "relay" if kind == "relay" else "sfu"
    node = Node(node_kind, log, mode="p2p" if kind == "p2p" else "sfu", extra=node_flags)
    try:
        node.wait_healthy()
    except BaseException:
        node.stop()
        raise
    return Target(kind, node.url, node.pid, "127.0.0.1", "liveloop", kind != "p2p", node)


class NodeProbe:
    """Samples ``(t, cpu_seconds, rss_bytes)`` of the node every ``interval`` seconds."""

    def __init__(self, target: Target, interval: float = 1.0) -> None:
        self.target = target
        self.interval = interval
        self.samples: list[tuple[float, float, int]] = []
        self.status: list[dict[str, Any]] = []  # remote: /api/status counters over time
        self.source = "proc" if target.pid is not None else "metrics"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> tuple[float, float, int] | None:
        now = time.monotonic()
        if self.target.pid is not None:
            try:
                ticks = process_ticks(self.target.pid)
                rss = rss_bytes(Path(f"/proc/{self.target.pid}/status").read_text())
            except (OSError, ValueError):
                return None
            return now, ticks / TICKS_PER_SECOND, rss
        metrics_url = self.target.metrics_url or f"{self.target.url}/metrics"
        try:
            with urllib.request.urlopen(metrics_url, timeout=2) as response:
                text = response.read().decode("utf-8", "replace")
        except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
            return None
        cpu = prometheus_value(text, "process_cpu_seconds_total")
        rss_value = prometheus_value(text, "process_resident_memory_bytes")
        if cpu is None:
            return None
        return now, cpu, int(rss_value or 0)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            sample = self.sample()
            if sample is not None:
                self.samples.append(sample)
            # Remote: its counters; our own nodes: also what their admission measures.
            if self.target.pid is None or self.target.client_target == "liveloop":
                status = self.api_status()
                if status is not None:
                    self.status.append(status)
            self._stop.wait(self.interval)

    def api_status(self) -> dict[str, Any] | None:
        """``/api/status`` of a node (sockets, rooms, forwarded streams, admission: whether it
        refuses new calls and its self-measurement), timestamped."""
        try:
            with urllib.request.urlopen(f"{self.target.url}/api/status", timeout=2) as response:
                body = json.loads(response.read())
        except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
            return None
        return {"t": time.monotonic(), **body} if isinstance(body, dict) else None

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
