"""One lab instance: its router, networks, node, TURN server and browsers, and their removal.

Every name the lab creates starts with ``llab-<pid>-<n>-`` so that labs of parallel test
processes never meet and ``ip netns list`` shows at a glance what a test left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tests.lab import netns, rules, topology
from tests.lab.coturn import Coturn, start_coturn
from tests.lab.topology import Kind, Network
from tests.nodes import Node, start_node

if TYPE_CHECKING:
    from playwright.async_api import Browser

PREFIX = "llab-"
_instances = itertools.count(1)
NODE_PORT = 443  # the one port the udp_blocked firewall lets through


@dataclass
class LabNode:
    """A node on a public lab address, listening on IPv4 and IPv6."""

    node: Node
    network: Network

    def url_for(self, network: Network, path: str = "/") -> str:
        """The node's URL as seen from ``network`` (its IPv6 address for an IPv6-only one)."""
        if network.ipv4 is None:
            return f"http://[{self.network.ipv6}]:{NODE_PORT}{path}"
        return f"http://{self.network.ipv4}:{NODE_PORT}{path}"


class Lab:
    def __init__(self, workdir: Path) -> None:
        self.prefix = f"{PREFIX}{os.getpid()}-{next(_instances)}-"
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.router = self.prefix + "inet"
        self.namespaces: list[str] = []
        self.networks: dict[str, Network] = {}
        self.processes: list[subprocess.Popen[bytes]] = []
        self.sockets: list[socket.socket] = []
        self.browsers: list[Browser] = []
        self.secure_origins: list[str] = []
        # CAs every browser launched from now on trusts (coturn's, for TURN over TLS).
        self.trusted_cas: list[Path] = []
        self._links = itertools.count(1)
        try:
            topology.build_router(self._namespace(self.router))
        except BaseException:
            self.close()
            raise

    def _namespace(self, name: str) -> str:
        # Recorded before it exists: a failure half-way through creating it is still cleaned up.
        self.namespaces.append(name)
        return name

    # Networks -----------------------------------------------------------------------------------
    def network(self, kind: Kind, name: str | None = None) -> Network:
        """Adds a network of ``kind`` (see ``topology.KINDS``) named ``name`` (default: kind)."""
        name = name or kind
        if name in self.networks:
            raise ValueError(f"the lab already has a network {name!r}")
        index = next(self._links)
        link = topology.link_addresses(index)
        namespace = self.prefix + name
        if kind in ("public", "ipv6_only"):
            self._namespace(namespace)
            netns.add_namespace(namespace)
            v4 = kind == "public"
            topology.attach(self.router, index, namespace, "eth0", v4=v4, v6=True)
            network = Network(self, name, kind, namespace, namespace, f"l{index}", "eth0",
                              link.edge_v4 if v4 else None, link.edge_v6,
                              link.edge_v4 if v4 else None)  # fmt: skip
        else:
            gateway = self._namespace(namespace + "-gw")
            netns.add_namespace(gateway)
            self._namespace(namespace)
            netns.add_namespace(namespace)
            topology.attach(self.router, index, gateway, "wan", v4=True, v6=False)
            routed = kind == "udp_blocked"
            host_ip = topology.attach_lan(self.router, index, gateway, namespace, routed=routed)
            if routed:
                netns.nft(gateway, rules.tcp443_only_ruleset("lan"))
            else:
                randomize = kind == "symmetric_nat"
                netns.nft(gateway, rules.nat_ruleset("wan", randomize=randomize))
            network = Network(self, name, kind, namespace, gateway, f"l{index}", "wan",
                              host_ip, None, host_ip if routed else link.edge_v4)  # fmt: skip
        self.networks[name] = network
        return network

    def browser_net(self, kind: Kind, name: str | None = None) -> Network:
        """The network a browser sits in (``cone_nat``, ``symmetric_nat``, ``udp_blocked``,
        ``ipv6_only``, or ``public``); created on first use."""
        existing = self.networks.get(name or kind)
        return existing if existing is not None else self.network(kind, name)

    def public(self, name: str) -> Network:
        existing = self.networks.get(name)
        return existing if existing is not None else self.network("public", name)

    def apply_loss(self) -> None:
        losses = {net.router_link: net.loss for net in self.networks.values()}
        netns.nft(self.router, rules.loss_ruleset(losses))

    # Servers ------------------------------------------------------------------------------------
    def node(
        self, *flags: str, name: str = "node", host: str | None = None, media_flags: bool = True
    ) -> LabNode:
        """A node in public network ``name`` on port 443, listening on ``host`` (default: the
        network's IPv4 address; IPv6 reaches it through a forwarder). With ``media_flags`` and
        unless ``flags`` name them, its media addresses are the network's addresses: the
        node's default (loopback) offers browsers nothing they can reach. ``media_flags=False``
        runs the node with its own defaults."""
        network = self.public(name)
        assert network.ipv4 and network.ipv6
        if media_flags and "--media-addresses" not in flags:
            flags = ("--media-addresses", f"{network.ipv4},{network.ipv6}", *flags)
        node = start_node(
            self.workdir,
            *flags,
            netns=network.namespace,
            host=host or network.ipv4,
            port=NODE_PORT,
            url_host=network.ipv4,
        )
        self.processes.append(node.process)
        # --host takes one address: IPv6 browsers reach the page through a forwarder.
        forward = [sys.executable, "-m", "tests.lab.forward", network.ipv6, str(NODE_PORT),
                   network.ipv4, str(NODE_PORT)]  # fmt: skip
        network.popen(forward)
        _wait_tcp(network, network.ipv6, NODE_PORT)
        lab_node = LabNode(node, network)
        for address in (network.ipv4, f"[{network.ipv6}]"):
            self.secure_origins.append(f"http://{address}:{NODE_PORT}")
        return lab_node

    def coturn(self, name: str = "turn") -> Coturn:
        """coturn in public network ``name``; browsers launched afterwards trust its CA."""
        turn = start_coturn(self.public(name))
        self.trusted_cas.append(turn.certificate.ca_cert)
        return turn

    def track(self, process: subprocess.Popen[bytes]) -> subprocess.Popen[bytes]:
        self.processes.append(process)
        return process

    # Removal ------------------------------------------------------------------------------------
    async def aclose(self) -> None:
        for browser in self.browsers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(browser.close(), 15)
        self.close()

    def close(self) -> None:
        """Stops every process the lab started and removes every namespace it made. Each step
        runs even when an earlier one fails; the first failure is raised at the end."""
        failures: list[BaseException] = []
        for sock in self.sockets:
            sock.close()
        for process in self.processes:
            try:
                _stop(process)
            except Exception as exc:
                failures.append(exc)
        for namespace in reversed(self.namespaces):
            if namespace not in netns.list_namespaces():
                continue
            # Anything still running in it was started by this lab (a browser's helpers).
            for pid in netns.namespace_pids(namespace):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            try:
                netns.delete_namespace(namespace)
            except Exception as exc:
                failures.append(exc)
        if failures:
            raise failures[0]


def _wait_tcp(network: Network, address: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET

    def accepts() -> bool:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            return probe.connect_ex((address, port)) == 0

    deadline = time.monotonic() + 10
    while not netns.call_in(network.namespace, accepts):
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing listens on [{address}]:{port} in {network.name}")
        time.sleep(0.05)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@contextlib.asynccontextmanager
async def lab_network(workdir: Path) -> AsyncIterator[Lab]:
    """``async with lab_network(tmp_path) as lab:`` — a lab removed on the way out, whatever
    happened inside."""
    lab: Lab | None = None
    try:
        lab = Lab(workdir)
        yield lab
    finally:
        if lab is not None:
            await lab.aclose()


def lab_namespaces() -> list[str]:
    """Namespaces of labs of this test process still present (a test asserts there are none)."""
    own = f"{PREFIX}{os.getpid()}-"
    return [name for name in netns.list_namespaces() if name.startswith(own)]
