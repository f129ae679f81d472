"""``set-video-quality`` and ``get-video-layers`` through a real node with real aiortc members
(aiortc publishes one encoding: no layers to choose, but ``off`` holds for every video): a
member that asks a video ``off`` decodes no more of it while the other member's video goes on
(the reference), and decodes it again from a keyframe once it asks a height; bad requests get
a clear error and change nothing."""

from __future__ import annotations

import pytest

from liveloop_sfu.client import WireError
from tests.integration.in_process import StartNode

from .member import Member
from .video_off import asks_off_and_back

pytestmark = pytest.mark.slow

NAMES = ("ana", "bo", "cy")


async def test_a_video_asked_off_stops_and_comes_back_from_a_keyframe(
    start_node: StartNode,
) -> None:
    server = await start_node()
    members = [Member(server.url, n, first_frame=10_000 * (i + 1)) for i, n in enumerate(NAMES)]
    ana, bo, cy = members
    try:
        for member in members:
            await member.join("quality")
        await cy.frames_from({ana.participant_id: 0, bo.participant_id: 0}, 10, timeout=40)
        wire = cy.wire
        layers = (await wire.call("get-video-layers", {}))["layers"]
        (ana_track,) = [x["trackId"] for x in layers if x["participantId"] == ana.participant_id]
        assert {x["participantId"] for x in layers} == {ana.participant_id, bo.participant_id}

        # Bad requests: a clear error, nothing changes.
        for bad in (
            {"participantId": ana.participant_id, "trackId": ana_track},
            {"participantId": ana.participant_id, "trackId": ana_track, "maxHeight": "big"},
            {"participantId": ana.participant_id, "trackId": "no-such-track", "off": True},
            {"participantId": "nobody", "trackId": ana_track, "off": True},
        ):
            with pytest.raises(WireError, match="invalid-payload"):
                await wire.call("set-video-quality", bad)

        await asks_off_and_back(cy, ana, bo)
    finally:
        for member in members:
            await member.close()


async def test_video_requests_outside_a_group_room_are_refused(start_node: StartNode) -> None:
    server = await start_node()
    ana = Member(server.url, "ana", first_frame=10_000)
    try:
        await ana.connect()
        request = {"participantId": "someone", "trackId": "t", "maxHeight": 360}
        with pytest.raises(WireError, match="not-in-room"):
            await ana.wire.call("set-video-quality", request)
        with pytest.raises(WireError, match="not-in-room"):
            await ana.wire.call("get-video-layers", {})
        with pytest.raises(WireError, match="invalid-payload"):
            await ana.wire.call("set-video-quality", {"participantId": "x"})
    finally:
        await ana.close()
