"""Build hook: compile the sans-I/O forwarding core (the pure per-packet modules) with mypyc,
ahead of time, from the same mypy --strict source. ``pip install -e .`` (scripts/install.sh) on a
machine with a C compiler and the Python headers then imports native modules; everything else is
in pyproject.toml. Which modules: every module of the folders listed in
liveloop_sfu/media/compiled.py. The session glue (media/sfu/session.py) and the aiortc adapter stay interpreted:
compiled, they crashed the process in the garbage collector during media tests (mypyc 2.4.1).

The modules stay plain Python as well: without a compiler (or with ``LIVELOOP_PURE=1``) the
install is pure Python and behaves the same, only slower; the test suite runs against whichever
is imported (``liveloop_sfu.media.native.compiled()`` says which).
"""

from __future__ import annotations

import os
import runpy
import shutil
import sys
import sysconfig
from pathlib import Path

from setuptools import setup


def _compiled_modules() -> list[str]:
    """Every module of the compiled folders (liveloop_sfu/media/compiled.py, shared with the
    stale-build check in liveloop_sfu/media/native.py)."""
    listing = runpy.run_path(str(Path(__file__).parent / "liveloop_sfu/media/compiled.py"))
    return [
        str(path)
        for folder in listing["COMPILED_PACKAGES"]
        for path in sorted(Path(folder).glob("*.py"))
        if path.name != "__init__.py"
    ]


def _can_compile() -> bool:
    """A C compiler and Python.h (Debian: gcc, python3-dev; scripts/install.sh installs them)."""
    compiler = os.environ.get("CC", "cc").split()[0]
    headers = Path(sysconfig.get_paths()["include"], "Python.h")
    return shutil.which(compiler) is not None and headers.is_file()


def _native_extensions() -> list[object]:
    if os.environ.get("LIVELOOP_PURE") == "1":
        return []
    if not _can_compile():
        print("liveloop-sfu: no C compiler or Python.h, installing pure Python", file=sys.stderr)
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:  # no mypy in the build environment: a pure-Python install
        print("liveloop-sfu: mypyc not available, installing pure Python", file=sys.stderr)
        return []
    # One shared library inside the package (not a top-level module), so an editable install,
    # which exposes only the listed packages, finds it.
    extensions: list[object] = mypycify(
        _compiled_modules(), opt_level="3", group_name="liveloop_sfu.media._native"
    )
    return extensions


setup(ext_modules=_native_extensions())
