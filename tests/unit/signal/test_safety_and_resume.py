"""Client keys and report/resume payloads: pure, table-driven."""

from __future__ import annotations

from typing import Any

import pytest

from liveloop_sfu.errors import InvalidPayload
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
