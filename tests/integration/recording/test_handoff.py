"""The recording hand-off in this event loop: a real webhook receiver on loopback (signature
checked, deliveries counted), one that fails at first, one that is down across a restart of the
hand-off, and real commands (a script that copies the folder, one that fails, one that times
out, one that does not exist). The node-process version is test_handoff_node.py."""

from __future__ import annotations

import contextlib
import json
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from liveloop_sfu.config import RecordingSettings
from liveloop_sfu.rooms.handoff import RecordingHandOff
from liveloop_sfu.rooms.handoff_outbox import Outbox
from tests.helpers import until
from tests.integration.recording.webhook_receiver import Receiver

pytestmark = pytest.mark.slow

SECRET = "webhook-secret-0123456789"


def finished_recording(root: Path, name: str = "abc") -> tuple[Path, dict[str, Any]]:
    rid = f"20261206T120000Z-{name}"
    folder = root / rid
    folder.mkdir(parents=True)
    (folder / "p1.webm").write_bytes(b"\x1a\x45\xdf\xa3 webm bytes")
    manifest = {"recordingId": rid, "roomId": name, "stopReason": "call-ended", "files": []}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder, manifest


def script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    made = Receiver(SECRET)
    yield made
    await made.stop()


@contextlib.asynccontextmanager
async def webhook_hand_off(root: Path, receiver: Receiver) -> AsyncIterator[RecordingHandOff]:
    """A started hand-off posting to ``receiver``; closed on the way out."""
    settings = RecordingSettings(
        recordings_dir=root, webhook_url=receiver.url, webhook_secret=SECRET
    )
    handoff = RecordingHandOff(settings)
    await handoff.start()
    try:
        yield handoff
    finally:
        await handoff.close()


async def test_a_finished_recording_is_posted_once_signed(
    tmp_path: Path, receiver: Receiver
) -> None:
    await receiver.start()
    async with webhook_hand_off(tmp_path, receiver) as handoff:
        folder, manifest = finished_recording(tmp_path)
        await handoff.recording_finished(folder, manifest)
        await until(lambda: receiver.accepted(), what="a delivery")
        await until(lambda: handoff.pending_webhooks() == 0, what="the job done")
    (delivery,) = receiver.deliveries
    assert delivery.signature_ok and delivery.event == "recording.finished"
    assert delivery.body == manifest and delivery.delivery_id
    assert handoff.webhook_outcomes == {"delivered": 1}
    assert Outbox(tmp_path).load() == []


async def test_a_failing_receiver_gets_retries_with_the_same_delivery_id(
    tmp_path: Path,
) -> None:
    receiver = Receiver(SECRET, fail_first=2)
    await receiver.start()
    try:
        async with webhook_hand_off(tmp_path, receiver) as handoff:
            folder, manifest = finished_recording(tmp_path)
            await handoff.recording_finished(folder, manifest)
            await until(lambda: receiver.accepted(), timeout=20, what="the third attempt")
    finally:
        await receiver.stop()
    assert [d.answered for d in receiver.deliveries] == [503, 503, 200]
    assert len({d.delivery_id for d in receiver.deliveries}) == 1
    assert all(d.signature_ok and d.body == manifest for d in receiver.deliveries)
    assert handoff.webhook_outcomes == {"retry": 2, "delivered": 1}


async def test_a_pending_delivery_survives_a_restart_and_is_delivered_once(
    tmp_path: Path, receiver: Receiver
) -> None:
    outbox = Outbox(tmp_path)
    async with webhook_hand_off(tmp_path, receiver) as first:
        folder, manifest = finished_recording(tmp_path)
        await first.recording_finished(folder, manifest)  # the receiver is down
        await until(lambda: first.webhook_outcomes["retry"] >= 1, what="a failed attempt")
    (pending,) = outbox.load()
    assert pending.attempts >= 1

    async with webhook_hand_off(tmp_path, receiver) as second:
        await receiver.start()
        await until(lambda: receiver.accepted(), timeout=20, what="the resumed delivery")
        await until(lambda: not outbox.load(), what="the job removed")
    (delivery,) = receiver.deliveries
    assert delivery.delivery_id == pending.id and delivery.body == manifest
    assert delivery.signature_ok and second.webhook_outcomes == {"delivered": 1}


async def test_commands_run_without_a_shell_and_are_counted_by_outcome(tmp_path: Path) -> None:
    root, dest = tmp_path / "recordings", tmp_path / "uploaded"
    dest.mkdir()
    copy = script(
        tmp_path / "copy.sh",
        'printf "%s\\n" "$@" > "$1/args.txt"\ncp -R "$3" "$1/"\necho copied\n',
    )
    # One argument with shell syntax in it: it must arrive as it was written.
    settings = RecordingSettings(
        recordings_dir=root, finished_command=(str(copy), str(dest), "literal; $HOME")
    )
    handoff = RecordingHandOff(settings)
    await handoff.start()
    try:
        folder, manifest = finished_recording(root)
        await handoff.recording_finished(folder, manifest)
        await until(lambda: handoff.command_outcomes["ok"] == 1, what="the copy")
    finally:
        await handoff.close()
    copied = dest / folder.name
    assert (copied / "p1.webm").read_bytes() == (folder / "p1.webm").read_bytes()
    assert (dest / "args.txt").read_text().splitlines() == [
        str(dest),
        "literal; $HOME",
        str(folder.resolve()),
    ]
    assert Outbox(root).load() == []


async def test_a_failing_a_missing_and_a_hanging_command(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    cases = {
        "failed": (str(script(tmp_path / "fail.sh", 'echo "no remote" >&2\nexit 3\n')),),
        "error": (str(tmp_path / "no-such-command"),),
        # A child of the command's: the whole process group is killed, not only the script.
        "timeout": (
            str(script(tmp_path / "hang.sh", f"sleep 60 &\necho $! > {pid_file}\nwait\n")),
        ),
    }
    for outcome, command in cases.items():
        root = tmp_path / outcome
        settings = RecordingSettings(
            recordings_dir=root, finished_command=command, finished_command_timeout=0.5
        )
        handoff = RecordingHandOff(settings)
        await handoff.start()
        try:
            await handoff.recording_finished(*finished_recording(root))
            await until(lambda h=handoff, o=outcome: h.command_outcomes[o] == 1, what=outcome)
        finally:
            await handoff.close()
        assert sum(handoff.command_outcomes.values()) == 1
    # The hanging command's child was killed, not left behind.
    pid = int(pid_file.read_text())
    await until(lambda: not running(pid), timeout=5, what="the command's child killed")


def running(pid: int) -> bool:
    """Whether ``pid`` runs: killed processes whose parent died may stay zombies (state Z) until
    this machine's init reaps them."""
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat_line.rsplit(")", 1)[1].split()[0] not in ("Z", "X")
