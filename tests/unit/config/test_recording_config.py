"""Recording and admin flags of the settings tree."""

from __future__ import annotations

from pathlib import Path

import pytest

from liveloop_sfu.config import load_settings
from liveloop_sfu.errors import ConfigError

TOKEN = "0123456789abcdef-token"


def test_defaults_record_nothing_and_disable_the_admin_api() -> None:
    settings = load_settings([], {})
    assert settings.recording.record == "none"
    assert settings.admin.token is None
    assert settings.recording.recordings_max_age == 0.0
    assert settings.recording.recordings_dir == Path("recordings")


def test_flags_and_environment() -> None:
    settings = load_settings(
        ["--record", "all", "--recordings-dir", "/srv/rec", "--recordings-min-free-mb", "5"],
        {"LIVELOOP_ADMIN_TOKEN": TOKEN, "LIVELOOP_RECORDINGS_MAX_AGE": "30d"},
    )
    assert settings.recording.record == "all"
    assert settings.recording.recordings_dir == Path("/srv/rec")
    assert settings.recording.recordings_min_free_mb == 5
    assert settings.recording.recordings_max_age == 30 * 86400
    assert settings.admin.token == TOKEN


def test_the_admin_token_never_appears_in_the_settings_repr() -> None:
    settings = load_settings(["--admin-token", TOKEN], {})
    assert TOKEN not in repr(settings) and TOKEN not in str(settings)


@pytest.mark.parametrize(
    ("value", "seconds"), [("90", 90.0), ("15m", 900.0), ("12h", 43200.0), ("0", 0.0)]
)
def test_max_age_units(value: str, seconds: float) -> None:
    settings = load_settings(["--recordings-max-age", value], {})
    assert settings.recording.recordings_max_age == seconds


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--mode", "p2p", "--record", "all"], "--mode p2p"),
        (["--record", "some"], "--record must be one of"),
        (["--recordings-max-age", "soon"], "--recordings-max-age"),
        (["--recordings-max-age", "-5"], "must not be negative"),
        (["--admin-token", "short"], "at least 16"),
        (["--recordings-min-free-mb", "-1"], "--recordings-min-free-mb"),
    ],
)
def test_invalid_recording_configuration(argv: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(argv, {})


WEBHOOK_SECRET = "webhook-secret-0123456789"


def test_hand_off_settings_from_flags_and_environment() -> None:
    settings = load_settings(
        [
            "--recording-webhook-url",
            "https://hooks.example.org/rec",
            "--recording-finished-command",
            "rclone copy --config '/etc/my rclone.conf' remote:recordings",
            "--recording-finished-command-timeout",
            "120",
        ],
        {"LIVELOOP_RECORDING_WEBHOOK_SECRET": WEBHOOK_SECRET},
    )
    recording = settings.recording
    assert recording.webhook_url == "https://hooks.example.org/rec"
    assert recording.webhook_secret == WEBHOOK_SECRET
    assert WEBHOOK_SECRET not in repr(settings)
    assert recording.finished_command == (
        "rclone",
        "copy",
        "--config",
        "/etc/my rclone.conf",
        "remote:recordings",
    )
    assert recording.finished_command_timeout == 120.0
    defaults = load_settings([], {}).recording
    assert defaults.webhook_url is None and defaults.finished_command == ()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--recording-webhook-url", "http://x/"], "needs --recording-webhook-secret"),
        (["--recording-webhook-url", "ftp://x/"], "must start with http://, https://"),
        (["--recording-webhook-secret", "short"], "at least 16"),
        (["--recording-finished-command", "rclone 'copy"], "No closing quotation"),
        (["--recording-finished-command-timeout", "0"], "between 0 and"),
    ],
)
def test_hand_off_settings_refused(argv: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(argv, {})
