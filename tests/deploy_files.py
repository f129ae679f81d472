"""Reading the deploy files and the configurations docs/deploy.md shows: shared by the fast
consistency checks (tests/unit/docs/) and the checks with the real programs
(tests/integration/deploy/)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "docs" / "deploy.md"
ENV_FILE = ROOT / "deploy" / "liveloop-sfu.env"
UNIT_FILE = ROOT / "deploy" / "liveloop-sfu.service"


def code_blocks(page: Path, language: str) -> list[str]:
    """The fenced code blocks of a Markdown page in one language (```nginx ... ```)."""
    fenced = re.compile(rf"^```{re.escape(language)}\n(.*?)^```", re.S | re.M)
    return fenced.findall(page.read_text())


def env_assignments(text: str) -> dict[str, str]:
    """The active ``NAME=value`` lines of an environment file as systemd reads it (comments and
    blank lines left out; no quotes are used in ours)."""
    pairs = (line.split("=", 1) for line in text.splitlines() if re.match(r"^[A-Z_]+=", line))
    return {name: value for name, value in pairs}


def key_values(text: str) -> dict[str, str]:
    """coturn's configuration: ``key=value`` or a bare ``key`` per line ('#' starts a comment).
    A key given twice keeps its last value."""
    values = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def unit_values(text: str) -> dict[str, list[str]]:
    """A systemd unit's ``Key=value`` lines, every value of each key in order."""
    values: dict[str, list[str]] = {}
    for line in text.splitlines():
        match = re.match(r"^([A-Za-z]+)=(.*)$", line)
        if match:
            values.setdefault(match.group(1), []).append(match.group(2))
    return values
