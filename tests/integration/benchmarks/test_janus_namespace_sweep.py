"""The Janus target's namespaces left by a killed harness are deleted by the next one
(``sweep_stale_namespaces``): only ours by name, only with no process in them, only once older
than a namespace stays empty while it is set up. So are its configuration folders
(``sweep_stale_configs``), once their namespace is gone. Real namespaces, made here and always
removed.

Needs root (CI runs as root) and ``ip`` from iproute2."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.nodes.janus import (
    CONFIG_PREFIX,
    NETNS_DIR,
    STALE_AFTER,
    sweep_stale_configs,
    sweep_stale_namespaces,
)

pytestmark = pytest.mark.slow

PREFIX = f"llbench-t{os.getpid()}-"


@pytest.fixture
def made() -> Iterator[list[str]]:
    names: list[str] = []
    yield names
    for name in names:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=20)


def test_only_old_empty_namespaces_of_ours_are_deleted(made: list[str]) -> None:
    for suffix in ("empty", "busy"):
        subprocess.run(["ip", "netns", "add", PREFIX + suffix], check=True, timeout=20)
        made.append(PREFIX + suffix)
    # A process inside one of them, as a running harness's Janus would be.
    busy = subprocess.Popen(["ip", "netns", "exec", PREFIX + "busy", "sleep", "60"])
    try:
        deadline = time.monotonic() + 10
        while not subprocess.run(["ip", "netns", "pids", PREFIX + "busy"], capture_output=True,
                                 text=True, timeout=20).stdout.strip():  # fmt: skip
            assert time.monotonic() < deadline, "the process did not enter the namespace"
            time.sleep(0.05)

        # Just made: both kept, whatever is in them.
        assert sweep_stale_namespaces(PREFIX) == []
        # Old enough: the empty one goes, the one with a process stays.
        later = time.time() + STALE_AFTER + 1
        assert sweep_stale_namespaces(PREFIX, now=later) == [PREFIX + "empty"]
        assert not (NETNS_DIR / (PREFIX + "empty")).exists()
        assert (NETNS_DIR / (PREFIX + "busy")).exists()
    finally:
        busy.kill()
        busy.wait(10)
    # Its process gone, it is stale too.
    assert sweep_stale_namespaces(PREFIX, now=later) == [PREFIX + "busy"]
    assert not (NETNS_DIR / (PREFIX + "busy")).exists()


def test_config_folders_go_once_their_namespace_is_gone(made: list[str], tmp_path: Path) -> None:
    subprocess.run(["ip", "netns", "add", PREFIX + "live"], check=True, timeout=20)
    made.append(PREFIX + "live")
    folders = {
        name: tmp_path / f"{CONFIG_PREFIX}{PREFIX}{name}-x1y2z3"
        for name in ("live", "gone")  # a running harness's, a killed one's
    }
    for folder in folders.values():
        folder.mkdir()
        (folder / "janus.jcfg").write_text("general: {}")
    others = [tmp_path / "liveloop-janus-k7w2q9", tmp_path / f"{PREFIX}gone-x1y2z3"]
    for other in others:  # one without a namespace in its name, one not ours
        other.mkdir()

    # Just made: kept, whether its namespace exists or not.
    assert sweep_stale_configs(PREFIX, root=tmp_path) == []
    # Old enough: the one whose namespace is gone goes, with what is in it; the rest stay.
    later = time.time() + STALE_AFTER + 1
    assert sweep_stale_configs(PREFIX, now=later, root=tmp_path) == [folders["gone"]]
    assert not folders["gone"].exists()
    assert (folders["live"] / "janus.jcfg").exists()
    assert all(other.exists() for other in others)
    # Its namespace deleted (by its harness's stop or the sweep), the other goes too.
    subprocess.run(["ip", "netns", "del", PREFIX + "live"], check=True, timeout=20)
    made.remove(PREFIX + "live")
    assert sweep_stale_configs(PREFIX, now=later, root=tmp_path) == [folders["live"]]
    assert all(other.exists() for other in others)
