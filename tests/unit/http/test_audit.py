"""The audit line: who (the token's id, never the token), what, when, as JSON fields."""

from __future__ import annotations

import hashlib
import json
import logging

import pytest

from liveloop_sfu.http.audit import AUDIT_LOGGER, audit, token_id
from liveloop_sfu.logs import JsonFormatter

TOKEN = "an-admin-token-0123456789"


def test_the_token_id_is_a_stable_fingerprint_not_the_token() -> None:
    assert token_id(TOKEN) == "admin-" + hashlib.sha256(TOKEN.encode()).hexdigest()[:12]
    assert token_id(TOKEN) == token_id(TOKEN) != token_id(TOKEN + "x")
    assert TOKEN not in token_id(TOKEN) and token_id(None) == "anonymous"


def test_an_audit_line_carries_who_what_when_and_details(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER)
    audit(None, token_id(TOKEN), "room.end", lambda: 1765022400.1234, outcome="ok", room_id="r1")
    (record,) = caplog.records
    line = json.loads(JsonFormatter([TOKEN]).format(record))
    assert line["logger"] == AUDIT_LOGGER
    assert line["who"] == token_id(TOKEN) and line["what"] == "room.end"
    assert line["when"] == 1765022400.123
    assert line["outcome"] == "ok" and line["room_id"] == "r1"
