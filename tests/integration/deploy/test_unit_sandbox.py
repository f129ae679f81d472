"""The systemd unit's sandbox holds what the node really does: a recorded sfu call, traced with
strace from start to SIGTERM, makes only system calls the unit's ``SystemCallFilter`` allows,
opens only sockets of the families ``RestrictAddressFamilies`` allows, writes files only in its
recordings folder (``ProtectSystem=strict`` leaves it nothing else), and maps writable executable
memory exactly when the unit leaves ``MemoryDenyWriteExecute`` out.

systemd itself cannot run here (the test machine's init is not systemd), so this checks the
node's behaviour against the unit's rules instead of running the node inside them.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from functools import cache
from pathlib import Path

import pytest

from tests.deploy_files import UNIT_FILE, unit_values
from tests.integration.calls.wire_call import WireCall
from tests.nodes import Node, start_node

pytestmark = pytest.mark.slow

RWX = "PROT_READ|PROT_WRITE|PROT_EXEC"


@cache
def syscall_group(name: str) -> frozenset[str]:
    """A systemd system call group (``@system-service``), nested groups expanded."""
    binary = shutil.which("systemd-analyze")
    assert binary, "Debian package systemd (scripts/test.sh installs it)"
    listing = subprocess.run(
        [binary, "syscall-filter", name], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    calls: set[str] = set()
    for line in listing.splitlines()[1:]:
        word = line.strip()
        if word.startswith("@"):
            calls |= syscall_group(word)
        elif word and not word.startswith("#"):
            calls.add(word)
    return frozenset(calls)


def allowed_syscalls(unit: dict[str, list[str]]) -> set[str]:
    """The unit's ``SystemCallFilter`` lines in order: an allow list, then ``~`` deny lists."""
    allowed: set[str] = set()
    for line in unit["SystemCallFilter"]:
        deny = line.startswith("~")
        names = set()
        for item in line.lstrip("~").split():
            names |= syscall_group(item) if item.startswith("@") else {item}
        allowed = allowed - names if deny else allowed | names
    return allowed


def stop_traced(node: Node) -> None:
    """SIGTERM to the node itself (strace would only detach from it), then strace ends too."""
    children = Path(f"/proc/{node.process.pid}/task/{node.process.pid}/children")
    if children.exists():
        for pid in children.read_text().split():
            os.kill(int(pid), signal.SIGTERM)
    try:
        node.process.wait(timeout=30)
    finally:
        node.stop()


async def test_a_recorded_call_stays_inside_the_units_sandbox(tmp_path: Path) -> None:
    strace = shutil.which("strace")
    assert strace, "Debian package strace (scripts/test.sh installs it)"
    unit = unit_values(UNIT_FILE.read_text())
    trace = tmp_path / "node.strace"
    recordings = tmp_path / "recordings"
    node = start_node(
        tmp_path,
        "--mode",
        "sfu",
        "--record",
        "all",
        "--recordings-dir",
        str(recordings),
        wrapper=(strace, "-f", "-qq", "-o", str(trace)),
    )
    calls = [WireCall(node.url, name) for name in ("alice", "bob")]
    try:
        for call in calls:
            await call.start()
        for call in calls:
            await call.matched()
        for call in calls:
            await call.frames_from_partner(30)
    finally:
        for call in calls:
            await call.close()
        stop_traced(node)
    assert node.process.returncode == 0
    assert any(recordings.rglob("manifest.json")), "the call was recorded"
    text = trace.read_text(errors="replace")

    used = set(re.findall(r"^\d+\s+([a-z0-9_]+)\(", text, re.M))
    assert {"sendto", "recvmsg", "openat"} <= used  # the trace saw the node's work
    assert used <= allowed_syscalls(unit), sorted(used - allowed_syscalls(unit))

    families = set(re.findall(r"^\d+\s+socket(?:pair)?\((AF_\w+)", text, re.M))
    (restricted,) = unit["RestrictAddressFamilies"]
    assert "AF_INET" in families and families <= set(restricted.split()), families

    written = {
        path
        for path, mode in re.findall(r'openat\(AT_FDCWD, "([^"]+)", ([A-Z_|]+)', text)
        if re.search(r"O_WRONLY|O_RDWR|O_CREAT", mode)
    }
    outside = {path for path in written if not Path(path).is_relative_to(recordings)}
    assert not outside - {"/dev/null"}, outside

    rwx = re.findall(rf"^\d+\s+mmap\([^)]*{re.escape(RWX)}", text, re.M)
    assert ("MemoryDenyWriteExecute" in unit) == (not rwx), (
        "the node maps no writable executable memory: add MemoryDenyWriteExecute=yes"
        if not rwx
        else "the node maps writable executable memory (pyOpenSSL's verify callback through cffi)"
    )
