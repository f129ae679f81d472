"""The media mode of a call, below every layer that names it.

``sfu``: the call's media goes through the node; ``p2p``: the browsers connect to each other and
the node only relays their signaling (DESIGN.md, Modes). The same two words are a client's
preference in ``request-room``, a matchmaking queue entry's preference, and a room's and a media
session's actual mode, so they are one type with one home here, importable by the boundaries, the
room use cases, matchmaking and media alike.
"""

from __future__ import annotations

from typing import Literal

CallMode = Literal["sfu", "p2p"]

CALL_MODES: tuple[CallMode, ...] = ("sfu", "p2p")
