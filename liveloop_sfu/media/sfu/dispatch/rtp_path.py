"""The per-packet path of :class:`~.session.SfuSession`: publisher RTP in, subscribers' copies out.

Compiled with mypyc like the forwarding core (setup.py), apart from session.py because that module
is mostly coroutines and negotiation, which mypyc does not need to see (compiling all of it
crashed in the garbage collector, docs/benchmarks.md). Here the calls into the core
(:meth:`.Forwarder.on_rtp`, :meth:`.ReceptionStats.on_packet`) are direct C calls instead of
Python calls with their argument parsing and float boxing, and the glue itself runs without the
interpreter. The session's own records (participants, publications, routes) stay the
interpreted dataclasses of links.py, read here by attribute; what happens rarely (an
unannounced SSRC, an audio level in a group room, a moved timer) goes back to the session
through the callbacks it gives.
"""

from __future__ import annotations

import struct
from collections import Counter
from collections.abc import Callable
from typing import Any

from liveloop_sfu.media.core.forwarder import Forwarder
from liveloop_sfu.media.core.reception import ReceptionStats

_SEQ_TS_SSRC = struct.Struct("!HII")  # RTP header bytes 2..12 (RFC 3550 §5.1)

# (publisher participant, packet) -> (publication, rtx) or None: learns an unannounced SSRC.
LearnSsrc = Callable[[Any, bytes], "tuple[Any, bool] | None"]
# (publisher participant, RFC 6464 extension id, packet, now): group rooms' active speaker.
AudioLevel = Callable[[Any, int, bytes, float], None]


class RtpPath:
    """``on_rtp`` for every publisher of one session. ``participants`` and ``counters`` are the
    session's own (shared, never copied); ``recorder`` is set by the session's
    ``attach_recorder``."""

    def __init__(
        self,
        participants: dict[str, Any],
        counters: Counter[str],
        learn_ssrc: LearnSsrc,
        on_audio_level: AudioLevel,
        rearm: Callable[[Forwarder], None],
    ) -> None:
        self.recorder: Any = None  # media/recording/recorder.py's RecorderTap while recording
        self._participants = participants
        self._counters = counters
        self._learn_ssrc = learn_ssrc
        self._on_audio_level = on_audio_level
        self._rearm = rearm

    def on_rtp(self, publisher: Any, data: bytes, now: float) -> None:
        """One decrypted RTP packet from a publisher, called synchronously from the socket: no
        await and no task switch per packet, every subscriber's copy is sent before returning."""
        publisher.last_heard = now
        if len(data) < 12:
            self._counters["rtp-malformed"] += 1
            return
        seq, ts, ssrc = _SEQ_TS_SSRC.unpack_from(data, 2)
        route = publisher.ssrc_routes.get(ssrc)
        if route is None:
            route = self._learn_ssrc(publisher, data)
            if route is None:
                self._counters["rtp-unroutable"] += 1
                return
        publication, rtx = route
        forwarder: Forwarder = publication.forwarder
        recorder = self.recorder
        if recorder is not None and (not forwarder.simulcast or forwarder.records(ssrc)):
            # A simulcast track is recorded from one layer (Forwarder.records).
            recorder.on_rtp(
                publisher.sid,
                publisher.participant_id,
                publication.line.mid,
                forwarder.track,
                data,
                rtx,
                now,
            )
        if rtx:
            out = forwarder.on_rtx(now, data)
        else:
            out = forwarder.on_rtp(now, data)
            reception: ReceptionStats = publication.reception
            reception.on_packet(now, ssrc, seq, ts)
            audio_level_id = publication.audio_level_id
            if audio_level_id is not None:
                self._on_audio_level(publisher, audio_level_id, data, now)
        if forwarder.timer_changed:
            self._rearm(forwarder)
        if out:
            self.deliver(out)

    def deliver(self, out: list[tuple[str, bytes]]) -> None:
        """Send each ``(subscriber sid, packet)`` through that subscriber's peer, counted."""
        participants = self._participants
        sent = size = 0
        for subscriber_sid, packet in out:
            subscriber = participants.get(subscriber_sid)
            if subscriber is not None and subscriber.peer.send_now(packet):
                sent += 1
                size += len(packet)
        counters = self._counters
        if sent:
            counters["forwarded-packets"] += sent
            counters["forwarded-bytes"] += size
        if sent < len(out):
            counters["send-failed"] += len(out) - sent
