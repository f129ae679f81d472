"""Subscribers ask for what they show, publishers stop what nobody uses: the session's glue
(:mod:`.video_requests`, :mod:`.encoding_pauses`, :mod:`.simulcast_allocator`) on a real
forwarder fed with a three-layer VP8 publisher (q 240x136, h 480x270, f 960x540), time as a
parameter. The events the publisher would get are collected from the session's emit."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping
from typing import Any

import pytest

from liveloop_sfu.errors import InvalidPayload, NotInRoom
from liveloop_sfu.media.core.forwarder import Forwarder, SubscriberConfig
from liveloop_sfu.media.core.reception import ReceptionStats
from liveloop_sfu.media.settings import MediaSettings
from liveloop_sfu.media.sfu.actions import ActionSender
from liveloop_sfu.media.sfu.encoding_pauses import EncodingPauses
from liveloop_sfu.media.sfu.layer_pauses import PAUSE_AFTER
from liveloop_sfu.media.sfu.links import (
    Link,
    LinkTable,
    MediaParticipant,
    Publication,
    start_layer,
)
from liveloop_sfu.media.sfu.simulcast_allocator import ALLOCATION_INTERVAL, LayerAllocator
from liveloop_sfu.media.sfu.state import SessionState
from liveloop_sfu.media.sfu.video_requests import OFF, VideoRequests
from liveloop_sfu.media.transport.peer import NodePeer
from tests.unit.media.core.bwe_link import Link as SimulatedLink
from tests.unit.media.core.bwe_link import simulate
from tests.unit.media.core.simulcast_publisher import VP8, Layer, learn_all, publisher, track
from tests.unit.media.sfu.test_simulcast_routes import line

SHAPE = {"q": (1, 500), "h": (2, 1000), "f": (5, 1100)}  # ~136, ~512, ~1401 kbit/s
Q, H, F = 0, 1, 2
TRACK = "video-1"  # the track id of an m-line without msid (links.track_id)


class Room:
    """One publisher ("alice", sid p) of one simulcast track, one subscriber ("bob", sid s)."""

    def __init__(self, *, recording: bool = False) -> None:
        participants: dict[str, MediaParticipant] = {}
        self.counters: Counter[str] = Counter()
        actions = ActionSender(participants, self.counters, lambda: None)
        table = LinkTable(participants, actions.queue, audio_levels=True)
        state = SessionState("room", participants, table, actions, self.counters, lambda: None)
        owner = MediaParticipant("p", "alice", NodePeer(MediaSettings(), "p"))
        viewer = MediaParticipant("s", "bob", NodePeer(MediaSettings(), "s"))
        participants.update(p=owner, s=viewer)
        self.participants = participants
        self.forwarder = Forwarder(track())
        owner.publications["1"] = Publication(
            "p", line("1", ("q", "h", "f")), self.forwarder, ReceptionStats(90000)
        )
        table.links.add(Link("p", "1", "s", "0"))
        config = SubscriberConfig("s", ssrc=9, payload_types={VP8: 100})
        self.forwarder.add_subscriber(0.0, config, layer=H)
        self.events: list[tuple[str, str, Mapping[str, Any]]] = []
        self.requests = VideoRequests(state)
        self.pauses = EncodingPauses(state, self._emit)
        self.allocator = LayerAllocator(
            state, lambda: None, self.requests, self.pauses, recording=lambda: recording
        )
        self.layers = publisher()
        learn_all(self.forwarder, self.layers)
        self.now = 0.0
        self.frame = 0
        self.forwarded: Counter[str] = Counter()  # packets bob got, by the layer they came from

    async def _emit(self, sid: str, event: str, payload: Mapping[str, Any]) -> None:
        self.events.append((sid, event, payload))

    def run(self, until: float, sending: tuple[str, ...] = ("q", "h", "f")) -> None:
        """Publish (the ``sending`` layers, 30 fps) and allocate every 100 ms until ``until``."""
        while self.now < until:
            for rid in sending:
                layer: Layer = self.layers[rid]
                packets, fill = SHAPE[rid]
                key = self.frame % 30 == 0
                for packet in layer.frame(key=key, packets=packets, fill=fill):
                    for _, out in self.forwarder.on_rtp(self.now, packet):
                        self.forwarded[chr(out[-1])] += 1
            if self.frame % 3 == 0:
                self.allocator.run(self.now)
            self.frame += 1
            self.now = self.frame / 30
        asyncio.run(self.pauses.announce())

    def paused_rids(self) -> list[list[str]]:
        return [list(p["paused"]) for _, event, p in self.events if event == "set-video-layers"]


def test_a_small_tile_gets_a_small_layer_and_the_unused_top_is_paused_then_resumed() -> None:
    room = Room()
    room.run(1.2)
    assert room.forwarder.layer_of("s") == (H, F)  # no limit, nothing asked: to the top
    room.requests.set(room.now, "s", "alice", TRACK, 200)  # a 200-pixel tile: h covers it
    room.run(2.0)
    assert room.forwarder.layer_of("s") == (H, -1)  # the switch to f is called off
    room.run(1.2 + PAUSE_AFTER + 2 * ALLOCATION_INTERVAL)
    assert room.paused_rids() == [["f"]]
    assert room.pauses.count == 1
    assert room.events[0][:2] == ("p", "set-video-layers")
    assert room.events[0][2]["trackId"] == TRACK and room.events[0][2]["mid"] == "1"
    # The browser stops f; long after, its measured rate is zero, yet a big tile gets it back.
    room.run(room.now + 3.0, sending=("q", "h"))
    room.requests.set(room.now, "s", "alice", TRACK, 540)
    room.run(room.now + 0.2, sending=("q", "h"))
    assert room.forwarder.layer_of("s") == (H, F)  # switching at f's next keyframe
    assert room.paused_rids()[-1] == [] and room.pauses.count == 0
    assert room.counters["keyframe-request:layer-switch"] >= 1
    before = room.forwarded["f"]
    room.run(room.now + 1.2)  # f is sent again: bob gets it from its keyframe on
    assert room.forwarder.layer_of("s") == (F, -1) and room.forwarded["f"] > before


def test_a_video_asked_off_gets_nothing_and_its_layers_above_the_smallest_pause() -> None:
    room = Room()
    room.run(1.2)
    received = sum(room.forwarded.values())
    room.requests.set(room.now, "s", "alice", TRACK, OFF)
    room.run(1.2 + PAUSE_AFTER + 2 * ALLOCATION_INTERVAL)
    assert sum(room.forwarded.values()) == received  # nothing more
    assert room.paused_rids() == [["h", "f"]]  # q is kept: the track stays alive
    # Shown again: resumed from a keyframe (asked of the publisher), and h is wanted again.
    room.requests.set(room.now, "s", "alice", TRACK, 270)
    assert room.counters["keyframe-request:resume"] >= 1
    room.run(room.now + 1.2, sending=("q", "h"))
    assert room.paused_rids()[-1] == ["f"]
    assert sum(room.forwarded.values()) > received


def test_a_recorded_track_keeps_its_top_layer_whatever_the_subscribers_show() -> None:
    room = Room(recording=True)
    room.run(1.2)
    room.requests.set(room.now, "s", "alice", TRACK, 100)
    room.run(1.2 + PAUSE_AFTER * 2)
    assert room.forwarder.layer_of("s")[0] == Q
    assert room.paused_rids() == [["h"]]  # f is the recording's


def test_requests_about_tracks_one_is_not_sent_are_refused() -> None:
    room = Room()
    with pytest.raises(InvalidPayload, match="no video track"):
        room.requests.set(0.0, "s", "alice", "other-track", 100)
    with pytest.raises(InvalidPayload, match="no video track"):
        room.requests.set(0.0, "s", "carol", TRACK, 100)
    with pytest.raises(InvalidPayload, match="no video track"):
        room.requests.set(0.0, "p", "alice", TRACK, 100)  # one's own track is not sent to one
    with pytest.raises(NotInRoom):
        room.requests.set(0.0, "x", "alice", TRACK, 100)


def test_a_downlink_short_for_now_pauses_nothing() -> None:
    room = Room()
    room.run(1.2)
    # bob's estimate only fits q now; his tile still asks for the top.
    _, estimator = simulate(SimulatedLink(250_000), 10.0)
    room.participants["s"].estimator = estimator
    room.run(1.2 + PAUSE_AFTER * 2)
    assert room.forwarder.layer_of("s")[0] == Q
    assert room.paused_rids() == [["h"]]  # f is what his tile asks for: kept running


def test_a_newcomer_starts_on_the_largest_layer_being_sent() -> None:
    room = Room()
    room.run(1.2)
    assert start_layer(room.forwarder, room.now) == F
    room.run(room.now + 3.0, sending=("q", "h"))  # f paused at the publisher: silent
    assert start_layer(room.forwarder, room.now) == H
    assert start_layer(Forwarder(track()), 0.0) == -1  # nothing heard yet: the forwarder's pick
