"""Client keys, report/resume payloads and session aliases: pure, table-driven."""

from __future__ import annotations

from typing import Any

import pytest

from liveloop_sfu.config import load_settings
from liveloop_sfu.errors import ConfigError, InvalidPayload
from liveloop_sfu.rooms.resume import SessionAliases
from liveloop_sfu.signal.client_keys import ClientKeys
from liveloop_sfu.signal.messages import REPORT_REASONS, parse_report_partner, parse_resume


def test_client_keys_verify_only_what_the_secret_signed() -> None:
    keys = ClientKeys("a-shared-secret-of-nodes")
    client_id, key = keys.issue()
    assert keys.verify(key) == client_id
    assert ClientKeys("a-shared-secret-of-nodes").verify(key) == client_id  # another node
    assert ClientKeys("some-other-node-secret!!").verify(key) is None
    forged = client_id + "." + "0" * 32
    assert keys.verify(forged) is None
    other_id, _ = keys.issue()
    assert other_id != client_id
    # Someone else's id with one's own signature is refused.
    assert keys.verify(other_id + key[len(client_id) :]) is None
    assert keys.from_auth({"clientKey": key}) == (client_id, key)
    for auth in (None, {}, {"clientKey": forged}, {"clientKey": 7}, "text"):
        fresh_id, fresh_key = keys.from_auth(auth)
        assert fresh_id != client_id and keys.verify(fresh_key) == fresh_id


@pytest.mark.parametrize("bad", [None, "x", "", "a" * 57, "g" * 24 + "." + "0" * 32, 3, ["k"]])
def test_malformed_keys(bad: Any) -> None:
    assert ClientKeys(None).verify(bad) is None


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"reason": "spam"}, ("spam", None)),
        ({"reason": "other", "text": "  odd  "}, ("other", "odd")),
        ({"reason": "hate", "text": ""}, ("hate", None)),
        ({"reason": "nudity", "text": "x" * 280, "reporter": "forged"}, ("nudity", "x" * 280)),
    ],
)
def test_report_payloads(payload: Any, expected: tuple[str, str | None]) -> None:
    report = parse_report_partner(payload)
    assert (report.reason, report.text) == expected
    assert report.reason in REPORT_REASONS


@pytest.mark.parametrize(
    "payload",
    [
        None,
        [],
        {},
        {"reason": "rude"},
        {"reason": "spam", "text": 5},
        {"reason": "spam", "text": "x" * 281},
        {"reason": "spam", "text": "a\x00b"},
    ],
)
def test_bad_report_payloads(payload: Any) -> None:
    with pytest.raises(InvalidPayload):
        parse_report_partner(payload)


@pytest.mark.parametrize("payload", [None, {}, {"token": ""}, {"token": 1}, {"token": "t" * 65}])
def test_bad_resume_payloads(payload: Any) -> None:
    with pytest.raises(InvalidPayload):
        parse_resume(payload)


def test_session_aliases() -> None:
    aliases = SessionAliases()
    assert (aliases.session("s1"), aliases.socket("s1")) == ("s1", "s1")
    aliases.bind("s2", "s1")  # s1's client came back on socket s2
    assert (aliases.session("s2"), aliases.socket("s1")) == ("s1", "s2")
    aliases.bind("s3", "s1")  # and again on s3
    assert aliases.socket("s1") == "s3"
    aliases.unbind("s2")  # the stale socket's goodbye does not undo the newer binding
    assert aliases.socket("s1") == "s3" and aliases.session("s2") == "s2"
    aliases.unbind("s3")
    assert aliases.socket("s1") == "s1" and len(aliases) == 0


def test_a_resume_supersedes_a_socket_that_still_looks_alive() -> None:
    aliases = SessionAliases()
    aliases.supersede("s1")  # s1's client is back on s2 while s1 never closed
    aliases.bind("s2", "s1")
    # The old socket speaks for nobody; events out go to the new one.
    assert aliases.session("s1") not in ("s1", "s2")
    assert (aliases.session("s2"), aliases.socket("s1")) == ("s1", "s2")
    aliases.unbind("s1")  # its close, when it comes, leaves the session where it is
    assert aliases.socket("s1") == "s2"
    aliases.supersede("s2")  # and once more, from s2 to s3
    aliases.bind("s3", "s1")
    assert aliases.session("s2") not in ("s1", "s2", "s3")
    assert (aliases.session("s3"), aliases.socket("s1")) == ("s1", "s3")
    aliases.unbind("s2")
    aliases.unbind("s3")
    assert len(aliases) == 0


def test_safety_and_resume_flags() -> None:
    settings = load_settings(
        ["--resume-grace", "0", "--report-block-days", "30"],
        {"LIVELOOP_CLIENT_KEY_SECRET": "sixteen-chars-or-more"},
    )
    assert (settings.resume_grace, settings.report_block_days) == (0.0, 30.0)
    assert "sixteen-chars-or-more" not in repr(settings)
    defaults = load_settings([], {})
    assert (defaults.resume_grace, defaults.client_key_secret) == (8.0, None)
    for argv in (["--client-key-secret", "short"], ["--resume-grace", "-1"]):
        with pytest.raises(ConfigError):
            load_settings(argv, {})
