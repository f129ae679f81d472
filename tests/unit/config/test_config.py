"""Settings from flags and environment, validated once."""

from __future__ import annotations

from pathlib import Path

import pytest

from liveloop_sfu.config import IceServer, Settings, load_settings, parse_ice_servers
from liveloop_sfu.errors import ConfigError


def test_defaults_give_a_working_single_node() -> None:
    settings = load_settings([], {})
    assert settings.network.host == "127.0.0.1"
    assert settings.network.port == 8080
    assert settings.rooms.mode == "auto"
    assert settings.media.ice_servers == ()  # no STUN unless configured (DESIGN: networking facts)
    assert settings.network.allowed_origins == ()
    assert settings.network.tls is False


def test_flags_win_over_environment() -> None:
    env = {"LIVELOOP_PORT": "9000", "LIVELOOP_MODE": "p2p", "LIVELOOP_LOG_LEVEL": "DEBUG"}
    assert load_settings([], env).network.port == 9000
    settings = load_settings(["--port", "9100"], env)
    assert (settings.network.port, settings.rooms.mode, settings.logging.level) == (
        9100,
        "p2p",
        "debug",
    )


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--mode", "mesh"], "--mode"),
        (["--port", "http"], "integer"),
        (["--port", "70000"], "between"),
        (["--log-level", "loud"], "--log-level"),
        (["--tls-cert", "c.pem"], "go together"),
        (["--rtc-min-port", "50000"], "go together"),
        (["--rtc-min-port", "50010", "--rtc-max-port", "50000"], "min <= max"),
        (["--rtc-udp-port", "0"], "between"),
        (
            ["--rtc-udp-port", "50000", "--rtc-min-port", "50000", "--rtc-max-port", "50010"],
            "one or the other",
        ),
        (["--announced-ip", "example.org"], "not an IP"),
        (["--media-connect-timeout", "0"], "between"),
        (["--ice-servers", "[{"], "JSON"),
        (["--ice-servers", "http://x"], "stun:/turn:"),
        (["--ice-servers", '[{"urls": []}]'], "urls"),
        (["--ice-servers", '[{"urls": "turn:x", "username": 1}]'], "username"),
    ],
)
def test_bad_configuration_is_reported(argv: list[str], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        load_settings(argv, {})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ()),
        ("stun:127.0.0.1:3478", (IceServer(("stun:127.0.0.1:3478",)),)),
        ("stun:a:1, turn:b:2", (IceServer(("stun:a:1",)), IceServer(("turn:b:2",)))),
        (
            '[{"urls": ["turn:t:3478", "turns:t:5349"], "username": "u", "credential": "p"}]',
            (IceServer(("turn:t:3478", "turns:t:5349"), "u", "p"),),
        ),
    ],
)
def test_ice_servers(text: str, expected: tuple[IceServer, ...]) -> None:
    assert parse_ice_servers(text) == expected


def test_ice_server_wire_form() -> None:
    assert IceServer(("turn:t",), "u", "p").to_wire() == {
        "urls": ["turn:t"],
        "username": "u",
        "credential": "p",
    }
    assert IceServer(("stun:s",)).to_wire() == {"urls": ["stun:s"]}


def test_media_and_tls_settings(tmp_path: Path) -> None:
    settings = load_settings(
        [
            "--tls-cert",
            str(tmp_path / "c.pem"),
            "--tls-key",
            str(tmp_path / "k.pem"),
            "--announced-ip",
            "203.0.113.7",
            "--rtc-min-port",
            "40000",
            "--rtc-max-port",
            "40100",
            "--media-addresses",
            "127.0.0.1,::1",
            "--allowed-origins",
            "https://a.example, *",
        ],
        {},
    )
    assert settings.network.tls
    assert settings.media.announced_ip == "203.0.113.7"
    assert (settings.media.port_min, settings.media.port_max) == (40000, 40100)
    assert settings.media.host_addresses == ("127.0.0.1", "::1")
    assert settings.network.allowed_origins == ("https://a.example", "*")


def test_settings_are_frozen() -> None:
    with pytest.raises(AttributeError):
        Settings().network.port = 1  # type: ignore[misc]


def test_redis_url_from_flag_or_environment() -> None:
    assert load_settings([], {}).cluster.redis_url is None  # one node, all in process
    env = {"LIVELOOP_REDIS_URL": "redis://127.0.0.1:6379/0"}
    assert load_settings([], env).cluster.redis_url == "redis://127.0.0.1:6379/0"
    assert load_settings(["--redis-url", "unix:///run/redis.sock"], env).cluster.redis_url == (
        "unix:///run/redis.sock"
    )
    with pytest.raises(ConfigError, match="--redis-url"):
        load_settings(["--redis-url", "http://127.0.0.1:6379"], {})
