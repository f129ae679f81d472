#!/usr/bin/env bash
# Install Live Loop SFU from this checkout on Debian 12 (or any machine with Python >= 3.11,
# venv and npm): a virtual environment in .venv (Debian's Python refuses pip outside one, PEP 668)
# holding exactly what uv.lock says (versions and hashes: runtime, the chosen extras, and the
# build tools pip, setuptools, wheel, mypy, build, uv), the project in editable mode (so the node
# finds web/ and benchmarks/ beside it), and the browser's socket.io build from the npm registry
# into web/node_modules (web/package-lock.json).
#   scripts/install.sh          # the service
#   scripts/install.sh --test   # the service plus what the test suite needs (Python side)
#   scripts/install.sh --bench  # the service plus what `liveloop-sfu bench` needs
# The editable install compiles the packet path with mypyc (setup.py) using the locked setuptools
# and mypy (no build isolation); after editing one of those modules, run
# `.venv/bin/pip install --no-deps --no-build-isolation -e .` (or delete liveloop_sfu/media/*.so
# to run pure). Running this script again brings .venv back to exactly the locked set.
set -euo pipefail
cd "$(dirname "$0")/.."

extras=()
case "${1:-}" in
  "") ;;
  --test) extras=(--extra test) ;;
  --bench) extras=(--extra bench) ;;
  *) echo "usage: scripts/install.sh [--test | --bench]" >&2; exit 2 ;;
esac

need_debs=()
command -v npm >/dev/null 2>&1 || need_debs+=(nodejs npm)
python3 -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null || need_debs+=(python3)
python3 -c 'import ensurepip, venv' 2>/dev/null || need_debs+=(python3-venv)
# setup.py compiles the per-packet modules with mypyc: a C compiler and Python.h (without them the
# install is pure Python, which works the same but costs more CPU per forwarded packet).
command -v gcc >/dev/null 2>&1 || need_debs+=(gcc)
python3 -c 'import sysconfig, os, sys; sys.exit(not os.path.isfile(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' 2>/dev/null || need_debs+=(python3-dev)
if [ ${#need_debs[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_debs[@]}"
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
# uv, pinned with hashes, by the venv's own pip; then uv installs the locked set (--locked: it
# stops if uv.lock no longer matches pyproject.toml; every file's hash is checked). The project
# itself is left to pip below, so that it builds from the venv's locked setuptools and mypy.
.venv/bin/python -m pip install -q --disable-pip-version-check --require-hashes --no-deps \
  -r requirements/uv.txt
.venv/bin/uv sync --quiet --locked --no-install-project "${extras[@]}"
.venv/bin/python -m pip install -q --no-deps --no-build-isolation -e .
.venv/bin/python -c 'from liveloop_sfu.media.native import compiled; print("packet path compiled (mypyc):", compiled())'
npm ci --prefix web --no-audit --no-fund --loglevel=error

# `liveloop-sfu` on the PATH from now on.
if [ -w /usr/local/bin ]; then bindir=/usr/local/bin; else bindir="$HOME/.local/bin"; fi
mkdir -p "$bindir"
ln -sf "$PWD/.venv/bin/liveloop-sfu" "$bindir/liveloop-sfu"
echo "installed: $bindir/liveloop-sfu -> $PWD/.venv/bin/liveloop-sfu"
