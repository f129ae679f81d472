"""Who is speaking in a group room, from the audio levels publishers put in their RTP packets.

Browsers send the client-to-mixer audio level (RFC 6464) in every Opus packet as a one-byte
header extension: ``V`` (voice activity, 1 bit) and the level in -dBov (7 bits: 0 = as loud as
digital audio gets, 127 = silence or quieter). The node reads it without decoding anything
(:func:`read_audio_level`) and :class:`ActiveSpeakerDetector` turns the stream of levels into
rare, stable decisions — a speaker indicator that flickers is worse than none:

* a participant's loudness is the mean over a short window of its packets; fewer packets than
  ``min_samples`` in the window, or none in the last ``recent`` seconds, counts as silent (Opus
  DTX stops sending packets in silence, so old loud packets must not speak for it);
* only loudness above ``speech_level`` is speech; background noise never makes a speaker;
* a challenger takes over only when it is louder than the current speaker by ``margin`` dB
  *continuously* for ``hold`` seconds, and never sooner than ``min_interval`` after the last
  change (hysteresis in level and in time);
* a silent speaker stays the speaker until someone else speaks (no "nobody" flicker between
  sentences).

The V bit is not used: libwebrtc and aiortc set it inconsistently, and the level alone decides.
Pure: time is a parameter; ``tests/unit/media/test_active_speaker.py`` drives it with tables.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from liveloop_sfu.media.core.rtp import RtpParseError, RtpView

SILENCE = 127  # RFC 6464 §3: -127 dBov, the lowest level the extension carries


def read_audio_level(data: bytes, ext_id: int) -> int | None:
    """The RFC 6464 level (0..127, in -dBov) carried under ``ext_id``, or ``None``."""
    try:
        view = RtpView(data)
        for element_id, start, end in view.extensions():
            if element_id == ext_id and end > start:
                return data[start] & 0x7F
    except RtpParseError:
        return None
    return None


@dataclass(frozen=True, slots=True)
class SpeakerSettings:
    """Tuning of :class:`ActiveSpeakerDetector` (seconds, dB, RFC 6464 levels)."""

    window: float = 0.5  # loudness is averaged over this much recent audio
    min_samples: int = 5  # packets needed in the window (50/s for 20 ms Opus frames)
    recent: float = 0.1  # no packet for this long = not talking now (Opus DTX sends none)
    speech_level: int = 50  # -dBov: a mean louder than -50 dBov is speech
    margin: float = 6.0  # a challenger must be this much louder than the current speaker...
    hold: float = 0.5  # ...for this long without interruption...
    min_interval: float = 1.0  # ...and at least this long after the previous change
    evaluate_interval: float = 0.1  # decisions are made at most this often


@dataclass(slots=True)
class _Levels:
    """Recent (time, loudness) samples of one participant; loudness = 127 - level, in dB."""

    samples: deque[tuple[float, int]] = field(default_factory=deque)
    total: int = 0

    def add(self, now: float, loudness: int) -> None:
        self.samples.append((now, loudness))
        self.total += loudness

    def trim(self, oldest: float) -> None:
        samples = self.samples
        while samples and samples[0][0] < oldest:
            self.total -= samples.popleft()[1]

    def score(self, min_samples: int, latest: float) -> float:
        count = len(self.samples)
        if count < min_samples or self.samples[-1][0] < latest:
            return 0.0
        return self.total / count


class ActiveSpeakerDetector:
    """Feed it levels with :meth:`on_level`; it returns a participant id when the active speaker
    changes (``None`` otherwise). :attr:`speaker` is the current decision."""

    def __init__(self, settings: SpeakerSettings | None = None) -> None:
        self.settings = settings or SpeakerSettings()
        self.speaker: str | None = None
        self._levels: dict[str, _Levels] = {}
        self._challenger: str | None = None
        self._challenger_since = 0.0
        self._last_change: float | None = None
        self._next_evaluation: float | None = None

    def on_level(self, now: float, participant: str, level: int) -> str | None:
        """One packet's level (0..127) from ``participant`` at ``now``."""
        levels = self._levels.get(participant)
        if levels is None:
            levels = self._levels[participant] = _Levels()
        levels.add(now, SILENCE - min(max(level, 0), SILENCE))
        # A millisecond of slack: packets due exactly at the next evaluation are not put off to
        # the one after by float rounding.
        if self._next_evaluation is not None and now < self._next_evaluation - 0.001:
            return None
        self._next_evaluation = now + self.settings.evaluate_interval
        return self._evaluate(now)

    def remove(self, participant: str) -> None:
        """A participant left: forget it. If it was the speaker, nobody is until someone speaks
        (the room already learns of the departure from ``participant-left``)."""
        self._levels.pop(participant, None)
        if self.speaker == participant:
            self.speaker = None
        if self._challenger == participant:
            self._challenger = None

    def scores(self, now: float) -> dict[str, float]:
        """Mean loudness (dB above -127 dBov) per participant over the window ending at ``now``."""
        settings = self.settings
        oldest, latest = now - settings.window, now - settings.recent
        out = {}
        for participant, levels in self._levels.items():
            levels.trim(oldest)
            out[participant] = levels.score(settings.min_samples, latest)
        return out

    def _evaluate(self, now: float) -> str | None:
        settings = self.settings
        scores = self.scores(now)
        threshold = SILENCE - settings.speech_level
        speaking = [(score, p) for p, score in scores.items() if score >= threshold]
        if not speaking:
            self._challenger = None
            return None
        loudest_score, loudest = max(speaking)
        current_score = scores.get(self.speaker, 0.0) if self.speaker is not None else 0.0
        if loudest == self.speaker or loudest_score < current_score + settings.margin:
            self._challenger = None
            return None
        if self._challenger != loudest:
            self._challenger, self._challenger_since = loudest, now
            return None
        if now - self._challenger_since < settings.hold:
            return None
        if self._last_change is not None and now - self._last_change < settings.min_interval:
            return None
        self.speaker, self._last_change, self._challenger = loudest, now, None
        return loudest
