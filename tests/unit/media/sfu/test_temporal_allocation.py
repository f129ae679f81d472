"""The temporal-layer rule (media/sfu/temporal_allocation.py): every temporal layer while the
chosen spatial layers fit the budget; below that, the base layer of every video first, then
the active speaker's higher layers; a margin before raising again."""

from __future__ import annotations

import pytest

from liveloop_sfu.media.core.subscription import ALL_TEMPORAL_LAYERS as ALL
from liveloop_sfu.media.sfu.temporal_allocation import (
    TemporalLayers,
    temporal_limits,
    temporal_need,
)

# libwebrtc's three-layer pattern: TID 0 ~ 40 %, TID 1 ~ 20 %, TID 2 ~ 40 % of the bits.
THUMB = (60_000, 90_000, 150_000, 150_000)


@pytest.mark.parametrize(
    ("budget", "limits"),
    [
        (None, [ALL, ALL]),
        (300_000, [ALL, ALL]),  # both fit whole
        (240_000, [ALL, 1]),  # the speaker whole, the other at half its frame rate
        (150_000, [1, 0]),
        (100_000, [0, 0]),  # under the base layers: never less than the base
    ],
)
def test_the_speaker_keeps_its_frame_rate_first(budget: int | None, limits: list[int]) -> None:
    videos = [TemporalLayers(THUMB, ALL, priority=0), TemporalLayers(THUMB, ALL, priority=1)]
    assert temporal_limits(budget, videos) == limits


def test_raising_again_needs_the_margin() -> None:
    held = [TemporalLayers(THUMB, 0)]
    assert temporal_limits(150_000, held) == [1]  # 90k x 1.3 fits, 150k x 1.3 does not
    assert temporal_limits(195_000, held) == [ALL]
    kept = [TemporalLayers(THUMB, ALL)]
    assert temporal_limits(150_000, kept) == [ALL]  # keeping costs no margin


def test_a_layer_without_temporal_layers_is_never_limited() -> None:
    flat = (200_000, 200_000, 200_000, 200_000)
    assert temporal_limits(50_000, [TemporalLayers(flat, ALL)]) == [ALL]
    assert temporal_limits(50_000, [TemporalLayers((0,), ALL)]) == [ALL]


@pytest.mark.parametrize("budget", [100_000, 150_000, 200_000, 240_000, 260_000])
def test_temporal_need_is_where_every_frame_rate_is_whole(budget: int) -> None:
    videos = [TemporalLayers(THUMB, ALL, priority=0), TemporalLayers(THUMB, 0, priority=1)]
    need = temporal_need(budget, videos)
    assert need is not None and need > budget
    assert temporal_limits(need, videos) == [ALL, ALL]
    assert temporal_limits(need - 1, videos) != [ALL, ALL]


def test_no_temporal_need_when_every_layer_is_given() -> None:
    assert temporal_need(None, [TemporalLayers(THUMB, 0)]) is None
    assert temporal_need(1_000_000, [TemporalLayers(THUMB, ALL)]) is None
