"""What a session's forwarders decide to send, sent: PLI, NACK and REMB towards a publisher
(:class:`~.forwarder.SendToPublisher`), RTX retransmissions towards a subscriber.

:class:`ActionSender` sends them through the target participant's peer at once (sends never
wait), and queues those produced outside the session task (a new link's keyframe request, a
keyframe asked for by the recorder) for the task to send.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from liveloop_sfu.media.core.forwarder import Action, SendToPublisher
from liveloop_sfu.media.sfu.links import MediaParticipant, Publication


class ActionSender:
    """Sends forwarder actions for one session over its ``participants`` (the session's own
    dict); ``wake`` wakes the session task when something was queued."""

    def __init__(
        self,
        participants: dict[str, MediaParticipant],
        counters: Counter[str],
        wake: Callable[[], None],
    ) -> None:
        self._participants = participants
        self._counters = counters
        self._wake = wake
        self.pending: list[tuple[Publication, list[Action]]] = []  # actions to send

    def queue(self, publication: Publication, actions: list[Action]) -> None:
        """Queue actions produced outside a coroutine; the session task sends them."""
        if actions:
            self.pending.append((publication, actions))
            self._wake()

    def take(self) -> list[tuple[Publication, list[Action]]]:
        """The queued actions, now the caller's to send."""
        pending, self.pending = self.pending, []
        return pending

    def send(self, publication: Publication, actions: list[Action]) -> None:
        """Send what the forwarder decided (synchronous: sends never wait)."""
        for action in actions:
            if isinstance(action, SendToPublisher):
                target = self._participants.get(publication.owner)
                self._counters[f"rtcp-out-{action.kind}"] += 1
                if action.reason:
                    self._counters[f"keyframe-request:{action.reason}"] += 1
            else:
                target = self._participants.get(action.subscriber_id)
                self._counters["retransmitted"] += 1
            if target is not None:
                target.peer.send_now(action.packet)
