"""A probe cluster's result: send and receive rate, and whether it came through clean."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from liveloop_sfu.media.core.probe_cluster import (
    MAX_DELAY_GROWTH_US,
    ProbeCluster,
    ProbeResult,
)
from liveloop_sfu.media.core.sent_packets import TransportSequence

SIZE = 1000  # bytes per packet


def send(sent: TransportSequence, count: int, rate_bps: int, start_s: float = 1.0) -> list[float]:
    """``count`` packets of SIZE bytes at ``rate_bps``; their send times (s)."""
    times = []
    for k in range(count):
        now = start_s + k * SIZE * 8 / rate_bps
        sent.next()
        sent.record_last(now, SIZE)
        times.append(now)
    return times


def through(times: list[float], link_bps: int | None, delay_us: int = 20_000) -> list[int]:
    """Arrival times (µs) through a FIFO bottleneck of ``link_bps`` (None: no bottleneck)."""
    arrivals = []
    free = 0.0
    for t in times:
        start = max(t, free)
        free = start + (SIZE * 8 / link_bps if link_bps else 0.0)
        arrivals.append(int(free * 1_000_000) + delay_us)
    return arrivals


def probe(
    link_bps: int | None, rate_bps: int, count: int = 40, lost: frozenset[int] = frozenset()
) -> ProbeResult:
    sent = TransportSequence(65500)  # the cluster wraps the 16-bit number
    cluster = ProbeCluster(sent.value, rate_bps)
    arrivals = through(send(sent, count, rate_bps), link_bps)
    for k in lost:
        arrivals[k] = -1
    cluster.close(sent.value)
    # Two feedbacks, the first starting before the cluster, the second inside it.
    half = count // 2
    cluster.on_feedback(sent, (65500 - 3) & 0xFFFF, [-1, -1, -1, *arrivals[:half]])
    assert not cluster.complete
    cluster.on_feedback(sent, (65500 + half) & 0xFFFF, arrivals[half:])
    assert cluster.complete
    return cluster.result()


@pytest.mark.parametrize(
    ("link", "rate", "ok", "reason"),
    [
        (None, 1_000_000, True, "ok"),  # a good path: delivered as sent
        (5_000_000, 1_000_000, True, "ok"),  # a bottleneck above the probe
        (400_000, 600_000, False, "delay"),  # the queue grows at a bottleneck under it
        (900_000, 1_000_000, False, "delay"),
    ],
)
def test_a_probe_passes_only_through_a_path_that_takes_its_rate(
    link: int | None, rate: int, ok: bool, reason: str
) -> None:
    result = probe(link, rate)
    assert (result.ok, result.reason) == (ok, reason)
    if ok:
        assert 0.95 * rate <= result.rate <= 1.05 * rate


def test_a_path_delivering_less_than_it_was_given_fails() -> None:
    # Arrivals spread at 600 kbit/s for a probe sent at 1 Mbit/s.
    sent = TransportSequence()
    cluster = ProbeCluster(sent.value, 1_000_000)
    times = send(sent, 40, 1_000_000)
    arrivals = [int((times[0] + k * SIZE * 8 / 600_000) * 1_000_000) for k in range(40)]
    cluster.close(sent.value)
    cluster.on_feedback(sent, cluster.first_seq, arrivals)
    result = cluster.result()
    assert not result.ok and result.reason in {"saturated", "delay"}
    assert result.receive_bps < 0.9 * result.send_bps


def test_losses_fail_the_probe() -> None:
    result = probe(None, 1_000_000, lost=frozenset({3, 9, 17}))
    assert (result.ok, result.reason) == (False, "loss")


def test_one_loss_in_forty_is_tolerated() -> None:
    assert probe(None, 1_000_000, lost=frozenset({20})).ok


def test_unreported_cluster_says_nothing() -> None:
    sent = TransportSequence()
    cluster = ProbeCluster(sent.value, 1_000_000)
    arrivals = through(send(sent, 40, 1_000_000), None)
    cluster.close(sent.value)
    cluster.on_feedback(sent, cluster.first_seq, arrivals[:20])
    assert not cluster.complete
    assert cluster.result().reason == "unreported"


def test_a_late_arrival_overrides_an_earlier_loss_and_not_the_reverse() -> None:
    sent = TransportSequence()
    cluster = ProbeCluster(sent.value, 1_000_000)
    arrivals = through(send(sent, 40, 1_000_000), None)
    cluster.close(sent.value)
    cluster.on_feedback(sent, cluster.first_seq, [-1] * 40)
    cluster.on_feedback(sent, cluster.first_seq, arrivals)
    cluster.on_feedback(sent, cluster.first_seq, [-1] * 40)
    assert cluster.result().ok


def test_packets_after_the_cluster_are_not_counted() -> None:
    sent = TransportSequence()
    cluster = ProbeCluster(sent.value, 1_000_000)
    times = send(sent, 40, 1_000_000)
    cluster.close(sent.value)
    later = send(sent, 10, 1_000_000, start_s=times[-1] + 0.01)
    arrivals = through(times + later, None)
    arrivals[40:] = [-1] * 10  # lost, but not the probe's
    cluster.on_feedback(sent, cluster.first_seq, arrivals)
    assert cluster.reported == 40 and cluster.result().ok


@given(
    link=st.integers(200_000, 10_000_000),
    rate=st.integers(200_000, 5_000_000),
    count=st.integers(20, 200),
)
def test_a_probe_never_reports_more_than_the_bottleneck_delivers_when_it_passes(
    link: int, rate: int, count: int
) -> None:
    result = probe(link, rate, count)
    if result.ok:
        # It may pass only through a path that takes (nearly) its rate, and then reports no
        # more than the path delivered.
        assert result.rate <= link * 1.01
        assert rate <= link * 1.2
    if rate > 1.5 * link and count * SIZE * 8 / rate > 0.1:
        # Well over the bottleneck for long enough: the queue shows.
        assert not result.ok
        assert result.reason in {"delay", "saturated"}


def test_delay_growth_threshold_is_a_queue_not_jitter() -> None:
    assert MAX_DELAY_GROWTH_US >= 10_000  # above a browser's arrival-time jitter
