"""The seam between the room use cases and the media plane.

A call's media runs either through the node (``sfu``: the node answers each browser's offer and
forwards encoded RTP) or directly between the browsers (``p2p``: the node only relays offer, answer
and ICE candidates). Both implement :class:`MediaSession`, so ``rooms/`` drives a call the same
way whatever its mode, and one contract test suite can run against both.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from liveloop_sfu.errors import InvalidPayload
from liveloop_sfu.modes import CallMode

# (sid, event, payload): deliver one socket.io event to one client. Provided by the signal layer.
Emit = Callable[[str, str, Mapping[str, Any]], Awaitable[None]]

# (sid, reason): the media plane gave up on a participant's connection to the node
# (ICE/DTLS failure or timeout). ``rooms/calls.py`` decides whether the call falls back to p2p
# or ends.
MediaFailure = Callable[[str, str], Awaitable[None]]

# The failure reason of a browser whose media stopped arriving after it had connected: a
# vanished browser, or one whose network just changed and that is about to resume on a new
# socket (rooms/resume.py), which rooms/calls.py waits for within the vanish budget.
MEDIA_SILENT = "no media from the browser"


class MediaSession(Protocol):
    """Media of one room. Every method is called with the participant's socket id (``sid``),
    which the signal layer took from the socket.io session, never from a payload."""

    mode: CallMode

    async def add_participant(self, sid: str, participant_id: str) -> None:
        """Register a participant before any of its signaling arrives."""

    async def on_offer(self, sid: str, sdp: str) -> None:
        """An SDP offer from ``sid`` (p2p: relay to the partner; sfu: answer it from the node)."""

    async def on_answer(self, sid: str, sdp: str) -> None:
        """An SDP answer from ``sid`` (p2p: relay; sfu: refused, the node never offers)."""

    async def on_candidate(self, sid: str, candidate: Mapping[str, Any] | None) -> None:
        """A trickled ICE candidate (``None`` = end of candidates)."""

    def hold(self, sid: str) -> None:
        """``sid``'s signaling socket dropped and the node waits for its resume
        (liveloop_sfu/rooms/resume.py): until :meth:`release`, its media going silent or its
        connection failing is not a failure — it may come back, possibly by an ICE restart."""

    def release(self, sid: str) -> None:
        """``sid`` resumed: its media is watched again, from now on."""

    def media_lost(self, sid: str) -> bool:
        """Whether ``sid``'s media is (still) lost since its failure was reported: neither held
        for a resume nor connected again (e.g. by an ICE restart)."""

    def last_heard(self, sid: str) -> float | None:
        """When (``time.monotonic()``) the node last received media or RTCP from ``sid``; None
        when its media does not pass the node (p2p) or never arrived."""

    def set_video_quality(
        self, sid: str, participant_id: str, track_id: str, max_height: int
    ) -> None:
        """``sid`` shows participant ``participant_id``'s video ``track_id`` at most
        ``max_height`` pixels high (0: not at all); the media forwards it no more than that.
        Raises :class:`~liveloop_sfu.errors.InvalidPayload` for a track it does not receive."""

    def video_layers(self, sid: str) -> list[dict[str, Any]]:
        """What ``sid`` receives of each video: ``{participantId, trackId, rid, off}`` — the
        simulcast layer forwarded now (``rid``; "" for a video sent as one encoding) and
        whether it asked the video ``off``."""

    async def remove_participant(self, sid: str) -> None:
        """Release everything the participant holds (peer connection, tasks, forwarding state)."""

    async def close(self) -> None:
        """Idempotent; cascades to every participant."""


@dataclass(frozen=True, slots=True)
class QualitySample:
    """One RTCP report block about one stream of a call, for the call-quality histograms.

    ``direction``: ``ingress`` — a publisher's stream as the node receives it (the node's own
    reception statistics, RFC 3550 §6.4.2, which it also reports to the publisher); ``egress`` —
    a stream the node forwards, as the subscriber's browser reports it (its receiver report
    blocks). ``loss``: the fraction lost since the previous report (0..1); ``jitter``: the
    interarrival jitter in seconds; ``rtt``: the round trip node ↔ browser from LSR/DLSR
    (egress only, None when the block names no sender report of ours)."""

    direction: Literal["ingress", "egress"]
    kind: str  # "audio" | "video"
    loss: float
    jitter: float
    rtt: float | None = None


# Receives every QualitySample of a session (the node's metrics, http/metrics.py).
QualitySink = Callable[[QualitySample], None]


class UnwatchedMedia:
    """The part of :class:`MediaSession` for media the node does not watch, forward or lay out
    per subscriber (p2p: it never passes the node; the benchmarks' re-encoding relay baseline):
    nothing to hold for a resume, never lost, never heard, no layers to choose.
    ``NO_LAYERS`` says why to a client that asks for them."""

    NO_LAYERS = "the media of this call does not pass the node"

    def hold(self, sid: str) -> None:
        """Nothing to hold: no media timeout is watched."""

    def release(self, sid: str) -> None:
        """See :meth:`hold`."""

    def media_lost(self, sid: str) -> bool:
        """Never: no media failure is watched."""
        return False

    def last_heard(self, sid: str) -> float | None:
        """No media timing is watched."""
        return None

    def set_video_quality(
        self, sid: str, participant_id: str, track_id: str, max_height: int
    ) -> None:
        raise InvalidPayload(self.NO_LAYERS)

    def video_layers(self, sid: str) -> list[dict[str, Any]]:
        raise InvalidPayload(self.NO_LAYERS)
