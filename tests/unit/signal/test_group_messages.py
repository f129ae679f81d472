"""Group rooms at the edges: their flags, their payloads and the mint-room-token command."""

from __future__ import annotations

from typing import Any

import pytest

from liveloop_sfu.__main__ import mint_room_token
from liveloop_sfu.config import load_settings
from liveloop_sfu.errors import ConfigError, InvalidPayload
from liveloop_sfu.rooms import tokens as room_tokens
from liveloop_sfu.signal import messages as m

SECRET = "0123456789abcdef-secret"


def test_group_defaults() -> None:
    settings = load_settings([], {})
    assert settings.max_room_participants == 8
    assert settings.require_room_token is False and settings.room_token_secret is None
    assert settings.room_token_ttl == 24 * 3600


def test_group_flags_and_environment() -> None:
    env = {"LIVELOOP_ROOM_TOKEN_SECRET": SECRET, "LIVELOOP_REQUIRE_ROOM_TOKEN": "true"}
    settings = load_settings(["--max-room-participants", "4", "--room-token-ttl", "600"], env)
    assert settings.max_room_participants == 4
    assert settings.require_room_token and settings.room_token_secret == SECRET
    assert settings.room_token_ttl == 600
    flagged = load_settings(["--require-room-token", "--room-token-secret", SECRET], {})
    assert flagged.require_room_token


@pytest.mark.parametrize(
    ("argv", "env", "fragment"),
    [
        (["--require-room-token"], {}, "needs --room-token-secret"),
        (["--room-token-secret", "short"], {}, "at least 16"),
        (["--max-room-participants", "1"], {}, "between 2 and 64"),
        (["--max-room-participants", "65"], {}, "between 2 and 64"),
        (["--room-token-ttl", "0"], {}, "between"),
        ([], {"LIVELOOP_REQUIRE_ROOM_TOKEN": "perhaps"}, "true or false"),
    ],
)
def test_bad_group_configuration(argv: list[str], env: dict[str, str], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        load_settings(argv, env)


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


def test_mint_room_token_command() -> None:
    now = 1_800_000_000.0
    status, token = mint_room_token(
        ["team", "--room-token-ttl", "60"], {"LIVELOOP_ROOM_TOKEN_SECRET": SECRET}, now
    )
    assert status == 0
    room_tokens.verify(SECRET.encode(), "team", token, now + 59)
    assert room_tokens.expires_at(token) == now + 60


@pytest.mark.parametrize(
    ("args", "env", "fragment"),
    [
        ([], {}, "usage"),
        (["--help"], {}, "usage"),
        (["team"], {}, "--room-token-secret"),
        (["bad/id"], {"LIVELOOP_ROOM_TOKEN_SECRET": SECRET}, "roomId"),
        (["team", "--room-token-secret", "short"], {}, "at least 16"),
    ],
)
def test_mint_room_token_refusals(args: list[str], env: dict[str, str], fragment: str) -> None:
    status, text = mint_room_token(args, env, 0.0)
    assert status == 2 and fragment in text
