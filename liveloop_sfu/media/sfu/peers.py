"""Each participant's connection to the node, from its creation to its failure.

:class:`PeerLifecycle` makes a participant's :class:`~.peer.NodePeer` and routes its packets and
state changes to the session; replaces it on an ICE restart (aiortc cannot restart ICE on one
connection, see :mod:`.ice_restart`); and watches it: connection-state events from the peers,
the connect deadline, media silence of a connected browser, and the hold/release around a
signaling resume (liveloop_sfu/rooms/resume.py). A connection that fails or times out is
reported once through the session's ``on_failure``. The session task calls
:meth:`~PeerLifecycle.handle_events` and :meth:`~PeerLifecycle.check_deadlines`, and sleeps no
longer than :meth:`~PeerLifecycle.deadlines`.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable

from liveloop_sfu.media.core.sent_packets import TransportSequence
from liveloop_sfu.media.session import MEDIA_SILENT, MediaFailure
from liveloop_sfu.media.settings import MediaSettings
from liveloop_sfu.media.sfu.links import MediaParticipant
from liveloop_sfu.media.sfu.state import SessionState
from liveloop_sfu.media.transport.peer import NodePeer

logger = logging.getLogger(__name__)

# (participant, packet, now): where a participant's decrypted RTP or RTCP goes.
PacketHandler = Callable[[MediaParticipant, bytes, float], None]


class PeerLifecycle:
    """The connections of one session's participants. ``on_rtp``/``on_rtcp`` receive every
    participant's packets; ``closed`` is set by the session's ``close``."""

    def __init__(
        self,
        state: SessionState,
        settings: MediaSettings,
        on_failure: MediaFailure,
        *,
        on_rtp: PacketHandler,
        on_rtcp: PacketHandler,
    ) -> None:
        self._room_id = state.room_id
        self._participants = state.participants
        self._table = state.table
        self._actions = state.actions
        self._counters = state.counters
        self._wake = state.wake
        self._settings = settings
        self._on_failure = on_failure
        self._on_rtp = on_rtp
        self._on_rtcp = on_rtcp
        self.closed = False
        # (sid, peer, connection state) from the peers; a replaced peer's events are stale.
        self.events: list[tuple[str, NodePeer, str]] = []

    def create(self, sid: str, participant_id: str) -> MediaParticipant:
        """A new participant with its connection, its packets routed here."""
        peer = NodePeer(self._settings, label=f"{self._room_id}/{participant_id}")
        participant = MediaParticipant(sid, participant_id, peer)
        self._attach(participant)
        return participant

    def _attach(self, participant: MediaParticipant) -> None:
        """Route the participant's current peer's packets and state changes to this session."""
        peer = participant.peer
        # partial, not a lambda: one Python frame less per packet
        peer.on_rtp = functools.partial(self._on_rtp, participant)
        peer.on_rtcp = functools.partial(self._on_rtcp, participant)
        peer.on_state = functools.partial(self._on_state, participant.sid, peer)

    async def restart(self, participant: MediaParticipant) -> None:
        """Answer an ICE restart with a new connection (aiortc cannot restart ICE on one; see
        media/sfu/ice_restart.py). Its links end as when it leaves, so every output stream — the
        others', and its own, which the new connection sends with the old SSRCs — is kept in
        ``retired`` and continued by the links the answer makes: same SSRC, sequence numbers
        without a step back, a keyframe first (the forwarder's source switch). Its publications
        start again from the new connection's packets."""
        self._table.unpublish(participant)
        old = participant.peer
        # The same SSRCs towards the browser: a browser that kept its RTCPeerConnection
        # (restartIce) keeps its receive streams, which the retired subscriptions continue.
        ssrcs = {line.mid: (line.local_ssrc, line.local_rtx_ssrc) for line in old.media}
        participant.peer = NodePeer(self._settings, label=old.label, sender_ssrcs=ssrcs)
        # Another connection, maybe another path: its own transport-wide numbers and estimate.
        participant.egress_sequence = TransportSequence()
        participant.estimator = None
        self._attach(participant)
        participant.connected = False
        # The new connection's connect deadline, from now: also if this offer turns out unusable.
        participant.deadline = time.monotonic() + self._settings.connect_timeout
        self._counters["ice-restarts"] += 1
        logger.info("room %s: %s restarts ICE", self._room_id, participant.participant_id)
        await old.close()

    def answered(self, participant: MediaParticipant) -> None:
        """Its offer was answered: the connect deadline starts with the first answer."""
        if participant.deadline is None:
            participant.deadline = time.monotonic() + self._settings.connect_timeout

    def hold(self, participant: MediaParticipant) -> None:
        participant.held = True

    def release(self, participant: MediaParticipant) -> None:
        participant.held = False
        # The media gets a whole timeout from now to come back (the old path may still work),
        # or for the browser's ICE restart offer to arrive (on_offer then sets a new deadline).
        now = time.monotonic()
        participant.last_heard = max(participant.last_heard, now)
        if participant.deadline is not None:
            participant.deadline = max(participant.deadline, now + self._settings.connect_timeout)
        self._wake()

    def _on_state(self, sid: str, peer: NodePeer, state: str) -> None:
        self.events.append((sid, peer, state))
        self._wake()

    async def handle_events(self, now: float) -> None:
        events, self.events = self.events, []
        for sid, peer, state in events:
            participant = self._participants.get(sid)
            if participant is None or participant.peer is not peer:
                continue  # gone, or an event of the connection an ICE restart replaced
            if state == "connected" and not participant.connected:
                participant.connected = True
                participant.last_heard = now
                self._egress_ready(now, participant)
                for publication in list(participant.publications.values()):
                    actions = publication.forwarder.publisher_ready(now)
                    self._actions.send(publication, actions)
            elif state == "failed" and participant.held:
                # Its resume may bring an ICE restart: the deadline counts from the resume.
                participant.connected = False
                participant.deadline = now
            elif state == "failed":
                await self.fail(participant, "connection to the node failed")
            else:
                # The browser closed its end (DTLS close_notify): it is hanging up, and its
                # stop-call or disconnect follows on the signaling channel. Not a media failure.
                self._counters["closed-by-peer"] += 1

    def _egress_ready(self, now: float, subscriber: MediaParticipant) -> None:
        """The subscriber's DTLS is up: any keyframe sent before is lost, so ask again now."""
        for publication in self._table.feeding(subscriber.sid):
            actions = publication.forwarder.egress_ready(now, subscriber.sid)
            self._actions.send(publication, actions)

    def deadlines(self) -> list[float]:
        """Connect deadlines and media-silence deadlines of the participants not on hold."""
        watched = [p for p in self._participants.values() if not p.held]
        deadlines = [p.deadline for p in watched if p.deadline and not p.connected]
        deadlines += [p.last_heard + self._settings.media_timeout for p in watched if p.connected]
        return deadlines

    async def check_deadlines(self, now: float) -> None:
        for participant in list(self._participants.values()):
            deadline = participant.deadline
            if participant.held:
                continue  # its resume grace decides (liveloop_sfu/rooms/resume.py)
            if not participant.connected and deadline is not None and now >= deadline:
                participant.deadline = None
                await self.fail(participant, "connection to the node timed out")
            elif (
                participant.connected
                and now >= participant.last_heard + self._settings.media_timeout
            ):
                # A vanished browser (network gone, ICE consent lost): end its media now rather
                # than after aioice's 30 s consent expiry. Once: it no longer counts as connected.
                participant.connected = False
                await self.fail(participant, MEDIA_SILENT)

    async def fail(self, participant: MediaParticipant, reason: str) -> None:
        if self.closed or self._participants.get(participant.sid) is not participant:
            return  # closed or removed meanwhile (perhaps by an earlier failure's handler)
        self._counters["failures"] += 1
        participant.deadline = None
        logger.info("room %s: %s: %s", self._room_id, participant.participant_id, reason)
        await self._on_failure(participant.sid, reason)
