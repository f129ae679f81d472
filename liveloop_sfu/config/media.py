"""What the media plane needs from the operator's configuration: the ``media`` subtree of the
settings, handed as is to every media session (``liveloop_sfu/media/settings.py`` re-exports it
for the media packages)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from liveloop_sfu.config import parse
from liveloop_sfu.config.declare import setting
from liveloop_sfu.config.ice import IceServer, parse_ice_servers
from liveloop_sfu.config.parse import ANNOUNCE_AUTO


@dataclass(frozen=True, slots=True)
class MediaSettings:
    """How the node's peer connections are set up.

    Every field has a safe default for a single node on one machine (tests, development).
    """

    # The node itself uses these to gather server-reflexive / relayed candidates, and browsers
    # are given them (rooms.ice_servers is this value). Empty by default: aiortc would otherwise
    # ask a public Google STUN server, which a node with a known address never needs.
    ice_servers: tuple[IceServer, ...] = setting(
        (),
        "--ice-servers",
        "ICE servers given to browsers and used by the node: a JSON list of RTCIceServer "
        'objects ([{"urls": "turn:host:3478", "username": "u", "credential": "p"}]) or a '
        "comma-separated list of stun:/turn: URLs (default: none)",
        parse_ice_servers,
    )
    # Seconds a participant's ICE+DTLS to the node may take before the media plane gives up.
    connect_timeout: float = setting(
        10.0,
        "--media-connect-timeout",
        "seconds a browser has to connect its media to the node before the call falls back or "
        "ends (default {default})",
        parse.number(),
    )
    # Local addresses the node binds its media sockets to and offers as host candidates.
    # Empty = chosen from the listen address (config/addresses.py, by load_settings): every
    # reachable address of the machine for a wildcard --host, else --host itself. Loopback is
    # allowed on purpose (aioice leaves it out; tests and single-machine setups need it), and a
    # MediaSettings built directly with none offers loopback (``addresses``).
    host_addresses: tuple[str, ...] = setting(
        (),
        "--media-addresses",
        "comma-separated local addresses the node offers media on (default: where it listens: "
        "every non-loopback address of the machine for --host 0.0.0.0 or ::, else --host)",
        parse.ip_addresses,
    )
    # Address written into the node's candidates instead of the bound one (node behind 1:1 NAT,
    # like mediasoup's announcedIp). Sockets still bind to ``host_addresses``. ``auto``: asked
    # of the configured STUN server once at start (app.learn_announced_ip), before any session.
    announced_ip: str | None = setting(
        None,
        "--announced-ip",
        "address put in the node's ICE candidates (node behind 1:1 NAT); auto: learn it at "
        "start from the STUN server of --ice-servers",
        parse.announced_ip,
    )
    # Inclusive UDP port range for media sockets (firewalls); ``None`` = any free port.
    port_min: int | None = setting(
        None,
        "--rtc-min-port",
        "lowest UDP port for media sockets (with --rtc-max-port)",
        parse.integer(1, 65535),
    )
    port_max: int | None = setting(
        None,
        "--rtc-max-port",
        "highest UDP port for media sockets (with --rtc-min-port)",
        parse.integer(1, 65535),
    )
    # One UDP port for every peer's media (ICE, DTLS, SRTP demultiplexed by STUN username, then
    # remote address: media/transport/udp_mux.py), so a firewall needs one rule. Replaces the
    # per-peer sockets (and the port range) when set.
    udp_port: int | None = setting(
        None,
        "--rtc-udp-port",
        "one UDP port shared by every peer's media, instead of a port per peer (firewalls, "
        "Kubernetes services); replaces --rtc-min-port/--rtc-max-port",
        parse.integer(1, 65535),
    )
    # Seconds without any RTP/RTCP from a connected participant before its media counts as lost
    # (a vanished browser; aioice's own consent check, RFC 7675, would take 30 s). Browsers send
    # RTCP at least every few seconds even with every track muted.
    media_timeout: float = setting(
        6.0,
        "--media-timeout",
        "seconds without any RTP/RTCP from a connected browser before its media counts as "
        "lost (default {default})",
        parse.number(),
    )

    @property
    def addresses(self) -> tuple[str, ...]:
        """The addresses media sockets bind to: ``host_addresses``, or loopback when none were
        chosen (settings built directly, not by load_settings)."""
        return self.host_addresses or ("127.0.0.1",)

    def __post_init__(self) -> None:
        for address in self.host_addresses:
            ipaddress.ip_address(address)
        if self.announced_ip is not None and self.announced_ip != ANNOUNCE_AUTO:
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
