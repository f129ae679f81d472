"""``liveloop-sfu bench``: start the load-testing harness of ``benchmarks/``.

The harness ships with a checkout of the project, not in the wheel: it starts baselines (the
relay node, Janus in a network namespace), encodes synthetic media and writes reports beside the
sources, and its charts need matplotlib; a node installed from the wheel needs none of that. A
checkout's editable install finds ``benchmarks/`` beside the ``liveloop_sfu`` folder, as it finds
``web/``. Without it, or without the ``bench`` extra, this says what to install instead of failing
on an import.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

# What only the harness needs (pyproject.toml's `bench` extra).
BENCH_MODULES = ("matplotlib",)
NO_CHECKOUT = (
    "liveloop-sfu bench: the load-testing harness (benchmarks/) comes with a checkout of the "
    "project, not with the installed package. Clone the repository, then run "
    "`scripts/install.sh --bench` there (it installs the `bench` extra) and `liveloop-sfu bench`."
)
NO_EXTRA = (
    "liveloop-sfu bench: the `bench` extra is not installed (missing: {missing}). In the checkout, "
    "run `scripts/install.sh --bench` (or `.venv/bin/pip install -e '.[bench]'`)."
)


def checkout_root() -> Path:
    """The folder holding ``liveloop_sfu/``: a checkout's root, or site-packages."""
    return Path(__file__).resolve().parent.parent


def problem(root: Path, importable: Callable[[str], bool]) -> str | None:
    """Why the harness cannot run from ``root`` (None: it can)."""
    if not (root / "benchmarks" / "__init__.py").is_file():
        return NO_CHECKOUT
    missing = [name for name in BENCH_MODULES if not importable(name)]
    if missing:
        return NO_EXTRA.format(missing=", ".join(missing))
    return None


def _importable(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def run(args: Sequence[str]) -> int:
    root = checkout_root()
    reason = problem(root, _importable)
    if reason is not None:
        print(reason, file=sys.stderr)
        return 2
    # The harness and the processes it starts (`python -m benchmarks.…`) import from the checkout.
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    os.environ["PYTHONPATH"] = os.pathsep.join(
        part for part in (str(root), os.environ.get("PYTHONPATH")) if part
    )
    from benchmarks.harness.bench import main as bench_main

    return bench_main(list(args))
