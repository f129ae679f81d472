"""The subscriber bandwidth estimator on simulated links (tests/unit/media/core/bwe_link.py):
a sender that follows the estimate through a fixed-rate bottleneck with a drop-tail queue."""

from __future__ import annotations

import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liveloop_sfu.media.core.aimd import MIN_RATE_BPS
from liveloop_sfu.media.core.bandwidth_estimator import SubscriberEstimator
from liveloop_sfu.media.core.sent_packets import TransportSequence
from tests.unit.media.core.bwe_link import Link, Run, simulate


def _window(run: Run, start: float, end: float) -> list[int | None]:
    return [e for t, e in zip(run.times, run.estimates, strict=True) if start <= t < end]


def _capped(values: list[int | None]) -> list[int]:
    return [v for v in values if v is not None]


def test_a_good_link_is_never_capped() -> None:
    run, estimator = simulate(Link(5_000_000), 30, max_bps=2_000_000)
    assert run.estimates and all(e is None for e in run.estimates)
    assert not estimator.congested
    assert estimator.feedbacks >= 290


def test_a_link_without_any_bottleneck_is_never_capped() -> None:
    run, _ = simulate(Link(None), 20, max_bps=3_000_000)
    assert all(e is None for e in run.estimates)


def _assert_converges(rate: float, seed: int = 1) -> None:
    run, estimator = simulate(Link(rate), 40, max_bps=4 * rate, seed=seed)
    assert estimator.congested
    settled = _window(run, 15, 40)
    capped = _capped(settled)
    assert len(capped) == len(settled), "a limited link is capped throughout"
    assert 0.7 * rate <= statistics.mean(capped) <= 1.1 * rate
    assert min(capped) >= 0.45 * rate
    assert max(capped) <= 1.4 * rate


def test_converges_to_a_500k_link() -> None:
    _assert_converges(500_000)


def test_converges_to_a_1m_link() -> None:
    _assert_converges(1_000_000)


def test_converges_to_a_2500k_link() -> None:
    _assert_converges(2_500_000)


@settings(max_examples=8, deadline=None)
@given(rate=st.integers(300_000, 3_000_000), seed=st.integers(0, 2**16))
def test_converges_to_any_link_rate(rate: int, seed: int) -> None:
    _assert_converges(rate, seed)


def test_follows_a_rate_drop_and_recovers_when_it_lifts() -> None:
    top = 1_700_000
    link = Link(None, schedule=[(10.0, 500_000), (30.0, None)])
    run, _ = simulate(link, 55, max_bps=top)
    assert all(e is None for e in _window(run, 0, 10))  # unlimited: no cap
    limited = _capped(_window(run, 14, 30))
    assert len(limited) == len(_window(run, 14, 30))
    assert statistics.mean(limited) <= 1.1 * 500_000
    # Within 20 s of the limit lifting, the sender is back to >= 0.9 x its unlimited rate.
    back = [s for t, s in zip(run.times, run.sent_bps, strict=True) if 45.0 <= t < 50.0]
    assert back and min(back) >= 0.9 * top


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (1_700_000, 500_000),  # a 1:1 call's video
        (2_900_000, 400_000),  # a group room's two top layers (tests/browser/test_lab_simulcast)
    ],
)
def test_a_cut_is_met_with_one_decrease_to_what_the_link_delivers(before: int, after: int) -> None:
    """Cut behind a 100 ms drop-tail queue (the lab's tbf): the first capped estimate is
    already near the link's rate, from the lossy feedback's arrival spacing (3-4 packets at
    400 kbit/s), not from a half-second window that still holds the traffic before the cut."""
    link = Link(None, schedule=[(10.0, after)], queue_s=0.1)
    run, _ = simulate(link, 14, max_bps=before)
    first = next(e for t, e in zip(run.times, run.estimates, strict=True) if e is not None)
    assert first <= 1.2 * after, first
    assert min(_capped(_window(run, 10, 14))) >= 0.35 * after


def test_a_cut_first_seen_as_delay_still_comes_down_to_the_link() -> None:
    """A browser reports a packet lost only once a later one arrived, so behind a queue the
    first feedback after a cut (2.9 Mbit/s into 400 kbit/s, the lab's group-room cut) shows only
    delay, and the episode's floor was taken from the throughput before the cut (0.35 x 2.9
    Mbit/s): the losses that followed could not bring the estimate under it (lab: a subscriber
    held at 1 Mbit/s on a 400 kbit/s link, losing 40 % for the whole limit)."""
    link = Link(None, schedule=[(10.0, 400_000)], queue_s=0.1)
    run, _ = simulate(link, 16, max_bps=2_900_000, late_losses=True)
    settled = _capped(_window(run, 12, 16))
    assert settled and max(settled) <= 1.2 * 400_000, settled


def test_an_encoder_using_half_its_allowance_does_not_lift_the_cap() -> None:
    """No congestion while the publisher sends far less than it may says nothing about the
    link: the cap stays (lifted, the next ramp would overshoot the 500 kbit/s link again)."""
    link = Link(500_000, queue_s=0.1)
    run, _ = simulate(link, 30, max_bps=1_700_000, fill=lambda t: 0.5 if t >= 12 else 1.0)
    undershooting = _window(run, 12, 30)
    assert undershooting and all(e is not None for e in undershooting)


def test_high_random_loss_lowers_the_estimate() -> None:
    run, estimator = simulate(Link(None, loss=0.2), 15, max_bps=2_000_000)
    assert estimator.congested
    late = _capped(_window(run, 10, 15))
    assert late and max(late) < 0.5 * 2_000_000


def test_low_random_loss_is_not_congestion() -> None:
    run, estimator = simulate(Link(None, loss=0.01), 20, max_bps=2_000_000)
    assert all(e is None for e in run.estimates)
    assert not estimator.congested


def test_a_jittery_receiver_on_a_good_link_is_not_congestion() -> None:
    run, _ = simulate(Link(5_000_000, jitter=0.03), 30, max_bps=2_000_000)
    assert all(e is None for e in run.estimates)


def test_reordering_on_a_good_link_is_not_congestion() -> None:
    run, _ = simulate(Link(5_000_000, reorder=0.2), 20, max_bps=2_000_000)
    assert all(e is None for e in run.estimates)


def test_reordering_on_a_limited_link_still_converges() -> None:
    run, _ = simulate(Link(1_000_000, reorder=0.2), 40, max_bps=3_000_000)
    capped = _capped(_window(run, 15, 40))
    assert 0.7 * 1_000_000 <= statistics.mean(capped) <= 1.1 * 1_000_000


def test_empty_and_unknown_feedback_changes_nothing() -> None:
    estimator = SubscriberEstimator(TransportSequence())
    estimator.on_feedback(0.1, 0, [])
    estimator.on_feedback(0.2, 1000, [-1] * 500)  # numbers never sent: not loss
    assert estimator.estimate is None
    assert not estimator.congested


def test_duplicated_feedback_is_counted_once() -> None:
    sent = TransportSequence()
    estimator = SubscriberEstimator(sent)
    for i in range(40):
        sent.record(sent.next(), i * 0.01, 1000)
    lost = [-1 if i % 5 == 0 else 1_000_000 + i * 10_000 for i in range(40)]
    estimator.on_feedback(0.5, 0, lost)
    first = estimator.loss_fraction
    assert 0.15 < first < 0.25
    estimator.on_feedback(0.6, 0, lost)  # the same again: nothing new to count
    assert estimator.loss_fraction == first


def test_a_packet_reported_lost_then_received_is_not_lost() -> None:
    sent = TransportSequence()
    estimator = SubscriberEstimator(sent)
    for i in range(30):
        sent.record(sent.next(), i * 0.01, 1000)
    arrivals = [1_000_000 + i * 10_000 for i in range(30)]
    estimator.on_feedback(0.2, 0, [-1] * 10)  # the first ten "lost"...
    estimator.on_feedback(0.4, 0, arrivals)  # ...arrived after all
    assert estimator.loss_fraction == 0.0


@settings(max_examples=200, deadline=None)
@given(
    feedbacks=st.lists(
        st.tuples(
            st.integers(0, 0xFFFF),
            st.lists(st.one_of(st.just(-1), st.integers(0, 2**40)), min_size=0, max_size=300),
        ),
        max_size=20,
    )
)
def test_garbage_feedback_never_raises(feedbacks: list[tuple[int, list[int]]]) -> None:
    sent = TransportSequence()
    estimator = SubscriberEstimator(sent)
    for i in range(600):
        sent.record(sent.next(), i * 0.002, 1200)
    for n, (base, arrivals) in enumerate(feedbacks):
        estimator.on_feedback(1.0 + n * 0.1, base, arrivals)
        estimate = estimator.estimate
        assert estimate is None or estimate >= MIN_RATE_BPS


# --- a probe's result (media/sfu/probes.py, media/core/probe_cluster.py) ---


def test_a_probed_path_does_not_grow_while_the_node_sends_less_than_it_may() -> None:
    """A group room's subscriber held on small layers (here: 60 % of what it may have, from
    12 s on) says nothing about the rest of its estimate: unprobed, the estimate grows by
    itself to 1.5 x what got through (past the 500 kbit/s link); probed, it holds, and only a
    probe that came through raises it."""

    def half_used(t: float) -> float:
        return 0.6 if t >= 12 else 1.0

    link = Link(500_000, queue_s=0.1)
    grown, _ = simulate(link, 30, max_bps=1_700_000, fill=half_used)
    held, estimator = simulate(
        Link(500_000, queue_s=0.1), 30, max_bps=1_700_000, fill=half_used, probed=True
    )
    assert max(_capped(_window(grown, 25, 30))) > 500_000
    at_12 = _capped(_window(held, 12, 13))
    assert at_12 and max(_capped(_window(held, 13, 30))) <= max(at_12) * 1.05
    before = estimator.estimate
    assert before is not None
    estimator.raise_to(30.0, before + 100_000)
    assert estimator.estimate == before + 100_000


def test_a_clean_probe_raises_a_capped_estimate_at_once_and_never_lowers_it() -> None:
    _, estimator = simulate(Link(400_000), 10.0)
    before = estimator.estimate
    assert before is not None and before < 450_000
    estimator.raise_to(10.0, before + 150_000)
    assert estimator.estimate == before + 150_000
    estimator.raise_to(10.0, 100_000)  # less than it has: nothing moves
    assert estimator.estimate == before + 150_000


def test_a_probe_that_doubles_the_last_congestion_lifts_the_cap() -> None:
    _, estimator = simulate(Link(400_000), 10.0)
    estimator.raise_to(10.0, 2_000_000)
    assert estimator.estimate is None


def test_a_probe_result_means_nothing_to_an_uncapped_estimate() -> None:
    _, estimator = simulate(Link(None), 5.0)
    assert estimator.estimate is None
    estimator.raise_to(5.0, 300_000)
    assert estimator.estimate is None
