"""The ``active-speaker`` events of a group room, from the audio levels of its publishers.

:class:`SpeakerAnnouncer` hands each RFC 6464 level the packet path reads to the room's
:class:`~.active_speaker.ActiveSpeakerDetector` and announces its decisions to everyone in the
room — from the session task, never from the packet path, which does not wait on signaling.
A 1:1 call has no detector: levels are not read there and nothing is announced.
"""

from __future__ import annotations

from liveloop_sfu.media.session import Emit
from liveloop_sfu.media.sfu.active_speaker import ActiveSpeakerDetector, read_audio_level
from liveloop_sfu.media.sfu.links import MediaParticipant
from liveloop_sfu.media.sfu.state import SessionState


class SpeakerAnnouncer:
    """Active-speaker events for one session; ``detector`` is ``None`` outside group rooms."""

    def __init__(
        self, state: SessionState, detector: ActiveSpeakerDetector | None, emit: Emit
    ) -> None:
        self._participants = state.participants
        self._counters = state.counters
        self._wake = state.wake
        self._detector = detector
        self._emit = emit
        self.pending: str | None = None  # a new speaker, for the session task to announce

    def on_audio_level(
        self, publisher: MediaParticipant, ext_id: int, data: bytes, now: float
    ) -> None:
        """One audio packet of ``publisher`` carrying its level under extension ``ext_id``."""
        level = read_audio_level(data, ext_id)
        if level is None or self._detector is None:
            return
        speaker = self._detector.on_level(now, publisher.participant_id, level)
        if speaker is not None:
            # Announced by the session task: the packet path does not wait on signaling.
            self.pending = speaker
            self._wake()

    async def greet(self, sid: str) -> None:
        """A newcomer learns who is speaking now rather than at the next change."""
        if self._detector is not None and self._detector.speaker is not None:
            await self._emit(sid, "active-speaker", {"participantId": self._detector.speaker})

    def remove(self, participant_id: str) -> None:
        if self._detector is not None:
            self._detector.remove(participant_id)

    async def announce(self) -> None:
        """Tell everyone about the pending speaker change, if there is one."""
        speaker, self.pending = self.pending, None
        if speaker is None:
            return
        self._counters["active-speaker-changes"] += 1
        for participant in list(self._participants.values()):
            await self._emit(participant.sid, "active-speaker", {"participantId": speaker})
