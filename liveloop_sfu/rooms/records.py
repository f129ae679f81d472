"""The records of the room use cases: a :class:`Participant`, a :class:`Room`, and the recording
service as the rooms see it (:class:`RecordingHooks`).

Apart from :mod:`liveloop_sfu.rooms.service` because they are plain data shared by every module that
works on rooms — the room table (table.py), the local use cases (service.py, pairing.py,
calls.py), the cross-node requests (cross_node.py), group rooms (groups.py), resume (resume.py)
and recording (recordings.py) — none of which needs the others to read them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from liveloop_sfu.media.session import MediaSession
from liveloop_sfu.modes import CallMode

# Issue 8: a partner who vanished ends the call for the other side within this many seconds of
# its last sign of life. Until then the node holds the call for a resume (rooms/resume.py): a
# browser whose network changed looks exactly like a vanished one until it comes back.
VANISH_BUDGET = 10.0
# What the node keeps of that budget for deciding and telling the partner.
VANISH_MARGIN = 1.0


@dataclass(slots=True)
class Participant:
    sid: str
    participant_id: str
    connected_at: float
    user_name: str | None = None
    user_image: str | None = None
    mode: CallMode | None = None
    room_id: str | None = None
    # Queued (or being matched) and not yet in a room.
    waiting: bool = False
    # A guest's home: the node holding its socket (None: this node).
    home: str | None = None
    # The node hosting this participant's room when it is not this node.
    host: str | None = None
    # That room (hosted elsewhere) is a group room.
    remote_group: bool = False
    # What the participant says it sends (``media-state``), shown to the others in its room.
    audio: bool = True
    video: bool = True
    screen_track_id: str | None = None
    # The browser's client key (signal/client_keys.py) and its id, which reports block.
    client_id: str | None = None
    client_key: str | None = None
    last_room_id: str | None = None  # the latest 1:1 room, kept after it closed (reports)
    # partner user id -> id of the report this session filed on them (one report per partner).
    reported: dict[str, str] = field(default_factory=dict)
    # In match-done; a client whose socket dropped resumes with it (liveloop_sfu/rooms/resume.py).
    resume_token: str | None = None

    def clear_remote(self) -> None:
        """No longer in a room hosted by another node."""
        self.room_id = self.host = None
        self.remote_group = False

    def media_state(self) -> dict[str, Any]:
        return {
            "participantId": self.participant_id,
            "audio": self.audio,
            "video": self.video,
            "screenTrackId": self.screen_track_id,
        }

    def public_profile(self) -> dict[str, Any]:
        profile: dict[str, Any] = {
            "participantId": self.participant_id,
            "userName": self.user_name,
        }
        if self.user_image is not None:
            profile["userImage"] = self.user_image
        return profile


# How one member leaves a group room: (room, participant, reason). 1:1 rooms have none: when one
# side leaves, the call ends for both.
RoomLeave = Callable[["Room", Participant, str], Awaitable[None]]


@dataclass(slots=True)
class Room:
    room_id: str
    mode: CallMode
    media: MediaSession
    created_at: float
    # Socket ids in join order; in p2p the first is the offerer.
    members: list[str] = field(default_factory=list)
    recording: bool = False  # set by the recording service; a recorded room never goes p2p
    leave: RoomLeave | None = None  # set for group rooms
    screen_shares: set[str] = field(default_factory=set)  # sids publishing a screen track
    # A p2p call whose browsers may only use TURN relays, so neither learns the other's address
    # (rooms/p2p_policy.py). Never set in sfu: the node is the peer.
    relay_only: bool = False

    @property
    def ice_transport_policy(self) -> str:
        """The browsers' RTCConfiguration.iceTransportPolicy for this room's connection."""
        return "relay" if self.mode == "p2p" and self.relay_only else "all"

    @property
    def group(self) -> bool:
        return self.leave is not None

    def forwarded_streams(self) -> int:
        """Streams the node forwards for this room: audio+video (+ screen) from each to each
        other."""
        if self.mode != "sfu":
            return 0
        n = len(self.members)
        return (2 * n + len(self.screen_shares)) * (n - 1)


class RecordingHooks(Protocol):
    """The recording service (recordings.py) as the rooms see it."""

    def records_all(self) -> bool: ...

    async def room_opened(self, room: Room, members: Sequence[Participant]) -> None: ...

    async def room_closing(self, room: Room) -> None: ...

    async def start(self, room: Room, members: Sequence[Participant], reason: str) -> str: ...

    async def stop(
        self, room_id: str, reason: str, notify: bool = True
    ) -> dict[str, Any] | None: ...

    async def notify(self, room: Room, active: bool, reason: str) -> None: ...
