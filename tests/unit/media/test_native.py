"""The mypyc build (setup.py) and the runtime report (media/native.py) name the same modules, and
the report tells compiled from pure modules by what was really imported."""

from __future__ import annotations

import ast
import importlib
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

from liveloop_sfu.media import native

ROOT = Path(__file__).resolve().parents[3]


def _setup_modules() -> list[str]:
    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "NATIVE_MODULES" for t in node.targets
        ):
            return [str(path) for path in ast.literal_eval(node.value)]
    raise AssertionError("setup.py defines no NATIVE_MODULES")


def test_setup_compiles_exactly_the_reported_modules() -> None:
    paths = _setup_modules()
    assert paths == sorted(paths)
    assert [Path(p).stem for p in paths] == list(native.NATIVE_MODULES)
    assert all(p.startswith("liveloop_sfu/media/") and (ROOT / p).is_file() for p in paths)


def test_report_matches_what_was_imported() -> None:
    report = native.compiled_modules()
    assert list(report) == list(native.NATIVE_MODULES)
    for name, is_compiled in report.items():
        path = str(importlib.import_module(f"liveloop_sfu.media.{name}").__file__)
        assert is_compiled == path.endswith(tuple(EXTENSION_SUFFIXES)), (name, path)
    assert native.compiled() == all(report.values())
