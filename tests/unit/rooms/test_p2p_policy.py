"""When a 1:1 call may go p2p and whether its browsers may connect directly
(liveloop_sfu/rooms/p2p_policy.py): the whole table, and how the settings feed it."""

from __future__ import annotations

import pytest

from liveloop_sfu.config import load_settings
from liveloop_sfu.rooms.p2p_policy import P2pPolicy

CASES = [
    # mode, TURN, allow direct, p2p allowed, iceTransportPolicy, warned at start
    ("auto", True, False, True, "relay", False),
    ("auto", True, True, True, "all", False),
    ("auto", False, False, False, "all", False),
    ("auto", False, True, True, "all", False),
    ("p2p", True, False, True, "relay", False),
    ("p2p", True, True, True, "all", False),
    ("p2p", False, False, True, "all", True),
    ("p2p", False, True, True, "all", True),
    ("sfu", True, False, False, "relay", False),
    ("sfu", False, False, False, "all", False),
]


@pytest.mark.parametrize(("mode", "turn", "direct", "allowed", "policy", "warned"), CASES)
def test_policy_table(
    mode: str, turn: bool, direct: bool, allowed: bool, policy: str, warned: bool
) -> None:
    p2p = P2pPolicy(mode, turn, direct)  # type: ignore[arg-type]
    assert p2p.p2p_allowed is allowed
    assert p2p.ice_transport_policy == policy
    warnings = p2p.start_warnings()
    assert bool(warnings) is warned
    for warning in warnings:
        assert "IP address" in warning and "--turn-urls" in warning


def test_auto_without_turn_tells_the_operator_what_happens_to_a_failed_call() -> None:
    (note,) = P2pPolicy("auto", False, False).start_notes()
    assert "ends" in note and "--allow-direct-p2p" in note


@pytest.mark.parametrize(
    ("argv", "turn"),
    [
        ([], False),
        (["--ice-servers", "stun:198.51.100.2:3478"], False),
        (["--ice-servers", "turn:198.51.100.2:3478"], True),
        (["--ice-servers", '[{"urls": ["turns:t.example:443"], "username": "u"}]'], True),
        (["--turn-urls", "turn:198.51.100.2:3478", "--turn-secret", "s" * 16], True),
    ],
)
def test_settings_know_whether_turn_is_configured(argv: list[str], turn: bool) -> None:
    settings = load_settings(argv, {})
    assert settings.rooms.turn_configured is turn
    assert P2pPolicy.from_settings(settings.rooms).ice_transport_policy == (
        "relay" if turn else "all"
    )
    direct = load_settings([*argv, "--allow-direct-p2p"], {})
    assert direct.rooms.allow_direct_p2p is True
    assert P2pPolicy.from_settings(direct.rooms).ice_transport_policy == "all"
