"""A browser changes networks, as a phone leaving Wi-Fi for its mobile data does: its host gets
a link into another network's LAN (behind that network's NAT), its default route moves there,
and the old link disappears with its address. The programs in the host (Chromium) keep running;
every socket bound to the old address is cut off, exactly what the browser sees on a real
network switch."""

from __future__ import annotations

import ipaddress

from tests.lab import netns, topology
from tests.lab.topology import Network


def move(network: Network, to: Network) -> str:
    """Moves ``network``'s host onto ``to``'s LAN (``to`` must be a NAT network, behind its
    gateway); returns the host's new address. ``network`` keeps its name and namespace, so the
    lab still cleans it up, and its ``ipv4`` is updated."""
    if to.edge == to.namespace or to.ipv4 is None:
        raise ValueError(f"{to.name} has no LAN behind a gateway to move onto")
    # A NAT network's /29 LAN holds its gateway, its own host, and room for one more host
    # (topology.lan_addresses): the gateway is the address before the host's, the moved host
    # takes the one after.
    host = ipaddress.ip_address(to.ipv4)
    gateway_ip, new_ip = str(host - 1), str(host + 1)
    old, new = "eth0", "eth1"  # every lab host's first link is its eth0
    topology._veth(to.edge, "lan2", network.namespace, new)
    # The gateway reaches the moved host through its new link (a host route beside its LAN).
    netns.run("ip", "-n", to.edge, "route", "add", f"{new_ip}/32", "dev", "lan2")
    netns.run("ip", "-n", network.namespace, "addr", "add", f"{new_ip}/32", "dev", new)
    netns.run("ip", "-n", network.namespace, "route", "add", f"{gateway_ip}/32", "dev", new)
    # The old link goes away (its address and routes with it), then the default route is the
    # new one: nothing is left of the old path.
    netns.run("ip", "-n", network.namespace, "link", "del", old)
    netns.run("ip", "-n", network.namespace, "route", "replace", "default", "via", gateway_ip,
              "dev", new)  # fmt: skip
    network.ipv4 = new_ip
    network.public_ipv4 = to.public_ipv4
    return new_ip
