"""Upstream NACK generation on extended sequence numbers, time as a parameter."""

from __future__ import annotations

from liveloop_sfu.media.core.nack_generator import NackGenerator


def test_no_gap_no_nack() -> None:
    nacks = NackGenerator()
    for i, seq in enumerate(range(10, 20)):
        nacks.on_packet(i * 0.01, seq)
    assert nacks.get_timer() is None
    assert nacks.handle_timer(1.0) == []


def test_gap_is_nacked_after_first_delay_and_retried() -> None:
    nacks = NackGenerator(first_delay=0.01, retry_interval=0.1, max_retries=2)
    nacks.on_packet(0.0, 10)
    nacks.on_packet(0.0, 13)
    assert nacks.missing == [11, 12]
    assert nacks.get_timer() == 0.01
    assert nacks.handle_timer(0.005) == []
    assert nacks.handle_timer(0.01) == [11, 12]
    assert nacks.get_timer() == 0.11
    assert nacks.handle_timer(0.11) == [11, 12]
    assert nacks.handle_timer(0.21) == []  # max_retries reached: forgotten
    assert nacks.missing == []


def test_arrival_clears_missing() -> None:
    nacks = NackGenerator()
    nacks.on_packet(0.0, 10)
    nacks.on_packet(0.0, 14)
    nacks.on_packet(0.005, 12)
    assert nacks.missing == [11, 13]
    assert nacks.handle_timer(0.01) == [11, 13]


def test_reordering_within_first_delay_causes_no_nack() -> None:
    nacks = NackGenerator(first_delay=0.01)
    nacks.on_packet(0.0, 1)
    nacks.on_packet(0.0, 3)
    nacks.on_packet(0.002, 2)
    assert nacks.get_timer() is None


def test_expires_by_age() -> None:
    nacks = NackGenerator(max_age=1.0, max_retries=100, retry_interval=0.1)
    nacks.on_packet(0.0, 0)
    nacks.on_packet(0.0, 2)
    assert nacks.handle_timer(0.5) == [1]
    assert nacks.handle_timer(1.01) == []
    assert nacks.missing == []


def test_huge_gap_clears_and_bounded_list_keeps_newest() -> None:
    nacks = NackGenerator(max_missing=4)
    nacks.on_packet(0.0, 0)
    nacks.on_packet(0.0, 100)
    assert nacks.missing == []
    nacks.on_packet(0.0, 103)
    nacks.on_packet(0.0, 106)
    assert nacks.missing == [101, 102, 104, 105]
    nacks.on_packet(0.0, 108)
    assert nacks.missing == [102, 104, 105, 107]  # the oldest is let go


def test_output_is_16_bit_across_wrap() -> None:
    nacks = NackGenerator()
    nacks.on_packet(0.0, 65534)
    nacks.on_packet(0.0, 65538)
    assert nacks.handle_timer(0.01) == [65535, 0, 1]


def test_reset() -> None:
    nacks = NackGenerator()
    nacks.on_packet(0.0, 1)
    nacks.on_packet(0.0, 5)
    nacks.reset()
    assert nacks.missing == []
    nacks.on_packet(0.0, 1000)
    assert nacks.missing == []
