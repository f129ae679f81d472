"""When a 1:1 call may go peer to peer, and whether its browsers may then connect directly.

In a direct p2p call each browser hands the other its ICE candidates, so each stranger learns
the other's IP address: a known harm in random video chat (issue 16). A TURN relay hides them —
with ``iceTransportPolicy: "relay"`` a browser gathers and offers relayed candidates only
(W3C WebRTC 1.0 §4.2.1, RTCIceTransportPolicy), so its partner only ever sees the relay's
address. The rule (DESIGN.md, Networking facts):

| operator mode | TURN | ``--allow-direct-p2p`` | p2p calls                                  |
|---------------|------|------------------------|--------------------------------------------|
| any           | yes  | no                     | relay-only                                 |
| any           | any  | yes                    | direct allowed                             |
| ``p2p``       | no   | no                     | direct (warned at start)                   |
| ``auto``      | no   | no                     | none: a call the node cannot carry ends    |

Group rooms always go through the node, and so do sfu calls: the node is the only peer.
Pure: settings in, decisions out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from liveloop_sfu.config import OperatorMode, RoomSettings

# RTCConfiguration.iceTransportPolicy, as the browser takes it.
IceTransportPolicy = Literal["all", "relay"]


@dataclass(frozen=True, slots=True)
class P2pPolicy:
    mode: OperatorMode
    turn_configured: bool
    allow_direct: bool

    @classmethod
    def from_settings(cls, settings: RoomSettings) -> P2pPolicy:
        return cls(settings.mode, settings.turn_configured, settings.allow_direct_p2p)

    @property
    def p2p_allowed(self) -> bool:
        """Whether a 1:1 call may be (or become) p2p at all."""
        if self.mode == "sfu":
            return False
        if self.mode == "p2p":
            return True  # the operator's explicit choice
        return self.turn_configured or self.allow_direct

    @property
    def ice_transport_policy(self) -> IceTransportPolicy:
        """What the browsers of a p2p call use: relay-only unless direct is allowed."""
        return "relay" if self.turn_configured and not self.allow_direct else "all"

    def start_warnings(self) -> list[str]:
        """What the operator is told at start about strangers' addresses."""
        if self.mode == "p2p" and not self.turn_configured:
            return [
                "--mode p2p without TURN: the two browsers of every call connect directly, so "
                "each stranger learns the other's IP address. Configure a TURN server "
                "(--turn-urls and --turn-secret) to make p2p calls relay-only"
            ]
        return []

    def start_notes(self) -> list[str]:
        """What the operator is told at start about an auto node's fallback (not a problem)."""
        if self.mode != "auto" or self.allow_direct:
            return []
        if self.turn_configured:
            return ["auto mode: a call that falls back to p2p is relay-only (TURN)"]
        return [
            "auto mode without TURN: a call whose media cannot reach the node ends instead of "
            "falling back to direct p2p (configure --turn-urls, or allow it with "
            "--allow-direct-p2p)"
        ]
