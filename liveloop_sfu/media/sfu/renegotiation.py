"""Which tracks each browser is offered, and when it must offer again.

The node never offers (DESIGN: in sfu the browser always offers, the node answers), so a
participant receives new tracks, or releases gone ones, only through its own next offer.
:class:`Renegotiation` asks for that offer (``renegotiate``) when the tracks on offer to a
participant change, plans which track each of its slots carries when its offer is answered
(:func:`~.slots.assign_slots`, stable across renegotiations), and starts the subscriptions a
renegotiation added once the browser has had time to apply the answer (``ANSWER_GRACE``,
:mod:`.links`).
"""

from __future__ import annotations

from collections.abc import Sequence

from liveloop_sfu.media.session import Emit
from liveloop_sfu.media.sfu.links import MediaParticipant, offered_tracks
from liveloop_sfu.media.sfu.slots import OfferedTrack, assign_slots
from liveloop_sfu.media.sfu.state import SessionState
from liveloop_sfu.media.transport.peer import SendPlan


class Renegotiation:
    """Negotiation bookkeeping of one session; ``group``: a group room, where nobody is offered
    placeholders."""

    def __init__(self, state: SessionState, emit: Emit, *, group: bool) -> None:
        self._participants = state.participants
        self._table = state.table
        self._actions = state.actions
        self._emit = emit
        self._group = group

    async def ask_others(self, participant: MediaParticipant, reason: str) -> None:
        """Everyone but ``participant`` who has negotiated offers again (``reason`` says why)."""
        for other in [p for p in self._participants.values() if p is not participant]:
            if other.peer.media:
                await self._emit(other.sid, "renegotiate", {"reason": reason})

    def send_plan(
        self, participant: MediaParticipant, assigned: dict[str, OfferedTrack]
    ) -> SendPlan:
        """The adapter's slots -> msid labels; what was assigned is recorded in ``assigned``."""

        def plan(slots: Sequence[tuple[str, str]]) -> dict[str, tuple[str, str]]:
            tracks = offered_tracks(self._participants, participant, self._group)
            assigned.update(assign_slots(slots, participant.slots, tracks))
            return {mid: (t.stream_id, t.track_id) for mid, t in assigned.items()}

        return plan

    def start_due(self, now: float) -> None:
        """Start the renegotiated subscriptions whose answer grace is over."""
        due = [entry for entry in self._table.starting if entry[0] <= now]
        if not due:
            return
        self._table.starting = [entry for entry in self._table.starting if entry[0] > now]
        for _, publication, sid in due:
            if sid in publication.forwarder.subscriber_ids:
                actions = publication.forwarder.egress_ready(now, sid)
                self._actions.send(publication, actions)

    def deadlines(self) -> list[float]:
        """When the waiting subscriptions are due."""
        return [entry[0] for entry in self._table.starting]
