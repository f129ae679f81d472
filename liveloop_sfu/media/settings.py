"""What the media plane needs from the operator's configuration, in one frozen object.

``config.py`` builds it from the command line / environment; the media plane never reads either.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class MediaSettings:
    """How the node's peer connections are set up.

    Every field has a safe default for a single node on one machine (tests, development).
    """

    # RTCIceServer dicts ({"urls": str | list[str], "username"?: str, "credential"?: str}) the node
    # itself uses to gather server-reflexive / relayed candidates. Empty by default: aiortc would
    # otherwise ask a public Google STUN server, which a node with a known address never needs.
    ice_servers: tuple[Mapping[str, Any], ...] = ()
    # Local addresses the node binds its media sockets to and offers as host candidates.
    # Loopback is allowed on purpose (aioice leaves it out; tests and single-machine setups
    # need it).
    host_addresses: tuple[str, ...] = ("127.0.0.1",)
    # Address written into the node's candidates instead of the bound one (node behind 1:1 NAT,
    # like mediasoup's announcedIp). Sockets still bind to ``host_addresses``.
    announced_ip: str | None = None
    # Inclusive UDP port range for media sockets (firewalls); ``None`` = any free port.
    port_min: int | None = None
    port_max: int | None = None
    # Seconds a participant's ICE+DTLS to the node may take before the media plane gives up.
    connect_timeout: float = 10.0
    # Seconds without any RTP/RTCP from a connected participant before its media counts as lost
    # (a vanished browser; aioice's own consent check, RFC 7675, would take 30 s). Browsers send
    # RTCP at least every few seconds even with every track muted.
    media_timeout: float = 6.0

    def __post_init__(self) -> None:
        if not self.host_addresses:
            raise ValueError("host_addresses must name at least one address")
        for address in self.host_addresses:
            ipaddress.ip_address(address)
        if self.announced_ip is not None:
            ipaddress.ip_address(self.announced_ip)
        if (self.port_min is None) != (self.port_max is None):
            raise ValueError("port_min and port_max go together")
        if (
            self.port_min is not None
            and self.port_max is not None
            and not 1 <= self.port_min <= self.port_max <= 65535
        ):
            raise ValueError("need 1 <= port_min <= port_max <= 65535")
        if self.connect_timeout <= 0 or self.media_timeout <= 0:
            raise ValueError("connect_timeout and media_timeout must be positive")
