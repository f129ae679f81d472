"""The lab's networks: one "internet" router namespace, and networks attached to it.

Addresses come only from the documentation ranges (RFC 5737, RFC 3849):
- link ``i`` between the router and a network's edge: 203.0.113.(4i+1)/30 on the router,
  .(4i+2) on the edge; 2001:db8:0:i::1/64 and ::2 for IPv6;
- a LAN behind a NAT: 192.0.2.(8i)/29 (the router has no route to it, like the internet has
  none to a private network);
- a LAN behind the firewall: 198.51.100.(8i)/29, routed by the router (no NAT there).

No namespace has a route beyond the lab: the hosts' default routes point at the lab router, and
the router has no default route at all.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Literal

from tests.lab import netns, rules

if TYPE_CHECKING:
    from playwright.async_api import Browser, Playwright

    from tests.lab.lab import Lab

Kind = Literal["public", "cone_nat", "symmetric_nat", "udp_blocked", "ipv6_only"]
KINDS: tuple[Kind, ...] = ("public", "cone_nat", "symmetric_nat", "udp_blocked", "ipv6_only")
ROOT = Path(__file__).resolve().parents[2]  # the checkout: `python -m tests.lab...` works
MAX_LINKS = 62  # /30s in 203.0.113.0/24 after link 0


@dataclass(frozen=True)
class LinkAddresses:
    router_v4: str
    edge_v4: str
    router_v6: str
    edge_v6: str


def link_addresses(index: int) -> LinkAddresses:
    if not 1 <= index <= MAX_LINKS:
        raise ValueError(f"link index {index} outside 1..{MAX_LINKS}")
    return LinkAddresses(
        router_v4=f"203.0.113.{4 * index + 1}",
        edge_v4=f"203.0.113.{4 * index + 2}",
        router_v6=f"2001:db8:0:{index:x}::1",
        edge_v6=f"2001:db8:0:{index:x}::2",
    )


def lan_addresses(index: int, *, routed: bool) -> tuple[str, str, str]:
    """(gateway, host, subnet) of LAN ``index`` (1..31)."""
    if not 1 <= index <= 31:
        raise ValueError(f"LAN index {index} outside 1..31")
    base = "198.51.100" if routed else "192.0.2"
    return f"{base}.{8 * index + 1}", f"{base}.{8 * index + 2}", f"{base}.{8 * index}/29"


@dataclass
class Network:
    """One place on the lab internet where a node, a TURN server or a browser lives.

    ``namespace`` is where its programs run; ``edge`` is the namespace whose ``uplink`` interface
    faces the router (the NAT or firewall box, or ``namespace`` itself when attached directly).
    """

    lab: Lab
    name: str
    kind: Kind
    namespace: str
    edge: str
    router_link: str  # the router's interface towards this network
    uplink: str  # the edge's interface towards the router
    ipv4: str | None  # the address programs in ``namespace`` have
    ipv6: str | None
    public_ipv4: str | None  # the address the internet sees (the NAT's, for a NAT)
    loss: rules.Loss = field(default_factory=rules.Loss)

    # Shaping ------------------------------------------------------------------------------------
    def shape(
        self, *, down_kbps: int | None = None, up_kbps: int | None = None, latency_ms: int = 100
    ) -> None:
        """Limits the network's downlink and/or uplink to ``kbps`` (token bucket, ``tc tbf``).
        A direction not given keeps its current limit; ``unshape()`` lifts both."""
        if down_kbps is not None:
            netns.ns_run(self.lab.router, *rules.tbf_argv(self.router_link, down_kbps, latency_ms))
        if up_kbps is not None:
            netns.ns_run(self.edge, *rules.tbf_argv(self.uplink, up_kbps, latency_ms))

    def unshape(self) -> None:
        for namespace, device in ((self.lab.router, self.router_link), (self.edge, self.uplink)):
            if "tbf" in netns.ns_run(namespace, "tc", "qdisc", "show", "dev", device):
                netns.ns_run(namespace, *rules.unshape_argv(device))

    def set_loss(self, *, down_percent: int = 0, up_percent: int = 0) -> None:
        """Random packet loss on the network's link, each way (0 lifts it)."""
        self.loss = rules.Loss(down_percent, up_percent)
        self.lab.apply_loss()

    # Programs -----------------------------------------------------------------------------------
    def popen(self, argv: Sequence[str], log: IO[bytes] | None = None) -> subprocess.Popen[bytes]:
        """Starts a program in this network; the lab stops it at the end."""
        return self.lab.track(
            subprocess.Popen(
                netns.exec_argv(self.namespace, argv),
                stdout=log if log is not None else subprocess.DEVNULL,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )
        )

    def socket(
        self, family: socket.AddressFamily, kind: socket.SocketKind = socket.SOCK_DGRAM
    ) -> socket.socket:
        """A socket of the test process that sends and receives from inside this network."""
        sock = netns.open_socket(self.namespace, family, kind)
        self.lab.sockets.append(sock)
        return sock

    async def chromium(self, playwright: Playwright, *extra_args: str) -> Browser:
        """A headless Chromium running in this network (see ``tests.lab.chromium``)."""
        from tests.lab.chromium import launch_in

        return await launch_in(self, playwright, *extra_args)

    @property
    def workdir(self) -> Path:
        path = self.lab.workdir / self.name
        path.mkdir(exist_ok=True)
        return path


def build_router(name: str) -> None:
    netns.add_namespace(name)
    netns.ns_run(name, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1")


def _veth(ns_a: str, dev_a: str, ns_b: str, dev_b: str) -> None:
    # Both ends are made directly inside their namespaces: nothing appears in the host's.
    netns.run("ip", "-n", ns_a, "link", "add", dev_a, "type", "veth", "peer", "name", dev_b,
              "netns", ns_b)  # fmt: skip
    netns.run("ip", "-n", ns_a, "link", "set", dev_a, "up")
    netns.run("ip", "-n", ns_b, "link", "set", dev_b, "up")


def _addr(namespace: str, device: str, cidr: str) -> None:
    # nodad: an IPv6 address is usable at once (no duplicate detection delay on a private veth).
    extra = ["nodad"] if ":" in cidr else []
    netns.run("ip", "-n", namespace, "addr", "add", cidr, "dev", device, *extra)


def _route(namespace: str, destination: str, via: str) -> None:
    family = "-6" if ":" in via else "-4"
    netns.run("ip", family, "-n", namespace, "route", "add", destination, "via", via)


def attach(router: str, index: int, edge: str, uplink: str, *, v4: bool, v6: bool) -> None:
    """Connects namespace ``edge`` to the router over link ``index``, default route included."""
    link = link_addresses(index)
    router_dev = f"l{index}"
    _veth(router, router_dev, edge, uplink)
    if v4:
        _addr(router, router_dev, f"{link.router_v4}/30")
        _addr(edge, uplink, f"{link.edge_v4}/30")
        _route(edge, "default", link.router_v4)
    if v6:
        _addr(router, router_dev, f"{link.router_v6}/64")
        _addr(edge, uplink, f"{link.edge_v6}/64")
        _route(edge, "default", link.router_v6)


def attach_lan(router: str, index: int, gateway: str, host: str, *, routed: bool) -> str:
    """A LAN between ``gateway`` and ``host``; returns the host's address."""
    gateway_ip, host_ip, subnet = lan_addresses(index, routed=routed)
    _veth(gateway, "lan", host, "eth0")
    _addr(gateway, "lan", f"{gateway_ip}/29")
    _addr(host, "eth0", f"{host_ip}/29")
    _route(host, "default", gateway_ip)
    netns.ns_run(gateway, "sysctl", "-qw", "net.ipv4.ip_forward=1")
    if routed:
        _route(router, subnet, link_addresses(index).edge_v4)
    return host_ip
