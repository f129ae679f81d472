"""TURN REST credentials and log formatting."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging

import pytest

from liveloop_sfu.app import ice_servers_for
from liveloop_sfu.config import load_settings
from liveloop_sfu.errors import ConfigError
from liveloop_sfu.logs import JsonFormatter, TextFormatter, log_context
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
    servers = ice_servers_for(settings)("p1", 1000.0)
    assert servers[0] == {"urls": ["stun:stun.example.org:3478"]}
    assert servers[1]["urls"] == [
        "turn:turn.example.org:3478?transport=udp",
        "turns:turn.example.org:5349",
    ]
    assert servers[1]["username"] == "1600:p1"
    assert ice_servers_for(load_settings([], {}))("p1", 0.0) == []


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--turn-urls", "turn:x:3478"], "needs --turn-secret"),
        (["--turn-urls", "stun:x:3478", "--turn-secret", "s"], "turn:/turns:"),
        (["--turn-ttl", "5", "--turn-secret", "s"], "between"),
        (["--log-format", "xml"], "--log-format"),
    ],
)
def test_bad_turn_and_log_settings(argv: list[str], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        load_settings(argv, {})


def record(msg: str, *args: object, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord(
        "liveloop_sfu.rooms.service", logging.INFO, __file__, 1, msg, args, None
    )
    rec.__dict__.update(extra)
    return rec


def test_json_lines_carry_context_ids_and_mask_secrets() -> None:
    formatter = JsonFormatter(["topsecret-value"])
    with log_context(sid="s1", peer_id="p1", room_id="r1", event="request-room"):
        line = formatter.format(
            record("room %s uses topsecret-value", "r1", client_ip="198.51.100.1", turn_secret="x")
        )
    body = json.loads(line)
    assert body["msg"] == "room r1 uses ***"
    assert (body["sid"], body["peer_id"], body["room_id"], body["event"]) == (
        "s1",
        "p1",
        "r1",
        "request-room",
    )
    assert body["client_ip"] == "198.51.100.1"
    assert "turn_secret" not in body and body["level"] == "info"
    # Outside the block the context is gone.
    assert "sid" not in json.loads(formatter.format(record("plain")))


def test_text_lines_are_readable() -> None:
    with log_context(room_id="r1", peer_id=None):
        line = TextFormatter().format(record("room opened"))
    assert line.endswith("INFO    liveloop_sfu.rooms.service: room opened [room_id=r1]")


def test_fault_and_logging_settings() -> None:
    defaults = load_settings([], {})
    # A frozen client is dropped within ping_interval + 2 x ping_timeout: under 10 s.
    assert defaults.ping_interval + 2 * defaults.ping_timeout < 10
    assert defaults.media_timeout < 10
    assert (defaults.log_format, defaults.drain_timeout) == ("text", 5.0)
    settings = load_settings(
        ["--media-timeout", "4", "--drain-timeout", "2", "--log-format", "JSON"],
        {"LIVELOOP_TURN_TTL": "120", "LIVELOOP_TURN_SECRET": "s"},
    )
    assert (settings.media_timeout, settings.drain_timeout, settings.log_format) == (4, 2, "json")
    assert settings.turn_ttl == 120
