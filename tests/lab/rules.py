"""The lab's nftables rulesets and ``tc`` command lines, as plain text: pure functions, so what a
NAT, a firewall, a rate limit or a loss rate means is readable (and unit-tested) in one place.

Behaviours, as RFC 4787 names them:
- ``cone``: Linux ``masquerade`` keeps the source port when it can (endpoint-independent mapping,
  §4.1) and conntrack only lets back what comes from the exact address and port a packet was sent
  to (address-and-port-dependent filtering, §5): a "port-restricted cone" NAT.
- ``symmetric``: ``masquerade random,fully-random`` picks a new random port for every new
  conntrack entry, i.e. every destination (address-and-port-dependent mapping).
- ``udp_blocked``: a firewall that lets out TCP to port 443 only, and the answers to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

NAT_TABLE = "lab_nat"
FIREWALL_TABLE = "lab_firewall"
LOSS_TABLE = "lab_loss"


def nat_ruleset(wan: str, *, randomize: bool) -> str:
    """Source NAT of everything leaving through ``wan`` (the gateway's side of the internet).

    Unsolicited packets from the internet are dropped in the input hook, before conntrack
    confirms an entry for them, as a home router drops them. Without that, a peer's early ICE
    check would leave an entry on the NAT's port, and the browser's own packets to that peer
    would then be mapped to another port (a collision), turning the cone NAT symmetric for
    exactly the flows hole punching needs."""
    flags = " random,fully-random" if randomize else ""
    return f"""
table ip {NAT_TABLE} {{
  chain postrouting {{
    type nat hook postrouting priority srcnat; policy accept;
    oifname "{wan}" masquerade{flags}
  }}
  chain input {{
    type filter hook input priority filter; policy accept;
    iifname "{wan}" ct state new drop
  }}
}}
"""


def one_to_one_ruleset(wan: str, host: str) -> str:
    """Added to a ``cone`` NAT: everything arriving on ``wan`` that starts a connection goes to
    ``host``, so the host is reachable on the NAT's public address as a cloud VM is on its
    elastic one (a 1:1 NAT; answers to the host's own packets take conntrack's way back)."""
    return f"""
table ip lab_one_to_one {{
  chain prerouting {{
    type nat hook prerouting priority dstnat; policy accept;
    iifname "{wan}" dnat to {host}
  }}
}}
"""


def tcp443_only_ruleset(lan: str) -> str:
    """The corporate firewall: from the LAN only new TCP connections to port 443 pass; answers to
    them come back; every UDP packet and every connection from outside is dropped."""
    return f"""
table inet {FIREWALL_TABLE} {{
  chain forward {{
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    iifname "{lan}" tcp dport 443 accept
  }}
}}
"""


@dataclass(frozen=True)
class Loss:
    """Random loss in percent on one link, each way (0 = none)."""

    down_percent: int = 0
    up_percent: int = 0

    def __post_init__(self) -> None:
        for value in (self.down_percent, self.up_percent):
            if not 0 <= value <= 100:
                raise ValueError(f"loss must be 0..100 %, not {value}")


def loss_ruleset(losses: Mapping[str, Loss]) -> str:
    """The router's loss table, replaced atomically: ``links`` maps the router's interface towards
    a network to that network's loss. Down = leaving the router towards the network. There is no
    netem in this kernel; nftables' ``numgen random`` draws a number per packet instead."""
    rules = []
    for link, loss in sorted(losses.items()):
        if loss.down_percent:
            rules.append(f'oifname "{link}" numgen random mod 100 < {loss.down_percent} drop')
        if loss.up_percent:
            rules.append(f'iifname "{link}" numgen random mod 100 < {loss.up_percent} drop')
    body = "\n    ".join(rules)
    # Declaring, deleting and redeclaring the table in one transaction replaces it atomically.
    return f"""
table inet {LOSS_TABLE} {{}}
delete table inet {LOSS_TABLE}
table inet {LOSS_TABLE} {{
  chain forward {{
    type filter hook forward priority filter - 10; policy accept;
    {body}
  }}
}}
"""


def tbf_argv(device: str, kbps: int, latency_ms: int = 100) -> list[str]:
    """``tc`` arguments limiting ``device``'s egress to ``kbps`` with a token bucket.

    The bucket holds 20 ms of traffic but at least two full-size packets (a smaller bucket could
    never pass a 1500-byte packet); packets wait in the queue up to ``latency_ms``, then drop, as
    in a real bottleneck's buffer."""
    if kbps <= 0:
        raise ValueError(f"rate must be positive, not {kbps} kbps")
    burst_bytes = max(3200, kbps * 1000 // 8 // 50)
    return [
        "tc", "qdisc", "replace", "dev", device, "root", "tbf",
        "rate", f"{kbps}kbit", "burst", str(burst_bytes), "latency", f"{latency_ms}ms",
    ]  # fmt: skip


def unshape_argv(device: str) -> list[str]:
    return ["tc", "qdisc", "del", "dev", device, "root"]
