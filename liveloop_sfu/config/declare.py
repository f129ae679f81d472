"""How a setting is declared: once, as data, on the field of the settings tree that holds it.

A field of a subtree (``NetworkSettings.port``, ``LimitSettings.chat``, ...) carries its
:class:`Setting` in the dataclass field's metadata: the flag, the help text and the parser that
turns the flag's (or the environment variable's) text into the field's value. The environment
variable is derived from the flag (``--max-forwarded-streams`` ↔
``LIVELOOP_MAX_FORWARDED_STREAMS``), and the default is the field's own default, so each of them
is written exactly once.
``load.py`` builds the command line, the environment lookup and the validation from these;
docs/configuration.md's table is checked against them (tests/unit/config/test_declarations.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

# Raw text (flag or environment) and the flag it came from -> the field's value. Raises
# ConfigError naming the flag: every message an operator sees starts from the flag they typed.
Parse = Callable[[str, str], Any]

T = TypeVar("T")

ENV_PREFIX = "LIVELOOP_"


@dataclass(frozen=True, slots=True)
class Setting:
    """One operator setting: its flag, help text and parser (the default is the field's)."""

    flag: str
    # ``{default}`` is replaced by the field's default as the operator would type it.
    help: str
    parse: Parse
    # A flag that takes no value (``--require-room-token``); its variable still takes one.
    switch: bool = False

    @property
    def dest(self) -> str:
        """``--rtc-min-port`` -> ``rtc_min_port`` (also the metavar the help shows)."""
        return self.flag.lstrip("-").replace("-", "_")

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.dest.upper()


def setting(
    default: T,
    flag: str,
    help: str,
    parse: Parse,
    *,
    switch: bool = False,
    repr: bool = True,
) -> T:
    """A dataclass field declared as an operator setting (typed as its default, for mypy)."""
    spec = Setting(flag, help, parse, switch)
    return dataclasses.field(default=default, repr=repr, metadata={"setting": spec})


def setting_factory(
    factory: Callable[[], T], flag: str, help: str, parse: Parse, *, repr: bool = True
) -> T:
    """:func:`setting` whose default is computed (``--web-root``: the checkout's ``web/``)."""
    spec = Setting(flag, help, parse)
    return dataclasses.field(default_factory=factory, repr=repr, metadata={"setting": spec})


@dataclass(frozen=True, slots=True)
class Declared:
    """A declared setting with where it lives in the tree and its default value."""

    group: str  # the subtree's field on Settings ("network", "limits", ...)
    name: str  # the field inside the subtree
    spec: Setting
    default: Any

    def help_text(self) -> str:
        return self.spec.help.replace("{default}", render(self.default))


def subtrees(tree: type[Any]) -> Iterator[tuple[str, type[Any]]]:
    """The subtrees of the settings tree: (field name, dataclass), in declaration order."""
    for f in dataclasses.fields(tree):
        if f.default_factory is not dataclasses.MISSING:
            yield f.name, type(f.default_factory())


def declared(tree: type[Any]) -> Iterator[Declared]:
    """Every declared setting of the tree, subtree by subtree, in declaration order."""
    for group, cls in subtrees(tree):
        defaults = cls()
        for f in dataclasses.fields(cls):
            spec = f.metadata.get("setting")
            if isinstance(spec, Setting):
                yield Declared(group, f.name, spec, getattr(defaults, f.name))


def render(value: Any) -> str:
    """A default as the operator would write it: ``10`` for 10.0, ``a,b`` for a tuple."""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return ",".join(render(item) for item in value)
    if isinstance(value, Path):
        return str(value)
    if value is None:
        return ""
    return str(value)
