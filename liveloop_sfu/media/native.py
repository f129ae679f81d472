"""Which per-packet modules run compiled (mypyc, built by ``setup.py`` at install time) and which
as plain Python. Both behave the same; compiled is faster (docs/benchmarks.md)."""

from __future__ import annotations

import importlib
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

# Kept in step with setup.py's NATIVE_MODULES.
NATIVE_MODULES = (
    "drops",
    "forwarder",
    "history",
    "keyframe_requests",
    "keyframes",
    "nack_generator",
    "packet_io",
    "reception",
    "remb",
    "rewriter",
    "rtcp",
    "rtp",
    "rtp_common",
    "rtp_path",
    "sender_report",
    "subscription",
)


def compiled_modules() -> dict[str, bool]:
    """``{module: True if imported from a compiled extension}`` for every module of the packet
    path (importing them)."""
    result: dict[str, bool] = {}
    for name in NATIVE_MODULES:
        module = importlib.import_module(f"{__package__}.{name}")
        result[name] = str(module.__file__).endswith(tuple(EXTENSION_SUFFIXES))
    return result


def compiled() -> bool:
    """True when the whole packet path runs compiled."""
    return all(compiled_modules().values())


def stale_modules() -> list[str]:
    """Compiled modules whose ``.py`` source was edited after they were built: the extension
    still runs the old code until ``pip install -e .`` rebuilds it (the node warns at start)."""
    # Paths come from this (pure) module's folder, not from the compiled modules' ``__file__``:
    # mypyc gives a module imported from inside its shared library a wrong one
    # (``media/liveloop_sfu/media/x.so``). That shared library holds the code of all of them and
    # a rebuild may rewrite only it, leaving each module's small loader with its old time.
    here = Path(__file__).resolve().parent
    built = [path for path in here.iterdir() if path.name.endswith(tuple(EXTENSION_SUFFIXES))]
    stale = []
    for name, is_compiled in compiled_modules().items():
        if not is_compiled:
            continue
        mine = [p for p in built if p.name.split(".")[0] in (name, "_native__mypyc")]
        built_at = max((p.stat().st_mtime for p in mine), default=0.0)
        source = here / f"{name}.py"
        if source.is_file() and source.stat().st_mtime > built_at:
            stale.append(name)
    return stale
