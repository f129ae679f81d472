"""The allocation glue: a subscriber's simulcast video gets the largest layer while its
downlink shows no congestion, and the layer that fits once its estimate (a real
SubscriberEstimator driven through a simulated 400 kbit/s link) says otherwise."""

from __future__ import annotations

from collections import Counter
from typing import Any

from liveloop_sfu.media.core.forwarder import Forwarder, SubscriberConfig
from liveloop_sfu.media.core.reception import ReceptionStats
from liveloop_sfu.media.settings import MediaSettings
from liveloop_sfu.media.sfu.actions import ActionSender
from liveloop_sfu.media.sfu.links import Link, LinkTable, MediaParticipant, Publication
from liveloop_sfu.media.sfu.simulcast_allocator import (
    KEYFRAME_SPACING,
    VIDEO_HEADROOM,
    LayerAllocator,
)
from liveloop_sfu.media.sfu.state import SessionState
from liveloop_sfu.media.transport.peer import NodePeer
from tests.unit.media.core.bwe_link import Link as SimulatedLink
from tests.unit.media.core.bwe_link import simulate
from tests.unit.media.core.simulcast_publisher import VP8, learn_all, publisher, track
from tests.unit.media.sfu.test_simulcast_routes import line

# Packets per frame and bytes added to each, per layer: ~136, ~512 and ~1401 kbit/s at 30 fps.
SHAPE = {"q": (1, 500), "h": (2, 1000), "f": (5, 1100)}


COUNTERS: Counter[str] = Counter()


def session(
    speaker: str | None = None, others: int = 0
) -> tuple[LayerAllocator, Forwarder, MediaParticipant]:
    """Alice publishes a simulcast video to the viewer ``s``; ``others`` more publishers (``o1``,
    ``o2``, ...) each one too, whose forwarders are :data:`FORWARDERS` [1:]. ``speaker`` is the
    active speaker's participant id."""
    participants: dict[str, MediaParticipant] = {}
    counters = COUNTERS
    counters.clear()
    FORWARDERS.clear()
    actions = ActionSender(participants, counters, lambda: None)
    table = LinkTable(participants, actions.queue, audio_levels=True)
    state = SessionState("room", participants, table, actions, counters, lambda: None)
    viewer = MediaParticipant("s", "bob", NodePeer(MediaSettings(), "s"))
    participants["s"] = viewer
    for n, (sid, name) in enumerate(
        [("p", "alice")] + [(f"o{k}", f"other{k}") for k in range(1, others + 1)]
    ):
        owner = MediaParticipant(sid, name, NodePeer(MediaSettings(), sid))
        participants[sid] = owner
        forwarder = Forwarder(track())
        owner.publications["1"] = Publication(
            sid, line("1", ("q", "h", "f")), forwarder, ReceptionStats(90000)
        )
        table.links.add(Link(sid, "1", "s", str(n)))
        config = SubscriberConfig("s", ssrc=9 + n, payload_types={VP8: 100})
        forwarder.add_subscriber(0.0, config, layer=1)
        FORWARDERS.append(forwarder)
    return LayerAllocator(state, lambda: speaker), FORWARDERS[0], viewer


FORWARDERS: list[Forwarder] = []


def publish(forwarder: Forwarder, seconds: float) -> None:
    layers = publisher()
    learn_all(forwarder, layers)
    play(forwarder, layers, 0.0, int(seconds * 30))


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


def play(forwarder: Forwarder, layers: dict[str, Any], start: float, frames: int) -> None:
    """``frames`` frames of every layer from ``start`` at 30 fps, the first a keyframe."""
    for n in range(frames):
        for rid, layer in layers.items():
            packets, fill = SHAPE[rid]
            for packet in layer.frame(key=n == 0, packets=packets, fill=fill):
                forwarder.on_rtp(start + n / 30, packet)


def two_publishers(
    speaker: str | None,
) -> tuple[LayerAllocator, list[Forwarder], list[dict[str, Any]], MediaParticipant]:
    """Alice and another publisher each send Bob a simulcast video (``speaker``: a participant
    id), for 1.2 s."""
    allocator, _, viewer = session(speaker, others=1)
    forwarders = list(FORWARDERS)
    layers = [publisher() for _ in forwarders]
    for forwarder, its_layers in zip(forwarders, layers, strict=True):
        learn_all(forwarder, its_layers)
        play(forwarder, its_layers, 0.0, 36)
    return allocator, forwarders, layers, viewer


def test_held_back_switches_ask_their_keyframes_one_at_a_time_the_speaker_first() -> None:
    """A cut under both videos' top layers holds both back at once; their small layers'
    keyframes are asked for KEYFRAME_SPACING apart, the active speaker's (the second
    publisher's) first, so two keyframe bursts do not overrun the narrowed link's queue
    together."""
    allocator, forwarders, layers, viewer = two_publishers("other1")
    allocator.run(1.2)
    assert [f.layer_of("s") for f in forwarders] == [(1, 2), (1, 2)]
    for forwarder, its_layers in zip(forwarders, layers, strict=True):
        play(forwarder, its_layers, 1.2, 2)  # keyframes: both switch to f
    assert [f.layer_of("s") for f in forwarders] == [(2, -1), (2, -1)]
    _, viewer.estimator = simulate(SimulatedLink(400_000), 10.0)
    sent = [f.layers[0].keyframes.sent for f in forwarders]

    def asked() -> list[int]:
        return [f.layers[0].keyframes.sent - n for f, n in zip(forwarders, sent, strict=True)]

    allocator.run_soon()
    allocator.run(1.3)
    assert [f.layer_of("s") for f in forwarders] == [(2, 0), (2, 0)]
    assert [f.subscriber("s").holding for f in forwarders] == [True, True]  # both held back
    assert asked() == [0, 1]  # the speaker's keyframe only
    allocator.run_soon()  # the estimate fell again 50 ms later: not yet the next one
    allocator.run(1.35)
    assert asked() == [0, 1]
    allocator.run(1.3 + KEYFRAME_SPACING)
    assert asked() == [1, 1]
    allocator.run(1.6)
    assert asked() == [1, 1]  # each asked once (the forwarder's own retries aside)


def test_switches_that_are_not_held_back_ask_their_keyframes_at_once() -> None:
    allocator, forwarders, _, _ = two_publishers(None)
    sent = [f.layers[2].keyframes.sent for f in forwarders]
    allocator.run(1.2)  # no estimate: both up to f, nothing held back
    assert [f.layer_of("s") for f in forwarders] == [(1, 2), (1, 2)]
    assert [f.layers[2].keyframes.sent - n for f, n in zip(forwarders, sent, strict=True)] == [1, 1]
