"""TURN REST credentials and the ICE servers a match-done carries."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from liveloop_sfu.app import ice_servers_for
from liveloop_sfu.config import load_settings
from liveloop_sfu.rooms.turn import TurnCredentials, turn_credential


def test_credential_is_base64_hmac_sha1_of_the_username() -> None:
    expected = base64.b64encode(hmac.new(b"s3cret", b"1700003600:ab12", hashlib.sha1).digest())
    assert turn_credential("s3cret", "1700003600:ab12") == expected.decode()


@pytest.mark.parametrize(
    ("user", "now", "ttl", "username"),
    [
        ("ab12", 1_700_000_000.9, 3600, "1700003600:ab12"),
        ("a:b", 0.0, 60, "60:a_b"),  # the colon separates expiry from user
    ],
)
def test_ice_server_entry(user: str, now: float, ttl: int, username: str) -> None:
    turn = TurnCredentials(("turn:127.0.0.1:3478",), "s3cret", ttl)
    server = turn.ice_server(user, now)
    assert server == {
        "urls": ["turn:127.0.0.1:3478"],
        "username": username,
        "credential": turn_credential("s3cret", username),
    }
    assert "s3cret" not in repr(turn)


def test_match_done_servers_from_settings() -> None:
    settings = load_settings(
        [
            "--ice-servers",
            "stun:stun.example.org:3478",
            "--turn-urls",
            "turn:turn.example.org:3478?transport=udp,turns:turn.example.org:5349",
            "--turn-secret",
            "shared-secret",
            "--turn-ttl",
            "600",
        ],
        {},
    )
    assert "shared-secret" not in repr(settings)
    servers = ice_servers_for(settings.media, settings.turn)("p1", 1000.0)
    assert servers[0] == {"urls": ["stun:stun.example.org:3478"]}
    assert servers[1]["urls"] == [
        "turn:turn.example.org:3478?transport=udp",
        "turns:turn.example.org:5349",
    ]
    assert servers[1]["username"] == "1600:p1"
    defaults = load_settings([], {})
    assert ice_servers_for(defaults.media, defaults.turn)("p1", 0.0) == []
