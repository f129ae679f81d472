"""Safety and resume flags of the settings."""

from __future__ import annotations

import pytest

from liveloop_sfu.config import load_settings
from liveloop_sfu.errors import ConfigError


def test_safety_and_resume_flags() -> None:
    settings = load_settings(
        ["--resume-grace", "0", "--report-block-days", "30"],
        {"LIVELOOP_CLIENT_KEY_SECRET": "sixteen-chars-or-more"},
    )
    assert (settings.rooms.resume_grace, settings.safety.report_block_days) == (0.0, 30.0)
    assert "sixteen-chars-or-more" not in repr(settings)
    defaults = load_settings([], {})
    assert (defaults.rooms.resume_grace, defaults.safety.client_key_secret) == (8.0, None)
    for argv in (["--client-key-secret", "short"], ["--resume-grace", "-1"]):
        with pytest.raises(ConfigError):
            load_settings(argv, {})
