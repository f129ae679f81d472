"""REMB aggregation: minimum across subscribers, expiry, throttled emission."""

from __future__ import annotations

from liveloop_sfu.media.core.remb import RembAggregator


def test_first_value_goes_out_at_once() -> None:
    remb = RembAggregator()
    assert remb.update(0.0, "a", 1_000_000) == 1_000_000


def test_minimum_across_subscribers() -> None:
    remb = RembAggregator(min_interval=0.2, refresh_interval=1.0)
    remb.update(0.0, "a", 1_000_000)
    assert remb.update(0.1, "b", 500_000) is None  # decrease, but within min_interval
    assert remb.estimate(0.1) == 500_000
    assert remb.update(0.2, "b", 500_000) == 500_000  # decrease > 3 %, min_interval passed


def test_increase_waits_for_refresh_interval() -> None:
    remb = RembAggregator(refresh_interval=1.0)
    remb.update(0.0, "a", 500_000)
    assert remb.update(0.5, "a", 900_000) is None
    assert remb.update(1.0, "a", 900_000) == 900_000


def test_small_decrease_is_not_urgent() -> None:
    remb = RembAggregator(min_interval=0.2, refresh_interval=1.0)
    remb.update(0.0, "a", 1_000_000)
    assert remb.update(0.5, "a", 990_000) is None


def test_entries_expire() -> None:
    remb = RembAggregator(expiry=5.0)
    remb.update(0.0, "slow", 100_000)
    remb.update(4.0, "fast", 2_000_000)
    assert remb.estimate(5.0) == 100_000
    assert remb.estimate(5.01) == 2_000_000
    assert remb.estimate(9.1) is None


def test_remove() -> None:
    remb = RembAggregator()
    remb.update(0.0, "a", 100)
    remb.update(0.0, "b", 200)
    remb.remove("a")
    remb.remove("unknown")
    assert remb.estimate(0.0) == 200
