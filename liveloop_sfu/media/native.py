"""Which per-packet modules run compiled (mypyc, built by ``setup.py`` at install time) and which
as plain Python. Both behave the same; compiled is faster (docs/benchmarks.md)."""

from __future__ import annotations

import importlib
import pkgutil
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

from liveloop_sfu.media.compiled import (
    BENCHMARK_COMPILED_PACKAGES,
    BENCHMARK_GROUP,
    COMPILED_PACKAGES,
    NODE_GROUP,
)

_PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the folder holding ``liveloop_sfu/``


def _folders() -> tuple[str, ...]:
    """The node's compiled folders, and the load client's where a checkout has them (an
    installed wheel has no ``benchmarks/``)."""
    present = tuple(f for f in BENCHMARK_COMPILED_PACKAGES if (_PACKAGE_ROOT / f).is_dir())
    return COMPILED_PACKAGES + present


def _group_of(module: str) -> str:
    """The shared library (``<group>__mypyc``) holding a compiled module's code."""
    benchmark = tuple(folder.replace("/", ".") + "." for folder in BENCHMARK_COMPILED_PACKAGES)
    return BENCHMARK_GROUP if module.startswith(benchmark) else NODE_GROUP


def native_modules() -> tuple[str, ...]:
    """Dotted names of every module of the compiled folders (``COMPILED_PACKAGES``, and
    ``BENCHMARK_COMPILED_PACKAGES`` in a checkout)."""
    names: set[str] = set()
    for folder in _folders():
        package = folder.replace("/", ".")
        for info in pkgutil.iter_modules([str(_PACKAGE_ROOT / folder)]):
            # Only mypyc's, which have a source beside them (not a C extension such as the
            # load client's _wire, which is C and nothing else).
            if not info.ispkg and (_PACKAGE_ROOT / folder / f"{info.name}.py").is_file():
                names.add(f"{package}.{info.name}")
    return tuple(sorted(names))


def compiled_modules() -> dict[str, bool]:
    """``{module: True if imported from a compiled extension}`` for every module of the packet
    path (importing them)."""
    result: dict[str, bool] = {}
    for name in native_modules():
        module = importlib.import_module(name)
        result[name] = str(module.__file__).endswith(tuple(EXTENSION_SUFFIXES))
    return result


def compiled() -> bool:
    """True when the whole packet path runs compiled."""
    return all(compiled_modules().values())


def stale_modules() -> list[str]:
    """Compiled modules whose ``.py`` source was edited after they were built: the extension
    still runs the old code until ``pip install -e .`` rebuilds it (the node warns at start).
    Only a checkout (``setup.py`` beside the package) is edited after a build: an installed
    wheel's files carry the times its installer wrote them, in any order, so none is stale."""
    if not (_PACKAGE_ROOT / "setup.py").is_file():
        return []
    # Paths come from the package root, not from the compiled modules' ``__file__``: mypyc gives
    # a module imported from inside its shared library a wrong one. The shared library of a
    # module's group holds the code of all of them and a rebuild may rewrite only it, leaving
    # each module's small loader (beside its source) with its old time.
    stale = []
    for name, is_compiled in compiled_modules().items():
        if not is_compiled:
            continue
        *group_package, library = _group_of(name).split(".")
        shared = _built_at(_PACKAGE_ROOT.joinpath(*group_package), f"{library}__mypyc")
        source = _PACKAGE_ROOT.joinpath(*name.split(".")).with_suffix(".py")
        built_at = max(shared, _built_at(source.parent, source.stem))
        if source.is_file() and source.stat().st_mtime > built_at:
            stale.append(name)
    return stale


def _built_at(folder: Path, stem: str) -> float:
    """Newest modification time of the extensions named ``stem`` in ``folder`` (0 if none)."""
    times = [
        path.stat().st_mtime
        for path in folder.iterdir()
        if path.name.endswith(tuple(EXTENSION_SUFFIXES)) and path.name.split(".")[0] == stem
    ]
    return max(times, default=0.0)
