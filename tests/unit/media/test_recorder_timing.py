"""RTP timestamps + sender reports -> node-clock capture times (RFC 3550 §6.4.1)."""

from __future__ import annotations

import pytest

from liveloop_sfu.media.recorder_timing import ParticipantClock, TrackClock, ntp_seconds


def ntp(seconds: float) -> int:
    return int(seconds * 4294967296.0)


def test_ntp_seconds() -> None:
    assert ntp_seconds(ntp(3.5)) == pytest.approx(3.5)


def test_before_any_report_a_track_is_anchored_at_its_first_arrival() -> None:
    clock = TrackClock(90000, ParticipantClock())
    assert clock.node_time(0) is None
    first = clock.on_packet(now=100.0, ts=5000)
    later = clock.on_packet(now=100.5, ts=5000 + 90000)  # arrived late: arrival is not used
    assert clock.node_time(first) == pytest.approx(100.0)
    assert clock.node_time(later) == pytest.approx(101.0)
    assert not clock.synchronized


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


def test_reports_and_packets_across_the_32_bit_wrap() -> None:
    participant = ParticipantClock()
    clock = TrackClock(48000, participant)
    near = 0xFFFFFFFF - 4800
    clock.on_packet(now=0.0, ts=near)
    wrapped = clock.on_packet(now=0.2, ts=(near + 9600) & 0xFFFFFFFF)
    assert wrapped == near + 9600
    clock.on_sender_report(now=0.2, ntp=ntp(100.2), rtp_ts=(near + 9600) & 0xFFFFFFFF)
    assert clock.node_time(wrapped) == pytest.approx(0.2)
    assert clock.node_time(near) == pytest.approx(0.0)
