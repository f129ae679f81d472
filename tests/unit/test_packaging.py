"""Every module of the installed package imports: a package that `packages.find` missed, or an
import left pointing at a module's old place, fails here rather than on an operator's machine."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import liveloop_sfu


def _all_modules() -> list[str]:
    return sorted(
        info.name
        for info in pkgutil.walk_packages(liveloop_sfu.__path__, prefix="liveloop_sfu.")
        if not info.name.endswith("__main__")
    )


def test_the_package_has_its_layers() -> None:
    packages = {
        info.name
        for info in pkgutil.walk_packages(liveloop_sfu.__path__, prefix="liveloop_sfu.")
        if info.ispkg
    }
    for layer in ("http", "signal", "rooms", "matchmaking", "cluster", "media"):
        assert f"liveloop_sfu.{layer}" in packages
    for room in ("core", "codecs", "sfu", "transport", "recording"):
        assert f"liveloop_sfu.media.{room}" in packages


@pytest.mark.parametrize("name", _all_modules())
def test_module_imports(name: str) -> None:
    assert importlib.import_module(name).__name__ == name
