"""The transport-wide sequence and its ring of sent packets (send time, size, feedback)."""

from __future__ import annotations

from liveloop_sfu.media.core.sent_packets import (
    NOT_REPORTED,
    REPORTED_LOST,
    REPORTED_RECEIVED,
    UNKNOWN,
    TransportSequence,
)


def test_counter_wraps() -> None:
    counter = TransportSequence(65535)
    assert [counter.next(), counter.next()] == [65535, 0]


def test_records_send_time_and_size() -> None:
    sent = TransportSequence(10, capacity=16)
    seq = sent.next()
    sent.record_last(1.5, 1200)
    assert (seq, sent.send_us(10), sent.size(10)) == (10, 1_500_000, 1200)
    assert sent.send_us(11) == -1 and sent.size(11) == 0


def test_ring_is_preallocated_and_overwrites_the_oldest() -> None:
    sent = TransportSequence(0, capacity=16)
    assert sent.capacity == 16
    for i in range(20):
        sent.record(sent.next(), i * 0.001, 100 + i)
    assert sent.send_us(3) == -1  # overwritten by 19
    assert sent.size(19) == 119
    assert sent.report(3, True) == UNKNOWN


def test_capacity_rounds_up_to_a_power_of_two() -> None:
    assert TransportSequence(capacity=1000).capacity == 1024


def test_report_remembers_what_feedback_said() -> None:
    sent = TransportSequence()
    sent.record(5, 0.0, 100)
    assert sent.report(5, False) == NOT_REPORTED
    assert sent.report(5, False) == REPORTED_LOST  # a duplicate "lost" changes nothing
    assert sent.report(5, True) == REPORTED_LOST  # arrived late after all
    assert sent.report(5, False) == REPORTED_RECEIVED  # received is final
    assert sent.report(5, True) == REPORTED_RECEIVED
    sent.record(5, 1.0, 100)  # the number came round again: a new packet
    assert sent.report(5, True) == NOT_REPORTED


def test_resends_are_unlimited_until_a_rate_is_set() -> None:
    sequence = TransportSequence()
    assert all(sequence.allow_resend(0.0, 1200) for _ in range(1000))


def test_resend_budget_fills_at_its_rate_and_saves_up_a_quarter_second() -> None:
    sequence = TransportSequence()
    sequence.resend_rate = 96_000  # 12,000 bytes a second
    assert not sequence.allow_resend(0.0, 1000)  # nothing saved yet
    # After a long pause the bucket holds a quarter of a second's worth, not more.
    assert [sequence.allow_resend(10.0, 1000) for _ in range(4)] == [True, True, True, False]
    # Then it refills at 12 bytes a millisecond.
    assert not sequence.allow_resend(10.05, 1000)  # 600 + ~0 bytes
    assert sequence.allow_resend(10.1, 1000)  # ~1,200 bytes
    sequence.resend_rate = 0
    assert sequence.allow_resend(10.1, 1_000_000)
