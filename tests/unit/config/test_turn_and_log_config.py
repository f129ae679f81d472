"""TURN, fault and logging flags of the settings."""

from __future__ import annotations

import pytest

from liveloop_sfu.config import load_settings
from liveloop_sfu.errors import ConfigError


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


def test_fault_and_logging_settings() -> None:
    defaults = load_settings([], {})
    # A frozen client is dropped within ping_interval + 2 x ping_timeout: under 10 s.
    assert defaults.socketio.ping_interval + 2 * defaults.socketio.ping_timeout < 10
    assert defaults.media.media_timeout < 10
    assert (defaults.logging.format, defaults.network.drain_timeout) == ("text", 3600.0)
    settings = load_settings(
        ["--media-timeout", "4", "--drain-timeout", "2", "--log-format", "JSON"],
        {"LIVELOOP_TURN_TTL": "120", "LIVELOOP_TURN_SECRET": "s"},
    )
    assert (
        settings.media.media_timeout,
        settings.network.drain_timeout,
        settings.logging.format,
    ) == (4, 2, "json")
    assert settings.turn.ttl == 120
