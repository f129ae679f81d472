"""REMB aggregation: minimum across subscribers, expiry, throttled emission."""

from __future__ import annotations

from liveloop_sfu.media.core.remb import UNLIMITED, RembAggregator


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


def test_an_estimated_subscriber_ignores_its_own_remb() -> None:
    remb = RembAggregator()
    assert remb.update_estimate(0.0, "a", 800_000) == 800_000
    assert remb.update(1.5, "a", 100_000) is None  # the browser's REMB no longer counts
    assert remb.estimate(1.5) == 800_000


def test_no_limit_sends_the_ceiling_and_lifts_an_earlier_cap() -> None:
    remb = RembAggregator(refresh_interval=1.0)
    assert remb.update_estimate(0.0, "a", 400_000) == 400_000
    assert remb.update_estimate(0.5, "a", None) is None  # an increase waits for the refresh
    assert remb.update_estimate(1.0, "a", None) == UNLIMITED
    assert remb.last_sent == UNLIMITED


def test_estimates_and_raw_rembs_mix_by_minimum() -> None:
    remb = RembAggregator()
    remb.update_estimate(0.0, "browser", None)
    remb.update(0.0, "aiortc", 300_000)
    assert remb.estimate(0.0) == 300_000
    remb.remove("aiortc")
    assert remb.estimate(0.0) == UNLIMITED
    remb.remove("browser")
    remb.update(0.1, "browser", 500_000)
    assert remb.estimate(0.1) == 500_000  # gone: its REMB counts again
