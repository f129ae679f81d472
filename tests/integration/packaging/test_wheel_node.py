"""The wheel is the node: built from this checkout (compiled packet path, browser client and its
socket.io build inside), installed with the locked dependencies into a fresh venv in an empty
folder, it serves the page, socket.io and a 1:1 call with nothing of the checkout on its path,
and writes nothing into its site-packages while it runs.

The venv gets exactly uv.lock's runtime set (what requirements/node.txt lists), offline from
uv's cache when scripts/install.sh filled it, else from the registry with the lock's hashes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.conftest import Caller, call_pair
from tests.nodes import ROOT, get_json, start_node

# The first test also builds the wheel (mypyc's C compiled afresh: about 25 s of CPU, minutes
# on a loaded machine) and installs the venv.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

UV = Path(sys.executable).parent / "uv"


@dataclass(frozen=True)
class NodeVenv:
    folder: Path  # the empty folder the node runs in
    venv: Path
    site_packages: Path
    environ: dict[str, str]

    def bin(self, name: str) -> str:
        return str(self.venv / "bin" / name)


def _run(
    command: Sequence[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{' '.join(command)}: {done.returncode}\n{done.stderr[-4000:]}"
    return done


def tree_state(root: Path) -> dict[str, tuple[bool, int, int]]:
    """Every path under ``root``: (is a folder, size, modification time in ns)."""
    state = {}
    for path in root.rglob("*"):
        stat = path.lstat()
        state[str(path.relative_to(root))] = (path.is_dir(), stat.st_size, stat.st_mtime_ns)
    return state


def _install_locked_runtime(venv: Path) -> None:
    """uv.lock's runtime set (no extras, no build tools) into ``venv``, hashes checked."""
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(venv)}
    sync = [str(UV), "--no-config", "--quiet", "sync", "--frozen", "--no-install-project"]
    sync += ["--no-default-groups", "--compile-bytecode"]
    offline = subprocess.run(
        [*sync, "--offline"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    if offline.returncode != 0:  # uv's cache lacks some wheel (a venv pip made): the registry
        _run(sync, cwd=ROOT, env=env)


@pytest.fixture(scope="module")
def node_venv(tmp_path_factory: pytest.TempPathFactory) -> NodeVenv:
    work = tmp_path_factory.mktemp("wheel")
    dist = work / "dist"
    # --no-isolation: the build uses the venv's locked setuptools, wheel and mypy (mypyc).
    build = [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist)]
    _run(build, ROOT, timeout=840)
    (wheel,) = dist.glob("liveloop_sfu-*.whl")
    folder = work / "empty"
    folder.mkdir()
    venv = folder / "node"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], folder)
    _install_locked_runtime(venv)
    uv_pip = [str(UV), "--no-config", "--quiet", "pip"]
    _run([*uv_pip, "install", "--python", str(venv / "bin/python"), "--offline", "--no-deps",
          "--compile-bytecode", str(wheel)], folder)  # fmt: skip
    # The wheel's own requirements are met by the locked set.
    _run([*uv_pip, "check", "--python", str(venv / "bin/python")], folder)
    (site_packages,) = venv.glob("lib/python*/site-packages")
    home = work / "home"
    home.mkdir()
    environ = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(home),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "LANG": "C.UTF-8",
    }
    return NodeVenv(folder, venv, site_packages, environ)


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.status == 200
        body: bytes = response.read()
        return body


def test_the_wheel_holds_the_node_and_not_the_checkout(node_venv: NodeVenv) -> None:
    site = node_venv.site_packages
    assert (site / "liveloop_sfu/web/index.html").is_file()
    assert not (site / "benchmarks").exists()
    assert not (site / "matplotlib").exists()
    python = node_venv.bin("python")
    code = (
        "import liveloop_sfu, liveloop_sfu.config.paths as p, liveloop_sfu.media.native as n;"
        "print(liveloop_sfu.__file__, p.default_web_root(), n.compiled(), n.stale_modules())"
    )
    done = _run([python, "-c", code], node_venv.folder, env=node_venv.environ)
    package, web_root, compiled, stale = done.stdout.split(" ", 3)
    assert Path(package).is_relative_to(site)
    assert Path(web_root) == site / "liveloop_sfu" / "web"
    assert (compiled, stale.strip()) == ("True", "[]")


async def test_the_installed_node_serves_a_call_and_writes_nothing(
    node_venv: NodeVenv, caller: Caller, tmp_path: Path
) -> None:
    before = tree_state(node_venv.venv)
    node = start_node(
        tmp_path,
        "--mode",
        "sfu",
        program=[node_venv.bin("liveloop-sfu")],
        cwd=node_venv.folder,
        environ=node_venv.environ,
    )
    try:
        assert _get(node.url + "/") == (ROOT / "web/index.html").read_bytes()
        assert _get(node.url + "/js/signaling.js") == (ROOT / "web/js/signaling.js").read_bytes()
        socketio = "node_modules/socket.io-client/dist/socket.io.esm.min.js"
        assert _get(node.url + "/vendor/socket.io/socket.io.esm.min.js") == (
            (ROOT / "web" / socketio).read_bytes()
        )
        alice, bob = await call_pair(node, caller)
        assert alice.mode == bob.mode == "sfu"
        await alice.frames_from_partner(20)
        await bob.frames_from_partner(20)
        assert get_json(node, "/api/status")["forwardedStreams"] == 4
        for call in (alice, bob):
            await call.close()
    finally:
        node.stop()
    assert node.process.returncode == 0, node.log()
    assert "Traceback" not in node.log() and "older than their source" not in node.log()
    after = tree_state(node_venv.venv)
    assert after == before, {
        path: (before.get(path), after.get(path))
        for path in before.keys() | after.keys()
        if before.get(path) != after.get(path)
    }


def test_bench_without_a_checkout_says_what_to_install(node_venv: NodeVenv) -> None:
    before = tree_state(node_venv.venv)
    bench = subprocess.run(
        [node_venv.bin("liveloop-sfu"), "bench"],
        cwd=node_venv.folder,
        env=node_venv.environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bench.returncode == 2
    assert "checkout" in bench.stderr and "scripts/install.sh --bench" in bench.stderr
    assert tree_state(node_venv.venv) == before
