"""The hand-off's pure rules: the webhook signature a receiver checks, the retry schedule, the
command's argument list, and the outbox's job files."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest

from liveloop_sfu.rooms.handoff_outbox import Job, Outbox
from liveloop_sfu.rooms.handoff_policy import (
    GIVE_UP_AFTER,
    RETRY_CAP,
    command_argv,
    gave_up,
    retry_delay,
    sign,
    signature_header,
    verify,
)

SECRET = "webhook-secret-0123456789"
BODY = b'{"recordingId":"20261206T120000Z-abc"}'


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    # What docs/protocol.md tells receivers to compute, written out independently.
    expected = hmac.new(SECRET.encode(), b"1765000000." + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, 1765000000, BODY) == expected
    assert signature_header(SECRET, 1765000000, BODY) == f"t=1765000000,v1={expected}"


@pytest.mark.parametrize(
    ("header", "now", "ok"),
    [
        (signature_header(SECRET, 1000, BODY), 1000.0, True),
        (signature_header(SECRET, 1000, BODY), 1299.0, True),  # within 5 minutes
        (signature_header(SECRET, 1000, BODY), 1301.0, False),  # a replay, too old
        (signature_header("another-secret-0123456", 1000, BODY), 1000.0, False),
        (signature_header(SECRET, 1001, BODY).replace("t=1001", "t=1000"), 1000.0, False),
        ("v1=" + sign(SECRET, 1000, BODY), 1000.0, False),  # no timestamp
        ("t=1000,v0=abc,v1=" + sign(SECRET, 1000, BODY), 1000.0, True),  # unknown schemes
        ("t=abc,v1=00", 1000.0, False),
        ("", 1000.0, False),
    ],
)
def test_verify(header: str, now: float, ok: bool) -> None:
    assert verify(SECRET, header, BODY, now) is ok


def test_a_changed_body_fails_verification() -> None:
    header = signature_header(SECRET, 1000, BODY)
    assert not verify(SECRET, header, BODY + b" ", 1000.0)


def test_retries_back_off_exponentially_up_to_a_cap_and_give_up_after_days() -> None:
    assert [retry_delay(n) for n in range(0, 6)] == [0.0, 1.0, 2.0, 4.0, 8.0, 16.0]
    assert retry_delay(11) == RETRY_CAP and retry_delay(10_000) == RETRY_CAP
    assert not gave_up(0.0, GIVE_UP_AFTER) and gave_up(0.0, GIVE_UP_AFTER + 1)


def test_the_folder_is_the_last_argument_and_nothing_is_joined() -> None:
    argv = command_argv(("rclone", "copy", "--config", "/etc/my rclone.conf", "r:b"), Path("/x y"))
    assert argv == ["rclone", "copy", "--config", "/etc/my rclone.conf", "r:b", "/x y"]
    with pytest.raises(ValueError, match="no command"):
        command_argv((), Path("/x"))


def test_outbox_jobs_survive_a_round_trip_and_bad_files_are_set_aside(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    first = Job("wabc", "webhook", "20261206T120000Z-abc", BODY.decode(), 10.0, 2, 14.0)
    second = Job("cdef", "command", "20261206T120000Z-abc", "", 5.0)
    outbox.save(first)
    outbox.save(second)
    (outbox.folder / "junk.json").write_text("{not json")
    (outbox.folder / "evil.json").write_text('{"id": "../x", "kind": "webhook"}')
    assert outbox.load() == [second, first]  # oldest first
    assert sorted(p.name for p in (outbox.folder / "failed").iterdir()) == [
        "evil.json",
        "junk.json",
    ]
    first.attempts = 3
    outbox.save(first)  # rewritten in place, atomically: no temporary file left
    assert outbox.load()[1].attempts == 3
    assert not list(outbox.folder.glob("*.tmp"))
    outbox.remove(first)
    assert outbox.load() == [second]
