"""Build hook: compile the sans-I/O forwarding core (the pure per-packet modules) with mypyc,
ahead of time, from the same mypy --strict source. ``pip install -e .`` (scripts/install.sh) on a
machine with a C compiler and the Python headers then imports native modules; everything else is
in pyproject.toml. Which modules: every module of the folders listed in
liveloop_sfu/media/compiled.py; those of the cheap load client (benchmarks/clients/native, in a
checkout only) go into a library of their own that only an editable install builds. The session
glue (media/sfu/session.py) and the aiortc adapter stay interpreted: compiled, they crashed the
process in the garbage collector during media tests (mypyc 2.4.1).

A wheel (``python -m build --wheel``) also carries the browser client: build_py copies web/ and
the socket.io browser build that ``npm ci --prefix web`` fetched into ``liveloop_sfu/web/``, where
the installed node finds it (liveloop_sfu/config/paths.py). An editable install leaves web/ where
it is; the node then serves it from the checkout.

The modules stay plain Python as well: without a compiler (or with ``LIVELOOP_PURE=1``) the
install is pure Python and behaves the same, only slower; the test suite runs against whichever
is imported (``liveloop_sfu.media.native.compiled()`` says which).
"""

from __future__ import annotations

import json
import os
import runpy
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

ROOT = Path(__file__).parent
WEB = ROOT / "web"
# What the node serves of web/ (liveloop_sfu/http/public.py): everything but npm's metadata and
# node_modules, where only the socket.io browser build (and its licence) is needed.
WEB_HIDDEN = {"node_modules", "package.json", "package-lock.json"}
SOCKETIO = Path("node_modules") / "socket.io-client"
SOCKETIO_FILES = ("dist", "LICENSE", "package.json")
BENCHMARKS_PREFIX = "benchmarks."  # dotted names of the load client's compiled modules


def _compiled_modules(folders: tuple[str, ...]) -> list[str]:
    """Every module of ``folders`` (compiled folders of liveloop_sfu/media/compiled.py), as paths
    relative to the checkout, where the build runs."""
    return [
        str(path)
        for folder in folders
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
    listing = runpy.run_path(str(ROOT / "liveloop_sfu/media/compiled.py"))
    node = _compiled_modules(listing["COMPILED_PACKAGES"])
    benchmarks = _compiled_modules(listing["BENCHMARK_COMPILED_PACKAGES"])
    # One shared library per group inside its package (not a top-level module), so an editable
    # install, which exposes only the listed packages, finds it. The load client's folders (in a
    # checkout only) are a group of their own, so that BuildExtForCheckout can leave them out of
    # a wheel whole; compiled together ("separate" groups), the client's per-packet calls into
    # the node's core stay native calls instead of going through Python objects.
    groups = [(node, listing["NODE_GROUP"])]
    if benchmarks:
        groups.append((benchmarks, listing["BENCHMARK_GROUP"]))
    extensions: list[object] = mypycify(node + benchmarks, opt_level="3", separate=groups)
    if benchmarks:
        # The load client's packet I/O in C (SRTP protect and send, recvmmsg), beside its
        # mypyc modules: benchmarks/clients/native/_wire.c says why.
        extensions.append(
            Extension(
                listing["BENCHMARK_WIRE"],
                [listing["BENCHMARK_WIRE_SOURCE"]],
                extra_compile_args=["-O2", "-Wall", "-Wextra", "-Werror"],
            )
        )
    return extensions


class BuildExtForCheckout(build_ext):
    """build_ext, but the benchmarks' extensions only in an editable install: the wheel holds
    the node alone (benchmarks/ is not one of its packages, and install_lib would otherwise copy
    their built libraries into it)."""

    def finalize_options(self) -> None:
        super().finalize_options()
        if not self.editable_mode:
            self.extensions = [
                ext for ext in self.extensions if not ext.name.startswith(BENCHMARKS_PREFIX)
            ]


def _socketio_ready() -> bool:
    """The installed socket.io-client is the one web/package-lock.json names."""
    installed = WEB / SOCKETIO / "package.json"
    if not (WEB / SOCKETIO / "dist").is_dir() or not installed.is_file():
        return False
    locked = json.loads((WEB / "package-lock.json").read_text())["packages"]
    wanted = locked[SOCKETIO.as_posix()]["version"]
    return bool(json.loads(installed.read_text())["version"] == wanted)


def _copy_web(target: Path) -> None:
    """web/ and the socket.io browser build into the built package (fetched now, at build time,
    from the npm registry if web/node_modules does not hold the locked version)."""
    if not _socketio_ready():
        npm = shutil.which("npm")
        if npm is None:
            raise SystemExit("liveloop-sfu: a wheel needs npm, for web/'s socket.io build")
        subprocess.run(
            [npm, "ci", "--prefix", str(WEB), "--no-audit", "--no-fund", "--loglevel=error"],
            check=True,
        )
    if target.exists():
        shutil.rmtree(target)
    for path in sorted(WEB.rglob("*")):
        relative = path.relative_to(WEB)
        if path.is_file() and not (
            WEB_HIDDEN & set(relative.parts) or any(part.startswith(".") for part in relative.parts)
        ):
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target / relative)
    for name in SOCKETIO_FILES:
        source = WEB / SOCKETIO / name
        if source.is_dir():
            shutil.copytree(source, target / SOCKETIO / name)
        else:
            (target / SOCKETIO).mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / SOCKETIO / name)


class BuildPyWithWeb(build_py):
    """build_py, plus the browser client as package data of a wheel (not of an editable
    install, which serves the checkout's web/ as it is)."""

    def run(self) -> None:
        package = Path(self.build_lib) / "liveloop_sfu"
        if not self.editable_mode:
            # install_lib copies all of build/lib into the wheel: a module deleted from the
            # sources since an earlier build must not ride along (build_ext, next, rebuilds).
            shutil.rmtree(package, ignore_errors=True)
        super().run()
        if not self.editable_mode:
            _copy_web(package / "web")


setup(
    ext_modules=_native_extensions(),
    cmdclass={"build_py": BuildPyWithWeb, "build_ext": BuildExtForCheckout},
)
