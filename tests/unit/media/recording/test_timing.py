"""RTP timestamps + sender reports -> node-clock capture times (RFC 3550 §6.4.1)."""

from __future__ import annotations

import pytest

from liveloop_sfu.media.recording.timing import (
    REPORT_WINDOW,
    ParticipantClock,
    TrackClock,
    ntp_seconds,
)


def ntp(seconds: float) -> int:
    return int(seconds * 4294967296.0)


def test_ntp_seconds() -> None:
    assert ntp_seconds(ntp(3.5)) == pytest.approx(3.5)


def test_before_any_report_a_track_is_anchored_at_its_least_delayed_arrival() -> None:
    clock = TrackClock(90000, ParticipantClock())
    assert clock.node_time(0) is None
    first = clock.on_packet(now=100.0, ts=5000)
    later = clock.on_packet(now=101.3, ts=5000 + 90000)  # captured 1 s later, 0.3 s delay
    assert clock.node_time(first) == pytest.approx(100.0)
    assert clock.node_time(later) == pytest.approx(101.0)
    # This one was captured 2 s after the first but arrived only 1.5 s after it: the first
    # packet had waited 0.5 s, so everything moves 0.5 s earlier.
    third = clock.on_packet(now=101.5, ts=5000 + 180000)
    assert clock.node_time(first) == pytest.approx(99.5)
    assert clock.node_time(third) == pytest.approx(101.5)
    assert not clock.synchronized


def test_a_delayed_sender_report_does_not_shift_the_timeline() -> None:
    participant = ParticipantClock()
    participant.on_sender_report(now=12.0, ntp=ntp(5000.0))  # waited 2 s behind a busy loop
    participant.on_sender_report(now=11.0, ntp=ntp(5001.0))  # on time
    participant.on_sender_report(now=12.5, ntp=ntp(5002.0))  # 0.5 s late
    assert participant.offset == pytest.approx(4990.0)


def test_sender_reports_align_tracks_with_different_random_timestamps() -> None:
    """Audio and video captured at the same instant have unrelated RTP timestamps; their
    sender reports (same sender wallclock) put them at the same node time, whatever order and
    delay their first packets arrived with."""
    participant = ParticipantClock()
    video = TrackClock(90000, participant)
    audio = TrackClock(48000, participant)
    # The sender's wallclock reads 5000 s when the node's reads 10 s (offset 4990).
    video.on_packet(now=10.30, ts=1_000_000)  # first video frame arrives 300 ms late
    audio.on_packet(now=10.02, ts=777)
    video.on_sender_report(now=10.5, ntp=ntp(5000.5), rtp_ts=1_000_000 + 45000)
    audio.on_sender_report(now=11.0, ntp=ntp(5001.0), rtp_ts=777 + 48000)
    assert participant.offset == pytest.approx(4990.0)
    assert video.synchronized and audio.synchronized
    # Both first frames were captured at sender time 5000.0 -> node time 10.0.
    assert video.node_time(1_000_000) == pytest.approx(10.0)
    assert audio.node_time(777) == pytest.approx(10.0)
    assert video.node_time(1_000_000 + 90000 * 2) == pytest.approx(12.0)


def test_a_late_report_from_a_busy_sender_is_outvoted_by_timely_ones() -> None:
    participant = ParticipantClock()
    video = TrackClock(90000, participant)
    video.on_packet(now=10.0, ts=0)
    video.on_sender_report(now=10.0, ntp=ntp(5000.0), rtp_ts=0)
    video.on_sender_report(now=11.3, ntp=ntp(5001.3), rtp_ts=90000)  # wallclock read 0.3 s late
    assert video.node_time(90000) == pytest.approx(11.0)
    for i in range(2, 2 + REPORT_WINDOW):  # the timely report leaves the window
        video.on_sender_report(now=10.0 + i + 0.01, ntp=ntp(5000.0 + i + 0.01), rtp_ts=90000 * i)
    assert video.node_time(90000) == pytest.approx(11.01)


def test_packets_after_a_report_refine_the_participant_offset() -> None:
    """aiortc's reports name the time of the last packet sent, not of the report: a report sent
    0.2 s after that time makes the offset look 0.2 s smaller; the next packet corrects it."""
    participant = ParticipantClock()
    audio = TrackClock(48000, participant)
    audio.on_packet(now=10.0, ts=0)
    audio.on_sender_report(now=10.21, ntp=ntp(5000.0), rtp_ts=0)  # ts 0 sent at 5000.0
    assert participant.offset == pytest.approx(4989.79)
    audio.on_packet(now=10.22, ts=48000 // 50 * 11)  # 220 ms of audio later, on time
    assert participant.offset == pytest.approx(4990.0)
    assert audio.node_time(0) == pytest.approx(10.0)


def test_reports_and_packets_across_the_32_bit_wrap() -> None:
    participant = ParticipantClock()
    clock = TrackClock(48000, participant)
    near = 0xFFFFFFFF - 4800
    clock.on_packet(now=0.0, ts=near)
    wrapped = clock.on_packet(now=0.2, ts=(near + 9600) & 0xFFFFFFFF)
    assert wrapped == near + 9600
    clock.on_sender_report(now=0.2, ntp=ntp(100.2), rtp_ts=(near + 9600) & 0xFFFFFFFF)
    assert clock.node_time(wrapped) == pytest.approx(0.2)
    assert clock.node_time(near) == pytest.approx(0.0, abs=1e-9)
