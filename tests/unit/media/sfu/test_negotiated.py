"""Mapping a publisher's negotiated track onto a subscriber's m-line (pure, table-driven)."""

from __future__ import annotations

import pytest

from liveloop_sfu.media.transport.negotiated import (
    Codec,
    MediaLine,
    subscriber_config,
    track_config,
)

MID = "urn:ietf:params:rtp-hdrext:sdes:mid"
ABS = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"


def h264(pt: int, profile: str, mode: str = "1", rtx: int | None = None) -> Codec:
    params = (("packetization-mode", mode), ("profile-level-id", profile))
    return Codec(pt, "video/h264", 90000, None, params, rtx)


def vp8(pt: int, rtx: int | None = None) -> Codec:
    return Codec(pt, "video/vp8", 90000, None, (), rtx)


OPUS = Codec(111, "audio/opus", 48000, 2, (("minptime", "10"),), None)


def line(codecs: tuple[Codec, ...], kind: str = "video", **kw: object) -> MediaLine:
    values: dict[str, object] = {
        "mid": "1",
        "kind": kind,
        "receives": True,
        "sends": True,
        "codecs": codecs,
        "extensions": ((MID, 4), (ABS, 2)),
        "remote_ssrc": 1111,
        "remote_rtx_ssrc": 2222,
        "local_ssrc": 3333,
        "local_rtx_ssrc": 4444,
        "cname": "node",
    }
    values.update(kw)
    return MediaLine(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("published", "accepted", "payload_types", "rtx"),
    [
        # Same codec under another payload type.
        ((vp8(96, 97),), (vp8(120, 121),), {96: 120}, {120: 121}),
        # Subscriber without RTX: plain resend, no RTX map.
        ((vp8(96, 97),), (vp8(96),), {96: 96}, {}),
        # Codec the subscriber did not accept: not forwarded (dropped by the core).
        ((vp8(96),), (h264(102, "42e01f"),), {}, {}),
        # H.264: the identical profile-level-id wins over a merely compatible one.
        (
            (h264(102, "42e01f"),),
            (h264(100, "42001f"), h264(104, "42e01f")),
            {102: 104},
            {},
        ),
        # H.264: same profile_idc, other level/constraints: compatible.
        ((h264(102, "42e01f"),), (h264(100, "42001f"),), {102: 100}, {}),
        # H.264: packetization modes differ: incompatible (RFC 6184 §8.1).
        ((h264(102, "42e01f", mode="0"),), (h264(100, "42e01f"),), {}, {}),
        # H.264 high profile does not go to a baseline-only subscriber.
        ((h264(102, "640c1f"),), (h264(100, "42e01f"),), {}, {}),
    ],
)
def test_payload_types_map_by_codec_format(
    published: tuple[Codec, ...],
    accepted: tuple[Codec, ...],
    payload_types: dict[int, int],
    rtx: dict[int, int],
) -> None:
    config = subscriber_config("bob", line(published), line(accepted, mid="3"), egress_ready=False)
    assert dict(config.payload_types) == payload_types
    assert dict(config.rtx_payload_types) == rtx
    assert config.rtx_ssrc == (4444 if rtx else None)
    assert (config.subscriber_id, config.ssrc, config.mid, config.egress_ready) == (
        "bob",
        3333,
        "3",
        False,
    )
    assert dict(config.header_extensions) == {MID: 4, ABS: 2}


def test_track_config_from_a_published_video_line() -> None:
    config = track_config(line((vp8(96, 97), h264(102, "42e01f", rtx=103))))
    assert config.kind == "video"
    assert config.ssrc == 1111
    assert config.clock_rate == 90000
    assert dict(config.codecs) == {96: "vp8", 102: "h264"}
    assert dict(config.rtx_payload_types) == {97: 96, 103: 102}
    assert dict(config.header_extensions) == {4: MID, 2: ABS}
    assert config.feedback_ssrc == 3333


def test_track_config_from_an_audio_line() -> None:
    config = track_config(line((OPUS,), kind="audio", remote_ssrc=None))
    assert (config.kind, config.ssrc, config.clock_rate) == ("audio", None, 48000)
    assert dict(config.rtx_payload_types) == {}
