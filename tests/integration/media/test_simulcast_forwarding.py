"""A simulcast publisher through a real session, SRTP and the compiled packet path: the node
learns the three layers from their RIDs, forwards the subscriber the largest while nothing
limits it, and, once its downlink estimate is low, switches it to the smallest layer at that
layer's keyframe (asked of the publisher with a PLI on that layer's SSRC) — one stream for the
subscriber: one SSRC, no sequence gap, timestamps that never go back.

aiortc cannot publish simulcast, so Alice's offer gets the lines a browser's has (rids, the
RID extension, no a=ssrc on the video m-line) and her three layers are sent as packets through
her own DTLS/SRTP transport, as a browser's would be. Bob's estimate is a real
SubscriberEstimator driven through the simulated 400 kbit/s link of the estimator's tests
(aiortc sends no transport-cc feedback of its own)."""

from __future__ import annotations

import asyncio
import itertools
import re
from typing import Any

import pytest

from liveloop_sfu.media.core.rewriter import REPAIRED_RID_URI, RID_URI
from liveloop_sfu.media.core.rtcp import parse_rtcp
from liveloop_sfu.media.core.rtp import Pli, ReceiverReport, RtpView, is_rtcp
from liveloop_sfu.media.core.seq import diff16, diff32
from tests.integration.in_process import Room
from tests.unit.media.core.bwe_link import Link, simulate
from tests.unit.media.core.simulcast_publisher import Layer, publisher

pytestmark = pytest.mark.slow

RID_ID, RRID_ID = 10, 11  # free in aiortc's offers (mid 1, audio level 2, abs-send-time 3)
MID_ID = 1
SHAPE = {"q": (1, 500), "h": (2, 1000), "f": (5, 1100)}  # ~136, ~512, ~1401 kbit/s at 30 fps


def offer_simulcast(sdp: str) -> str:
    out: list[str] = []
    video = False
    for line in sdp.splitlines():
        if line.startswith("m="):
            video = line.startswith("m=video")
        if video and line.startswith("a=ssrc"):
            continue  # a browser sending simulcast announces no SSRC (Chromium, Safari)
        out.append(line)
        if video and line.startswith("a=mid:"):
            out += [
                f"a=extmap:{RID_ID} {RID_URI}",
                f"a=extmap:{RRID_ID} {REPAIRED_RID_URI}",
                "a=rid:q send",
                "a=rid:h send",
                "a=rid:f send",
                "a=simulcast:send q;h;f",
            ]
    return "\r\n".join(out) + "\r\n"


def offered_publisher(vp8_pt: int, mid: str) -> dict[str, Layer]:
    """The three layers, sent with the payload type and mid Alice's offer gave the video and
    the extension ids :func:`offer_simulcast` added."""
    layers = publisher()
    for layer in layers.values():
        layer.pt, layer.mid_id, layer.mid, layer.rid_id = vp8_pt, MID_ID, mid.encode(), RID_ID
    return layers


def capture(transport: Any, rtcp: list[bytes], rtp: list[bytes] | None) -> None:
    """Keep every decrypted RTCP packet; keep RTP packets *instead of* handing them to aiortc
    (``rtp`` given: their payloads are not real VP8, which aiortc's decoder would choke on)."""
    handle_rtcp = transport._handle_rtcp_data

    async def on_rtcp(data: bytes) -> None:
        rtcp.append(data)
        await handle_rtcp(data)

    transport._handle_rtcp_data = on_rtcp
    if rtp is not None:

        async def on_rtp(data: bytes, arrival_time_ms: int) -> None:
            rtp.append(data)

        transport._handle_rtp_data = on_rtp


async def test_layers_are_learnt_and_a_low_estimate_switches_to_the_smallest(room: Room) -> None:
    alice = await room.join("A", "alice")
    bob = await room.join("B", "bob")
    await room.session.on_offer("A", offer_simulcast(await alice.create_offer()))
    await alice.accept_answer(room.answers["A"])
    await room.connect("B")
    await alice.wait_connected()
    answer = room.answers["A"]
    video = answer[answer.index("m=video") :]
    assert "a=simulcast:recv q;h;f" in video and f"a=extmap:{RID_ID} {RID_URI}" in video
    mid = re.search(r"a=mid:(\S+)", video)
    vp8 = re.search(r"a=rtpmap:(\d+) VP8/90000", video)
    assert mid is not None and vp8 is not None
    bob_vp8 = re.search(r"a=rtpmap:(\d+) VP8/90000", room.answers["B"])
    assert bob_vp8 is not None

    def bob_video() -> list[RtpView]:
        return [RtpView(p) for p in bob_rtp if p[1] & 0x7F == int(bob_vp8[1])]

    def tags() -> list[str]:
        return [chr(v.data[v.payload_end - 1]) for v in bob_video()]

    alice_rtcp: list[bytes] = []
    capture(alice.pc.getTransceivers()[0].receiver.transport, alice_rtcp, None)
    bob_rtcp: list[bytes] = []
    bob_rtp: list[bytes] = []
    capture(bob.pc.getTransceivers()[0].receiver.transport, bob_rtcp, bob_rtp)
    send = alice.pc.getTransceivers()[0].receiver.transport._send_rtp

    layers = offered_publisher(int(vp8[1]), mid[1])

    answered: dict[int, int] = {}  # PLIs per SSRC already answered with a keyframe
    started: set[str] = set()  # layers that sent their first frame (a keyframe)

    def plis() -> list[Pli]:
        return [p for d in alice_rtcp if is_rtcp(d) for p in parse_rtcp(d) if isinstance(p, Pli)]

    async def frames(count: int, hold: frozenset[str] = frozenset()) -> None:
        """``count`` frames of every layer at 30 fps; a layer's next frame is a keyframe when a
        PLI about it arrived since its last keyframe (as a browser answers one), except for the
        layers in ``hold``, whose keyframes the test sends itself."""
        for _ in range(count):
            asked = [p.media_ssrc for p in plis()]
            for rid, layer in layers.items():
                packets, fill = SHAPE[rid]
                new = asked.count(layer.ssrc) > answered.get(layer.ssrc, 0)
                key = rid not in started or (new and rid not in hold)
                started.add(rid)
                if key:
                    answered[layer.ssrc] = asked.count(layer.ssrc)
                for packet in layer.frame(key=key, packets=packets, fill=fill):
                    await send(packet)
            await asyncio.sleep(1 / 30)

    # 1.5 s of all three layers, each starting with a keyframe: learnt, measured, forwarded.
    await frames(45)
    session_alice = room.session._participants["A"]
    forwarder = session_alice.publications[mid[1]].forwarder
    assert [x.ssrc for x in forwarder.layers] == [x.ssrc for x in layers.values()]
    assert forwarder.layer_of("B") == (2, -1)
    assert set(tags()) == {"f"}

    # Bob's downlink turns out to be ~400 kbit/s: the allocation moves him to q, asking Alice
    # for q's keyframe; f (1.4 Mbit/s: more than his whole budget) is held back until q's
    # keyframe comes, then only q goes.
    _, estimator = simulate(Link(400_000), 10.0)
    room.session._participants["B"].estimator = estimator
    await frames(10, hold=frozenset("q"))
    assert forwarder.layer_of("B") == (2, 0)
    assert forwarder.subscriber("B").holding
    assert layers["q"].ssrc in {p.media_ssrc for p in plis()}
    await frames(15)  # q answers the PLI with a keyframe
    await asyncio.sleep(0.2)
    assert forwarder.layer_of("B") == (0, -1)
    assert room.session.counters["simulcast-layer-switches"] == 1
    # Alice's receiver reports from the node cover every layer (RFC 3550 §6.4.2).
    reported = {
        block.ssrc
        for d in alice_rtcp
        if is_rtcp(d)
        for p in parse_rtcp(d)
        if isinstance(p, ReceiverReport)
        for block in p.reports
    }
    assert {x.ssrc for x in layers.values()} <= reported

    views = bob_video()
    layer_tags = tags()
    first_q = layer_tags.index("q")
    assert set(layer_tags[:first_q]) == {"f"} and set(layer_tags[first_q:]) == {"q"}
    assert len({v.ssrc for v in views}) == 1
    assert all(diff16(b.seq, a.seq) == 1 for a, b in itertools.pairwise(views))
    assert all(diff32(b.ts, a.ts) >= 0 for a, b in itertools.pairwise(views))
    switched = views[first_q]
    assert switched.data[switched.payload_start] & 0x10  # the first q packet begins a frame
    assert switched.data[switched.payload_start + 6] & 0x01 == 0  # ... a keyframe
