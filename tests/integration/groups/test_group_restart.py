"""ICE restart of a group-room member through the node, with real aiortc participants: the
member's network changes while its socket stays up, it offers from a new peer connection (new
port, new ICE credentials) and everyone decodes everyone again, the painted counters telling
the member's new video from its old."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.helpers import until
from tests.integration.in_process import StartNode

from .member import Member
from .test_group_media import session_of

pytestmark = pytest.mark.slow


async def test_a_member_restarts_ice_and_the_others_decode_its_new_video(
    start_node: StartNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = await start_node()
    members = [
        Member(server.url, name, first_frame=10_000 * (i + 1), receivers=2)
        for i, name in enumerate(("ana", "bo", "cy"))
    ]
    ana, bo, cy = members
    try:
        for member in members:
            await member.join_room("restart")
            await member.start_media()
        for member in members:
            others = {o.participant_id: o.first_frame for o in members if o is not member}
            await member.frames_from(others, 10, timeout=40)
        session = session_of(server, "restart")
        links = session.forwarded_streams
        [bo_in_node] = [
            p for p in session._participants.values() if p.participant_id == bo.participant_id
        ]
        old_peer = bo_in_node.peer

        # The node's answer to Bo's restart is slow (0.5 s more, as gathering can be), and Ana
        # renegotiates meanwhile (as when someone joins): her answer still carries Bo's tracks
        # on their slots, although Bo's new connection has not published them yet.
        restart = session._restart_peer

        async def slow_restart(participant: Any) -> None:
            await restart(participant)
            await asyncio.sleep(0.5)

        monkeypatch.setattr(session, "_restart_peer", slow_restart)
        restarting = asyncio.create_task(bo.change_network(first_frame=50_000))
        await until(lambda: session.counters["ice-restarts"] == 1, 10)
        await ana.offer()
        assert not restarting.done()
        assert bo.participant_id in {owner for owner, _ in ana.peer.remote_msids().values()}
        await restarting
        assert bo_in_node.peer is not old_peer and bo_in_node.peer.media
        # Bo decodes the others on his new connection; they decode his new counters, in order
        # after his old ones on the same output stream (the node switched its source).
        others = {o.participant_id: o.first_frame for o in (ana, cy)}
        await bo.frames_from(others, 10, timeout=30)
        for member in (ana, cy):
            await member.frames_since(bo.participant_id, 50_000, 10)
            log = member.video_from(bo.participant_id)
            assert log is not None and log.in_order(), log.counters[-30:] if log else None
        assert session.forwarded_streams == links
        assert session.counters["failures"] == 0
        for member in (ana, cy):
            assert member.wire.pending("partner-left") == 0
    finally:
        for member in members:
            await member.close()
