"""The last pong of a socket, estimated from engine.io's unanswered ping (signal/liveness.py)."""

from __future__ import annotations

import pytest

from liveloop_sfu.signal.liveness import pong_time


def test_the_last_pong_came_one_ping_interval_before_the_unanswered_ping() -> None:
    # The ping went out (wall clock) 4 s ago; pings follow a pong by the 3 s interval: the pong
    # was 7 s ago, on the monotonic clock too.
    assert pong_time(ping_sent=1_000_004.0, ping_interval=3.0, now_wall=1_000_008.0, now=50.0) == (
        pytest.approx(43.0)
    )
    # A ping sent just now: the pong was one interval ago.
    assert pong_time(2e9, 3.0, 2e9, 10.0) == pytest.approx(7.0)
