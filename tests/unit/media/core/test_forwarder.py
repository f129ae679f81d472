"""The forwarding core end to end, synchronous, exact values, starting at now = 0.0."""

from __future__ import annotations

import pytest

from liveloop_sfu.media.core.drops import DropReason
from liveloop_sfu.media.core.forwarder import (
    Forwarder,
    ForwarderSettings,
    SendToPublisher,
    SendToSubscriber,
    SubscriberConfig,
    TrackConfig,
)
from liveloop_sfu.media.core.remb import UNLIMITED
from liveloop_sfu.media.core.rewriter import (
    ABS_SEND_TIME_URI,
    AUDIO_LEVEL_URI,
    MID_URI,
    TRANSPORT_CC_URI,
)
from liveloop_sfu.media.core.rtp import (
    Fir,
    Nack,
    Pli,
    ReceiverReport,
    Remb,
    ReportBlock,
    RtpView,
    SenderReport,
    build_nack,
    build_pli,
    build_remb,
    build_rtp,
    ntp_from_unix,
    ntp_middle32,
    parse_rtcp,
    rtx_wrap,
)
from liveloop_sfu.media.core.sent_packets import TransportSequence
from liveloop_sfu.media.core.subscription import SOURCE_SWITCH_SEQ_GAP

PUB = 0x1111
FEEDBACK = 0x5EED
KEY = b"\x10\x00\x9d\x01\x2a"  # VP8: S=1 PID=0, key frame
DELTA = b"\x10\x01\x00"  # VP8: inter frame
CONT = b"\x00\x01\x00"  # VP8: continuation of a frame


def video(**settings: object) -> Forwarder:
    track = TrackConfig(
        kind="video",
        ssrc=PUB,
        clock_rate=90000,
        codecs={96: "VP8", 102: "H264"},
        header_extensions={1: MID_URI, 2: ABS_SEND_TIME_URI},
        rtx_payload_types={97: 96},
        feedback_ssrc=FEEDBACK,
    )
    return Forwarder(track, ForwarderSettings(**settings))  # type: ignore[arg-type]


def audio() -> Forwarder:
    track = TrackConfig(
        kind="audio",
        ssrc=PUB,
        clock_rate=48000,
        codecs={111: "opus"},
        header_extensions={3: AUDIO_LEVEL_URI},
        feedback_ssrc=FEEDBACK,
    )
    return Forwarder(track)


def sub(name: str = "bob", **kw: object) -> SubscriberConfig:
    fields: dict[str, object] = {
        "ssrc": 0x2222,
        "payload_types": {96: 100, 102: 102, 111: 109},
        "initial_seq": 1000,
        "initial_ts": 50_000,
    }
    fields.update(kw)
    return SubscriberConfig(name, **fields)  # type: ignore[arg-type]


def rtp(
    seq: int, payload: bytes = DELTA, *, ts: int | None = None, pt: int = 96, **kw: object
) -> bytes:
    timestamp = seq * 3000 if ts is None else ts
    return build_rtp(pt=pt, seq=seq, ts=timestamp, ssrc=PUB, payload=payload, **kw)  # type: ignore[arg-type]


def out_seqs(out: list[tuple[str, bytes]], who: str = "bob") -> list[int]:
    return [RtpView(p).seq for s, p in out if s == who]


def feed(fwd: Forwarder, packets: list[bytes], now: float = 0.0) -> list[tuple[str, bytes]]:
    out: list[tuple[str, bytes]] = []
    for packet in packets:
        out += fwd.on_rtp(now, packet)
    return out


PLI_UP = SendToPublisher(build_pli(FEEDBACK, PUB), "pli")


def test_new_video_subscriber_asks_for_a_keyframe() -> None:
    fwd = video()
    assert fwd.add_subscriber(0.0, sub()) == [PLI_UP]
    assert fwd.get_timer() == 1.0


def test_gate_waits_for_keyframe_then_rewrites() -> None:
    fwd = video()
    fwd.add_subscriber(0.0, sub())
    assert feed(fwd, [rtp(10), rtp(11, CONT)]) == []
    out = feed(fwd, [rtp(12, KEY, marker=True), rtp(13, DELTA)])
    views = [RtpView(p) for _, p in out]
    assert [(v.seq, v.ts, v.ssrc, v.pt, v.marker) for v in views] == [
        (1000, 50_000, 0x2222, 100, 1),
        (1001, 53_000, 0x2222, 100, 0),
    ]
    assert views[0].payload == KEY
    assert fwd.drops == {DropReason.WAITING_FOR_KEYFRAME: 2}
    assert fwd.subscriber("bob").drops == {DropReason.WAITING_FOR_KEYFRAME: 2}
    assert fwd.get_timer() is None  # the keyframe ended the request


def test_keyframe_request_retried_every_second() -> None:
    fwd = video()
    fwd.add_subscriber(0.0, sub())
    assert fwd.handle_timer(0.5) == []
    assert fwd.handle_timer(1.0) == [PLI_UP]
    assert fwd.get_timer() == 2.0


def test_pending_request_repeated_when_the_publisher_connects() -> None:
    fwd = video()
    assert fwd.publisher_ready(0.0) == []  # nobody waits for a keyframe
    fwd.add_subscriber(0.0, sub())  # its PLI went out before the publisher was connected
    assert fwd.publisher_ready(0.2) == [PLI_UP]
    assert fwd.get_timer() == 1.2
    assert audio().publisher_ready(0.0) == []


def test_requests_are_merged_across_subscribers() -> None:
    fwd = video()
    assert fwd.add_subscriber(0.0, sub("a")) == [PLI_UP]
    assert fwd.add_subscriber(0.1, sub("b", ssrc=3)) == []
    assert fwd.on_subscriber_rtcp(0.2, "a", [Pli(9, 0x2222)]) == []
    assert fwd.keyframe_requests.sent == 1


def test_audio_is_never_gated() -> None:
    fwd = audio()
    assert fwd.add_subscriber(0.0, sub()) == []
    out = fwd.on_rtp(0.0, rtp(5, b"opus", pt=111, ts=960, extensions=[(3, b"\x90")]))
    view = RtpView(out[0][1])
    assert (view.seq, view.ts, view.pt) == (1000, 50_000, 109)
    assert view.extensions() == []  # audio-level not negotiated by this subscriber: removed
    assert fwd.on_subscriber_rtcp(0.1, "bob", [Pli(1, 0x2222)]) == []


def test_audio_level_mapped_by_uri() -> None:
    fwd = audio()
    fwd.add_subscriber(0.0, sub(header_extensions={AUDIO_LEVEL_URI: 7}))
    out = fwd.on_rtp(0.0, rtp(5, b"opus", pt=111, extensions=[(3, b"\x90")]))
    data = out[0][1]
    assert [(i, data[s:e]) for i, s, e in RtpView(data).extensions()] == [(7, b"\x90")]


def test_mid_and_abs_send_time_written_per_subscriber() -> None:
    fwd = video()
    fwd.add_subscriber(0.0, sub(header_extensions={MID_URI: 4, ABS_SEND_TIME_URI: 5}, mid="v3"))
    out = fwd.on_rtp(1.0, rtp(1, KEY, extensions=[(1, b"pubmid"), (2, b"\x00\x00\x07")]))
    data = out[0][1]
    assert [(i, data[s:e]) for i, s, e in RtpView(data).extensions()] == [
        (4, b"v3"),
        (5, b"\x04\x00\x00"),  # 1.0 s in 6.18 fixed point
    ]
    assert RtpView(data).payload == KEY


def test_padding_is_not_forwarded() -> None:
    fwd = video()
    fwd.add_subscriber(0.0, sub())
    out = fwd.on_rtp(0.0, rtp(1, KEY, padding=9))
    view = RtpView(out[0][1])
    assert not view.padding
    assert view.payload == KEY


def test_payload_types_per_subscriber_and_unknown_ones_leave_no_gap() -> None:
    fwd = video()
    fwd.add_subscriber(0.0, sub("vp8only", payload_types={96: 98}))
    fwd.add_subscriber(0.0, sub("both", ssrc=3, payload_types={96: 96, 102: 125}))
    out = feed(fwd, [rtp(1, KEY), rtp(2, b"\x7c\x05", pt=102), rtp(3), rtp(4, pt=55)])
    assert [(s, RtpView(p).seq, RtpView(p).pt) for s, p in out] == [
        ("vp8only", 1000, 98),
        ("both", 1000, 96),
        ("both", 1001, 125),
        ("vp8only", 1001, 98),
        ("both", 1002, 96),
    ]
    # pt 102 for "vp8only", pt 55 for everybody (counted once in the track's total)
    assert fwd.drops == {DropReason.UNKNOWN_PAYLOAD_TYPE: 2}
    assert fwd.subscriber("vp8only").drops == {DropReason.UNKNOWN_PAYLOAD_TYPE: 2}
    assert fwd.subscriber("both").drops == {DropReason.UNKNOWN_PAYLOAD_TYPE: 1}


def test_h264_gate() -> None:
    fwd = video()
    fwd.add_subscriber(0.0, sub())
    stap_a = b"\x78\x00\x02\x67\x42\x00\x01\x68"
    out = feed(
        fwd, [rtp(1, b"\x41\x9a", pt=102), rtp(2, stap_a, pt=102), rtp(3, b"\x7c\x05", pt=102)]
    )
    assert out_seqs(out) == [1000, 1001]


def test_upstream_loss_keeps_its_gap_node_drops_do_not() -> None:
    fwd = video()
    fwd.add_subscriber(0.0, sub())
    out = feed(fwd, [rtp(1, KEY), rtp(2), rtp(4), rtp(5, padding=8, payload=b""), rtp(6)])
    # 3 lost upstream: gap kept; 5 padding-only dropped by the node: no gap
    assert out_seqs(out) == [1000, 1001, 1003, 1004]
    assert fwd.drops == {DropReason.PADDING_ONLY: 1}
    out = fwd.on_rtp(0.1, rtp(3))  # the lost packet arrives late: its own number
    assert out_seqs(out) == [1002]


def test_input_wraparound() -> None:
    fwd = video()
    fwd.add_subscriber(0.0, sub(initial_seq=65535))
    out = feed(fwd, [rtp(65534, KEY), rtp(65535), rtp(0), rtp(1)])
    assert out_seqs(out) == [65535, 0, 1, 2]


def test_timestamps_wrap() -> None:
    fwd = video()
    fwd.add_subscriber(0.0, sub(initial_ts=0xFFFFFFFF - 1000))
    out = feed(fwd, [rtp(1, KEY, ts=0), rtp(2, ts=3000)])
    assert [RtpView(p).ts for _, p in out] == [0xFFFFFFFF - 1000, 1999]


def test_input_stage_drops() -> None:
    fwd = video()
    fwd.add_subscriber(0.0, sub())
    feed(fwd, [rtp(100, KEY)])
    assert fwd.on_rtp(0.0, rtp(100, KEY)) == []
    assert fwd.on_rtp(0.0, b"\x80\x60") == []
    assert fwd.on_rtp(0.0, build_rtp(pt=96, seq=101, ts=0, ssrc=999, payload=DELTA)) == []
    assert fwd.on_rtp(0.0, rtp(100 - 1024)) == []
    assert fwd.drops == {
        DropReason.DUPLICATE: 1,
        DropReason.MALFORMED: 1,
        DropReason.WRONG_SSRC: 1,
        DropReason.TOO_OLD: 1,
    }
    assert fwd.packets_in == 3


def test_late_packet_from_before_the_gate_opened_is_too_old() -> None:
    fwd = video()
    fwd.add_subscriber(0.0, sub())
    feed(fwd, [rtp(10, KEY), rtp(11)])
    assert fwd.on_rtp(0.0, rtp(9)) == []
    assert fwd.subscriber("bob").drops == {DropReason.TOO_OLD: 1}


def test_ssrc_latched_when_not_configured() -> None:
    track = TrackConfig(kind="audio", ssrc=None, clock_rate=48000, codecs={111: "opus"})
    fwd = Forwarder(track)
    fwd.add_subscriber(0.0, sub())
    assert len(fwd.on_rtp(0.0, rtp(1, b"a", pt=111))) == 1
    assert fwd.on_rtp(0.0, build_rtp(pt=111, seq=2, ts=0, ssrc=7, payload=b"a")) == []


def test_publisher_sequence_restart_is_continued() -> None:
    fwd = video(generate_nacks=False)
    fwd.add_subscriber(0.0, sub())
    feed(fwd, [rtp(40000, KEY), rtp(40001)])
    # far behind (20000 is 20001 older than 40001): the first is held on probation, the next
    # consecutive one confirms a restarted sequence (RFC 3550 A.1)
    assert fwd.on_rtp(0.0, rtp(20000)) == []
    out = feed(fwd, [rtp(20001), rtp(20002)])
    assert out_seqs(out) == [1003, 1004]  # 1002 (the probation packet) is the only gap


def test_pause_drops_without_gaps_and_resume_regates() -> None:
    fwd = video()
    fwd.add_subscriber(0.0, sub())
    feed(fwd, [rtp(1, KEY)])
    assert fwd.set_paused(0.1, "bob", True) == []
    assert fwd.set_paused(0.1, "bob", True) == []
    assert feed(fwd, [rtp(2), rtp(3)]) == []
    assert fwd.set_paused(0.5, "bob", False) == [PLI_UP]
    out = feed(fwd, [rtp(4), rtp(5, KEY), rtp(6)])
    assert out_seqs(out) == [1001, 1002]
    assert fwd.subscriber("bob").drops == {
        DropReason.SUBSCRIBER_PAUSED: 2,
        DropReason.WAITING_FOR_KEYFRAME: 1,
    }


def test_egress_not_ready_then_ready_requests_keyframe() -> None:
    fwd = video()
    assert fwd.add_subscriber(0.0, sub(egress_ready=False)) == []
    assert feed(fwd, [rtp(1, KEY), rtp(2)]) == []
    assert fwd.subscriber("bob").drops == {DropReason.EGRESS_NOT_READY: 2}
    assert fwd.egress_ready(0.2, "bob") == [PLI_UP]
    assert feed(fwd, [rtp(3), rtp(4, KEY)]) == [
        ("bob", feed(video_with_bob(), [rtp(4, KEY)])[0][1])
    ]


def video_with_bob() -> Forwarder:
    fwd = video()
    fwd.add_subscriber(0.0, sub())
    return fwd


def test_egress_ready_soon_after_a_pli_is_deferred() -> None:
    fwd = video()
    fwd.add_subscriber(0.0, sub("a"))
    fwd.add_subscriber(0.0, sub("b", ssrc=3, egress_ready=False))
    feed(fwd, [rtp(1, KEY)])  # satisfies a's request at 0.0
    assert fwd.egress_ready(0.1, "b") == []
    assert fwd.get_timer() == 0.3
    assert fwd.handle_timer(0.3) == [PLI_UP]


def test_egress_ready_for_audio_just_starts() -> None:
    fwd = audio()
    fwd.add_subscriber(0.0, sub(egress_ready=False))
    assert fwd.on_rtp(0.0, rtp(1, b"a", pt=111)) == []
    assert fwd.egress_ready(0.1, "bob") == []
    assert out_seqs(fwd.on_rtp(0.1, rtp(2, b"a", pt=111))) == [1000]


def test_nack_answered_with_rtx() -> None:
    fwd = video()
    fwd.add_subscriber(0.0, sub(rtx_ssrc=0x3333, rtx_payload_types={100: 101}))
    sent = dict(enumerate(p for _, p in feed(fwd, [rtp(1, KEY), rtp(2), rtp(3)])))
    actions = fwd.on_subscriber_rtcp(0.05, "bob", [Nack(9, 0x2222, (1001, 1002, 1500))])
    assert len(actions) == 2
    first, second = (RtpView(a.packet) for a in actions if isinstance(a, SendToSubscriber))
    assert (first.pt, first.ssrc, first.ts) == (101, 0x3333, 53_000)
    assert second.seq == (first.seq + 1) & 0xFFFF  # RTX has its own counter
    assert first.payload == b"\x03\xe9" + DELTA  # OSN 1001, then the original payload
    assert actions[0] == SendToSubscriber("bob", rtx_wrap(RtpView(sent[1]), 101, 0x3333, first.seq))
    stats = fwd.subscriber("bob").stats
    assert (stats.nacked, stats.retransmitted, stats.nack_misses) == (3, 2, 1)
    # the same packet again within 100 ms: throttled; after it: resent
    assert fwd.on_subscriber_rtcp(0.1, "bob", [Nack(9, 0x2222, (1001,))]) == []
    assert stats.nack_throttled == 1
    assert len(fwd.on_subscriber_rtcp(0.2, "bob", [Nack(9, 0x2222, (1001,))])) == 1


def test_nack_without_rtx_resends_the_packet_as_sent() -> None:
    fwd = video()
    fwd.add_subscriber(0.0, sub())
    sent = [p for _, p in feed(fwd, [rtp(1, KEY), rtp(2)])]
    actions = fwd.on_subscriber_rtcp(0.05, "bob", parse_rtcp(build_nack(9, 0x2222, [1001])))
    assert actions == [SendToSubscriber("bob", sent[1])]


def test_feedback_for_other_ssrcs_or_subscribers_is_ignored() -> None:
    fwd = video()
    fwd.add_subscriber(0.0, sub())
    feed(fwd, [rtp(1, KEY)])
    assert fwd.on_subscriber_rtcp(0.5, "bob", [Nack(9, 0x9999, (1000,)), Pli(9, 0x9999)]) == []
    assert fwd.on_subscriber_rtcp(0.5, "nobody", [Pli(9, 0x2222)]) == []


def test_subscriber_pli_and_fir_become_upstream_pli() -> None:
    fwd = video()
    fwd.add_subscriber(0.0, sub())
    feed(fwd, [rtp(1, KEY)])
    assert fwd.on_subscriber_rtcp(0.5, "bob", [Pli(9, 0x2222)]) == [PLI_UP]
    feed(fwd, [rtp(2, KEY)], now=0.6)
    assert fwd.on_subscriber_rtcp(1.0, "bob", [Fir(9, ((0x2222, 4),))]) == [PLI_UP]
    feed(fwd, [rtp(3, KEY)], now=1.1)
    # the same FIR sequence number is a repetition (RFC 5104), a new one a new request
    assert fwd.on_subscriber_rtcp(2.0, "bob", [Fir(9, ((0x2222, 4),))]) == []
    assert fwd.on_subscriber_rtcp(2.0, "bob", [Fir(9, ((0x2222, 5),))]) == [PLI_UP]
    assert fwd.subscriber("bob").stats.keyframe_requests == 3


def test_subscriber_remb_minimum_goes_upstream() -> None:
    fwd = video()
    fwd.add_subscriber(0.0, sub("a"))
    fwd.add_subscriber(0.0, sub("b", ssrc=3))
    assert fwd.on_subscriber_rtcp(0.0, "a", [Remb(9, 2_000_000, (0x2222,))]) == [
        SendToPublisher(build_remb(FEEDBACK, 2_000_000, [PUB]), "remb")
    ]
    assert fwd.on_subscriber_rtcp(0.1, "b", [Remb(9, 800_000, (3,))]) == []
    assert fwd.on_subscriber_rtcp(0.3, "b", [Remb(9, 800_000, (3,))]) == [
        SendToPublisher(build_remb(FEEDBACK, 800_000, [PUB]), "remb")
    ]
    fwd.remove_subscriber("b")
    fwd.remove_subscriber("b")
    assert fwd.on_subscriber_rtcp(1.3, "a", [Remb(9, 2_000_000, (0x2222,))]) == [
        SendToPublisher(build_remb(FEEDBACK, 2_000_000, [PUB]), "remb")
    ]
    assert fwd.on_subscriber_rtcp(1.4, "a", [Remb(9, 2_000_000, (0xDEAD,))]) == []


def test_upstream_nack_on_timer() -> None:
    fwd = video()
    fwd.add_subscriber(0.0, sub())
    feed(fwd, [rtp(65533, KEY), rtp(1)])
    fwd.handle_timer(0.0)
    assert fwd.get_timer() == 0.01
    assert fwd.handle_timer(0.01) == [
        SendToPublisher(build_nack(FEEDBACK, PUB, [65534, 65535, 0]), "nack")
    ]
    fwd.on_rtp(0.02, rtp(65534))
    fwd.on_rtp(0.02, rtp(65535))
    fwd.on_rtp(0.02, rtp(0))
    assert fwd.get_timer() is None  # all recovered, and the keyframe ended the PLI retries


def test_upstream_nacks_can_be_disabled() -> None:
    fwd = video(generate_nacks=False)
    feed(fwd, [rtp(1), rtp(5)])
    assert fwd.get_timer() is None
    assert fwd.handle_timer(1.0) == []


def test_rtx_from_publisher_is_unwrapped() -> None:
    fwd = video()
    fwd.add_subscriber(0.0, sub())
    feed(fwd, [rtp(1, KEY)])
    rtx = rtx_wrap(RtpView(rtp(2)), 97, 0x7777, 40)
    out = fwd.on_rtx(0.0, rtx)
    assert out_seqs(out) == [1001]
    assert RtpView(out[0][1]).payload == DELTA
    assert fwd.on_rtx(0.0, rtx) == []  # the same again: duplicate
    assert fwd.on_rtx(0.0, build_rtp(pt=97, seq=41, ts=0, ssrc=0x7777, padding=20)) == []
    assert fwd.on_rtx(0.0, build_rtp(pt=98, seq=42, ts=0, ssrc=0x7777, payload=b"ab")) == []
    assert fwd.on_rtx(0.0, build_rtp(pt=97, seq=43, ts=0, ssrc=0x7777, payload=b"a")) == []
    assert fwd.on_rtx(0.0, b"junk") == []
    assert fwd.drops == {
        DropReason.DUPLICATE: 1,
        DropReason.PADDING_ONLY: 1,
        DropReason.UNKNOWN_PAYLOAD_TYPE: 1,
        DropReason.MALFORMED: 2,
    }


def test_sender_report_counts_and_extrapolates() -> None:
    fwd = video()
    fwd.add_subscriber(0.0, sub())
    assert fwd.sender_report(0.0, 1e9, "bob") is None
    feed(fwd, [rtp(1, KEY), rtp(2)], now=0.0)
    [sr] = parse_rtcp(fwd.sender_report(0.5, 1_700_000_000.0, "bob") or b"")
    assert sr == SenderReport(0x2222, ntp_from_unix(1_700_000_000.0), 53_000 + 45_000, 2, 8)


def test_sender_report_follows_the_publisher_mapping() -> None:
    fwd = video()
    fwd.add_subscriber(0.0, sub())
    feed(fwd, [rtp(1, KEY, ts=3000), rtp(2, ts=6000)])  # offset = 50_000 - 3000 = 47_000
    fwd.on_publisher_rtcp(1.0, [SenderReport(PUB, 123, 90_000, 0, 0), Pli(1, 2)])
    [sr] = parse_rtcp(fwd.sender_report(1.5, 1_700_000_000.0, "bob") or b"")
    assert isinstance(sr, SenderReport)
    assert sr.rtp_ts == 90_000 + 45_000 + 47_000
    # a subscriber added later gets the mapping too
    fwd.add_subscriber(1.6, sub("late", ssrc=4, initial_ts=0))
    feed(fwd, [rtp(3, KEY, ts=9000)], now=1.6)
    [late] = parse_rtcp(fwd.sender_report(2.0, 1_700_000_000.0, "late") or b"")
    assert isinstance(late, SenderReport)
    assert late.rtp_ts == 90_000 + 90_000 - 9000


def test_receiver_report_gives_rtt() -> None:
    fwd = video()
    fwd.add_subscriber(0.0, sub())
    feed(fwd, [rtp(1, KEY)])
    sr = fwd.sender_report(1.0, 1_700_000_000.0, "bob")
    assert sr is not None
    lsr = ntp_middle32(ntp_from_unix(1_700_000_000.0))
    block = ReportBlock(0x2222, 0, 0, 1, 0, lsr, 6554)  # DLSR 0.1 s
    fwd.on_subscriber_rtcp(1.3, "bob", [ReceiverReport(9, (block,))])
    rtt = fwd.subscriber("bob").stats.rtt
    assert rtt is not None and abs(rtt - 0.2) < 1e-4
    assert fwd.subscriber("bob").history.resend_interval == rtt


def test_subscriber_management() -> None:
    fwd = video()
    fwd.add_subscriber(0.0, sub())
    with pytest.raises(ValueError, match="already"):
        fwd.add_subscriber(0.0, sub())
    assert fwd.subscriber_ids == ["bob"]
    fwd.remove_subscriber("bob")
    assert fwd.subscriber_ids == []
    assert feed(fwd, [rtp(1, KEY)]) == []
    with pytest.raises(KeyError):
        fwd.subscriber("bob")


def test_keyframe_requests_give_up_after_max_attempts() -> None:
    fwd = video(keyframe_max_attempts=2)
    fwd.add_subscriber(0.0, sub())
    assert fwd.handle_timer(1.0) == [PLI_UP]
    assert fwd.handle_timer(2.0) == []
    assert fwd.get_timer() is None
    assert fwd.keyframe_requests.gave_up == 1


def test_stream_continues_across_a_source_switch() -> None:
    first, second = video(), video()
    first.add_subscriber(0.0, sub(rtx_ssrc=9, rtx_payload_types={100: 101}))
    feed(first, [rtp(10, KEY, ts=90_000), rtp(11, ts=93_000)], now=1.0)  # out ts 50_000, 53_000
    first.on_publisher_rtcp(1.0, [SenderReport(PUB, 1, 0, 0, 0)])
    previous = first.remove_subscriber("bob")
    assert previous is not None
    second.add_subscriber(1.5, sub(), continue_from=previous)
    out = feed(second, [rtp(500, DELTA, ts=7), rtp(501, KEY, ts=3007), rtp(502, ts=6007)], now=2.0)
    views = [RtpView(p) for _, p in out]
    # the deliberate sequence gap; the timestamp advances by the 1 s elapsed since the last packet
    gap = SOURCE_SWITCH_SEQ_GAP
    assert [(v.seq, v.ts) for v in views] == [
        (1002 + gap, 53_000 + 90_000),
        (1003 + gap, 53_000 + 93_000),
    ]
    report = second.sender_report(2.0, 1e9, "bob")
    [sr] = parse_rtcp(report or b"")
    assert isinstance(sr, SenderReport)
    assert (sr.packet_count, sr.rtp_ts) == (4, 53_000 + 93_000)  # old publisher mapping dropped
    # NACKs for packets sent by the first forwarder are still answered
    assert len(second.on_subscriber_rtcp(2.1, "bob", [Nack(1, 0x2222, (1001,))])) == 1


# (first output seq, previous source's packets: (seq, payload), next source's packets, expected
# output seqs of the next source). The next source always starts at its keyframe, after the
# gap, whatever the previous one left behind (its own node drops, a half-sent frame, a wrap).
CONTINUATIONS = [
    ("after two packets", 1000, [(10, KEY), (11, CONT)], [(7, KEY), (8, DELTA)], [3002, 3003]),
    (
        "node drops of the previous source close no gap",
        1000,
        [(10, KEY), (11, b""), (12, DELTA)],
        [(7, KEY)],
        [3002],
    ),
    (
        "packets before the keyframe are not sent",
        1000,
        [(10, KEY)],
        [(7, DELTA), (8, DELTA), (9, KEY), (10, CONT)],
        [3001, 3002],
    ),
    ("wraps around 2^16", 65_000, [(10, KEY), (11, DELTA)], [(7, KEY)], [(65_002 + 2000) % 65536]),
    ("a source that sent nothing", 1000, [(10, DELTA)], [(7, KEY)], [3000]),
]


@pytest.mark.parametrize(
    ("first", "before", "after", "expected"),
    [case[1:] for case in CONTINUATIONS],
    ids=[case[0] for case in CONTINUATIONS],
)
def test_a_continued_stream_restarts_after_the_gap_at_a_keyframe(
    first: int,
    before: list[tuple[int, bytes]],
    after: list[tuple[int, bytes]],
    expected: list[int],
) -> None:
    previous_source, next_source = video(), video()
    previous_source.add_subscriber(0.0, sub(initial_seq=first))
    feed(previous_source, [rtp(seq, payload) for seq, payload in before])
    previous = previous_source.remove_subscriber("bob")
    assert previous is not None
    next_source.add_subscriber(1.0, sub(initial_seq=12_345), continue_from=previous)
    out = feed(next_source, [rtp(seq, payload) for seq, payload in after], now=1.0)
    assert [RtpView(p).seq for _, p in out] == expected
    assert all(RtpView(p).ssrc == 0x2222 for _, p in out)


def test_the_source_switch_gap_suits_the_receivers() -> None:
    # aiortc's video jitter buffer holds 512 packets; libwebrtc's NACK list 1000; RFC 3550 A.1
    # treats a jump below MAX_DROPOUT = 3000 as loss within the same source.
    assert 1000 < SOURCE_SWITCH_SEQ_GAP < 3000


def test_continuation_needs_the_same_ssrc() -> None:
    first, second = video(), video()
    first.add_subscriber(0.0, sub())
    previous = first.remove_subscriber("bob")
    assert previous is not None
    with pytest.raises(ValueError, match="SSRC"):
        second.add_subscriber(0.0, sub(ssrc=5), continue_from=previous)


def _transport_seq_of(packet: bytes, ext_id: int) -> int:
    view = RtpView(packet)
    for element_id, start, end in view.extensions():
        if element_id == ext_id:
            assert end - start == 2
            return int.from_bytes(packet[start:end], "big")
    raise AssertionError("no transport-wide sequence number")


def test_transport_wide_numbers_are_recorded_per_transport_with_send_time_and_size() -> None:
    transport = TransportSequence(100)
    fwd_video, fwd_audio = video(), audio()
    tcc = {MID_URI: 1, ABS_SEND_TIME_URI: 2, TRANSPORT_CC_URI: 5}
    fwd_video.add_subscriber(0.0, sub(header_extensions=tcc, mid="1"), transport_seq=transport)
    fwd_audio.add_subscriber(0.0, sub(header_extensions=tcc, mid="0"), transport_seq=transport)
    sent = [p for _, p in feed(fwd_video, [rtp(1, KEY)], now=1.0)]
    sent += [p for _, p in fwd_audio.on_rtp(1.25, rtp(1, b"\x01\x02", pt=111))]
    assert [_transport_seq_of(p, 5) for p in sent] == [100, 101]
    assert [transport.send_us(100), transport.send_us(101)] == [1_000_000, 1_250_000]
    assert [transport.size(100), transport.size(101)] == [len(sent[0]), len(sent[1])]


def test_a_retransmission_takes_a_new_transport_wide_number() -> None:
    transport = TransportSequence(7)
    fwd = video()
    tcc = {MID_URI: 1, ABS_SEND_TIME_URI: 2, TRANSPORT_CC_URI: 5}
    fwd.add_subscriber(
        0.0,
        sub(header_extensions=tcc, mid="1", rtx_ssrc=0x3333, rtx_payload_types={100: 101}),
        transport_seq=transport,
    )
    feed(fwd, [rtp(1, KEY), rtp(2)])
    actions = fwd.on_subscriber_rtcp(0.5, "bob", [Nack(9, 0x2222, (1001,))])
    (resend,) = [a.packet for a in actions if isinstance(a, SendToSubscriber)]
    assert RtpView(resend).ssrc == 0x3333
    assert _transport_seq_of(resend, 5) == 9
    assert (transport.send_us(9), transport.size(9)) == (500_000, len(resend))


def test_retransmissions_to_a_limited_transport_stay_within_its_resend_budget() -> None:
    transport = TransportSequence(7)
    fwd = video()
    tcc = {MID_URI: 1, ABS_SEND_TIME_URI: 2, TRANSPORT_CC_URI: 5}
    fwd.add_subscriber(0.0, sub(header_extensions=tcc, mid="1"), transport_seq=transport)
    feed(fwd, [rtp(1, KEY)] + [rtp(seq) for seq in range(2, 12)])
    size = len(fwd.on_subscriber_rtcp(0.5, "bob", [Nack(9, 0x2222, (1000,))])[0].packet)
    # Budget of 4 packets a second, a quarter second saved up: one packet answered.
    transport.resend_rate = 4 * 8 * size
    transport.allow_resend(1.0, 0)
    nack = Nack(9, 0x2222, tuple(range(1001, 1011)))
    assert len(fwd.on_subscriber_rtcp(1.5, "bob", [nack])) == 1
    stats = fwd.subscriber("bob").stats
    assert stats.resend_over_budget == 9
    transport.resend_rate = 0  # the estimate no longer limits
    assert len(fwd.on_subscriber_rtcp(1.8, "bob", [nack])) == 10


def test_estimates_replace_remb_and_none_lifts_the_cap() -> None:
    fwd = video()
    fwd.add_subscriber(0.0, sub("a"))
    feed(fwd, [rtp(1, KEY)])
    assert fwd.on_subscriber_estimate(0.0, "a", 600_000) == [
        SendToPublisher(build_remb(FEEDBACK, 600_000, [PUB]), "remb")
    ]
    assert fwd.publisher_target == 600_000
    assert fwd.on_subscriber_rtcp(1.5, "a", [Remb(9, 90_000, (0x2222,))]) == []
    assert fwd.on_subscriber_estimate(2.0, "a", None) == [
        SendToPublisher(build_remb(FEEDBACK, UNLIMITED, [PUB]), "remb")
    ]
    assert fwd.on_subscriber_estimate(2.0, "nobody", 1) == []
