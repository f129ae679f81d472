"""Layer switches leave one decodable stream: one outgoing SSRC, no gap in sequence numbers,
timestamps that never go back, continuous VP8 PictureID/TL0PICIDX, and nothing of the new layer
before its keyframe (issue 15). Exact values on hand-made cases, then a property test over
random interleavings of three layers and random switches."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from liveloop_sfu.media.core.forwarder import (
    Forwarder,
    SendToPublisher,
    SubscriberConfig,
    TrackConfig,
)
from liveloop_sfu.media.core.rtp import Pli, RtpView, SenderReport, parse_rtcp
from liveloop_sfu.media.core.seq import diff16, diff32
from tests.unit.media.core.simulcast_publisher import (
    VP8,
    Out,
    learn_all,
    parse,
    publisher,
    track,
)

OUT_SSRC = 0x7777


def setup(layer: int = 0) -> tuple[Forwarder, dict]:  # type: ignore[type-arg]
    forwarder = Forwarder(track())
    layers = publisher()
    learn_all(forwarder, layers)
    config = SubscriberConfig("bob", ssrc=OUT_SSRC, payload_types={VP8: 100}, initial_seq=65530)
    forwarder.add_subscriber(0.0, config, layer=layer)
    return forwarder, layers


def send(forwarder: Forwarder, now: float, packets: list[bytes]) -> list[Out]:
    return [parse(p) for packet in packets for _, p in forwarder.on_rtp(now, packet)]


def test_a_switch_waits_for_the_target_keyframe_and_leaves_no_gap() -> None:
    forwarder, layers = setup(layer=0)
    out = send(forwarder, 0.0, layers["q"].frame(key=True))
    actions = forwarder.select_layer(0.05, "bob", 2)
    plis = [parse_rtcp(a.packet)[0] for a in actions if isinstance(a, SendToPublisher)]
    assert [p.media_ssrc for p in plis if isinstance(p, Pli)] == [layers["f"].ssrc]
    assert forwarder.layer_of("bob") == (0, 2)
    # Until f's keyframe: q goes on, f's delta frames are not forwarded.
    out += send(forwarder, 0.1, layers["f"].frame(key=False))
    out += send(forwarder, 0.1, layers["q"].frame(key=False))
    assert [o.rid for o in out] == ["q"] * 4
    out += send(forwarder, 0.2, layers["f"].frame(key=True))
    out += send(forwarder, 0.2, layers["q"].frame(key=False))  # q no longer
    out += send(forwarder, 0.25, layers["f"].frame(key=False))
    assert [o.rid for o in out] == ["q"] * 4 + ["f"] * 4
    assert forwarder.layer_of("bob") == (2, -1)
    assert {o.ssrc for o in out} == {OUT_SSRC}
    assert [o.seq for o in out] == [(65530 + i) & 0xFFFF for i in range(8)]
    assert out[4].key
    assert all(diff32(b.ts, a.ts) > 0 for a, b in zip(out[::2], out[2::2], strict=False))
    # PictureID and TL0PICIDX: q's 30001, 30002, then f continues with 30003, 30004.
    assert [o.picture_id for o in out[::2]] == [30001, 30002, 30003, 30004]
    assert [o.tl0 for o in out[::2]] == [8, 9, 10, 11]


def test_timestamps_follow_the_sender_reports_across_layers() -> None:
    forwarder, layers = setup(layer=0)
    q, f = layers["q"], layers["f"]
    # Both layers' SRs at the same NTP instant: q's ts there is 1_000_000, f's 4_294_900_000.
    ntp = 1000 << 32
    forwarder.on_publisher_rtcp(0.0, [SenderReport(q.ssrc, ntp, 1_000_000, 0, 0)])
    forwarder.on_publisher_rtcp(0.0, [SenderReport(f.ssrc, ntp, 4_294_900_000, 0, 0)])
    first = send(forwarder, 0.0, q.frame(key=True))  # q's ts: 1_003_000
    forwarder.select_layer(0.0, "bob", 2)
    f.frame(key=False)  # f: 4_294_903_000, not forwarded
    switched = send(forwarder, 0.1, f.frame(key=True))  # f: 4_294_906_000 = q's 1_006_000
    assert diff32(switched[0].ts, first[0].ts) == 3000  # one frame later, as on q's clock


def test_without_sender_reports_the_timestamp_moves_on_by_the_time_elapsed() -> None:
    forwarder, layers = setup(layer=1)
    first = send(forwarder, 0.0, layers["h"].frame(key=True))
    forwarder.select_layer(0.0, "bob", 0)
    switched = send(forwarder, 0.5, layers["q"].frame(key=True))
    assert diff32(switched[0].ts, first[0].ts) == 45000  # 0.5 s at 90 kHz


def test_a_mapping_that_would_go_back_is_not_followed() -> None:
    forwarder, layers = setup(layer=0)
    q, h = layers["q"], layers["h"]
    ntp = 1000 << 32
    forwarder.on_publisher_rtcp(0.0, [SenderReport(q.ssrc, ntp, 1_000_000, 0, 0)])
    # h's SR claims its frames are a second older than q's: following it would go back.
    forwarder.on_publisher_rtcp(0.0, [SenderReport(h.ssrc, ntp, 3_000_090_000, 0, 0)])
    first = send(forwarder, 0.0, q.frame(key=True))
    forwarder.select_layer(0.0, "bob", 1)
    switched = send(forwarder, 0.2, h.frame(key=True))
    assert diff32(switched[0].ts, first[0].ts) == 18000  # 0.2 s later instead


def test_selecting_the_current_layer_cancels_a_pending_switch() -> None:
    forwarder, layers = setup(layer=0)
    send(forwarder, 0.0, layers["q"].frame(key=True))
    forwarder.select_layer(0.0, "bob", 2)
    assert forwarder.select_layer(0.0, "bob", 0) == []
    assert forwarder.layer_of("bob") == (0, -1)
    assert send(forwarder, 0.1, layers["f"].frame(key=True)) == []
    assert [o.rid for o in send(forwarder, 0.1, layers["q"].frame(key=False))] == ["q", "q"]


def test_a_new_subscriber_starts_on_the_largest_layer_seen() -> None:
    forwarder, layers = setup(layer=0)
    for rid in ("f", "q", "h"):
        send(forwarder, 0.0, layers[rid].frame(key=True))
    config = SubscriberConfig("carol", ssrc=0x8888, payload_types={VP8: 100})
    forwarder.add_subscriber(0.1, config)
    assert forwarder.layer_of("carol") == (2, -1)
    forwarder.remove_subscriber("bob")  # leaves no trace in the layers
    assert all(s.subscriber_id == "carol" for x in forwarder.layers for s in x.subs)


def test_a_one_layer_track_is_unchanged_by_layers() -> None:
    forwarder, layers = setup(layer=0)
    assert forwarder.simulcast
    q = layers["q"]
    plain = Forwarder(TrackConfig(kind="video", ssrc=None, clock_rate=90000, codecs={VP8: "VP8"}))
    assert not plain.simulcast and len(plain.layers) == 1
    plain.add_subscriber(0.0, SubscriberConfig("bob", ssrc=1, payload_types={VP8: 100}))
    out = [p for packet in q.frame(key=True) for _, p in plain.on_rtp(0.0, packet)]
    # The payload (descriptor included) goes out as it came: no PictureID rewriting.
    assert [RtpView(p).payload for p in out] == [RtpView(p).payload for p in q.sent]


# --- property: any interleaving, any switches --------------------------------------------------

STEP = st.one_of(
    st.tuples(
        st.just("frame"),
        st.sampled_from("qhf"),
        st.sampled_from([True, False, False]),
        st.integers(1, 3),
    ),
    st.tuples(st.just("select"), st.integers(0, 2), st.just(False), st.just(0)),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(STEP, min_size=20, max_size=80), st.integers(0, 2))
def test_any_switches_leave_one_decodable_stream(
    steps: list[tuple[str, object, bool, int]], start: int
) -> None:
    forwarder, layers = setup(layer=start)
    out = send(forwarder, 0.0, layers["qhf"[start]].frame(key=True))
    now = 0.0
    for kind, arg, key, packets in steps:
        now += 0.01
        if kind == "select":
            forwarder.select_layer(now, "bob", int(arg))  # type: ignore[call-overload]
        else:
            out += send(forwarder, now, layers[str(arg)].frame(key=key, packets=packets))
    # One stream: one SSRC, sequence numbers without a gap.
    assert {o.ssrc for o in out} <= {OUT_SSRC}
    assert all(diff16(b.seq, a.seq) == 1 for a, b in itertools.pairwise(out))
    # Timestamps never go back.
    assert all(diff32(b.ts, a.ts) >= 0 for a, b in itertools.pairwise(out))
    # The stream starts, and each layer's part of it starts, with that layer's keyframe.
    for i, o in enumerate(out):
        if i == 0 or out[i - 1].rid != o.rid:
            assert o.key, (i, o)
    # PictureID moves on by one per picture (new timestamp), TL0PICIDX likewise (all TID 0).
    for a, b in itertools.pairwise(out):
        if b.ts != a.ts:
            assert (b.picture_id - a.picture_id) & 0x7FFF == 1
            assert (b.tl0 - a.tl0) & 0xFF == 1
        else:
            assert (b.picture_id, b.tl0) == (a.picture_id, a.tl0)
