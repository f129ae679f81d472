"""Which simulcast layer each of one subscriber's videos gets: the rule, pure.

The subscriber's downlink estimate (:mod:`.bandwidth`) is the budget for all the simulcast
videos it receives together (mediasoup's ``DistributeAvailableOutgoingBitrate`` idea, in our own
form):

1. every video first gets its smallest layer that is being sent, in priority order (the active
   speaker first, then the others), as long as the budget allows; a video the budget cannot
   even give its smallest layer still gets it, at a lower frame rate (:mod:`.temporal_allocation`
   drops temporal layers): a frozen tile is worse than a slow one;
2. what is left raises the videos one layer at a time, again in priority order, each as high as
   the rest of the budget lets it.

What the subscriber asked (``set-video-quality``, :mod:`.video_requests`) caps each video's
ladder first: with ``max_height`` it climbs no higher than the smallest layer at least that
tall (a 200-pixel tile gets the 270-line layer, not the 540 one, nor the blurry 135 one);
layers whose height is not known yet (no keyframe seen) are not capped.

Hysteresis, so that a layer does not flap on a noisy estimate (Galène's ``adjustLayer`` keeps a
layer until the rate is clearly off): keeping the layer a video has costs its bit rate, but
moving *above* it costs :data:`UPGRADE_MARGIN` times the target's bit rate. Without an estimate
(``None``: the subscriber's path has shown no congestion) every video gets its largest layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["UPGRADE_MARGIN", "VideoLayers", "allocate", "upgrade_need"]

UPGRADE_MARGIN = 1.3


@dataclass(frozen=True, slots=True)
class VideoLayers:
    """One simulcast video a subscriber receives.

    - ``bitrates``: each layer's bit rate now (by layer index; 0: not being sent);
    - ``order``: the layer indices from the smallest picture to the largest;
    - ``current``: the layer it gets (or is switching to);
    - ``priority``: 0 goes first (the active speaker), larger after;
    - ``heights``: each layer's picture height (by layer index; 0: unknown), and
      ``max_height``: the tallest picture the subscriber shows of it (``None``: no request).
    """

    bitrates: tuple[int, ...]
    order: tuple[int, ...]
    current: int
    priority: int = 1
    heights: tuple[int, ...] = ()
    max_height: int | None = None


def allocate(budget: int | None, videos: Sequence[VideoLayers]) -> list[int]:
    """The layer index for each of ``videos`` (same order); a video with no layer being sent
    keeps its current one."""
    ladders = [_ladder(video) for video in videos]
    chosen = [
        ladder[-1] if ladder else video.current
        for video, ladder in zip(videos, ladders, strict=True)
    ]
    if budget is None:
        return chosen
    ranked = sorted(range(len(videos)), key=lambda k: videos[k].priority)
    steps = [0] * len(videos)  # position in each ladder
    left = budget
    for k in ranked:
        if ladders[k]:
            left -= _charge(videos[k], ladders[k], 0)
    for k in ranked:
        ladder = ladders[k]
        while steps[k] + 1 < len(ladder):
            cost = _charge(videos[k], ladder, steps[k] + 1) - _charge(videos[k], ladder, steps[k])
            if cost > left:
                break
            left -= cost
            steps[k] += 1
    return [ladder[steps[k]] if ladder else chosen[k] for k, ladder in enumerate(ladders)]


def upgrade_need(budget: int | None, videos: Sequence[VideoLayers]) -> int | None:
    """The budget at which :func:`allocate` gives every video the largest layer it may have
    (what the subscriber asked, the layers being sent), or ``None`` when ``budget`` already does
    (or there is no limit). What a bandwidth probe aims at (media/sfu/probes.py, in steps): the
    upgrades held back, never more. Each video's largest layer costs its charge (its rate, with
    the margin when above the layer it has): the greedy rule of :func:`allocate` then reaches
    every top, whatever the order."""
    if budget is None:
        return None
    ladders = [_ladder(video) for video in videos]
    if allocate(budget, videos) == allocate(None, videos):
        return None
    return sum(
        _charge(video, ladder, len(ladder) - 1)
        for video, ladder in zip(videos, ladders, strict=True)
        if ladder
    )


def _ladder(video: VideoLayers) -> list[int]:
    """The layers ``video`` may get, smallest first: those being sent, up to the smallest that
    is at least ``max_height`` tall."""
    ladder: list[int] = []
    for i in video.order:
        if video.bitrates[i] <= 0:
            continue
        ladder.append(i)
        height = video.heights[i] if i < len(video.heights) else 0
        if video.max_height is not None and height >= video.max_height:
            break
    return ladder


def _charge(video: VideoLayers, ladder: list[int], step: int) -> int:
    """What giving ``video`` the layer ``ladder[step]`` takes from the budget: its bit rate, with
    the margin when that is above the layer the video has."""
    rate = video.bitrates[ladder[step]]
    current = ladder.index(video.current) if video.current in ladder else -1
    return rate if step <= current else round(rate * UPGRADE_MARGIN)
