"""The mint-room-token command of liveloop_sfu/__main__.py."""

from __future__ import annotations

import pytest

from liveloop_sfu.__main__ import mint_room_token
from liveloop_sfu.rooms import tokens as room_tokens

SECRET = "0123456789abcdef-secret"


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
