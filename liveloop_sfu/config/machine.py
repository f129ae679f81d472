"""What the machine says about its own network, read once at the edge (``load_settings``): its
interface addresses and the addresses a ``--host`` name resolves to. The choice made from them
is pure (:mod:`liveloop_sfu.config.addresses`)."""

from __future__ import annotations

import socket

import ifaddr


def interface_addresses() -> tuple[str, ...]:
    """Every address on the machine's interfaces, IPv4 then IPv6 (ifaddr, which aioice itself
    uses to find host candidates). IPv6 entries come as (address, flowinfo, scope id)."""
    v4: list[str] = []
    v6: list[str] = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if isinstance(ip.ip, tuple):
                v6.append(str(ip.ip[0]).split("%", 1)[0])
            else:
                v4.append(str(ip.ip))
    return tuple(dict.fromkeys([*v4, *v6]))


def resolve_host(host: str) -> tuple[str, ...]:
    """The addresses aiohttp binds for a ``--host`` name (``localhost`` -> 127.0.0.1, ::1)."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return ()
    return tuple(dict.fromkeys(str(info[4][0]) for info in infos))
