"""Validation of every client payload: table-driven, synchronous."""

from __future__ import annotations

from typing import Any

import pytest

from liveloop_sfu.errors import InvalidPayload
from liveloop_sfu.signal import messages as m

PNG = "data:image/png;base64,iVBORw0KGgo="


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"userName": "ana"}, m.RequestRoom("ana", None, None)),
        ({"userName": "  ana  "}, m.RequestRoom("ana", None, None)),
        ({"userName": "x" * 32}, m.RequestRoom("x" * 32, None, None)),
        ({"userName": "Zoë 🎥"}, m.RequestRoom("Zoë 🎥", None, None)),
        ({"userName": "ana", "mode": "p2p"}, m.RequestRoom("ana", None, "p2p")),
        ({"userName": "ana", "userImage": PNG}, m.RequestRoom("ana", PNG, None)),
        ({"userName": "ana", "userImage": ""}, m.RequestRoom("ana", None, None)),
        ({"userName": "ana", "roomId": "forged", "sid": "x"}, m.RequestRoom("ana", None, None)),
    ],
)
def test_request_room_accepts(payload: Any, expected: m.RequestRoom) -> None:
    assert m.parse_request_room(payload) == expected


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        (None, "userName must be a string"),
        ([], "JSON object"),
        ("ana", "JSON object"),
        ({"userName": ""}, "1–32"),
        ({"userName": "   "}, "1–32"),
        ({"userName": "x" * 33}, "1–32"),
        ({"userName": 7}, "string"),
        ({"userName": "a\nb"}, "control"),
        ({"userName": "a\u200bb"}, "control"),
        ({"userName": "ana", "mode": "mesh"}, "mode"),
        ({"userName": "ana", "userImage": 5}, "data URL"),
        ({"userName": "ana", "userImage": "https://x/y.png"}, "data URL"),
        ({"userName": "ana", "userImage": "data:image/svg+xml;base64,AAAA"}, "data URL"),
        ({"userName": "ana", "userImage": "data:image/png;base64,<script>"}, "data URL"),
        ({"userName": "ana", "userImage": PNG + "A" * 70_000}, "at most"),
    ],
)
def test_request_room_refuses(payload: Any, fragment: str) -> None:
    with pytest.raises(InvalidPayload, match=fragment):
        m.parse_request_room(payload)


SDP = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\n"


@pytest.mark.parametrize(
    ("payload", "expected", "fragment"),
    [
        ({"sdp": {"type": "offer", "sdp": SDP}}, "offer", None),
        ({"sdp": {"type": "answer", "sdp": SDP}}, "offer", 'sdp.type must be "offer"'),
        ({"sdp": {"type": "offer", "sdp": ""}}, "offer", "non-empty"),
        ({"sdp": {"type": "offer", "sdp": 3}}, "offer", "non-empty"),
        ({"sdp": {"type": "offer", "sdp": "o=- 1"}}, "offer", "v=0"),
        ({"sdp": {"type": "offer", "sdp": SDP + "a" * 65_536}}, "offer", "at most"),
        ({"sdp": SDP}, "offer", "object"),
        ({}, "answer", "object"),
        ({"sdp": {"type": "answer", "sdp": SDP}}, "answer", None),
    ],
)
def test_sdp(payload: Any, expected: Any, fragment: str | None) -> None:
    if fragment is None:
        assert m.parse_sdp(payload, expected) == m.SessionDescription(expected, SDP)
    else:
        with pytest.raises(InvalidPayload, match=fragment):
            m.parse_sdp(payload, expected)


HOST = "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host"


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"candidate": None}, None),
        (
            {"candidate": {"candidate": HOST, "sdpMid": "0", "sdpMLineIndex": 0, "x": 1}},
            {"candidate": HOST, "sdpMid": "0", "sdpMLineIndex": 0},
        ),
        (
            {"candidate": {"candidate": "", "sdpMid": "1", "usernameFragment": "abcd"}},
            {"candidate": "", "sdpMid": "1", "sdpMLineIndex": None, "usernameFragment": "abcd"},
        ),
    ],
)
def test_candidate_accepts_and_rebuilds_known_fields(payload: Any, expected: Any) -> None:
    assert m.parse_candidate(payload).init == expected


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({}, "required"),
        ({"candidate": HOST}, "object or null"),
        ({"candidate": {"candidate": HOST}}, "sdpMid or sdpMLineIndex"),
        ({"candidate": {"candidate": "typ host", "sdpMid": "0"}}, "start with"),
        ({"candidate": {"candidate": HOST * 20, "sdpMid": "0"}}, "≤"),
        ({"candidate": {"candidate": HOST, "sdpMLineIndex": -1}}, "non-negative"),
        ({"candidate": {"candidate": HOST, "sdpMLineIndex": True}}, "non-negative"),
        ({"candidate": {"candidate": HOST, "sdpMid": 0}}, "sdpMid"),
        ({"candidate": {"candidate": HOST, "sdpMid": "0", "usernameFragment": 1}}, "username"),
    ],
)
def test_candidate_refuses(payload: Any, fragment: str) -> None:
    with pytest.raises(InvalidPayload, match=fragment):
        m.parse_candidate(payload)


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({"message": "hi"}, None),
        ({"message": "x" * 1000}, None),
        ({"message": "x" * 1001}, "at most 1000"),
        ({"message": ""}, "empty"),
        ({"message": "  \n "}, "empty"),
        ({"message": None}, "string"),
        ({}, "string"),
    ],
)
def test_chat(payload: Any, fragment: str | None) -> None:
    if fragment is None:
        assert m.parse_chat(payload).message == payload["message"]
    else:
        with pytest.raises(InvalidPayload, match=fragment):
            m.parse_chat(payload)


@pytest.mark.parametrize("payload", [None, {}, {"anything": 1}])
def test_empty_events_accept_objects(payload: Any) -> None:
    m.parse_empty(payload)


@pytest.mark.parametrize("payload", [[1], "x", 3])
def test_empty_events_refuse_non_objects(payload: Any) -> None:
    with pytest.raises(InvalidPayload):
        m.parse_empty(payload)
