#!/usr/bin/env bash
# Everything the test suite needs on a fresh Debian 12 machine, then the whole suite:
# Debian packages (Chromium for browser tests, redis-server, ffmpeg/ffprobe, coturn for the TURN
# relay test; nginx, nftables, systemd's systemd-analyze and strace check the deploy files and
# docs/deploy.md; nftables, iproute2 and certutil from libnss3-tools build the network lab,
# tests/lab), the project with its test extras exactly as uv.lock pins them (scripts/install.sh),
# the browser's socket.io build; then ruff, mypy
# --strict, the import-linter layer contracts and pytest (all markers, browser and slow tests included). Extra arguments go to pytest.
#   scripts/test.sh                  # what CI runs
#   scripts/test.sh -m "not slow"    # the fast set, in seconds
set -euo pipefail
cd "$(dirname "$0")/.."

debs=(chromium redis-server ffmpeg coturn nginx nftables systemd strace iproute2 libnss3-tools)
missing=()
for deb in "${debs[@]}"; do dpkg -s "$deb" >/dev/null 2>&1 || missing+=("$deb"); done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

scripts/install.sh --test

.venv/bin/ruff check liveloop_sfu benchmarks tests
.venv/bin/ruff format --check liveloop_sfu benchmarks tests
.venv/bin/mypy
# The layer order (pyproject.toml [tool.importlinter], docs/architecture.md).
.venv/bin/lint-imports
.venv/bin/python -m pytest "$@"
