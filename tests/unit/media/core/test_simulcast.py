"""Simulcast in: reading a packet's RID, learning each layer's SSRC, per-layer statistics, and
each layer's packets kept apart (sequence numbers, NACKs, keyframe requests)."""

from __future__ import annotations

import pytest

from liveloop_sfu.media.codecs.vp8 import keyframe_size
from liveloop_sfu.media.core.drops import DropReason
from liveloop_sfu.media.core.forwarder import (
    Forwarder,
    SendToPublisher,
    SubscriberConfig,
    TrackConfig,
)
from liveloop_sfu.media.core.rtp import Pli, SenderReport, build_rtp, parse_rtcp
from liveloop_sfu.media.core.simulcast import LayerStats, read_rid
from tests.unit.media.core.simulcast_publisher import (
    SIZES,
    VP8,
    learn_all,
    publisher,
    track,
    vp8_payload,
)


def test_read_rid_in_both_extension_forms() -> None:
    one_byte = build_rtp(pt=96, seq=1, ts=1, ssrc=5, extensions=[(4, b"1"), (10, b"hi-1")])
    two_byte = build_rtp(pt=96, seq=1, ts=1, ssrc=5, extensions=[(4, b"1"), (200, b"f")])
    assert read_rid(one_byte, 10) == "hi-1"
    assert read_rid(two_byte, 200) == "f"
    assert read_rid(one_byte, 11) == "" and read_rid(one_byte, 0) == ""


@pytest.mark.parametrize(
    "data",
    [
        b"",
        bytes(12),
        build_rtp(pt=96, seq=1, ts=1, ssrc=5),  # no extension block
        build_rtp(pt=96, seq=1, ts=1, ssrc=5, extensions=[(10, b"q\xff")]),  # not a rid-id
        build_rtp(pt=96, seq=1, ts=1, ssrc=5, extensions=[(10, b"a b")]),
        build_rtp(pt=96, seq=1, ts=1, ssrc=5, extensions=[(10, b"q")])[:17],  # truncated
    ],
)
def test_read_rid_never_raises(data: bytes) -> None:
    assert read_rid(data, 10) == ""


def test_vp8_keyframe_size() -> None:
    key = vp8_payload(1, 1, key=True, start=True, size=(960, 540))
    delta = vp8_payload(1, 1, key=False, start=True, size=(960, 540))
    assert keyframe_size(key, 0, len(key)) == (960, 540)
    assert keyframe_size(delta, 0, len(delta)) == (0, 0)
    assert keyframe_size(key, 0, 10) == (0, 0)  # too short to hold the size


def test_layer_stats_rates_over_a_second_and_silence() -> None:
    stats = LayerStats()
    for frame in range(31):  # 30 fps, 2 packets of 500 bytes per frame, over 1 s
        for _ in range(2):
            stats.on_packet(frame / 30, 3000 * frame, 500)
    assert stats.frame_rate == pytest.approx(30.0)
    assert stats.bitrate == pytest.approx(30 * 1000 * 8, rel=0.01)
    assert stats.current_bitrate(1.5) == stats.bitrate
    assert stats.current_bitrate(3.1) == 0 and not stats.active(3.1)


def test_a_young_layer_is_measured_before_its_first_window_ends() -> None:
    stats = LayerStats()
    for frame in range(10):  # 30 fps, 1000 bytes per frame, for a third of a second
        stats.on_packet(frame / 30, 3000 * frame, 1000)
    assert stats.bitrate == 0  # no complete window yet
    assert stats.current_bitrate(0.1) == 0  # too young to tell
    assert stats.current_bitrate(10 / 30) == pytest.approx(240_000, rel=0.01)


def test_layer_stats_rank_by_keyframe_size_then_bitrate() -> None:
    small, large = LayerStats(), LayerStats()
    small.on_keyframe(0.0, 320, 180)
    large.on_keyframe(0.0, 1280, 720)
    assert small.rank() < large.rank()
    small.on_keyframe(1.0, 0, 0)  # a keyframe that does not say its size keeps the known one
    assert (small.width, small.height, small.keyframe_at) == (320, 180, 1.0)


def test_each_layer_is_learnt_once_from_its_rid() -> None:
    forwarder = Forwarder(track())
    assert forwarder.simulcast and [x.rid for x in forwarder.layers] == ["q", "h", "f"]
    assert forwarder.learn_layer("h", 0x1002, rtx=False)
    assert forwarder.learn_layer("h", 0x1002, rtx=False)  # the same again: fine
    assert not forwarder.learn_layer("h", 0x9999, rtx=False)  # another SSRC for a known layer
    assert not forwarder.learn_layer("f", 0x1002, rtx=False)  # an SSRC of another layer
    assert not forwarder.learn_layer("x", 0x1004, rtx=False)  # not a layer of this track
    assert forwarder.learn_layer("h", 0x2002, rtx=True)
    assert forwarder.layers[1].ssrc == 0x1002 and forwarder.layers[1].rtx_ssrc == 0x2002


def test_packets_of_an_unknown_ssrc_are_dropped_not_latched() -> None:
    forwarder = Forwarder(track())
    layers = publisher()
    forwarder.add_subscriber(0.0, SubscriberConfig("bob", ssrc=7, payload_types={VP8: 100}))
    for packet in layers["f"].frame(key=True):
        assert forwarder.on_rtp(0.0, packet) == []
    assert forwarder.drops[DropReason.WRONG_SSRC] == 2
    assert all(x.ssrc is None for x in forwarder.layers)


def test_each_layer_keeps_its_own_statistics() -> None:
    forwarder = Forwarder(track())
    layers = publisher()
    learn_all(forwarder, layers)
    for i in range(16):
        now = i / 15
        for rid, layer in layers.items():
            packets = {"q": 1, "h": 2, "f": 4}[rid]
            for packet in layer.frame(key=i == 0, packets=packets):
                forwarder.on_rtp(now, packet)
    stats = {x.rid: x.stats for x in forwarder.layers}
    assert all(s is not None for s in stats.values())
    q, h, f = stats["q"], stats["h"], stats["f"]
    assert q is not None and h is not None and f is not None
    assert (q.width, q.height) == SIZES["q"] and (f.width, f.height) == SIZES["f"]
    assert q.keyframe_at == h.keyframe_at == f.keyframe_at == 0.0
    assert q.frame_rate == h.frame_rate == f.frame_rate == pytest.approx(15.0)
    assert q.bitrate < h.bitrate < f.bitrate
    assert [x.index for x in sorted(forwarder.layers, key=lambda x: x.stats.rank())] == [0, 1, 2]  # type: ignore[union-attr]


def test_a_layers_rtx_is_unwrapped_with_its_own_ssrc() -> None:
    forwarder = Forwarder(track())
    layers = publisher()
    learn_all(forwarder, layers)
    forwarder.add_subscriber(
        0.0, SubscriberConfig("bob", ssrc=7, payload_types={VP8: 100}, initial_seq=500), layer=1
    )
    first = layers["h"].frame(key=True)
    second = layers["h"].frame(key=False)
    forwarder.on_rtp(0.0, first[0])
    forwarder.on_rtp(0.0, first[1])
    forwarder.on_rtp(0.1, second[1])  # second[0] lost upstream
    out = forwarder.on_rtx(0.2, layers["h"].rtx(second[0], rtx_seq=1))
    assert [(sid, int.from_bytes(p[2:4], "big")) for sid, p in out] == [("bob", 502)]
    # Another layer's RTX SSRC does not feed this one.
    assert forwarder.on_rtx(0.2, layers["q"].rtx(layers["q"].frame(key=True)[0], 1)) == []


def test_keyframe_requests_and_sender_reports_are_per_layer() -> None:
    forwarder = Forwarder(track())
    layers = publisher()
    actions = forwarder.add_subscriber(
        0.0, SubscriberConfig("bob", ssrc=7, payload_types={VP8: 100}), layer=2
    )
    assert actions == []  # the layer's SSRC is not known yet: nobody to ask
    learn_all(forwarder, layers)
    actions = forwarder.handle_timer(1.0)  # the retry, now that it is known
    plis = [parse_rtcp(a.packet)[0] for a in actions if isinstance(a, SendToPublisher)]
    assert [p.media_ssrc for p in plis if isinstance(p, Pli)] == [layers["f"].ssrc]
    report = SenderReport(
        ssrc=layers["h"].ssrc, ntp=5 << 32, rtp_ts=123, packet_count=1, octet_count=1
    )
    forwarder.on_publisher_rtcp(2.0, [report])
    assert forwarder.layers[1].publisher_ntp == (5.0, 123)
    assert forwarder.layers[0].publisher_ntp is None and forwarder.layers[2].publisher_ntp is None


def test_a_simulcast_track_sends_no_remb() -> None:
    forwarder = Forwarder(track())
    learn_all(forwarder, publisher())
    forwarder.add_subscriber(0.0, SubscriberConfig("bob", ssrc=7, payload_types={VP8: 100}))
    assert forwarder.on_subscriber_estimate(0.0, "bob", 300_000) == []


def test_a_recording_takes_the_largest_layer_once_every_layer_showed_a_keyframe() -> None:
    forwarder = Forwarder(track())
    layers = publisher()
    learn_all(forwarder, layers)
    for packet in layers["f"].frame(key=True) + layers["q"].frame(key=True):
        forwarder.on_rtp(0.0, packet)
    assert not any(forwarder.records(x.ssrc) for x in layers.values())  # h not seen yet
    for packet in layers["h"].frame(key=True):
        forwarder.on_rtp(0.0, packet)
    assert [forwarder.records(x.ssrc) for x in layers.values()] == [False, False, True]
    assert forwarder.records(layers["f"].rtx_ssrc) and not forwarder.records(layers["q"].rtx_ssrc)
    plain = Forwarder(TrackConfig(kind="video", ssrc=None, clock_rate=90000, codecs={VP8: "VP8"}))
    assert plain.records(1234)


def test_each_layer_gets_its_own_receiver_report_block() -> None:
    forwarder = Forwarder(track())
    layers = publisher()
    learn_all(forwarder, layers)
    for rid, layer in layers.items():
        packets = layer.frame(key=True, packets=4)
        for i, packet in enumerate(packets):
            if not (rid == "h" and i == 2):  # one of h's packets lost upstream
                forwarder.on_rtp(0.0, packet)
    report = SenderReport(
        layers["f"].ssrc, ntp=0x1234_5678_9ABC_0000, rtp_ts=1, packet_count=1, octet_count=1
    )
    forwarder.on_publisher_rtcp(0.5, [report])
    blocks = {block.ssrc: block for block in forwarder.layer_report_blocks(1.0)}
    assert set(blocks) == {x.ssrc for x in layers.values()}
    assert blocks[layers["h"].ssrc].packets_lost == 1
    assert blocks[layers["q"].ssrc].packets_lost == 0
    assert blocks[layers["f"].ssrc].lsr == 0x5678_9ABC and blocks[layers["q"].ssrc].lsr == 0
