"""RTCP between a session's participants and its forwarders: what the forwarders decide to send
(PLI, NACK and REMB towards a publisher, RTX towards a subscriber), what the participants send in
(feedback of subscribers, sender reports of publishers), and the reports the node owes each side.

Two small classes, both plain state driven by :class:`~.session.SfuSession` and its task:

* :class:`ActionSender` sends a forwarder's actions (:class:`~.forwarder.SendToPublisher`, RTX
  retransmissions) through the target participant's peer, and queues those produced outside
  the session task (a new link's keyframe request) for the task to send.
* :class:`FeedbackRelay` hands each participant's RTCP to the forwarders it concerns (its own
  publications, and those forwarded to it), taps it for the recorder, merges keyframe requests,
  and sends the sender reports (RFC 3550 §6.4.1) and receiver reports (§6.4.2) once a second.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING

from liveloop_sfu.media.core.forwarder import Action, Forwarder, SendToPublisher
from liveloop_sfu.media.core.rtp import RtpParseError, SenderReport, build_rr, parse_rtcp
from liveloop_sfu.media.sfu.links import LinkTable, MediaParticipant, Publication

if TYPE_CHECKING:
    from liveloop_sfu.media.recording.recorder import RecorderTap

SENDER_REPORT_INTERVAL = 1.0  # seconds; RFC 3550 §6.2 minimum for a small session is 5 s, but
# libwebrtc sends ~1/s for video and uses SRs for A/V sync, so a call's first second matters.


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
            else:
                target = self._participants.get(action.subscriber_id)
                self._counters["retransmitted"] += 1
            if target is not None:
                target.peer.send_now(action.packet)


class FeedbackRelay:
    """The RTCP of one session: participants' RTCP in, reports out. ``rearm`` is told when a
    forwarder's earliest deadline may have moved."""

    def __init__(
        self,
        participants: dict[str, MediaParticipant],
        table: LinkTable,
        actions: ActionSender,
        counters: Counter[str],
        rearm: Callable[[Forwarder], None],
    ) -> None:
        self._participants = participants
        self._table = table
        self._actions = actions
        self._counters = counters
        self._rearm = rearm
        self.recorder: RecorderTap | None = None  # recording hook (media/recording/recorder.py)
        self.next_reports = 0.0  # when the next sender and receiver reports are due (monotonic)

    def on_rtcp(self, sender: MediaParticipant, data: bytes, now: float) -> None:
        """One decrypted RTCP compound packet from a participant's browser."""
        sender.last_heard = now
        try:
            packets = parse_rtcp(data)
        except RtpParseError:
            self._counters["rtcp-malformed"] += 1
            return
        self._counters["rtcp-in"] += 1
        if self.recorder is not None:
            self.recorder.on_rtcp(sender.sid, packets, now)
        for own in sender.publications.values():
            own.forwarder.on_publisher_rtcp(now, packets)
            for packet in packets:
                if isinstance(packet, SenderReport):
                    own.reception.on_sender_report(now, packet.ssrc, packet.ntp)
        for publication in self._table.feeding(sender.sid):
            actions = publication.forwarder.on_subscriber_rtcp(now, sender.sid, packets)
            self._actions.send(publication, actions)
            if publication.forwarder.timer_changed:
                self._rearm(publication.forwarder)

    def request_keyframe(self, sid: str, mid: str) -> None:
        """Ask the publisher of ``sid``'s track on ``mid`` for a keyframe, merged with every
        other request for it (the forwarder's keyframe-request manager throttles and retries)."""
        participant = self._participants.get(sid)
        publication = participant.publications.get(mid) if participant else None
        if publication is not None:
            actions = publication.forwarder.request_keyframe(time.monotonic())
            self._actions.queue(publication, actions)

    async def send_reports(self, now: float) -> None:
        """Sender and receiver reports, once every :data:`SENDER_REPORT_INTERVAL`."""
        if now >= self.next_reports:
            self.next_reports = now + SENDER_REPORT_INTERVAL
            await self._send_sender_reports(now)
            await self._send_receiver_reports(now)

    async def _send_sender_reports(self, now: float) -> None:
        wallclock = time.time()
        for link in list(self._table.links):
            publication = self._table.publication(link)
            subscriber = self._participants.get(link.subscriber)
            if publication is None or subscriber is None or not subscriber.connected:
                continue
            report = publication.forwarder.sender_report(now, wallclock, link.subscriber)
            if report is not None:
                await subscriber.peer.send(report)

    async def _send_receiver_reports(self, now: float) -> None:
        for participant in list(self._participants.values()):
            if not participant.connected:
                continue
            for publication in list(participant.publications.values()):
                block = publication.reception.report_block(now)
                if block is not None:
                    self._counters["rtcp-out-rr"] += 1
                    await participant.peer.send(build_rr(publication.line.local_ssrc, [block]))
