"""Temporal-layer drops (issue 15: "temporal layers are dropped when even the lowest spatial
layer does not fit"): a subscriber limited to lower VP8 temporal layers (RFC 7741 §4.2 TID) gets
one decodable stream at a lower frame rate: no gap in sequence numbers, PictureIDs one after the
other, TL0PICIDX continuous, no frame cut in two, and a higher layer resumed only where it is
decodable (a keyframe, or a layer-sync frame). Exact cases on libwebrtc's three-layer pattern,
then a property over random limits, spatial switches (some holding the current layer back:
test_layer_hold.py) and interleavings."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from liveloop_sfu.media.core.drops import DropReason
from liveloop_sfu.media.core.forwarder import Forwarder, SubscriberConfig
from liveloop_sfu.media.core.rtp import RtpView
from liveloop_sfu.media.core.seq import diff16, diff32
from liveloop_sfu.media.core.subscription import ALL_TEMPORAL_LAYERS
from tests.unit.media.core.simulcast_publisher import (
    TEMPORAL_PATTERN,
    VP8,
    Layer,
    Out,
    learn_all,
    parse,
    publisher,
    track,
)

OUT_SSRC = 0x7777


class Call:
    def __init__(self, layer: int = 0) -> None:
        self.forwarder = Forwarder(track())
        self.layers: dict[str, Layer] = publisher()
        for source in self.layers.values():
            source.tids = TEMPORAL_PATTERN
        learn_all(self.forwarder, self.layers)
        config = SubscriberConfig("bob", ssrc=OUT_SSRC, payload_types={VP8: 100})
        self.forwarder.add_subscriber(0.0, config, layer=layer)
        self.out: list[Out] = []
        # Per frame sent: (rid, TID, Y, keyframe, packets).
        self.frames: list[tuple[str, int, bool, bool, int]] = []
        self.now = 0.0

    def frame(self, rid: str, key: bool = False, packets: int = 2) -> None:
        self.now += 0.01
        source = len(self.frames)
        sent = self.layers[rid].frame(key=key, packets=packets)
        first = RtpView(sent[0])
        tid_byte = first.data[first.payload_start + 5]
        self.frames.append((rid, tid_byte >> 6, bool(tid_byte & 0x20), key, packets))
        for packet in sent:
            self.out += [parse(p, source) for _, p in self.forwarder.on_rtp(self.now, packet)]


def assert_one_decodable_stream(call: Call) -> None:
    out = call.out
    assert {o.ssrc for o in out} <= {OUT_SSRC}
    assert all(diff16(b.seq, a.seq) == 1 for a, b in itertools.pairwise(out))
    assert all(diff32(b.ts, a.ts) >= 0 for a, b in itertools.pairwise(out))
    # Whole frames only: every forwarded frame with all its packets.
    by_source = {s: len(list(g)) for s, g in itertools.groupby(out, key=lambda o: o.source)}
    for source, count in by_source.items():
        assert count == call.frames[source][4], (source, count)
    # PictureID one more per picture, the same within one; TL0PICIDX one more per base frame.
    for a, b in itertools.pairwise(out):
        if b.source != a.source:
            assert (b.picture_id - a.picture_id) & 0x7FFF == 1, (a, b)
            step = (b.tl0 - a.tl0) & 0xFF
            assert step == (1 if b.tid == 0 or b.rid != a.rid else 0), (a, b)
        else:
            assert (b.picture_id, b.tl0) == (a.picture_id, a.tl0)
    # Decodable: a layer's part starts on a keyframe; a frame of TID t > 0 that is not a sync
    # frame comes after the previous frame of its layer with TID 1..t, if any since the last
    # keyframe, was forwarded too.
    forwarded = set(by_source)
    for i, o in enumerate(out):
        if i == 0 or out[i - 1].rid != o.rid:
            assert o.key, (i, o)
        first_packet = i == 0 or out[i - 1].source != o.source
        if first_packet and o.tid == 0 and not o.key:
            # A base frame references the base frame before it (of its layer).
            for earlier in range(o.source - 1, -1, -1):
                rid, tid, _, _, _ = call.frames[earlier]
                if rid == o.rid and tid == 0:
                    assert earlier in forwarded, (o, earlier)
                    break
        if o.tid > 0 and not o.sync and first_packet:
            for earlier in range(o.source - 1, -1, -1):
                rid, tid, _, key, _ = call.frames[earlier]
                if rid != o.rid:
                    continue
                if key:
                    break
                if 1 <= tid <= o.tid:
                    assert earlier in forwarded, (o, earlier)
                    break


def test_the_base_layer_only_is_a_quarter_of_the_frames_without_gaps() -> None:
    call = Call()
    call.frame("q", key=True)
    for _ in range(7):
        call.frame("q")
    assert [call.frames[o.source][1] for o in call.out[::2]] == [0, 2, 1, 2, 0, 2, 1, 2]
    call.forwarder.select_temporal("bob", 0)
    for _ in range(8):
        call.frame("q")
    tids = [o.tid for o in call.out[16:]]
    assert tids == [0, 0, 0, 0]  # 2 base frames of 8, 2 packets each
    assert call.forwarder.temporal_of("bob") == (0, 0)
    sub = call.forwarder.subscriber("bob")
    assert sub.drops[DropReason.TEMPORAL_LAYER] == 12
    assert call.forwarder.drops[DropReason.TEMPORAL_LAYER] == 12
    assert_one_decodable_stream(call)


def test_raising_the_limit_waits_for_a_sync_frame() -> None:
    call = Call()
    call.frame("q", key=True)
    call.forwarder.select_temporal("bob", 0)
    for _ in range(5):
        call.frame("q")  # TIDs 2 1 2 0 2: only the base frame goes
    call.forwarder.select_temporal("bob", 1)
    # Next: TID 1 (sync: Y) goes at once, raising the limit to 1; TID 2 frames stay out.
    for _ in range(4):
        call.frame("q")  # TIDs 1 2 0 2
    sent = [(call.frames[o.source][1], o.sync) for o in call.out[::2]]
    assert sent == [(0, False), (0, False), (1, True), (0, False)]
    call.forwarder.select_temporal("bob", ALL_TEMPORAL_LAYERS)
    for _ in range(4):
        call.frame("q")  # TIDs 1 2 0 2: the first TID 2 after a base frame is the sync one
    assert [o.tid for o in call.out[8::2]] == [1, 0, 2]
    # Every layer the publisher sends is forwarded again (it has no TID 3 to sync on).
    assert call.forwarder.temporal_of("bob") == (2, ALL_TEMPORAL_LAYERS)
    assert_one_decodable_stream(call)


def test_a_keyframe_takes_the_limit_at_once() -> None:
    call = Call()
    call.frame("q", key=True)
    call.forwarder.select_temporal("bob", 0)
    call.frame("q")  # TID 2, dropped
    call.forwarder.select_temporal("bob", ALL_TEMPORAL_LAYERS)
    call.frame("q", key=True)
    call.frame("q")  # TID 2, right after the keyframe
    assert [o.tid for o in call.out[::2]] == [0, 0, 2]
    assert_one_decodable_stream(call)


def test_the_layer_rates_are_measured_by_temporal_layer() -> None:
    call = Call()
    for n in range(40):  # 0.4 s of frames (Call moves the clock 10 ms a frame)
        call.frame("q", key=n == 0)
    call.now = 1.0
    call.frame("q")
    stats = call.forwarder.layers[0].stats
    assert stats is not None
    rates = [stats.temporal_bitrate(t) for t in range(4)]
    assert 0 < rates[0] < rates[1] < rates[2] == rates[3] == stats.bitrate


# --- property: any limits, any switches ---------------------------------------------------------

STEP = st.one_of(
    st.tuples(
        st.just("frame"),
        st.sampled_from("qhf"),
        st.sampled_from([True, False, False, False, False]),
        st.integers(1, 3),
    ),
    st.tuples(st.just("select"), st.integers(0, 2), st.booleans(), st.just(0)),
    st.tuples(st.just("temporal"), st.sampled_from([0, 1, 2, 3]), st.just(False), st.just(0)),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(STEP, min_size=20, max_size=100), st.integers(0, 2))
def test_any_limits_and_switches_leave_one_decodable_stream(
    steps: list[tuple[str, object, bool, int]], start: int
) -> None:
    call = Call(layer=start)
    call.frame("qhf"[start], key=True)
    for kind, arg, key, packets in steps:
        if kind == "select":
            layer = int(arg)  # type: ignore[call-overload]
            call.forwarder.select_layer(call.now, "bob", layer, hold=key)
        elif kind == "temporal":
            call.forwarder.select_temporal("bob", int(arg))  # type: ignore[call-overload]
        else:
            call.frame(str(arg), key=key, packets=packets)
    assert_one_decodable_stream(call)
