"""Resuming a 1:1 call after the client's socket dropped (docs/protocol.md, "Resume").

Inside the node a participant is known by the socket id it first connected with (its *session
id*): rooms, the matchmaker and the media session key everything by it. A resumed client comes
back on a new socket, so the signal layer keeps :class:`SessionAliases` — socket id → session id
for events in, session id → socket id for events out — and nothing below it changes.

Only a client that declares it can resume (socket.io ``auth`` ``{"resume": true}``; the browser
client does) gets a token, and only when its socket closes (socket.io reasons ``transport
close`` / ``transport error``: a network switch, a proxy restart, a laptop lid, but also a closed
tab: python-engineio handles the close before a goodbye packet sent just ahead of it, so the two
cannot be told apart) while its owner is in a 1:1 call hosted here is the participant *detached*
instead of removed: the partner is told nothing, and
:class:`Resumption` waits ``--resume-grace`` seconds for ``resume {token}`` on a new socket. The
token came in ``match-done`` (``resumeToken``), is unguessable and bound to that participant, and
is replaced on every resume. After the grace the participant leaves as any disconnected client
does (``partner-left {"reason": "disconnected"}``). A client that freezes (``ping timeout``) gets
only what is left of the vanish budget (``VANISH_BUDGET``): a vanished client must end its
partner's call within 10 s of its last sign of life (issue 8), and a silent one cannot be told
apart from a vanished one — nor from one whose network just changed, whose old socket the node
usually only loses at the ping timeout (its close was sent on the old network) while the client
is on its way back. In an sfu call the last sign of life is the browser's last media packet;
elsewhere the node knows none and gives no grace.

After a network switch the old socket's close usually never reaches the node (it was sent on
the old network), so the client is back on a new socket while the old one still looks alive.
The token proves who it is: the new socket takes the session over, and the old one is
*superseded* (:meth:`SessionAliases.supersede`: it speaks for nobody from then on) and closed.

Media: a socket drop leaves the call's media path (UDP to the node or to the partner) as it was,
so a resumed call usually simply goes on. A client whose *network* changed has lost that path
too, and restarts ICE after its resume (docs/protocol.md, "Resume"). While the participant is
detached its sfu media is *held* (``MediaSession.hold``): silence or a failed connection is not
a failure until the resume, which releases it and gives the media a whole ``--media-timeout``
from then on. The restart offer itself is handled by the media session: in sfu the node answers
it from a new connection (media/sfu/ice_restart.py, media/sfu/session.py
``_restart_peer``); in p2p the two
browsers restart ICE between themselves through the relay.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from liveloop_sfu.errors import NotInRoom
from liveloop_sfu.rooms.records import VANISH_BUDGET, VANISH_MARGIN, Participant, Room
from liveloop_sfu.rooms.service import RoomService

__all__ = ["GRACE_REASONS", "Resumption", "SessionAliases"]

log = logging.getLogger(__name__)

# python-engineio's disconnect reasons for a socket that closed without a goodbye.
GRACE_REASONS = frozenset({"transport close", "transport error"})
# The session id a superseded socket speaks for: no participant ever has it (socket.io ids have
# no colon).
SUPERSEDED = "superseded:"


class SessionAliases:
    """Socket id ↔ session id of resumed clients (everyone else: the two are the same)."""

    def __init__(self) -> None:
        self._session_of: dict[str, str] = {}
        self._socket_of: dict[str, str] = {}

    def session(self, socket_id: str) -> str:
        return self._session_of.get(socket_id, socket_id)

    def supersede(self, socket_id: str) -> None:
        """A resume took this socket's session elsewhere: from now on it speaks for a session
        nobody has (its events find no participant, its close cleans up nothing)."""
        self.unbind(socket_id)
        self._session_of[socket_id] = f"{SUPERSEDED}{socket_id}"

    def socket(self, session_id: str) -> str:
        return self._socket_of.get(session_id, session_id)

    def bind(self, socket_id: str, session_id: str) -> None:
        self.unbind(socket_id)
        self._session_of[socket_id] = session_id
        self._socket_of[session_id] = socket_id

    def unbind(self, socket_id: str) -> None:
        session = self._session_of.pop(socket_id, None)
        if session is not None and self._socket_of.get(session) == socket_id:
            del self._socket_of[session]

    def __len__(self) -> int:
        return len(self._session_of)


class Resumption:
    """Detached participants and their grace timers. ``disconnect`` is the clean-up of a client
    that is gone for good (RoomService.disconnect, wrapped by the signal layer)."""

    def __init__(
        self,
        rooms: RoomService,
        aliases: SessionAliases,
        grace: float,
        disconnect: Callable[[str], Awaitable[None]],
        close_socket: Callable[[str], None] = lambda socket_id: None,
    ) -> None:
        self._rooms = rooms
        self._aliases = aliases
        self._grace = grace
        self._disconnect = disconnect
        self._close_socket = close_socket  # closes a superseded socket (signal layer)
        self._detached: dict[str, str] = {}  # resume token -> session id
        self._timers: dict[str, asyncio.Task[None]] = {}  # session id -> grace timer

    def new_token(self, session_id: str) -> str:
        token = secrets.token_urlsafe(24)
        participant = self._rooms.participant(session_id)
        if participant is not None:
            participant.resume_token = token
        return token

    def detach(self, socket_id: str, reason: str) -> bool:
        """Keep the session of a dropped socket for the grace; False when it gets none."""
        session = self._aliases.session(socket_id)
        self._aliases.unbind(socket_id)
        participant = self._rooms.participant(session)
        room = self._resumable_room(participant)
        if room is None or participant is None:
            return False
        grace = self._grace if reason in GRACE_REASONS else self._budget_left(room, session)
        if grace <= 0:
            return False
        assert participant.resume_token is not None  # checked by _resumable_room
        self._detached[participant.resume_token] = session
        # Its media may have lost its path too (a network switch): not a failure yet.
        room.media.hold(session)
        loop = asyncio.get_running_loop()
        self._timers[session] = loop.create_task(self._expire(session, grace))
        log.info("socket dropped (%s); holding the call for %.1f s", reason, grace)
        return True

    def _budget_left(self, room: Room, session: str) -> float:
        """Seconds of the vanish budget left since the participant's last media, 0 if unknown."""
        last = room.media.last_heard(session)
        if last is None:
            return 0.0
        left = last + VANISH_BUDGET - VANISH_MARGIN - time.monotonic()
        return min(left, self._grace)

    def _resumable_room(self, participant: Participant | None) -> Room | None:
        """The 1:1 room hosted here that ``participant`` may resume, if any."""
        if (
            self._grace <= 0
            or participant is None
            or participant.resume_token is None
            or participant.host is not None
        ):
            return None
        room = self._rooms.room(participant.room_id or "")
        return None if room is None or room.group else room

    def _take_over(self, token: str) -> str | None:
        """The session of ``token`` whose socket still looks alive. After a network switch the
        node is often not told that the old socket died — its packets went to the old network
        — and would notice only at the ping timeout, which gets no grace, while the client is
        already back on the new network with its token. The token proves it is the same
        client: the new socket takes the session over, and the old one is superseded and
        closed (its own close then cleans up nothing)."""
        participant = self._rooms.table.holder_of(token)
        room = self._resumable_room(participant)
        if room is None or participant is None:
            return None
        old_socket = self._aliases.socket(participant.sid)
        self._aliases.supersede(old_socket)
        self._close_socket(old_socket)
        room.media.hold(participant.sid)  # resume releases it: the media's clock starts anew
        log.info("resumed on a new socket while the old one looked alive; closing the old one")
        return participant.sid

    async def _expire(self, session: str, grace: float) -> None:
        await asyncio.sleep(grace)
        self._timers.pop(session, None)
        for token in [t for t, s in self._detached.items() if s == session]:
            del self._detached[token]
        log.info("no resume within the grace; the participant leaves")
        await self._disconnect(session)

    async def resume(self, socket_id: str, token: str) -> dict[str, Any]:
        """Attach ``socket_id`` to the detached session of ``token``; the ack of ``resume``."""
        session = self._detached.pop(token, None) or self._take_over(token)
        if session is None:
            raise NotInRoom("nothing to resume (unknown or expired token)")
        timer = self._timers.pop(session, None)
        if timer is not None:
            timer.cancel()
        # The new socket's own, still empty, session goes; the old one takes its place.
        await self._rooms.disconnect(self._aliases.session(socket_id))
        self._aliases.bind(socket_id, session)
        participant = self._rooms.participant(session)
        room = self._rooms.room(participant.room_id or "") if participant else None
        ack: dict[str, Any] = {"ok": True, "resumeToken": self.new_token(session)}
        ack["roomId"] = room.room_id if room is not None else None
        if room is not None and participant is not None:
            # The call may have changed mode while the socket was away (an sfu call falling
            # back to p2p): the client compares and restarts its connection, as on mode-changed.
            ack["mode"] = room.mode
            offerer = room.mode == "sfu" or room.members[0] == session
            ack["role"] = "offerer" if offerer else "answerer"
            ack["iceTransportPolicy"] = room.ice_transport_policy
            ack["participantId"] = participant.participant_id
            room.media.release(session)
        return ack

    async def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        for timer in list(self._timers.values()):
            with contextlib.suppress(asyncio.CancelledError):
                await timer
        self._timers.clear()
        self._detached.clear()
