"""One check for ``set-video-quality`` (docs/protocol.md), wherever the asking member's socket
is: a video asked ``off`` stops reaching the member while another one goes on (the reference),
and comes back, decodable from a keyframe, once it asks a height."""

from __future__ import annotations

import asyncio

from .member import Member


async def asks_off_and_back(viewer: Member, owner: Member, reference: Member) -> None:
    wire = viewer.wire
    # The node lists the videos it sends the viewer: the owner's track id is the msid it
    # labelled it with.
    layers = (await wire.call("get-video-layers", {}))["layers"]
    (track,) = [x["trackId"] for x in layers if x["participantId"] == owner.participant_id]
    asked = {"participantId": owner.participant_id, "trackId": track, "off": True}
    assert await wire.call("set-video-quality", asked) == {"ok": True}
    layers = (await wire.call("get-video-layers", {}))["layers"]
    by_owner = {entry["participantId"]: entry for entry in layers}
    assert by_owner[owner.participant_id] == {
        "participantId": owner.participant_id,
        "trackId": track,
        "rid": "",
        "off": True,
    }
    assert by_owner[reference.participant_id]["off"] is False

    await asyncio.sleep(1.0)  # what was in flight
    owner_log = viewer.video_from(owner.participant_id)
    reference_log = viewer.video_from(reference.participant_id)
    assert owner_log is not None and reference_log is not None
    owner_before, reference_before = len(owner_log.frames), len(reference_log.frames)
    await asyncio.sleep(2.0)
    assert len(owner_log.frames) == owner_before  # nothing of the owner's video
    assert len(reference_log.frames) > reference_before + 10  # the other goes on: 15 fps

    asked = {"participantId": owner.participant_id, "trackId": track, "maxHeight": 120}
    await wire.call("set-video-quality", asked)
    await viewer.frames_from({owner.participant_id: 0}, owner_before + 10, timeout=20)
    assert owner_log.in_order(), owner_log.counters[-20:]
