"""Group-room flags of the settings: participants per room, room tokens."""

from __future__ import annotations

import pytest

from liveloop_sfu.config import load_settings
from liveloop_sfu.errors import ConfigError

SECRET = "0123456789abcdef-secret"


def test_group_defaults() -> None:
    settings = load_settings([], {})
    assert settings.rooms.max_room_participants == 8
    assert settings.rooms.require_room_token is False and settings.rooms.room_token_secret is None
    assert settings.rooms.room_token_ttl == 24 * 3600


def test_group_flags_and_environment() -> None:
    env = {"LIVELOOP_ROOM_TOKEN_SECRET": SECRET, "LIVELOOP_REQUIRE_ROOM_TOKEN": "true"}
    settings = load_settings(["--max-room-participants", "4", "--room-token-ttl", "600"], env)
    assert settings.rooms.max_room_participants == 4
    assert settings.rooms.require_room_token and settings.rooms.room_token_secret == SECRET
    assert settings.rooms.room_token_ttl == 600
    flagged = load_settings(["--require-room-token", "--room-token-secret", SECRET], {})
    assert flagged.rooms.require_room_token


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
