"""Log formatting: JSON lines with context ids and masked secrets, readable text lines."""

from __future__ import annotations

import json
import logging

from liveloop_sfu.logs import JsonFormatter, TextFormatter, log_context


def record(msg: str, *args: object, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord(
        "liveloop_sfu.rooms.service", logging.INFO, __file__, 1, msg, args, None
    )
    rec.__dict__.update(extra)
    return rec


def test_json_lines_carry_context_ids_and_mask_secrets() -> None:
    formatter = JsonFormatter(["topsecret-value"])
    with log_context(sid="s1", peer_id="p1", room_id="r1", event="request-room"):
        line = formatter.format(
            record("room %s uses topsecret-value", "r1", client_ip="198.51.100.1", turn_secret="x")
        )
    body = json.loads(line)
    assert body["msg"] == "room r1 uses ***"
    assert (body["sid"], body["peer_id"], body["room_id"], body["event"]) == (
        "s1",
        "p1",
        "r1",
        "request-room",
    )
    assert body["client_ip"] == "198.51.100.1"
    assert "turn_secret" not in body and body["level"] == "info"
    # Outside the block the context is gone.
    assert "sid" not in json.loads(formatter.format(record("plain")))


def test_text_lines_are_readable() -> None:
    with log_context(room_id="r1", peer_id=None):
        line = TextFormatter().format(record("room opened"))
    assert line.endswith("INFO    liveloop_sfu.rooms.service: room opened [room_id=r1]")
