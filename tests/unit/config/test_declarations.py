"""The one declaration of each setting is what the configuration table (docs/configuration.md),
``--help`` and the environment follow (STYLE.md habit 11): a flag added, renamed or given a new
default without the table following fails here."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from liveloop_sfu.config import Settings, build_parser, load_settings
from liveloop_sfu.config.declare import Declared, declared, render, subtrees

TABLE = Path(__file__).resolve().parents[3] / "docs" / "configuration.md"
DECLARED = {item.spec.flag: item for item in declared(Settings)}


@dataclasses.dataclass(frozen=True)
class Row:
    flags: tuple[str, ...]
    envs: tuple[str, ...]
    elided: bool  # "`LIVELOOP_RATE_CHAT`, …": the other variables left to the reader
    defaults: tuple[str, ...]


def readme_rows() -> list[Row]:
    """The rows of docs/configuration.md's table (its "Every setting" section)."""
    section = TABLE.read_text().split("\n## Every setting\n", 1)[1].split("\n#", 1)[0]
    rows = []
    for line in section.splitlines():
        if not line.startswith("| `--"):
            continue
        # A cell may hold an escaped pipe (`N[s\|m\|h\|d]`).
        flags, envs, default = re.split(r"(?<!\\)\|", line)[1:4]
        names = tuple(re.findall(r"`(--[a-z0-9-]+)`", flags))
        defaults = tuple(part.strip() for part in default.split(", "))
        rows.append(
            Row(
                names,
                tuple(re.findall(r"`(LIVELOOP_[A-Z0-9_]+)`", envs)),
                "…" in envs,
                defaults if len(defaults) == len(names) else defaults * len(names),
            )
        )
    return rows


def has_literal_default(item: Declared) -> bool:
    """False for settings that are off or unset by default, or computed (``--web-root``)."""
    field = next(
        f
        for _, cls in subtrees(Settings)
        for f in dataclasses.fields(cls)
        if f.metadata.get("setting") is item.spec
    )
    computed = field.default_factory is not dataclasses.MISSING
    return not computed and item.default is not False and render(item.default) != ""


def test_the_table_lists_every_flag_once() -> None:
    listed = [flag for row in readme_rows() for flag in row.flags]
    assert sorted(listed) == sorted(DECLARED)


@pytest.mark.parametrize("row", readme_rows(), ids=lambda row: row.flags[0])
def test_table_row_matches_the_declarations(row: Row) -> None:
    expected_envs = tuple(DECLARED[flag].spec.env for flag in row.flags)
    if row.elided:
        assert expected_envs[: len(row.envs)] == row.envs
    else:
        assert row.envs == expected_envs
    for flag, written in zip(row.flags, row.defaults, strict=True):
        item = DECLARED[flag]
        literal = re.match(r"`([^`]*)`", written)
        if has_literal_default(item):
            assert literal is not None, f"{flag}: no default in the table, declared {item.default}"
            assert literal.group(1) == render(item.default), flag
        else:
            assert literal is None, f"{flag}: the table gives {written}, declared none"


def test_environment_variables_are_named_after_the_flags() -> None:
    for flag, item in DECLARED.items():
        assert item.spec.env == "LIVELOOP_" + flag[2:].upper().replace("-", "_")


def test_help_shows_every_flag_with_its_variable_and_default() -> None:
    text = " ".join(build_parser({}).format_help().split())
    for flag, item in DECLARED.items():
        assert f"{flag} " in text
        assert f"[{item.spec.env}]" in text
        if "{default}" in item.spec.help:
            assert f"default {render(item.default)}" in text


def test_every_declared_default_is_what_an_empty_configuration_gives() -> None:
    loaded = load_settings([], {})
    # The one value derived rather than declared: the media addresses follow --host
    # (config/addresses.py), loopback for the default 127.0.0.1.
    assert loaded.media.host_addresses == ("127.0.0.1",)
    media = dataclasses.replace(loaded.media, host_addresses=())
    assert dataclasses.replace(loaded, media=media) == Settings()
