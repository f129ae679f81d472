"""A subscriber's estimate shared among the publishers it receives."""

from __future__ import annotations

from liveloop_sfu.media.sfu.bandwidth import AUDIO_RESERVE_BPS, MIN_VIDEO_BPS, publisher_share


def test_one_to_one_the_publisher_gets_the_whole_estimate() -> None:
    # Its audio and video, less the subscriber's audio, plus the publisher's own audio.
    assert publisher_share(800_000, videos=1, audios=1) == 800_000


def test_shared_equally_among_videos_after_the_audio() -> None:
    share = publisher_share(2_000_000, videos=3, audios=3)
    assert share == (2_000_000 - 3 * AUDIO_RESERVE_BPS) // 3 + AUDIO_RESERVE_BPS


def test_no_limit_stays_no_limit() -> None:
    assert publisher_share(None, videos=1, audios=1) is None
    assert publisher_share(500_000, videos=0, audios=1) is None  # no video: nothing to cap


def test_a_tiny_estimate_still_leaves_each_video_a_floor() -> None:
    assert publisher_share(60_000, videos=2, audios=2) == MIN_VIDEO_BPS + AUDIO_RESERVE_BPS
