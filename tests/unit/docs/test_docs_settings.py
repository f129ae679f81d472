"""The README, docs/ and deploy/ name only settings the code has, and the deploy files agree with
each other and with the node's defaults. A page that names a flag or a ``LIVELOOP_*`` variable
the code lacks, an nginx upstream that is not where the node listens, or a firewall that opens
other ports than the node and coturn use fails here (the real programs check the same files in
tests/integration/deploy/)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from liveloop_sfu.__main__ import node_parser
from liveloop_sfu.app import CLOSE_TIMEOUT
from liveloop_sfu.config import Settings, load_settings
from liveloop_sfu.config.declare import declared
from tests.deploy_files import (
    DEPLOY,
    ENV_FILE,
    ROOT,
    UNIT_FILE,
    code_blocks,
    env_assignments,
    key_values,
    unit_values,
)

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
NAMED_IN = [*PAGES, ENV_FILE, UNIT_FILE]
VARIABLE = re.compile(r"\bLIVELOOP_[A-Z0-9_]*[A-Z0-9]\b")
FLAG = re.compile(r"(?<![\w-])--[a-z0-9][a-z0-9-]*")
# Code blocks in another program's language: their options are checked by that program
# (tests/integration/deploy/), not against ours.
FOREIGN_BLOCKS = {"nginx", "nft", "coturn", "redis"}


def code_variables() -> set[str]:
    """Variables the code reads: every declared setting's, and the few read by name
    (``LIVELOOP_EVENT_LOOP`` in __main__.py, ``LIVELOOP_PURE`` in setup.py at install)."""
    names = {item.spec.env for item in declared(Settings)}
    for source in [*(ROOT / "liveloop_sfu").rglob("*.py"), ROOT / "setup.py"]:
        names |= set(re.findall(r"[\"'](LIVELOOP_[A-Z0-9_]+)[\"']", source.read_text()))
    return names


def parser_flags() -> dict[str, set[str]]:
    """The flags of each program the docs run: the node (its real parser), and each benchmark
    command (the flags its argparse declares, read from its source)."""
    node = {flag for action in node_parser({})._actions for flag in action.option_strings}
    programs = {"liveloop-sfu": node}
    sources = {"liveloop-sfu bench": ROOT / "benchmarks" / "harness" / "bench.py"}
    for suite in (ROOT / "benchmarks" / "suites").glob("*.py"):
        sources[f"python -m benchmarks.suites.{suite.stem}"] = suite
    for program, source in sources.items():
        programs[program] = set(re.findall(r"\"(--[a-z0-9][a-z0-9-]*)\"", source.read_text()))
    return programs


def commands(page: Path) -> Iterator[tuple[int, str]]:
    """Every inline code span and every command line of the page's code blocks (a line ending
    in a backslash goes on), with its line number; blocks in a foreign language are left out."""
    text = page.read_text()
    fenced = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.S | re.M)
    for block in fenced.finditer(text):
        if block.group(1) in FOREIGN_BLOCKS:
            continue
        first = text.count("\n", 0, block.start(2)) + 1
        joined = block.group(2).replace("\\\n", " ")
        for offset, line in enumerate(joined.splitlines()):
            yield first + offset, line.split(" # ", 1)[0]
    prose = fenced.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    for number, line in enumerate(prose.splitlines(), 1):
        for span in re.findall(r"`([^`]+)`", line):
            yield number, span


def program_of(command: str, programs: dict[str, set[str]]) -> str | None:
    """Whose flags a command names: the program it starts with (after variable assignments),
    ``""`` for bare flags (any of ours), ``None`` for another program's command."""
    words = [word for word in command.split() if not re.match(r"^[A-Z_]+=", word)]
    if not words or words[0].startswith("--"):
        return ""
    line = " ".join(words)
    for program in sorted(programs, key=len, reverse=True):
        if line == program or line.startswith(program + " "):
            return program
    return None


def test_every_variable_named_in_the_docs_exists() -> None:
    known = code_variables()
    unknown = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in NAMED_IN
        for name in sorted(set(VARIABLE.findall(path.read_text())))
        if name not in known
    ]
    assert not unknown, "variables the node does not read: " + ", ".join(unknown)


def test_every_flag_named_in_the_docs_exists() -> None:
    programs = parser_flags()
    anyone = set().union(*programs.values())
    unknown = []
    for page in PAGES:
        for number, command in commands(page):
            program = program_of(command, programs)
            if program is None:
                continue
            allowed = programs.get(program, set()) if program else anyone
            where = f"{page.relative_to(ROOT)}:{number}"
            unknown += [f"{where}: {flag}" for flag in FLAG.findall(command) if flag not in allowed]
    assert not unknown, (
        "flags no parser has (another program's flag: name the program in the same code span): "
        + ", ".join(unknown)
    )


def test_the_example_environment_is_a_valid_configuration() -> None:
    env = env_assignments(ENV_FILE.read_text())
    settings = load_settings([], env)
    assert settings.network.trusted_proxies and settings.media.udp_port is not None


def test_recordings_go_to_the_units_state_folder() -> None:
    unit = unit_values(UNIT_FILE.read_text())
    state = Path("/var/lib") / unit["StateDirectory"][0]
    settings = load_settings([], env_assignments(ENV_FILE.read_text()))
    assert unit["WorkingDirectory"] == [str(state)]
    # Under ProtectSystem=strict only the state folder is writable.
    assert unit["ProtectSystem"] == ["strict"]
    assert settings.recording.recordings_dir.is_relative_to(state)
    assert Settings().recording.recordings_dir.is_absolute() is False  # relative: under it too


def test_the_unit_waits_for_the_node_to_drain() -> None:
    """systemd kills what is left after TimeoutStopSec; the node needs its drain timeout, then
    up to CLOSE_TIMEOUT to end what is left and tell every client, plus aiohttp's 1 s
    shutdown_timeout (__main__.py)."""
    unit = unit_values(UNIT_FILE.read_text())
    settings = load_settings([], env_assignments(ENV_FILE.read_text()))
    needed = settings.network.drain_timeout + CLOSE_TIMEOUT + 1.0
    assert float(unit["TimeoutStopSec"][0]) > needed
    assert unit["Restart"] == ["on-failure"]
    assert int(unit["LimitNOFILE"][0]) >= 65536
    assert unit["EnvironmentFile"] == [f"/etc/liveloop-sfu/{ENV_FILE.name}"]


def test_nginx_proxies_to_where_the_node_listens() -> None:
    env = load_settings([], env_assignments(ENV_FILE.read_text())).network
    assert env.port == Settings().network.port  # the file keeps the node's default port
    upstreams = [
        re.findall(r"^\s*server (\S+?)(?::(\d+))?[ ;]", block, re.M)
        for block in code_blocks((DEPLOY), "nginx")
        if "upstream liveloop" in block
    ]
    assert upstreams == [[(env.host, str(env.port))]]
    tls_site = next(block for block in code_blocks(DEPLOY, "nginx") if "listen 443" in block)
    assert "location /socket.io/ {" in tls_site
    for header in ("Upgrade $http_upgrade", "X-Forwarded-Proto $scheme", "Host $http_host"):
        assert f"proxy_set_header {header};" in tls_site


def test_the_socketio_path_is_the_nodes() -> None:
    """nginx upgrades /socket.io/ to a WebSocket: the path the node's socket.io server serves."""
    from liveloop_sfu.app import create_app

    app = create_app(Settings())
    paths = {resource.canonical for resource in app.router.resources()}
    assert "/socket.io/" in paths


def test_the_firewall_opens_the_ports_the_node_and_coturn_use() -> None:
    (rules,) = code_blocks(DEPLOY, "nft")
    (turn,) = code_blocks(DEPLOY, "coturn")
    coturn = key_values(turn)
    media = load_settings([], env_assignments(ENV_FILE.read_text())).media
    udp = set(re.findall(r"udp dport \{?\s*([\d, -]+?)\s*\}? accept", rules))
    tcp = set(re.findall(r"tcp dport \{?\s*([\d, -]+?)\s*\}? accept", rules))
    assert udp == {
        str(media.udp_port),
        coturn["listening-port"],
        f"{coturn['min-port']}-{coturn['max-port']}",
    }
    assert tcp == {"22", "80, 443", f"{coturn['listening-port']}, {coturn['tls-listening-port']}"}
    listens = {
        port
        for block in code_blocks(DEPLOY, "nginx")
        for port in re.findall(r"^\s*listen (?:\[::\]:)?(\d+)", block, re.M)
    }
    assert listens == {"80", "443"}


def test_the_turn_urls_name_coturns_ports() -> None:
    (turn,) = code_blocks(DEPLOY, "coturn")
    coturn = key_values(turn)
    line = next(line for line in ENV_FILE.read_text().splitlines() if "LIVELOOP_TURN_URLS=" in line)
    urls = load_settings(
        [], {"LIVELOOP_TURN_URLS": line.split("=", 1)[1], "LIVELOOP_TURN_SECRET": "s" * 16}
    )
    ports = {(url.split(":")[0], url.split(":")[2].split("?")[0]) for url in urls.turn.urls}
    assert ports == {
        ("turn", coturn["listening-port"]),
        ("turns", coturn["tls-listening-port"]),
    }
    assert "use-auth-secret" in coturn and "static-auth-secret" in coturn


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_links_between_pages_resolve(page: Path) -> None:
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
        if target.startswith(("http://", "https://")):
            continue
        assert (page.parent / target).exists(), f"{page.name} links to missing {target}"
