"""Each subscriber connection's bandwidth estimate, and the publishers' targets that follow it.

A browser that negotiated transport-cc sends transport feedback about everything the node sent
it (RTPFB FMT 15). :class:`SubscriberBandwidth` feeds it to that connection's
:class:`~liveloop_sfu.media.core.bandwidth_estimator.SubscriberEstimator` (one per connection,
made at its first feedback, joined with the connection's ring of sent packets,
:class:`~liveloop_sfu.media.core.sent_packets.TransportSequence`), and hands every video track
forwarded to it the part of the estimate it may take (:func:`publisher_share`): the forwarder
turns the minimum over its subscribers into the REMB the publisher gets
(:class:`~liveloop_sfu.media.core.remb.RembAggregator`). Subscribers without transport-cc never
send such feedback and keep the REMB path.

Once a second it also tells each browser what the node knows (:meth:`changed_reports`, the
``bandwidth-estimate`` event of docs/protocol.md, sent when it changed), and samples the
publishers' targets and the subscribers' estimates for the ``/metrics`` histograms
(:meth:`take_samples`; kept between scrapes, at most :data:`MAX_SAMPLES`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from liveloop_sfu.media.core.bandwidth_estimator import SubscriberEstimator
from liveloop_sfu.media.core.remb import UNLIMITED
from liveloop_sfu.media.sfu.links import MediaParticipant
from liveloop_sfu.media.sfu.state import SessionState

__all__ = ["AUDIO_RESERVE_BPS", "SubscriberBandwidth", "publisher_share"]

# What one Opus stream takes on the wire: ~32 kbit/s of payload plus RTP/SRTP/UDP/IP headers at
# 50 packets a second. Audio is not rate-controlled by the node: it is set aside first.
AUDIO_RESERVE_BPS = 50_000
MIN_VIDEO_BPS = 50_000
# Retransmissions to a subscriber whose estimate is a limit may take up to this share of it (a
# lost keyframe must still be repaired; libwebrtc lets them take the whole target) on top of
# the media (media/core/sent_packets.py: the resend budget); unlimited while it is not.
RESEND_SHARE = 0.5
MAX_SAMPLES = 10_000

Sample = tuple[str, int]  # ("publisher" | "subscriber", bit/s)


def publisher_share(estimate: int | None, videos: int, audios: int) -> int | None:
    """The target for one publisher whose video is one of ``videos`` video tracks (and
    ``audios`` audio tracks) a subscriber with downlink ``estimate`` receives: the estimate less
    the audio, shared equally among the videos, plus the publisher's own audio (its REMB caps
    its audio and video together). ``None`` (no limit) stays ``None``."""
    if estimate is None or videos <= 0:
        return None
    video = max(estimate - audios * AUDIO_RESERVE_BPS, MIN_VIDEO_BPS * videos)
    return video // videos + (AUDIO_RESERVE_BPS if audios else 0)


class SubscriberBandwidth:
    """Transport feedback of one session's subscribers -> estimates -> publishers' targets."""

    def __init__(self, state: SessionState) -> None:
        self._table = state.table
        self._actions = state.actions
        self._counters = state.counters
        self.samples: deque[Sample] = deque(maxlen=MAX_SAMPLES)
        self._reported: dict[str, dict[str, Any]] = {}  # sid -> last bandwidth-estimate sent
        # Told when a subscriber's estimate falls (the layer allocation runs at once, not at
        # its next 100 ms turn: a downlink that was just cut is overflowing meanwhile).
        self.on_fall: Callable[[], None] = lambda: None

    def on_feedback(
        self, subscriber: MediaParticipant, now: float, base_sequence: int, arrivals: list[int]
    ) -> None:
        """One transport feedback from ``subscriber``'s browser (about what the node sent it)."""
        estimator = subscriber.estimator
        if estimator is None:
            estimator = subscriber.estimator = SubscriberEstimator(subscriber.egress_sequence)
        before = estimator.estimate
        estimator.on_feedback(now, base_sequence, arrivals)
        estimate = estimator.estimate
        if estimate is not None and (before is None or estimate < before):
            self.on_fall()
        subscriber.egress_sequence.resend_rate = (
            0 if estimate is None else int(estimate * RESEND_SHARE)
        )
        feeding = self._table.feeding(subscriber.sid)
        videos = sum(1 for p in feeding if p.line.kind == "video")
        audios = len(feeding) - videos
        share = publisher_share(estimate, videos, audios)
        for publication in feeding:
            if publication.line.kind == "video":
                forwarder = publication.forwarder
                actions = forwarder.on_subscriber_estimate(now, subscriber.sid, share)
                self._actions.send(publication, actions)

    def sample(self, participants: list[MediaParticipant]) -> None:
        """Once a second: every publisher's current target, every subscriber's estimate."""
        for participant in participants:
            for publication in participant.publications.values():
                target = publication.forwarder.publisher_target
                if publication.line.kind == "video" and target is not None:
                    self.samples.append(("publisher", target))
            estimator = participant.estimator
            if estimator is not None:
                estimate = estimator.estimate
                if estimate is None:
                    self._counters["subscriber-estimate-unlimited"] += 1
                else:
                    self.samples.append(("subscriber", estimate))

    def changed_reports(self, participants: list[MediaParticipant]) -> list[tuple[str, Any]]:
        """``(sid, payload)`` of the ``bandwidth-estimate`` events due: ``downlink`` is the
        node's estimate of what reaches the browser, ``uplinkTarget`` the rate the node asks of
        its video (bit/s; ``null``: no limit). Only for browsers the node estimates or targets,
        and only when a value changed."""
        due = []
        for participant in participants:
            estimator = participant.estimator
            targets = [
                p.forwarder.publisher_target
                for p in participant.publications.values()
                if p.line.kind == "video" and p.forwarder.publisher_target is not None
            ]
            if estimator is None and not targets:
                continue
            target = min((t for t in targets if t is not None), default=UNLIMITED)
            payload = {
                "downlink": None if estimator is None else estimator.estimate,
                "uplinkTarget": None if target >= UNLIMITED else target,
            }
            if self._reported.get(participant.sid) != payload:
                self._reported[participant.sid] = payload
                due.append((participant.sid, payload))
        return due

    def forget(self, sid: str) -> None:
        self._reported.pop(sid, None)

    def take_samples(self) -> list[Sample]:
        samples = list(self.samples)
        self.samples.clear()
        return samples
