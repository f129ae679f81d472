"""A 1:1 call through the node with real aiortc peers on loopback: the subscriber decodes the
publisher's painted frame counters, so "forwarded" means "the right frames, in order, on time"."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from benchmarks.media.synthetic import SyntheticPeer
from liveloop_sfu.errors import InvalidPayload, NotInRoom
from liveloop_sfu.media.core.rtp import is_rtcp
from tests.integration.in_process import Room, count_codecs

pytestmark = pytest.mark.slow

FPS = 30


def assert_good_video(peer: SyntheticPeer, seconds: float, max_gaps: int = 0) -> None:
    log = peer.video_log
    assert log.unreadable == 0, "a frame that is not the publisher's"
    assert log.in_order()
    assert log.gaps() <= max_gaps
    assert len(log.counters) >= 0.8 * FPS * seconds
    assert FPS * 0.8 <= log.rate() <= FPS * 1.2


async def test_one_to_one_call_forwards_each_side_to_the_other(room: Room) -> None:
    alice = await room.join("A", "alice")
    bob = await room.join("B", "bob")
    await room.connect("A")
    await room.connect("B")
    await asyncio.sleep(3.0)

    assert_good_video(alice, 2.5)
    assert_good_video(bob, 2.5)
    # Opus: 50 frames per second each way.
    assert alice.audio_frames >= 100 and bob.audio_frames >= 100
    # Each forwarded stream is labelled "<owner participantId> <owner's track id>" (DESIGN wire
    # contract); alice was answered before bob offered, so hers names bob's future tracks.
    assert "a=msid:bob bob-video" in room.answers["A"]
    assert alice.audio_track is not None
    assert f"a=msid:alice {alice.audio_track.id}" in room.answers["B"]
    assert room.session.forwarded_streams == 4
    assert room.session.counters["forwarded-packets"] > 0
    assert room.failures == []
    # The node sends the publishers receiver reports (loss, jitter, LSR/DLSR) in the subscribers'
    # stead: aiortc's sender turns them into remote-inbound stats.
    assert room.session.counters["rtcp-out-rr"] > 0
    for peer in (alice, bob):
        report = await peer.pc.getTransceivers()[1].sender.getStats()
        remote = [s for s in report.values() if s.type == "remote-inbound-rtp"]
        assert remote and remote[0].packetsLost == 0


async def test_group_room_forwards_every_participant_to_every_other(room: Room) -> None:
    """Three participants; each browser offers its own audio + video and one more receive-only
    audio + video pair (what a group-room client does after ``renegotiate``)."""
    names = {"A": "alice", "B": "bob", "C": "carol"}
    first = {"A": 10_000, "B": 20_000, "C": 30_000}
    for sid, name in names.items():
        await room.join(sid, name, audio=False, extra_receivers=1, first_frame=first[sid])
    for sid in names:
        await room.connect(sid)
    await asyncio.sleep(2.5)

    assert room.session.forwarded_streams == 3 * 2  # video: each to the two others
    for sid, peer in room.peers.items():
        others = [other for other in names if other != sid]
        # Tracks are labelled with their owner (msid); each carries that owner's frames.
        by_owner = peer.video_logs_by_owner()
        assert sorted(by_owner) == sorted(names[o] for o in others)
        for other in others:
            log = by_owner[names[other]]
            assert log.counters and all(
                first[other] <= c < first[other] + 1000 for c in log.counters
            )
            assert log.in_order() and log.unreadable == 0
            assert len(log.counters) >= 0.6 * FPS * 2
    assert room.failures == []


async def test_a_late_joiner_in_a_group_room_gets_linked_after_renegotiation(room: Room) -> None:
    first = {"A": 10_000, "B": 20_000, "C": 30_000}
    for sid, name in (("A", "alice"), ("B", "bob")):
        await room.join(sid, name, audio=False, extra_receivers=1, first_frame=first[sid])
    await room.connect("A")
    await room.connect("B")
    assert room.session.forwarded_streams == 2
    await room.join("C", "carol", audio=False, extra_receivers=1, first_frame=first["C"])
    # The two who already negotiated are asked for a new offer; the newcomer is not.
    assert sorted(sid for sid, event in room.events if event == "renegotiate") == ["A", "B"]
    await room.connect("C")
    for sid in ("A", "B"):
        await room.connect(sid)  # the browser's new offer, on the same peer connection
    await asyncio.sleep(2.0)

    assert room.session.forwarded_streams == 6
    carol_seen_by = [room.peers[sid].video_logs_by_owner().get("carol") for sid in ("A", "B")]
    for log in carol_seen_by:
        assert log is not None and log.counters
        assert all(30_000 <= c < 31_000 for c in log.counters) and log.in_order()
    assert room.failures == []


async def test_a_participant_leaving_stops_its_links_only(room: Room) -> None:
    alice = await room.join("A", "alice", audio=False)
    await room.join("B", "bob", audio=False)
    await room.connect("A")
    await room.connect("B")
    await asyncio.sleep(1.0)
    assert room.session.forwarded_streams == 2
    await room.session.remove_participant("B")
    await room.session.remove_participant("B")  # idempotent
    assert room.session.forwarded_streams == 0
    metrics = room.session.metrics()
    assert metrics["forwarded-streams"] == 0 and metrics["forwarded-packets"] > 0
    await asyncio.sleep(0.5)
    assert alice.pc.connectionState == "connected"
    assert room.failures == []


async def test_signaling_errors_are_refusals(room: Room) -> None:
    await room.join("A", "alice")
    with pytest.raises(InvalidPayload):
        await room.session.on_answer("A", "v=0")
    with pytest.raises(NotInRoom):
        await room.session.on_offer("stranger", "v=0")
    with pytest.raises(InvalidPayload):
        await room.session.on_offer("A", "not an sdp")
    # Every m-line must share one transport (BUNDLE): browsers always offer that.
    offer = await room.peers["A"].create_offer()
    unbundled = "".join(line for line in offer.splitlines(True) if "BUNDLE" not in line)
    with pytest.raises(InvalidPayload, match="BUNDLE"):
        await room.session.on_offer("A", unbundled)


def _lossy(
    send: Callable[..., Awaitable[None]], share: float, seed: int
) -> Callable[..., Awaitable[None]]:
    """Drop ``share`` of the RTP packets (never RTCP) that pass through ``send``."""
    rng = random.Random(seed)

    async def maybe_send(data: bytes, *args: Any, **kwargs: Any) -> None:
        if not is_rtcp(data) and rng.random() < share:
            return
        await send(data, *args, **kwargs)

    return maybe_send


async def test_loss_on_both_legs_is_repaired_by_nack_and_rtx(room: Room) -> None:
    alice = await room.join("A", "alice", audio=False)
    bob = await room.join("B", "bob", audio=False)
    await room.connect("A")
    await room.connect("B")
    # The clients' own DTLS transports (a test may reach into the client side): 5 % of what
    # alice sends is lost before the node, 5 % of what the node sends bob is lost before bob.
    alice_transport: Any = alice.pc.getTransceivers()[0].sender.transport
    alice_transport._send_rtp = _lossy(alice_transport._send_rtp, 0.05, seed=1)
    bob_transport: Any = bob.pc.getTransceivers()[0].receiver.transport
    bob_transport._handle_rtp_data = _lossy(bob_transport._handle_rtp_data, 0.05, seed=2)
    bob.video_log.frames.clear()
    produced_before = alice.video_track.counter if alice.video_track else 0
    await asyncio.sleep(4.0)
    produced = (alice.video_track.counter if alice.video_track else 0) - produced_before

    counters = room.session.counters
    log = bob.video_log
    print(
        f"\nNACKs upstream: {counters['rtcp-out-nack']}, retransmissions to bob: "
        f"{counters['retransmitted']}, frames produced {produced}, decoded {len(log.counters)}, "
        f"missing {log.gaps()}"
    )
    assert counters["rtcp-out-nack"] > 0, "the node did not NACK the publisher's losses"
    assert counters["retransmitted"] > 0, "the node did not answer the subscriber's NACKs"
    # Frames complete (NACK/RTX repaired both legs): in order, nothing unreadable, (almost) no
    # frame missing, and repaired in time: a late repair stalls aiortc's client jitter buffer,
    # which then releases one frame per arriving packet and lags for the rest of the call.
    assert log.unreadable == 0
    assert log.in_order()
    assert log.gaps() <= 2
    assert len(log.counters) >= 0.8 * produced


async def test_late_subscriber_sees_a_picture_quickly(room: Room) -> None:
    alice = await room.join("A", "alice", audio=False)
    bob = await room.join("B", "bob", audio=False)
    await room.connect("A")
    await asyncio.sleep(2.0)  # alice publishes alone; her encoder is past its first keyframe
    await room.connect("B")
    connected = time.monotonic()
    for _ in range(300):
        if bob.video_log.frames:
            break
        await asyncio.sleep(0.005)
    assert bob.video_log.frames, "no picture within 1.5 s"
    first = (bob.video_log.frames[0][1] - connected) * 1000
    print(f"\nlate subscriber: first decoded frame {first:.0f} ms after connecting")
    assert first < 500
    assert alice.video_log.counters == [] or alice.video_log.in_order()


async def test_the_node_never_creates_an_encoder_or_a_decoder(
    room: Room, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = count_codecs(monkeypatch)
    alice = await room.join("A", "alice")
    bob = await room.join("B", "bob")
    await room.connect("A")
    await room.connect("B")
    await asyncio.sleep(2.0)
    assert alice.video_log.counters and bob.video_log.counters

    # Two clients x (audio + video): 4 encoders and 4 decoders, all on the client side.
    assert sorted(created) == sorted(
        [f"{what}:{mime}" for what in ("enc", "dec") for mime in ("audio/opus", "video/VP8")] * 2
    )
    decoder_threads = [t for t in threading.enumerate() if t.name.endswith("-decoder")]
    assert len(decoder_threads) == 4
    for participant in room.session._participants.values():
        for transceiver in participant.peer._pc.getTransceivers():
            assert transceiver.receiver._RTCRtpReceiver__decoder_thread is None
            assert transceiver.sender._RTCRtpSender__rtp_task is None


async def test_a_participant_that_never_connects_is_reported() -> None:
    from liveloop_sfu.media.settings import MediaSettings

    room = Room(MediaSettings(connect_timeout=0.5))
    try:
        alice = await room.join("A", "alice")
        await room.session.on_offer("A", await alice.create_offer())
        # The client never applies the answer: ICE cannot complete.
        for _ in range(200):
            if room.failures:
                break
            await asyncio.sleep(0.01)
        assert room.failures == [("A", "connection to the node timed out")]
    finally:
        await room.close()
