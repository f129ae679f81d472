"""Which local addresses the node offers media on when the operator names none.

A browser reaches the node's page on the address the node listens on (``--host``), then must
reach its media on the addresses written into the node's ICE candidates. Offering loopback on a
server made every call from another machine match, negotiate and then sit in ICE ``checking``
until it failed (issue 16). So, with no ``--media-addresses`` (DESIGN.md, Networking facts):

- listening on ``0.0.0.0``: every non-loopback unicast IPv4 address of the machine;
- listening on ``::``: every non-loopback unicast IPv6 address, and the IPv4 ones too when the
  listener is dual-stack (it also accepts IPv4 clients);
- listening on a given address (loopback included): that address.

Pure: the listen addresses and the machine's interface addresses are parameters
(:mod:`liveloop_sfu.config.machine` reads them at the edge), so the choice is tested as a table.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

LOOPBACK = {4: "127.0.0.1", 6: "::1"}


def listen_addresses(host: str) -> tuple[str, ...] | None:
    """The IP addresses ``--host`` means, or None for a host name (resolved at the edge).
    An empty host is what aiohttp binds as "every address": both wildcards."""
    if host == "":
        return ("0.0.0.0", "::")
    try:
        return (str(ipaddress.ip_address(host)),)
    except ValueError:
        return None


def reachable(address: str) -> bool:
    """An address another machine can send to: unicast, not loopback, not link-local (a
    link-local address needs a scope a remote browser does not have), not unspecified."""
    ip = ipaddress.ip_address(address)
    return not (ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_unspecified)


def offered_addresses(
    listen: Sequence[str], machine: Iterable[str], *, dual_stack: bool = False
) -> tuple[str, ...]:
    """The addresses to offer media on, for a node listening on ``listen`` on a machine whose
    interfaces hold ``machine``. Never empty: with nothing reachable, loopback of the listen
    family (which :func:`loopback_only_problem` then reports)."""
    machine_ips = [ipaddress.ip_address(address) for address in machine]
    offered: list[IpAddress] = []
    for address in listen:
        ip = ipaddress.ip_address(address)
        if not ip.is_unspecified:
            offered.append(ip)
            continue
        families = {ip.version} | ({4} if ip.version == 6 and dual_stack else set())
        offered += [m for m in machine_ips if m.version in families and reachable(str(m))]
    if not offered:
        first = ipaddress.ip_address(listen[0]) if listen else ipaddress.ip_address("0.0.0.0")
        return (LOOPBACK[first.version],)
    return tuple(dict.fromkeys(str(ip) for ip in offered))


def listens_publicly(listen: Sequence[str]) -> bool:
    """Whether other machines may reach the node's page: any listen address that is a wildcard
    or not loopback."""
    return any(not ipaddress.ip_address(address).is_loopback for address in listen)


def loopback_only_problem(listen: Sequence[str], offered: Sequence[str]) -> str | None:
    """What to tell the operator when the node's page is reachable from other machines but its
    media is offered on loopback only (every call from elsewhere would fail), else None."""
    if not listens_publicly(listen):
        return None
    if any(not ipaddress.ip_address(address).is_loopback for address in offered):
        return None
    return (
        f"the node listens on {', '.join(listen)} but offers media only on loopback "
        f"({', '.join(offered)}): browsers on other machines will load the page and be matched, "
        "then their calls will never connect. Give --media-addresses the address(es) browsers "
        "reach this machine on (and --announced-ip, or --announced-ip auto, behind 1:1 NAT)"
    )
