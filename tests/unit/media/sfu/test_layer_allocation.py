"""The per-subscriber layer rule: a budget shared by priority, with hysteresis."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from liveloop_sfu.media.sfu.layer_allocation import (
    UPGRADE_MARGIN,
    VideoLayers,
    allocate,
    upgrade_need,
)

# Three layers, listed by the browser from the largest (as Firefox does): index 2 is the smallest.
RATES = (1_500_000, 500_000, 150_000)
ORDER = (2, 1, 0)


def video(current: int = 2, priority: int = 1, rates: tuple[int, ...] = RATES) -> VideoLayers:
    return VideoLayers(rates, ORDER, current, priority)


def test_no_estimate_gives_every_video_its_largest_layer_being_sent() -> None:
    assert allocate(None, [video(), video(rates=(0, 500_000, 150_000))]) == [0, 1]


def test_a_small_budget_still_gives_each_video_its_smallest_layer() -> None:
    assert allocate(100_000, [video(current=0), video(current=0)]) == [2, 2]


def test_the_budget_goes_to_the_first_in_priority_then_to_the_others() -> None:
    # Both have the smallest layer (150k each); the speaker (listed second) rises to the top,
    # with the margin (1.5M * 1.3 instead of its 150k); the 40k left do not lift the other.
    budget = 150_000 + round(1_500_000 * UPGRADE_MARGIN) + 40_000
    assert allocate(budget, [video(), video(priority=0)]) == [2, 0]
    assert allocate(budget + 500_000 * 2, [video(), video(priority=0)]) == [1, 0]


def test_keeping_a_layer_costs_its_rate_but_rising_needs_the_margin() -> None:
    budget = 1_500_000  # exactly the top layer's rate
    assert allocate(budget, [video(current=0)]) == [0]  # has it: keeps it
    assert allocate(budget, [video(current=1)]) == [1]  # does not have it: not enough to rise
    assert allocate(round(1_500_000 * UPGRADE_MARGIN), [video(current=1)]) == [0]


def test_a_video_with_no_layer_being_sent_keeps_its_layer() -> None:
    assert allocate(10_000_000, [video(current=1, rates=(0, 0, 0))]) == [1]


# Heights of the three layers above (index 0 the largest).
HEIGHTS = (540, 270, 135)


def asked(
    max_height: int | None, current: int = 2, heights: tuple[int, ...] = HEIGHTS
) -> VideoLayers:
    return VideoLayers(RATES, ORDER, current, 1, heights, max_height)


def test_a_request_caps_the_layer_at_the_smallest_at_least_that_tall() -> None:
    assert allocate(None, [asked(200)]) == [1]  # 270 covers a 200-pixel tile
    assert allocate(None, [asked(270)]) == [1]
    assert allocate(None, [asked(271)]) == [0]
    assert allocate(None, [asked(90)]) == [2]  # smaller than every layer: the smallest
    assert allocate(None, [asked(None)]) == [0]  # nothing asked: everything allowed


def test_the_estimate_still_decides_below_the_cap() -> None:
    assert allocate(200_000, [asked(1080)]) == [2]
    # What the cap leaves of the budget goes to the next video.
    budget = 150_000 * 2 + round(500_000 * UPGRADE_MARGIN) * 2
    assert allocate(budget, [asked(200), video(priority=2)]) == [1, 1]


def test_layers_of_unknown_height_are_not_capped() -> None:
    assert allocate(None, [asked(100, heights=(0, 0, 0))]) == [0]
    assert allocate(None, [asked(100, heights=())]) == [0]


# --- upgrade_need: what a bandwidth probe aims at (media/sfu/probes.py) ---


def test_no_need_without_a_limit_or_when_everything_is_on_top() -> None:
    assert upgrade_need(None, [video()]) is None
    assert upgrade_need(10_000_000, [video(current=0)]) is None
    # A request caps the ladder: a 270-line tile on the 270 layer is not held back.
    assert upgrade_need(600_000, [asked(270, current=1)]) is None


def test_the_need_is_the_budget_that_gives_every_video_its_largest_layer() -> None:
    videos = [video(current=2), video(current=2, priority=0)]
    need = upgrade_need(350_000, videos)
    # Both on 150k; each top (1.5M) costs its rate with the margin.
    assert need == 2 * round(1_500_000 * UPGRADE_MARGIN)
    assert allocate(need, videos) == [0, 0]
    assert allocate(need - 1, videos) != [0, 0]


@given(
    budget=st.integers(0, 5_000_000),
    currents=st.lists(st.sampled_from([0, 1, 2]), min_size=1, max_size=4),
    speaker=st.integers(0, 3),
    max_height=st.sampled_from([None, 135, 270, 540]),
)
def test_upgrade_need_is_exactly_where_everything_asked_is_given(
    budget: int, currents: list[int], speaker: int, max_height: int | None
) -> None:
    videos = [
        VideoLayers(RATES, ORDER, c, 0 if k == speaker else 1, HEIGHTS, max_height)
        for k, c in enumerate(currents)
    ]
    need = upgrade_need(budget, videos)
    top = allocate(None, videos)
    if need is None:
        assert allocate(budget, videos) == top
        return
    assert need > budget
    assert allocate(need, videos) == top
    assert allocate(need - 1, videos) != top
