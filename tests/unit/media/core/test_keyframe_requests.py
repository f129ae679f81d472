"""Keyframe requests merged, throttled and retried (exact timer values from now=0.0)."""

from __future__ import annotations

from liveloop_sfu.media.core.keyframe_requests import KeyframeRequestManager


def test_first_request_sends_and_arms_retry() -> None:
    manager = KeyframeRequestManager(min_interval=0.3, retry_interval=1.0)
    assert manager.get_timer() is None
    assert manager.request(0.0) is True
    assert manager.pending
    assert manager.get_timer() == 1.0


def test_requests_while_pending_are_merged() -> None:
    manager = KeyframeRequestManager()
    assert manager.request(0.0)
    assert [manager.request(t) for t in (0.1, 0.5, 0.9)] == [False, False, False]
    assert manager.sent == 1
    assert manager.get_timer() == 1.0


def test_a_pending_request_goes_out_again_when_the_publisher_connects() -> None:
    manager = KeyframeRequestManager(min_interval=0.3, retry_interval=1.0, max_attempts=2)
    assert manager.upstream_ready(0.0) is False  # nothing pending: nothing to repeat
    assert manager.request(0.0) is True  # sent while the publisher was still connecting
    assert manager.handle_timer(1.0) is True
    # Connected at 1.1: at once (not at the 2.0 retry), within min_interval of the last PLI
    # too (that one went nowhere), and with its attempts counted afresh.
    assert manager.upstream_ready(1.1) is True
    assert manager.get_timer() == 2.1
    assert manager.handle_timer(2.1) is True
    assert manager.handle_timer(3.1) is False and not manager.pending
    assert (manager.sent, manager.gave_up) == (4, 1)


def test_retry_until_keyframe() -> None:
    manager = KeyframeRequestManager(retry_interval=1.0)
    manager.request(0.0)
    assert manager.handle_timer(0.999) is False
    assert manager.handle_timer(1.0) is True
    assert manager.get_timer() == 2.0
    manager.on_keyframe(1.5)
    assert not manager.pending
    assert manager.get_timer() is None
    assert manager.handle_timer(2.0) is False
    assert manager.sent == 2


def test_request_soon_after_a_keyframe_is_deferred_to_min_interval() -> None:
    manager = KeyframeRequestManager(min_interval=0.3)
    manager.request(0.0)
    manager.on_keyframe(0.1)
    assert manager.request(0.2) is False
    assert manager.get_timer() == 0.3
    assert manager.handle_timer(0.3) is True
    assert manager.get_timer() == 1.3


def test_request_after_min_interval_is_sent_at_once() -> None:
    manager = KeyframeRequestManager(min_interval=0.3)
    manager.request(0.0)
    manager.on_keyframe(0.1)
    assert manager.request(0.3) is True


def test_gives_up_after_max_attempts() -> None:
    manager = KeyframeRequestManager(retry_interval=1.0, max_attempts=3)
    manager.request(0.0)
    assert [manager.handle_timer(t) for t in (1.0, 2.0, 3.0)] == [True, True, False]
    assert not manager.pending
    assert manager.gave_up == 1
    assert manager.get_timer() is None
    assert manager.request(3.5) is True  # a new request starts over
