"""Retransmission history: by time and count, throttled resends."""

from __future__ import annotations

from liveloop_sfu.media.core.history import RetransmissionHistory


def test_lookup_stored_packet() -> None:
    history = RetransmissionHistory(max_age=2.0, max_packets=16, resend_interval=0.1)
    history.store(0.0, 100, b"p100")
    history.store(0.0, 101, b"p101")
    assert history.lookup(0.5, 100) == b"p100"
    assert history.lookup(0.5, 102) is None
    assert not history.last_miss_throttled


def test_resend_throttled_within_interval() -> None:
    history = RetransmissionHistory(max_age=2.0, max_packets=16, resend_interval=0.1)
    history.store(0.0, 7, b"p")
    assert history.lookup(0.0, 7) == b"p"
    assert history.lookup(0.05, 7) is None
    assert history.last_miss_throttled
    assert history.lookup(0.1, 7) == b"p"


def test_expires_by_age() -> None:
    history = RetransmissionHistory(max_age=2.0, max_packets=16)
    history.store(0.0, 1, b"p")
    assert history.lookup(2.0, 1) == b"p"
    assert history.lookup(2.001, 1) is None
    assert not history.last_miss_throttled


def test_capacity_is_a_power_of_two_and_overwrites() -> None:
    history = RetransmissionHistory(max_packets=10)
    assert history.capacity == 16
    history.store(0.0, 3, b"old")
    history.store(0.0, 19, b"new")  # same slot
    assert history.lookup(0.0, 3) is None
    assert history.lookup(0.0, 19) == b"new"


def test_wraparound_sequence_numbers() -> None:
    history = RetransmissionHistory(max_packets=4)
    for seq in (65534, 65535, 0, 1):
        history.store(0.0, seq, seq.to_bytes(2, "big"))
    assert [history.lookup(0.0, s) for s in (65534, 65535, 0, 1)] == [
        b"\xff\xfe",
        b"\xff\xff",
        b"\x00\x00",
        b"\x00\x01",
    ]


def test_rtt_sets_the_resend_interval_clamped() -> None:
    history = RetransmissionHistory()
    history.set_rtt(0.25)
    assert history.resend_interval == 0.25
    history.set_rtt(0.001)
    assert history.resend_interval == 0.02
    history.set_rtt(3.0)
    assert history.resend_interval == 0.5


def test_clear() -> None:
    history = RetransmissionHistory(max_packets=4)
    history.store(0.0, 1, b"p")
    history.clear()
    assert history.lookup(0.0, 1) is None
