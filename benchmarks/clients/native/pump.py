"""The cheap peers' timer, compiled: everything a tick does for every peer of a process that
needs no Python — send the frames that are due, drain each socket, send the transport feedback
that is due — in one call (:func:`run_all`), which returns only the peers that have something
for Python to handle (RTCP in, sampled frames, NACKs or reports due). So the interpreter runs
once per tick for the whole process, plus once per such event, never once per packet or per
peer.
"""

from __future__ import annotations

from typing import Any, Final

from benchmarks.clients.native.header_counter import MediaReceiver
from benchmarks.clients.native.media_sender import StreamSender
from liveloop_sfu.media.transport.srtp.packet_io import PeerIo

DRAIN_LIMIT: Final = 4096  # datagrams per socket per tick (a bound, never reached at sane rates)
LATE_RESET: Final = 1.0  # seconds behind schedule after which a sender skips ahead, not bursts
OPUS_FRAME: Final = 960  # samples per 20 ms Opus packet at 48 kHz
OPUS_INTERVAL: Final = 0.02
VIDEO_CLOCK_RATE: Final = 90000
# Transport-wide feedback about what the node sends, as Chromium sends it (about every 50-100 ms;
# draft-holmer-rmcat-transport-wide-cc-extensions-01 leaves the interval to the receiver).
FEEDBACK_INTERVAL: Final = 0.1


class MediaPump:
    """One cheap peer's media schedule and receive side. ``owner`` is the Python peer that
    handles what :meth:`run` flags."""

    def __init__(
        self,
        owner: Any,
        receiver: MediaReceiver,
        fps: int,
        video: list[list[bytes]],
        keyframes: list[bool],
        audio: list[list[bytes]],
        sent_at: dict[int, float],
    ) -> None:
        self.owner = owner
        self.receiver = receiver
        self.video_sender: StreamSender | None = None
        self.audio_sender: StreamSender | None = None
        # Simulcast: the smaller encodings' senders and frames, sent with the same timestamps
        # and frame numbers as ``video_sender``'s (each cached frame i shows counter i).
        self.layer_senders: list[StreamSender] = []
        self.layer_video: list[list[list[bytes]]] = []
        self.sending = True
        self._video = video
        self._keyframes = keyframes
        self._audio = audio
        self._interval = 1.0 / fps
        self._ts_step = VIDEO_CLOCK_RATE // fps
        self.index = 0  # the cached frame sent next
        self.frames = 0  # video frames sent (RTP timestamp and PictureID follow it)
        self.audio_packets = 0
        self.next_video = 0.0
        self.next_audio = 0.0
        self.next_report = 0.0
        self.next_feedback = 0.0  # transport-wide feedback (when negotiated)
        # Where the pump sends that feedback itself (set by the peer once DTLS is up): the one
        # RTCP a receiver sends ten times a second, so it stays in compiled code.
        self.io: PeerIo | None = None
        self.rtcp_ssrc = 0
        self.sent_feedback = 0
        self.late = 0  # times a sender fell more than LATE_RESET behind and skipped ahead
        self.sent_at = sent_at  # cached frame number -> wall clock of its last sending

    def request_keyframe(self) -> None:
        """A PLI/FIR: the next frame sent is the next cached keyframe."""
        for offset in range(len(self._video)):
            candidate = (self.index + offset) % len(self._video)
            if self._keyframes[candidate]:
                self.index = candidate
                return

    def run(self, now: float, wallclock: float) -> bool:
        """Send what is due, drain the socket; True when Python has something to handle."""
        if self.sending:
            if self.video_sender is not None:
                self._send_video(self.video_sender, now, wallclock)
            if self.audio_sender is not None:
                self._send_audio(self.audio_sender, now)
        receiver = self.receiver
        receiver.drain(now, wallclock, DRAIN_LIMIT)
        if now >= self.next_feedback and receiver.feedback.pending and self.io is not None:
            self._send_feedback(self.io, now)
        return (
            len(receiver.rtcp) > 0
            or len(receiver.frames) > 0
            or receiver.gaps
            or now >= self.next_report
        )

    def _send_feedback(self, io: PeerIo, now: float) -> None:
        """Transport feedback (RTPFB FMT 15) for every packet recorded since the last one."""
        self.next_feedback = now + FEEDBACK_INTERVAL
        receiver = self.receiver
        media_ssrc = 0
        for ssrc in receiver.streams:
            media_ssrc = ssrc
            break
        for packet in receiver.feedback.build(int(now * 1e6), self.rtcp_ssrc, media_ssrc):
            io.send(packet)
            self.sent_feedback += 1

    def _send_video(self, sender: StreamSender, now: float, wallclock: float) -> None:
        if now - self.next_video > LATE_RESET:
            self.next_video = now
            self.late += 1
        count = len(self._video)
        while self.next_video <= now:
            index = self.index
            ts = self.frames * self._ts_step
            for layer, layer_sender in enumerate(self.layer_senders):
                if not layer_sender.paused:
                    layer_sender.send_frame(self.layer_video[layer][index], ts, self.frames)
            if not sender.paused:
                sender.send_frame(self._video[index], ts, self.frames)
            self.sent_at[index] = wallclock
            self.index = (index + 1) % count
            self.frames += 1
            self.next_video += self._interval

    def _send_audio(self, sender: StreamSender, now: float) -> None:
        if now - self.next_audio > LATE_RESET:
            self.next_audio = now
        count = len(self._audio)
        while self.next_audio <= now:
            packets = self._audio[self.audio_packets % count]
            sender.send_frame(packets, self.audio_packets * OPUS_FRAME, 0)
            self.audio_packets += 1
            self.next_audio += OPUS_INTERVAL


def run_all(pumps: list[MediaPump], now: float, wallclock: float) -> list[MediaPump]:
    """One tick for every peer of the process; the peers Python must attend to."""
    return [pump for pump in pumps if pump.run(now, wallclock)]
