"""The allocation glue drops temporal layers (issue 15): a subscriber whose downlink estimate (a
real SubscriberEstimator driven through a simulated 100 kbit/s link) cannot even take the
smallest layer gets it with fewer temporal layers, and all of them again once the estimate
allows."""

from __future__ import annotations

from liveloop_sfu.media.core.forwarder import Forwarder
from liveloop_sfu.media.core.subscription import ALL_TEMPORAL_LAYERS
from tests.unit.media.core.bwe_link import Link as SimulatedLink
from tests.unit.media.core.bwe_link import simulate
from tests.unit.media.core.simulcast_publisher import TEMPORAL_PATTERN, learn_all, publisher
from tests.unit.media.sfu.test_simulcast_allocator import SHAPE, session


def publish(forwarder: Forwarder, start: float, seconds: float) -> float:
    """Three layers in libwebrtc's three temporal layers, from ``start``; returns the end."""
    layers = publisher()
    for layer in layers.values():
        layer.tids = TEMPORAL_PATTERN
    learn_all(forwarder, layers)
    frames = int(seconds * 30)
    for frame in range(frames):
        for rid, layer in layers.items():
            packets, fill = SHAPE[rid]
            for packet in layer.frame(key=frame == 0, packets=packets, fill=fill):
                forwarder.on_rtp(start + frame / 30, packet)
    return start + frames / 30


def test_under_the_smallest_layer_the_temporal_layers_go_and_come_back() -> None:
    allocator, forwarder, viewer = session()
    now = publish(forwarder, 0.0, 1.2)
    q = forwarder.layers[0].stats
    assert q is not None and q.temporal_bitrate(0) < q.temporal_bitrate(2) == q.bitrate
    _, estimator = simulate(SimulatedLink(100_000), 10.0)
    assert estimator.estimate is not None and estimator.estimate < q.bitrate
    viewer.estimator = estimator
    allocator.run(now)
    assert forwarder.layer_of("s") == (1, 0)  # to q, the smallest
    highest = forwarder.temporal_of("s")[1]
    assert highest < ALL_TEMPORAL_LAYERS
    assert q.temporal_bitrate(highest) <= estimator.estimate
    viewer.estimator = None  # no congestion seen any more: no limit
    allocator.run(now + 0.1)
    assert forwarder.temporal_of("s")[1] == ALL_TEMPORAL_LAYERS
