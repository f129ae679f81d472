"""Group rooms through a node with real aiortc participants: every participant decodes every
other one, and the painted frame counters prove whose video is whose (msid -> participantId)."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections import Counter

import pytest

from benchmarks.media.synthetic import CounterVideoTrack
from liveloop_sfu.media.core.rewriter import AUDIO_LEVEL_URI
from liveloop_sfu.media.sfu.session import SfuSession
from tests.helpers import until
from tests.integration.in_process import InProcessNode, StartNode

from .member import Member

pytestmark = pytest.mark.slow

NAMES = ("ana", "bo", "cy", "di")
LOUD, QUIET = 8000, 30  # tone amplitudes: about -15 dBov (speech) and -63 dBov (below it)


def session_of(server: InProcessNode, room_id: str) -> SfuSession:
    room = server.node.rooms.room(room_id)
    assert room is not None and isinstance(room.media, SfuSession)
    return room.media


def assert_video_of(member: Member, owner: Member, minimum: int) -> None:
    log = member.video_from(owner.participant_id)
    assert log is not None, f"{member.name} has no track labelled {owner.name}"
    assert len(log.counters) >= minimum
    assert all(owner.first_frame <= c < owner.first_frame + 10_000 for c in log.counters), (
        f"{member.name} shows frames that are not {owner.name}'s on {owner.name}'s tile"
    )
    # A few frames decoded from an incomplete picture (loss on a loaded machine) carry no
    # readable counter; they cannot be shown on the wrong tile, only as a blur on the right one.
    assert log.unreadable <= len(log.frames) // 4
    # In order from the first decoded frame: every subscription starts at a keyframe, and the
    # client now gets the retransmissions that repair a loss (see SyntheticPeer._route_rtx).
    assert log.in_order(), log.counters[:12]


async def test_four_participants_each_decode_the_other_three(start_node: StartNode) -> None:
    server = await start_node()
    members = [
        Member(
            server.url, name, first_frame=10_000 * (i + 1), tone_amplitude=LOUD if i == 2 else QUIET
        )
        for i, name in enumerate(NAMES)
    ]
    try:
        for i, member in enumerate(members):
            ack = await member.join_room("standup")
            assert ack["mode"] == "sfu" and ack["role"] == "offerer" and ack["recording"] is False
            # The ack lists who is already there, with their media state.
            assert [p["participantId"] for p in ack["participants"]] == [
                m.participant_id for m in members[:i]
            ]
            assert all(
                p["audio"] and p["video"] and p["screenTrackId"] is None
                for p in ack["participants"]
            )
            # Everyone already in sees the newcomer within a second (sent before the ack).
            for earlier in members[:i]:
                joined = await earlier.wire.next("participant-joined", timeout=1.0)
                assert joined["participantId"] == member.participant_id
                assert joined["userName"] == member.name
            await member.start_media()

        for member in members:
            others = {o.participant_id: o.first_frame for o in members if o is not member}
            await member.frames_from(others, 15, timeout=40)
        for member in members:
            for owner in members:
                if owner is not member:
                    assert_video_of(member, owner, 15)
            # msid = "<owner participantId> <owner's track id as in its offer>".
            labels = set(member.peer.remote_msids().values())
            for owner in members:
                if owner is not member:
                    assert owner.peer.video_track is not None and owner.peer.audio_track is not None
                    assert (owner.participant_id, owner.peer.video_track.id) in labels
                    assert (owner.participant_id, owner.peer.audio_track.id) in labels
            # The node negotiated RFC 6464 audio levels in its answer.
            answer = member.peer.pc.remoteDescription.sdp
            assert AUDIO_LEVEL_URI in answer
            # Each member receives the three others' audio too.
            assert member.peer.audio_frames > 0

        # Only cy's tone is speech-loud: everybody is told cy speaks, and nobody else ever.
        loud = members[2].participant_id
        for member in members:
            speaker = await member.wire.next("active-speaker", timeout=10)
            assert speaker == {"participantId": loud}
            assert member.wire.pending("active-speaker") == 0
        session = session_of(server, "standup")
        assert session.forwarded_streams == 4 * 3 * 2  # audio + video, each to each other
        assert session.counters["failures"] == 0
    finally:
        for member in members:
            await member.close()


def forwarding_video(session: SfuSession, publisher_sid: str) -> int:
    """How many subscribers the node forwards ``publisher_sid``'s video to: linked, egress up
    and past the keyframe gate (so a keyframe went out), with video flowing in."""
    publisher = session._participants.get(publisher_sid)
    if publisher is None:
        return 0
    count = 0
    for publication in publisher.publications.values():
        forwarder = publication.forwarder
        if publication.line.kind == "video" and forwarder.packets_in >= 20:
            for sid in forwarder.subscriber_ids:
                subscription = forwarder.subscriber(sid)
                count += int(subscription.egress_ready and not subscription.gated)
    return count


def long_lived_tasks() -> Counter[str]:
    """Running tasks of the node, aiortc/aioice and socket.io, by coroutine (the tests' own
    short waits are asyncio's wrappers and are left out)."""
    counts: Counter[str] = Counter()
    for task in asyncio.all_tasks():
        coro = task.get_coro()
        code = getattr(coro, "cr_code", None)
        if (
            not task.done()
            and code is not None
            and any(
                part in code.co_filename
                for part in ("liveloop_sfu", "aiortc", "aioice", "engineio")
            )
        ):
            counts[code.co_qualname] += 1
    return counts


# Each member paints counters from its own first frame on; 5000 frames (over 5 minutes at 15 fps)
# before one runs into the next member's range. The counter is 16 bits.
RANGE = 5000


# On a heavily loaded machine the aiortc client itself loses packets (its socket overflows while
# its event loop lags) and may NACK them after the node's 2 s history let them go; its jitter
# buffer then waits in order until 512 packets later (~35 s of this video) where a browser would
# skip to the next keyframe. Waits for decoding allow for one such stall.
AIORTC_STALL = 60.0


def counters_of(member: Member, owner: Member) -> list[int]:
    """Counters of ``owner`` that ``member`` decoded on the track labelled with ``owner``."""
    log = member.video_from(owner.participant_id)
    counters = log.counters if log is not None else []
    return [c for c in counters if owner.first_frame <= c < owner.first_frame + RANGE]


def frames_of(member: Member, owner: Member) -> int:
    return len(counters_of(member, owner))


async def test_join_leave_churn_leaves_nothing_behind(start_node: StartNode) -> None:
    server = await start_node()
    rooms = server.node.rooms
    stayers = [Member(server.url, n, first_frame=10_000 * (i + 1)) for i, n in enumerate(NAMES[:3])]
    node_peers: weakref.WeakSet[object] = weakref.WeakSet()
    try:
        for member in stayers:
            await member.join("churn")
        owners = {m.participant_id: m.first_frame for m in stayers}
        for member in stayers:
            await member.frames_from(
                {o: f for o, f in owners.items() if o != member.participant_id}, 5
            )
        session = session_of(server, "churn")
        await until(lambda: session.forwarded_streams == 12, what="3 members: 12 streams")
        tasks_before: Counter[str] = Counter()
        for cycle in range(4):
            if cycle == 1:
                # After one visit the stayers' receivers for a visitor exist (reused later).
                tasks_before = long_lived_tasks()
            visitor = Member(server.url, f"visitor{cycle}", first_frame=40_000 + RANGE * cycle)
            try:
                await visitor.join("churn")
                node_peers.add(session._participants[visitor.wire.sio.get_sid()].peer._pc)
                await visitor.frames_from(owners, 5)
                visitor_sid = visitor.wire.sio.get_sid()
                await until(
                    lambda s=visitor_sid: forwarding_video(session, s) == 3,
                    what="visitor's video forwarded to the three",
                )
                # Every stayer decodes the visitor on the slot the previous visitor had (from the
                # second cycle on), on the tile labelled with the visitor, in order from its
                # first decoded frame: the previous visitor's frames all came before.
                for member in stayers:
                    await until(
                        lambda m=member, v=visitor: frames_of(m, v) >= 5,
                        what=f"{member.name} decodes {visitor.name}",
                        timeout=AIORTC_STALL,
                    )
                    log = member.video_from(visitor.participant_id)
                    assert log is not None and log.in_order(), (member.name, log)
                if cycle % 2 == 0:
                    assert await visitor.leave() == {"ok": True, "left": True}
            finally:
                await visitor.close()  # odd cycles: the disconnect is the leave
            for member in stayers:
                left = await member.wire.next("participant-left", timeout=15)
                assert left == {"participantId": visitor.participant_id}

        # Back to the three: their links only, no visitor state, no leftover peer or task.
        await until(lambda: session.forwarded_streams == 12, what="visitors' links removed")
        room = rooms.room("churn")
        assert room is not None and len(room.members) == 3
        assert len(session._participants) == 3
        await until(lambda: (gc.collect(), len(node_peers))[1] == 0, what="visitor peers released")
        await until(
            lambda: not (long_lived_tasks() - tasks_before), what="visitor tasks ended", timeout=30
        )
        # ...and the three still see each other (ana <- bo, bo <- ana, cy <- ana).
        pairs = [(m, stayers[1] if m is stayers[0] else stayers[0]) for m in stayers]
        before = {m.name: frames_of(m, other) for m, other in pairs}
        await until(
            lambda: all(frames_of(m, other) > before[m.name] + 5 for m, other in pairs),
            what="stayers' video continues",
            timeout=AIORTC_STALL,
        )

        for member in stayers:
            assert await member.leave() == {"ok": True, "left": True}
        assert rooms.room("churn") is None
        assert rooms.forwarded_streams() == 0
        status = await rooms.status()
        assert status["groupRooms"] == 0 and status["forwardedStreams"] == 0
        assert session._closed and session._task is None
    finally:
        for member in stayers:
            await member.close()


async def test_a_screen_share_reaches_the_others_labelled_as_the_screen(
    start_node: StartNode,
) -> None:
    server = await start_node()
    ana, bo, cy = (
        Member(server.url, name, first_frame=10_000 * (i + 1)) for i, name in enumerate(NAMES[:3])
    )
    members = [ana, bo, cy]
    try:
        for member in members:
            await member.join("demo")
        # ana shares a screen: one more video m-line, sendonly (as a browser does), painted with
        # its own counter range so that whoever decodes it can tell it from ana's camera.
        screen = CounterVideoTrack(160, 120, 15, first=60_000)
        ana.peer.pc.addTransceiver(screen, direction="sendonly")
        await ana.offer()
        state = {"audio": True, "video": True, "screenTrackId": screen.id}
        await ana.wire.call("media-state", state)
        for member in (bo, cy):
            assert await member.wire.next("participant-updated") == {
                "participantId": ana.participant_id,
                **state,
            }

        def counters_on(member: Member, track_id: str) -> list[int]:
            """What ``member`` decoded on the track the node labelled (ana, track_id)."""
            labels = member.peer.remote_msids()
            for transceiver in member.peer.pc.getTransceivers():
                track = transceiver.receiver.track
                if labels.get(str(transceiver.mid)) == (ana.participant_id, track_id) and track:
                    log = member.peer.logs_by_track.get(track.id)
                    return log.counters if log is not None else []
            return []

        assert ana.peer.video_track is not None
        camera_id = ana.peer.video_track.id
        for member in (bo, cy):
            await until(
                lambda m=member: len(counters_on(m, screen.id)) >= 5, what=f"{member.name}: screen"
            )
            # The screen and the camera each on the track labelled with their own track id.
            assert all(60_000 <= c < 61_000 for c in counters_on(member, screen.id))
            camera = counters_on(member, camera_id)
            assert camera and all(10_000 <= c < 11_000 for c in camera)
        session = session_of(server, "demo")
        assert session.forwarded_streams == 3 * 2 * 2 + 2  # + the screen to bo and cy

        # The share stops: the m-line goes inactive; the others' screen slots are released.
        for transceiver in ana.peer.pc.getTransceivers():
            if transceiver.sender.track is screen:
                transceiver.direction = "inactive"
        await ana.offer()
        await ana.wire.call("media-state", {**state, "screenTrackId": None})
        await until(lambda: session.forwarded_streams == 12, what="screen links removed")
        for member in (bo, cy):
            await until(
                lambda m=member: (
                    (ana.participant_id, screen.id) not in m.peer.remote_msids().values()
                ),
                what=f"{member.name}: screen slot released",
            )
    finally:
        for member in members:
            await member.close()
