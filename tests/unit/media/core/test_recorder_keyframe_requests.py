"""The recorder asks for keyframes through the forwarder's one merged, throttled PLI path."""

from __future__ import annotations

from liveloop_sfu.media.core.forwarder import (
    Forwarder,
    SendToPublisher,
    SubscriberConfig,
    TrackConfig,
)
from liveloop_sfu.media.core.rtp import Pli, parse_rtcp

PUB = 0x1111


def video() -> Forwarder:
    return Forwarder(
        TrackConfig(kind="video", ssrc=PUB, clock_rate=90000, codecs={96: "VP8"}, feedback_ssrc=7)
    )


def plis(actions: list[object]) -> list[Pli]:
    out = []
    for action in actions:
        assert isinstance(action, SendToPublisher) and action.kind == "pli"
        out += [p for p in parse_rtcp(action.packet) if isinstance(p, Pli)]
    return out


def test_a_recorder_request_is_a_pli_to_the_publisher() -> None:
    (pli,) = plis(video().request_keyframe(0.0))
    assert (pli.sender_ssrc, pli.media_ssrc) == (7, PUB)


def test_recorder_and_subscriber_requests_merge_into_one_pli() -> None:
    fwd = video()
    assert len(plis(fwd.add_subscriber(0.0, SubscriberConfig("bob", 1234, {96: 96})))) == 1
    assert fwd.request_keyframe(0.1) == []  # merged into the pending request
    assert len(plis(fwd.handle_timer(1.0))) == 1  # retried once a second until a keyframe


def test_audio_tracks_never_ask() -> None:
    audio = Forwarder(TrackConfig(kind="audio", ssrc=1, clock_rate=48000, codecs={111: "opus"}))
    assert audio.request_keyframe(0.0) == []
