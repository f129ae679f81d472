"""How many temporal layers each of one subscriber's simulcast videos gets: the rule, pure.

It runs after :func:`.layer_allocation.allocate` has chosen each video's spatial layer. A spatial
layer is only ever raised when it fits, so the chosen layers overrun the budget only when even
the smallest ones do not fit; then, rather than send more than the downlink takes (losses, then
a frozen picture), the node drops temporal layers: the video goes on at a half or a quarter of
its frame rate (libwebrtc's three VP8 temporal layers: TID 0 every 4th frame, TID 1 every other
one between, TID 2 the rest).

The same greedy rule as the spatial one: every video first gets its base temporal layer (which
is never dropped: below it there is nothing to show), in priority order; what is left raises
them one temporal layer at a time, the active speaker first. The same hysteresis: keeping a
layer costs its bit rate, raising a video above what it gets costs
:data:`~.layer_allocation.UPGRADE_MARGIN` times as much. With everything fitting (or no estimate)
every video gets all its temporal layers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from liveloop_sfu.media.core.subscription import ALL_TEMPORAL_LAYERS
from liveloop_sfu.media.sfu.layer_allocation import UPGRADE_MARGIN

__all__ = ["TemporalLayers", "temporal_limits", "temporal_need"]


@dataclass(frozen=True, slots=True)
class TemporalLayers:
    """The spatial layer one video gets, by temporal layer.

    - ``rates``: the layer's bit rate with its temporal layers up to TID 0, 1, 2, 3 (each at
      least the one before);
    - ``current``: the highest TID it gets (:data:`ALL_TEMPORAL_LAYERS`: all);
    - ``priority``: 0 goes first (the active speaker), larger after.
    """

    rates: tuple[int, ...]
    current: int
    priority: int = 1


def temporal_limits(budget: int | None, videos: Sequence[TemporalLayers]) -> list[int]:
    """The highest TID for each of ``videos`` (same order): :data:`ALL_TEMPORAL_LAYERS` when it
    gets every layer it sends."""
    if budget is None:
        return [ALL_TEMPORAL_LAYERS] * len(videos)
    tops = [_top(video.rates) for video in videos]
    steps = [0] * len(videos)
    left = budget - sum(_charge(video, 0) for video in videos)
    for k in sorted(range(len(videos)), key=lambda k: videos[k].priority):
        video = videos[k]
        while steps[k] < tops[k]:
            cost = _charge(video, steps[k] + 1) - _charge(video, steps[k])
            if cost > left:
                break
            left -= cost
            steps[k] += 1
    return [
        ALL_TEMPORAL_LAYERS if step >= top else step for step, top in zip(steps, tops, strict=True)
    ]


def temporal_need(budget: int | None, videos: Sequence[TemporalLayers]) -> int | None:
    """The budget at which :func:`temporal_limits` gives every video all its temporal layers,
    or ``None`` when ``budget`` already does (or there is no limit)."""
    if budget is None:
        return None
    if all(limit == ALL_TEMPORAL_LAYERS for limit in temporal_limits(budget, videos)):
        return None
    return sum(_charge(video, _top(video.rates)) for video in videos)


def _top(rates: tuple[int, ...]) -> int:
    """The highest TID the layer is sent with (0 for a layer without temporal layers)."""
    top = 0
    for tid in range(1, len(rates)):
        if rates[tid] > rates[tid - 1]:
            top = tid
    return top


def _charge(video: TemporalLayers, tid: int) -> int:
    """What giving ``video`` its temporal layers up to ``tid`` takes: their bit rate, with the
    margin when that is above what it gets now."""
    rate = video.rates[tid]
    return rate if tid <= video.current else round(rate * UPGRADE_MARGIN)
