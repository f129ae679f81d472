"""Group-room payloads: join-room, media-state, create-room."""

from __future__ import annotations

from typing import Any

import pytest

from liveloop_sfu.errors import InvalidPayload
from liveloop_sfu.signal import messages as m


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"roomId": "team-1", "userName": " ana "}, m.JoinRoom("team-1", "ana", None)),
        ({"roomId": "A_b-9", "userName": "ana", "token": ""}, m.JoinRoom("A_b-9", "ana", None)),
        ({"roomId": "r", "userName": "ana", "token": "v1.5.x"}, m.JoinRoom("r", "ana", "v1.5.x")),
        ({"roomId": "r", "userName": "ana", "participantId": "x"}, m.JoinRoom("r", "ana", None)),
    ],
)
def test_join_room_accepts(payload: Any, expected: m.JoinRoom) -> None:
    assert m.parse_join_room(payload) == expected


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        (None, "roomId"),
        ({"userName": "ana"}, "roomId"),
        ({"roomId": "", "userName": "ana"}, "roomId"),
        ({"roomId": "a/b", "userName": "ana"}, "letters"),
        ({"roomId": "a.b", "userName": "ana"}, "letters"),
        ({"roomId": "x" * 65, "userName": "ana"}, "1–64"),
        ({"roomId": 7, "userName": "ana"}, "roomId"),
        ({"roomId": "r"}, "userName"),
        ({"roomId": "r", "userName": "ana", "token": ["t"]}, "token"),
        ({"roomId": "r", "userName": "ana", "token": "t" * 257}, "token"),
    ],
)
def test_join_room_refuses(payload: Any, fragment: str) -> None:
    with pytest.raises(InvalidPayload, match=fragment):
        m.parse_join_room(payload)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"audio": True, "video": False}, m.MediaState(True, False, None)),
        ({"audio": False, "video": True, "screenTrackId": None}, m.MediaState(False, True, None)),
        (
            {"audio": True, "video": True, "screenTrackId": "{a1b2-c3}"},
            m.MediaState(True, True, "{a1b2-c3}"),
        ),
    ],
)
def test_media_state_accepts(payload: Any, expected: m.MediaState) -> None:
    assert m.parse_media_state(payload) == expected


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"audio": 1, "video": True},
        {"audio": True, "video": "false"},
        {"audio": True, "video": True, "screenTrackId": ""},
        {"audio": True, "video": True, "screenTrackId": 5},
        {"audio": True, "video": True, "screenTrackId": "a b"},
        {"audio": True, "video": True, "screenTrackId": "x" * 129},
        "audio",
    ],
)
def test_media_state_refuses(payload: Any) -> None:
    with pytest.raises(InvalidPayload):
        m.parse_media_state(payload)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [(None, None), ({}, None), ({"name": ""}, None), ({"name": " Standup "}, "Standup")],
)
def test_create_room_accepts(payload: Any, expected: str | None) -> None:
    assert m.parse_create_room(payload) == m.CreateRoom(expected)


@pytest.mark.parametrize("payload", [{"name": 3}, {"name": "x" * 65}, {"name": "a\x00"}, [1]])
def test_create_room_refuses(payload: Any) -> None:
    with pytest.raises(InvalidPayload):
        m.parse_create_room(payload)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (
            {"participantId": "a1b2", "trackId": "9a93-x", "maxHeight": 180},
            m.VideoQuality("a1b2", "9a93-x", 180),
        ),
        ({"participantId": "a1b2", "trackId": "t", "off": True}, m.VideoQuality("a1b2", "t", 0)),
        (
            {"participantId": "p", "trackId": "t", "maxHeight": 4320, "extra": 1},
            m.VideoQuality("p", "t", 4320),
        ),
    ],
)
def test_set_video_quality_accepts(payload: Any, expected: m.VideoQuality) -> None:
    parsed = m.parse_video_quality(payload)
    assert parsed == expected
    assert m.parse_video_quality(parsed.to_wire()) == parsed  # what another node is sent


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        (None, "participantId"),
        ("off", "JSON object"),
        ({"trackId": "t", "maxHeight": 1}, "participantId"),
        ({"participantId": "", "trackId": "t", "maxHeight": 1}, "participantId"),
        ({"participantId": "p" * 65, "trackId": "t", "maxHeight": 1}, "participantId"),
        ({"participantId": "p", "maxHeight": 1}, "trackId"),
        ({"participantId": "p", "trackId": "a b", "maxHeight": 1}, "trackId"),
        ({"participantId": "p", "trackId": "t" * 129, "maxHeight": 1}, "trackId"),
        ({"participantId": "p", "trackId": "t"}, "exactly one"),
        ({"participantId": "p", "trackId": "t", "maxHeight": 90, "off": True}, "exactly one"),
        ({"participantId": "p", "trackId": "t", "off": False}, "off must be true"),
        ({"participantId": "p", "trackId": "t", "off": "yes"}, "off must be true"),
        ({"participantId": "p", "trackId": "t", "maxHeight": True}, "integer"),
        ({"participantId": "p", "trackId": "t", "maxHeight": 180.5}, "integer"),
        ({"participantId": "p", "trackId": "t", "maxHeight": "180"}, "integer"),
        ({"participantId": "p", "trackId": "t", "maxHeight": 0}, "1–4320"),
        ({"participantId": "p", "trackId": "t", "maxHeight": -5}, "1–4320"),
        ({"participantId": "p", "trackId": "t", "maxHeight": 10**20}, "1–4320"),
    ],
)
def test_set_video_quality_refuses(payload: Any, fragment: str) -> None:
    with pytest.raises(InvalidPayload, match=fragment):
        m.parse_video_quality(payload)
