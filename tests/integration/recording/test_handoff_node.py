"""The recording hand-off of a real node process: a recorded call ends, the operator command (a
script written here) copies the folder and is counted in /metrics, and the webhook delivery,
pending while the receiver is down, survives a restart of the node and arrives once, with the
same delivery id, when the receiver comes up."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from liveloop_sfu.rooms.handoff_outbox import Outbox
from tests.helpers import scrape, until
from tests.integration.conftest import Caller, call_pair
from tests.integration.recording.test_handoff import SECRET, script
from tests.integration.recording.webhook_receiver import Receiver
from tests.nodes import NodeFactory

pytestmark = pytest.mark.slow

COMMANDS_OK = 'liveloop_recording_commands_total{outcome="ok"}'
RETRIES = 'liveloop_recording_webhooks_total{outcome="retry"}'
DELIVERED = 'liveloop_recording_webhooks_total{outcome="delivered"}'
PENDING = "liveloop_recording_webhooks_pending"


async def test_a_pending_delivery_survives_a_node_restart(
    node_factory: NodeFactory, caller: Caller, tmp_path: Path
) -> None:
    recordings, uploaded = tmp_path / "recordings", tmp_path / "uploaded"
    uploaded.mkdir()
    copy = script(tmp_path / "upload.sh", 'cp -R "$2" "$1/"\n')
    receiver = Receiver(SECRET)  # not started: down
    flags = (
        "--mode", "sfu", "--record", "all", "--recordings-dir", str(recordings),
        "--recording-webhook-url", receiver.url,
        "--recording-finished-command", f"{copy} {uploaded}",
    )  # fmt: skip
    env = {"LIVELOOP_RECORDING_WEBHOOK_SECRET": SECRET}
    node = node_factory(*flags, env=env)
    try:
        alice, bob = await call_pair(node, caller)
        await bob.frames_from_partner(15)
        await alice.wire.call("stop-call")  # the call ends: its recording is complete
        (folder,) = [p for p in recordings.iterdir() if not p.name.startswith(".")]

        await until(lambda: scrape(node).get(COMMANDS_OK) == 1, in_thread=True, what="upload")
        assert sorted(p.name for p in (uploaded / folder.name).iterdir()) == sorted(
            p.name for p in folder.iterdir()
        )
        await until(lambda: scrape(node).get(RETRIES, 0) >= 1, in_thread=True, what="retry")
        assert scrape(node)[PENDING] == 1
        (pending,) = Outbox(recordings).load()
        assert pending.kind == "webhook" and pending.attempts >= 1
        await asyncio.to_thread(node.stop)
        assert node.process.returncode == 0
        assert [job.id for job in Outbox(recordings).load()] == [pending.id]

        restarted = node_factory(*flags, env=env)
        await receiver.start()
        await until(lambda: receiver.accepted(), timeout=30, what="the resumed delivery")
        await until(lambda: not Outbox(recordings).load(), what="the job done")
        await asyncio.sleep(1.0)  # time for a duplicate to show, were one sent
        (delivery,) = receiver.deliveries
        assert delivery.delivery_id == pending.id and delivery.signature_ok
        assert delivery.body == json.loads((folder / "manifest.json").read_text())
        assert delivery.body["stoppedAt"] is not None
        metrics = scrape(restarted)
        assert metrics[DELIVERED] == 1 and metrics[PENDING] == 0
        assert metrics[COMMANDS_OK] == 0  # the upload ran once, before the restart
        assert SECRET not in node.log() + restarted.log()
    finally:
        await receiver.stop()
