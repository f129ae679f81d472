"""The command line of liveloop_sfu/__main__.py: --help, --version, the commands it dispatches,
mint-room-token."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import liveloop_sfu
from liveloop_sfu.__main__ import COMMANDS, main, mint_room_token
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


# The console script pip installed beside this interpreter: what an operator runs.
CLI = Path(sys.executable).parent / "liveloop-sfu"
PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
README = PYPROJECT.parent / "README.md"


def test_help_lists_the_commands_and_the_node_flags(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    listed = text.split("commands (instead of starting a node):", 1)[1].split()
    for name, _ in COMMANDS:
        assert name in listed
    assert "--port PORT" in text and "[LIVELOOP_PORT]" in text
    assert "--version" in text


@pytest.mark.parametrize("name", [name for name, _ in COMMANDS])
def test_the_readme_names_each_command(name: str) -> None:
    assert f"`liveloop-sfu {name}" in README.read_text()


@pytest.mark.parametrize("name", [name for name, _ in COMMANDS])
def test_each_listed_command_is_dispatched(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    """``COMMAND --help`` reaches that command's own usage, not the node's option parser."""
    with contextlib.suppress(SystemExit):  # argparse's --help of the command exits
        main([name, "--help"])
    captured = capsys.readouterr()
    assert f"usage: liveloop-sfu {name}" in captured.out + captured.err


def test_version_is_the_package_version() -> None:
    """Through the console script pip installed: what an operator runs."""
    done = subprocess.run(
        [CLI, "--version"], capture_output=True, text=True, timeout=60, check=True
    )
    declared = tomllib.loads(PYPROJECT.read_text())["project"]["version"]
    assert done.stdout.strip() == f"liveloop-sfu {declared}"
    # /health reports liveloop_sfu.__version__: the same number.
    assert liveloop_sfu.__version__ == declared
