"""The node's table of participants, guests and rooms: the state every room use case reads.

Three registries, keyed by session id (``sid``) or room id:

- *participants*: the clients whose sockets live on this node;
- *guests*: members of rooms hosted here whose sockets live on another node (their *home*,
  :mod:`liveloop_sfu.rooms.cross_node`);
- *rooms*: the 1:1 calls (:mod:`liveloop_sfu.rooms.calls`) and group rooms
  (:mod:`liveloop_sfu.rooms.groups`) hosted here.

Plain bookkeeping with no I/O and no policy: what happens when someone joins, leaves or fails is
decided by the use cases that share this table.
"""

from __future__ import annotations

import secrets

from liveloop_sfu.errors import NotInRoom
from liveloop_sfu.rooms.records import Participant, Room


class RoomTable:
    def __init__(self) -> None:
        self._participants: dict[str, Participant] = {}
        self._rooms: dict[str, Room] = {}
        # Participants of rooms hosted here whose sockets live on other nodes.
        self._guests: dict[str, Participant] = {}
        # The node drains (a rolling deploy): no new call or room member here, the live ones
        # run on (liveloop_sfu/drain.py). Every use case sharing the table reads it.
        self.draining = False

    # ---- local participants -----------------------------------------------------------------
    def add(self, participant: Participant) -> None:
        self._participants[participant.sid] = participant

    def remove(self, sid: str) -> None:
        del self._participants[sid]

    def participant(self, sid: str) -> Participant | None:
        return self._participants.get(sid)

    def participants(self) -> list[Participant]:
        """A snapshot: the caller may await (and the table change) while walking it."""
        return list(self._participants.values())

    def require(self, sid: str) -> Participant:
        participant = self._participants.get(sid)
        if participant is None:
            raise NotInRoom("this connection is not registered")
        return participant

    def holder_of(self, resume_token: str) -> Participant | None:
        """The local participant holding ``resume_token`` (liveloop_sfu/rooms/resume.py). A scan:
        ``resume`` is rare and rate-limited, and a token index would be one more thing to keep
        in step."""
        for participant in self._participants.values():
            token = participant.resume_token
            if token is not None and secrets.compare_digest(token, resume_token):
                return participant
        return None

    # ---- guests from other nodes ------------------------------------------------------------
    def guest_of(self, sid: str) -> Participant | None:
        return self._guests.get(sid)

    def guest(self, sender: str, sid: str, room_id: object) -> Participant:
        """The guest ``sid`` of ``sender`` in ``room_id`` here, or NotInRoom."""
        guest = self._guests.get(sid)
        if guest is None or guest.home != sender or guest.room_id != room_id:
            raise NotInRoom("you are not in that room")
        return guest

    def guests(self) -> list[Participant]:
        return list(self._guests.values())

    def add_guest(self, guest: Participant) -> None:
        self._guests[guest.sid] = guest

    def forget_guest(self, sid: str) -> None:
        self._guests.pop(sid, None)

    def person(self, sid: str) -> Participant | None:
        """A participant of this node's rooms: local, or a guest from another node."""
        return self._participants.get(sid) or self._guests.get(sid)

    def members(self, room: Room) -> list[Participant]:
        people = (self.person(sid) for sid in room.members)
        return [person for person in people if person is not None]

    # ---- rooms --------------------------------------------------------------------------------
    def room(self, room_id: str) -> Room | None:
        return self._rooms.get(room_id)

    def rooms(self) -> list[Room]:
        return list(self._rooms.values())

    def add_room(self, room: Room) -> None:
        if room.room_id in self._rooms:
            raise ValueError(f"room {room.room_id!r} exists")
        self._rooms[room.room_id] = room

    def forget_room(self, room_id: str) -> Room | None:
        """Unregister a room; the room, or None when it was not (or no longer) here."""
        return self._rooms.pop(room_id, None)

    def room_of(self, sid: str) -> Room:
        """The room of a participant (local or guest) hosted here, or NotInRoom."""
        participant = self.person(sid)
        if participant is None:
            raise NotInRoom("this connection is not registered")
        room = self._rooms.get(participant.room_id or "")
        if room is None:
            raise NotInRoom("you are not in a call")
        return room

    def forwarded_streams(self) -> int:
        return sum(room.forwarded_streams() for room in self._rooms.values())

    def connected(self) -> int:
        return len(self._participants)
