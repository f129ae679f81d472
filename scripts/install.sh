#!/usr/bin/env bash
# Install Live Loop SFU from this checkout on Debian 12 (or any machine with Python >= 3.11,
# venv and npm): a virtual environment in .venv (Debian's Python refuses pip outside one, PEP 668),
# the project in editable mode (so the node finds web/ and benchmarks/ beside it), and the
# browser's socket.io build from the npm registry into web/node_modules.
#   scripts/install.sh          # the service
#   scripts/install.sh --test   # the service plus what the test suite needs (Python side)
# The editable install compiles the packet path with mypyc (setup.py); after editing one of those
# modules, run `.venv/bin/pip install -e .` again (or delete liveloop_sfu/media/*.so to run pure).
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
[ "${1:-}" = "--test" ] && extras="[test]"

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
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".${extras}"
.venv/bin/python -c 'from liveloop_sfu.media.native import compiled; print("packet path compiled (mypyc):", compiled())'
npm ci --prefix web --no-audit --no-fund --loglevel=error

# `liveloop-sfu` on the PATH from now on.
if [ -w /usr/local/bin ]; then bindir=/usr/local/bin; else bindir="$HOME/.local/bin"; fi
mkdir -p "$bindir"
ln -sf "$PWD/.venv/bin/liveloop-sfu" "$bindir/liveloop-sfu"
echo "installed: $bindir/liveloop-sfu -> $PWD/.venv/bin/liveloop-sfu"
