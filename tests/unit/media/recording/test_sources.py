"""A new SSRC on a recorded track is a new source: new timeline, monotonic file timestamps."""

from __future__ import annotations

import pytest

from liveloop_sfu.media.recording.sources import (
    SourceGenerations,
    classify_source,
    next_pts,
)
from liveloop_sfu.media.recording.timing import TrackClock


def ntp(seconds: float) -> int:
    return int(seconds * 4294967296.0)


@pytest.mark.parametrize(
    ("current", "retired", "ssrc", "expected"),
    [
        (None, (), 1111, "same"),  # the track's first packet names its source
        (1111, (), 1111, "same"),
        (1111, (), 2222, "new"),  # a new peer connection's sender
        (2222, (1111,), 1111, "stale"),  # a straggler from the connection it replaced
        (3333, (1111, 2222), 4444, "new"),
    ],
)
def test_classify_source(
    current: int | None, retired: tuple[int, ...], ssrc: int, expected: str
) -> None:
    assert classify_source(current, retired, ssrc) == expected


@pytest.mark.parametrize(
    ("when", "started_at", "last_pts", "expected"),
    [
        (12.5, 10.0, -1, 2500),  # the capture time, in ms from the start
        (12.5, 10.0, 2400, 2500),
        (12.5, 10.0, 2500, 2501),  # never the same timestamp twice in a stream
        (11.0, 10.0, 2500, 2501),  # nor a step back (a report moved the estimate)
        (9.0, 10.0, -1, 0),  # nor before the start of the file
    ],
)
def test_next_pts(when: float, started_at: float, last_pts: int, expected: int) -> None:
    assert next_pts(when, started_at, last_pts) == expected


def test_the_first_track_to_change_starts_a_generation_the_others_join() -> None:
    sources = SourceGenerations()
    old = sources.clock
    video_gen, video_clock = sources.clock_for_new_source(0)
    assert video_gen == 1 and video_clock is not old
    audio_gen, audio_clock = sources.clock_for_new_source(0)
    assert (audio_gen, audio_clock) == (1, video_clock)  # same new connection, same wallclock
    # A second network change: again one new clock for both.
    video_gen, second = sources.clock_for_new_source(video_gen)
    assert video_gen == 2 and second is not video_clock
    assert sources.clock_for_new_source(audio_gen) == (2, second)


def test_a_new_source_is_dated_by_its_own_arrival_and_reports_not_the_old_base() -> None:
    """Alice's video: sender reports dated the old source; she changes network at node time
    20 s and her new connection's first packet arrives at 23 s with a timestamp from a new
    random base. On the old timeline that timestamp is hours away; on a new one (new clock, new
    participant generation) it is where it arrived, and the new reports then place it."""
    sources = SourceGenerations()
    old = TrackClock(90000, sources.clock)
    # Sender wallclock 5000 s = node 10 s; old base 1_000_000 at sender time 5000 s.
    old.on_packet(now=10.0, ts=1_000_000)
    old.on_sender_report(now=10.0, ntp=ntp(5000.0), rtp_ts=1_000_000)
    last_old = old.on_packet(now=20.0, ts=1_000_000 + 900_000)
    assert old.node_time(last_old) == pytest.approx(20.0)
    last_pts = next_pts(20.0, 0.0, -1)

    new_base = 3_900_000_000  # the new sender's random start (RFC 3550 §5.1)
    stale = old.node_time(old.on_packet(now=23.0, ts=new_base))
    assert stale is not None and abs(stale - 23.0) > 3600  # what the old timeline would say

    generation, participant = sources.clock_for_new_source(0)
    new = TrackClock(90000, participant)
    first = new.on_packet(now=23.0, ts=new_base)
    when = new.node_time(first)
    assert when == pytest.approx(23.0)
    pts = next_pts(when, 0.0, last_pts)
    assert pts == 23000 and pts > last_pts  # a 3 s gap for the outage, then on
    # The new connection's report: its sender wallclock is read ~20 ms after its first packet's
    # capture, and the packet waited 30 ms on the way; the least delayed sample wins.
    second = new.on_packet(now=24.0, ts=new_base + 90000)
    new.on_sender_report(now=24.0, ntp=ntp(5012.98), rtp_ts=new_base + 90000)
    assert new.synchronized
    assert new.node_time(second) == pytest.approx(24.0, abs=0.05)
    assert next_pts(new.node_time(second) or 0.0, 0.0, pts) > pts
    # The new connection's reports went to the new generation's clock only.
    assert participant.offset is not None and sources.clock is participant
    assert generation == 1
