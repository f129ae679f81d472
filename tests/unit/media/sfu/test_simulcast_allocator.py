"""The allocation glue: a subscriber's simulcast video gets the largest layer while its
downlink shows no congestion, and the layer that fits once its estimate (a real
SubscriberEstimator driven through a simulated 400 kbit/s link) says otherwise."""

from __future__ import annotations

from collections import Counter

from liveloop_sfu.media.core.forwarder import Forwarder, SubscriberConfig
from liveloop_sfu.media.core.reception import ReceptionStats
from liveloop_sfu.media.settings import MediaSettings
from liveloop_sfu.media.sfu.actions import ActionSender
from liveloop_sfu.media.sfu.links import Link, LinkTable, MediaParticipant, Publication
from liveloop_sfu.media.sfu.simulcast_allocator import VIDEO_HEADROOM, LayerAllocator
from liveloop_sfu.media.sfu.state import SessionState
from liveloop_sfu.media.transport.peer import NodePeer
from tests.unit.media.core.bwe_link import Link as SimulatedLink
from tests.unit.media.core.bwe_link import simulate
from tests.unit.media.core.simulcast_publisher import VP8, learn_all, publisher, track
from tests.unit.media.sfu.test_simulcast_routes import line

# Packets per frame and bytes added to each, per layer: ~136, ~512 and ~1401 kbit/s at 30 fps.
SHAPE = {"q": (1, 500), "h": (2, 1000), "f": (5, 1100)}


COUNTERS: Counter[str] = Counter()


def session() -> tuple[LayerAllocator, Forwarder, MediaParticipant]:
    participants: dict[str, MediaParticipant] = {}
    counters = COUNTERS
    counters.clear()
    actions = ActionSender(participants, counters, lambda: None)
    table = LinkTable(participants, actions.queue, audio_levels=True)
    state = SessionState("room", participants, table, actions, counters, lambda: None)
    owner = MediaParticipant("p", "alice", NodePeer(MediaSettings(), "p"))
    viewer = MediaParticipant("s", "bob", NodePeer(MediaSettings(), "s"))
    participants.update(p=owner, s=viewer)
    forwarder = Forwarder(track())
    owner.publications["1"] = Publication(
        "p", line("1", ("q", "h", "f")), forwarder, ReceptionStats(90000)
    )
    table.links.add(Link("p", "1", "s", "0"))
    forwarder.add_subscriber(0.0, SubscriberConfig("s", ssrc=9, payload_types={VP8: 100}), layer=1)
    return LayerAllocator(state, lambda: None), forwarder, viewer


def publish(forwarder: Forwarder, seconds: float) -> None:
    layers = publisher()
    learn_all(forwarder, layers)
    for frame in range(int(seconds * 30)):
        for rid, layer in layers.items():
            packets, fill = SHAPE[rid]
            for packet in layer.frame(key=frame == 0, packets=packets, fill=fill):
                forwarder.on_rtp(frame / 30, packet)


def test_no_congestion_the_largest_layer_then_what_fits_the_estimate() -> None:
    allocator, forwarder, viewer = session()
    publish(forwarder, 1.2)
    assert [x.stats.bitrate // 1000 for x in forwarder.layers if x.stats] == [136, 512, 1401]
    allocator.run(1.2)
    assert forwarder.layer_of("s") == (1, 2)  # to f, at its next keyframe
    _, estimator = simulate(SimulatedLink(400_000), 10.0)
    assert estimator.estimate is not None and 250_000 < estimator.estimate < 450_000
    viewer.estimator = estimator
    allocator.run(1.25)  # not due yet: every 100 ms
    assert forwarder.layer_of("s") == (1, 2)
    allocator.run(1.3)
    assert forwarder.layer_of("s") == (1, 0)  # q is what fits
    assert COUNTERS["simulcast-layer-switches"] == 2
    assert COUNTERS["rtcp-out-pli"] >= 1  # the target's keyframe, asked of the publisher


def test_sessions_without_simulcast_are_not_woken_for_it() -> None:
    allocator, _, _ = session()
    assert allocator.deadline() == 0.0
    wakes: list[None] = []

    def wake() -> None:
        wakes.append(None)

    plain = LayerAllocator(
        SessionState(
            "room",
            {},
            LinkTable({}, lambda p, a: None, audio_levels=False),
            ActionSender({}, Counter(), lambda: None),
            Counter(),
            wake,
        ),
        lambda: None,
    )
    assert plain.deadline() is None
    plain.run(1.0)
    plain.run_soon()  # a falling estimate in a 1:1 call
    assert wakes == []


def test_a_track_heard_for_less_than_a_second_keeps_its_layers() -> None:
    allocator, forwarder, _ = session()
    publish(forwarder, 0.5)  # h's rate is known (young-layer estimate), f is there too
    allocator.run(0.5)
    assert forwarder.layer_of("s") == (1, -1)  # no decision yet: the layers are starting
    assert COUNTERS["simulcast-layer-switches"] == 0


def test_a_falling_estimate_is_allocated_at_once_not_at_the_next_turn() -> None:
    allocator, forwarder, viewer = session()
    publish(forwarder, 1.2)
    allocator.run(1.2)
    assert forwarder.layer_of("s") == (1, 2)
    _, viewer.estimator = simulate(SimulatedLink(400_000), 10.0)
    allocator.run_soon()  # what SubscriberBandwidth.on_fall calls
    assert allocator.deadline() == 0.0
    allocator.run(1.25)  # 50 ms after the last run: due all the same
    assert forwarder.layer_of("s") == (1, 0)


def test_the_layers_keep_a_headroom_under_the_estimate() -> None:
    """Whatever the estimate settles at on a link a little above h's rate (540-700 kbit/s), the
    layer given takes at most VIDEO_HEADROOM of it (the smallest layer aside, always given)."""
    for rate in (540_000, 580_000, 600_000, 640_000, 700_000):
        allocator, forwarder, viewer = session()
        publish(forwarder, 1.2)
        _, viewer.estimator = simulate(SimulatedLink(rate), 10.0)
        estimate = viewer.estimator.estimate
        assert estimate is not None
        allocator.run(1.3)
        layer, target = forwarder.layer_of("s")
        given = forwarder.layers[target if target >= 0 else layer].stats
        assert given is not None
        assert given.bitrate <= VIDEO_HEADROOM * estimate or given is forwarder.layers[0].stats
