"""Room tokens: minted and verified with time as a parameter."""

from __future__ import annotations

import pytest

from liveloop_sfu.errors import Unauthorized
from liveloop_sfu.rooms import tokens as room_tokens

SECRET = b"s3cret-s3cret-s3cret"
NOW = 1_800_000_000.0


def test_a_fresh_token_opens_its_room() -> None:
    token = room_tokens.mint(SECRET, "team", NOW, 60)
    room_tokens.verify(SECRET, "team", token, NOW)
    room_tokens.verify(SECRET, "team", token, NOW + 59)
    assert room_tokens.expires_at(token) == NOW + 60


def test_expiry_rounds_up_to_a_whole_second() -> None:
    token = room_tokens.mint(SECRET, "team", NOW + 0.2, 10)
    assert room_tokens.expires_at(token) == NOW + 11


@pytest.mark.parametrize(
    ("room", "secret", "now", "fragment"),
    [
        ("team", SECRET, NOW + 60, "expired"),
        ("team", SECRET, NOW + 3600, "expired"),
        ("other", SECRET, NOW, "not valid for this room"),
        ("team", b"another-secret", NOW, "not valid for this room"),
        ("Team", SECRET, NOW, "not valid for this room"),
    ],
)
def test_a_token_is_refused(room: str, secret: bytes, now: float, fragment: str) -> None:
    token = room_tokens.mint(SECRET, "team", NOW, 60)
    with pytest.raises(Unauthorized, match=fragment):
        room_tokens.verify(secret, room, token, now)


def _tampered() -> list[str]:
    token = room_tokens.mint(SECRET, "team", NOW, 60)
    version, expires, mac = token.split(".")
    flipped = mac[:-1] + ("A" if mac[-1] != "A" else "B")
    return [
        f"{version}.{int(expires) + 3600}.{mac}",  # extended expiry: MAC no longer matches
        f"{version}.{expires}.{flipped}",
        f"v2.{expires}.{mac}",
        f"{version}.{expires}",
        f"{version}.{expires}.{mac}.x",
        f"{version}.-5.{mac}",
        f"{version}.{expires}.{mac[:-2]}",
        f"{version}.{expires}.{'é' * 43}",
        token + "x" * 300,
        "garbage",
    ]


@pytest.mark.parametrize("token", _tampered())
def test_a_tampered_or_malformed_token_is_refused(token: str) -> None:
    with pytest.raises(Unauthorized):
        room_tokens.verify(SECRET, "team", token, NOW)


@pytest.mark.parametrize("token", [None, ""])
def test_a_missing_token_is_refused(token: str | None) -> None:
    with pytest.raises(Unauthorized, match="needs a room token"):
        room_tokens.verify(SECRET, "team", token, NOW)


@pytest.mark.parametrize(("secret", "ttl"), [(b"", 60), (SECRET, 0), (SECRET, -1)])
def test_minting_needs_a_secret_and_a_lifetime(secret: bytes, ttl: float) -> None:
    with pytest.raises(ValueError, match=r"secret|ttl"):
        room_tokens.mint(secret, "team", NOW, ttl)
