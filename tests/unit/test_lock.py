"""uv.lock is the install: it must agree with pyproject.toml, and the files made from it (the
uv bootstrap, the node's requirements) must agree with it. Offline: the pinned uv compares the
lock with pyproject.toml without asking the registry (README: Upgrading a dependency)."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
UV = Path(sys.executable).parent / "uv"
NODE_EXPORT = (
    "export",
    "--frozen",
    "--no-default-groups",
    "--no-emit-project",
    "--format",
    "requirements-txt",
)


def _uv(*args: str) -> subprocess.CompletedProcess[str]:
    if not UV.is_file():
        pytest.fail(f"no {UV}: install with scripts/install.sh --test (uv is pinned in uv.lock)")
    return subprocess.run(
        [str(UV), "--no-config", "--offline", "--quiet", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _toml(name: str) -> dict[str, Any]:
    return tomllib.loads((ROOT / name).read_text())


def _locked(name: str) -> dict[str, Any]:
    packages = [p for p in _toml("uv.lock")["package"] if p["name"] == name]
    assert len(packages) == 1, f"{name}: {len(packages)} entries in uv.lock"
    return packages[0]


def test_lock_matches_pyproject() -> None:
    done = _uv("lock", "--check")
    assert done.returncode == 0, f"uv.lock is out of date (run `uv lock`):\n{done.stderr}"


def test_node_requirements_are_the_lock_export() -> None:
    done = _uv(*NODE_EXPORT)
    assert done.returncode == 0, done.stderr
    assert (ROOT / "requirements/node.txt").read_text() == done.stdout, (
        "requirements/node.txt differs from uv.lock: remake it with the command in its header"
    )


def test_uv_bootstrap_is_the_locked_uv() -> None:
    text = (ROOT / "requirements/uv.txt").read_text()
    version = re.findall(r"^uv==(\S+)", text, re.MULTILINE)
    hashes = set(re.findall(r"--hash=(sha256:[0-9a-f]{64})", text))
    uv = _locked("uv")
    assert version == [uv["version"]]
    assert hashes == {wheel["hash"] for wheel in uv["wheels"]} | {uv["sdist"]["hash"]}
    assert _toml("pyproject.toml")["tool"]["uv"]["required-version"] == f"=={uv['version']}"


def test_build_requirements_are_the_locked_build_group() -> None:
    """A plain `pip install -e .` (isolated build) gets the same setuptools, wheel and mypy as
    the locked build that scripts/install.sh and the wheel use."""
    pyproject = _toml("pyproject.toml")
    requires = pyproject["build-system"]["requires"]
    group = set(pyproject["dependency-groups"]["build"])
    assert set(requires) <= group
    for requirement in requires:
        name, version = requirement.split("==")
        assert _locked(name)["version"] == version
