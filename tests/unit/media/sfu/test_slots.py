"""Slot assignment: which published track goes on which subscriber m-line, as tables."""

from __future__ import annotations

import pytest

from liveloop_sfu.media.sfu.slots import (
    OfferedTrack,
    TrackRef,
    assign_slots,
    placeholder_tracks,
)


def track(owner: str, mid: str, kind: str) -> OfferedTrack:
    return OfferedTrack(TrackRef(owner, mid, kind), f"p-{owner}", f"{owner}-{kind}-{mid}")


A_AUDIO, A_VIDEO, A_SCREEN = (
    track("A", "0", "audio"),
    track("A", "1", "video"),
    track("A", "2", "video"),
)
B_AUDIO, B_VIDEO = track("B", "0", "audio"), track("B", "1", "video")

SLOTS = [("0", "audio"), ("1", "video"), ("2", "audio"), ("3", "video"), ("4", "video")]


def labels(result: dict[str, OfferedTrack]) -> dict[str, str]:
    return {mid: t.track_id for mid, t in result.items()}


@pytest.mark.parametrize(
    ("slots", "previous", "tracks", "expected"),
    [
        # Nothing to send.
        (SLOTS, {}, [], {}),
        # Fill in order, by kind.
        (SLOTS, {}, [A_AUDIO, A_VIDEO], {"0": "A-audio-0", "1": "A-video-1"}),
        (
            SLOTS,
            {},
            [A_AUDIO, A_VIDEO, A_SCREEN, B_AUDIO, B_VIDEO],
            {
                "0": "A-audio-0",
                "1": "A-video-1",
                "2": "B-audio-0",
                "3": "A-video-2",
                "4": "B-video-1",
            },
        ),
        # More tracks than slots: the rest waits for a bigger offer.
        (
            [("0", "audio"), ("1", "video")],
            {},
            [A_AUDIO, A_VIDEO, B_AUDIO],
            {"0": "A-audio-0", "1": "A-video-1"},
        ),
        # Stable: B keeps its slots when A (earlier in join order) appears later.
        (
            SLOTS,
            {"0": B_AUDIO.ref, "1": B_VIDEO.ref},
            [A_AUDIO, A_VIDEO, B_AUDIO, B_VIDEO],
            {"0": "B-audio-0", "1": "B-video-1", "2": "A-audio-0", "3": "A-video-1"},
        ),
        # A left: its slots go free, B stays where it was.
        (
            SLOTS,
            {"0": A_AUDIO.ref, "1": A_VIDEO.ref, "2": B_AUDIO.ref, "3": B_VIDEO.ref},
            [B_AUDIO, B_VIDEO],
            {"2": "B-audio-0", "3": "B-video-1"},
        ),
        # A stopped its screen share: that slot carries nothing, the others stay.
        (
            SLOTS,
            {"0": A_AUDIO.ref, "1": A_VIDEO.ref, "3": A_SCREEN.ref},
            [A_AUDIO, A_VIDEO],
            {"0": "A-audio-0", "1": "A-video-1"},
        ),
        # A slot the browser no longer offers (or offers as another kind) is dropped.
        (
            [("0", "audio"), ("5", "video")],
            {"0": A_AUDIO.ref, "1": A_VIDEO.ref},
            [A_AUDIO, A_VIDEO],
            {"0": "A-audio-0", "5": "A-video-1"},
        ),
        ([("1", "audio")], {"1": A_VIDEO.ref}, [A_AUDIO, A_VIDEO], {"1": "A-audio-0"}),
    ],
)
def test_assign_slots(
    slots: list[tuple[str, str]],
    previous: dict[str, TrackRef],
    tracks: list[OfferedTrack],
    expected: dict[str, str],
) -> None:
    assert labels(assign_slots(slots, previous, tracks)) == expected


def test_placeholders_name_the_owner_and_become_its_first_real_tracks() -> None:
    waiting = placeholder_tracks("B", "p-B")
    first = assign_slots(SLOTS[:2], {}, waiting)
    assert {mid: (t.stream_id, t.track_id) for mid, t in first.items()} == {
        "0": ("p-B", "p-B-audio"),
        "1": ("p-B", "p-B-video"),
    }
    previous = {mid: t.ref for mid, t in first.items()}
    # B offered since: the same slots carry B's real tracks (screen goes elsewhere or waits).
    later = assign_slots(SLOTS[:2], previous, [B_AUDIO, B_VIDEO])
    assert labels(later) == {"0": "B-audio-0", "1": "B-video-1"}
