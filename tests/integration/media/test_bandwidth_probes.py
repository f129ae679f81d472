"""Bandwidth probes through a real session, SRTP and the compiled packet path: a subscriber
whose estimate holds it below the layer it may have gets a probe cluster — padding-only packets
on its RTX stream (RFC 4588, RFC 3550 §5.1 padding), each with the next transport-wide number
(draft-holmer-rmcat-transport-wide-cc-extensions-01 §2) — and a subscriber that gets what it
may have gets none.

Alice publishes three simulcast layers as test_simulcast_forwarding.py has her do (aiortc
cannot); Bob is an aiortc peer whose offer has the transport-cc lines of a browser's. First his
downlink has no limit (no estimate): he gets the top layer and no padding. Then his estimate is
a real SubscriberEstimator driven through the simulated 400 kbit/s link of the estimator's
tests: the allocation holds him on the smallest layer, so the node probes whether the next one
would fit. aiortc sends no transport feedback, so that probe's result is "unreported": it
raises nothing, and the next probe backs off."""

from __future__ import annotations

import asyncio
import re
import time

import pytest

from benchmarks.clients.cheap_peer import TRANSPORT_CC_ID, offer_transport_cc
from liveloop_sfu.media.core.rtp import RtpView, is_rtcp
from liveloop_sfu.media.core.transport_feedback import read_transport_sequence
from liveloop_sfu.media.sfu.probe_schedule import FIRST_BACKOFF
from liveloop_sfu.media.sfu.probes import DURATION, RESULT_TIMEOUT
from tests.integration.in_process import Room
from tests.integration.media.test_simulcast_forwarding import (
    SHAPE,
    capture,
    offer_simulcast,
    offered_publisher,
)
from tests.unit.media.core.bwe_link import Link, simulate

pytestmark = pytest.mark.slow


async def test_a_subscriber_held_low_is_probed_with_padding_and_one_on_top_is_not(
    room: Room,
) -> None:
    alice = await room.join("A", "alice")
    bob = await room.join("B", "bob")
    await room.session.on_offer("A", offer_simulcast(await alice.create_offer()))
    await alice.accept_answer(room.answers["A"])
    await room.session.on_offer("B", offer_transport_cc(await bob.create_offer()))
    await bob.accept_answer(room.answers["B"])
    await bob.wait_connected()
    await alice.wait_connected()
    answer = room.answers["A"]
    video = answer[answer.index("m=video") :]
    mid = re.search(r"a=mid:(\S+)", video)
    vp8 = re.search(r"a=rtpmap:(\d+) VP8/90000", video)
    bob_answer = room.answers["B"]
    bob_video = bob_answer[bob_answer.index("m=video") :]
    bob_rtx = re.search(r"a=rtpmap:(\d+) rtx/90000", bob_video)
    fid = re.search(r"a=ssrc-group:FID (\d+) (\d+)", bob_video)
    assert mid is not None and vp8 is not None and bob_rtx is not None and fid is not None
    media_ssrc, rtx_ssrc = int(fid[1]), int(fid[2])

    bob_rtcp: list[bytes] = []
    bob_rtp: list[bytes] = []
    capture(bob.pc.getTransceivers()[0].receiver.transport, bob_rtcp, bob_rtp)
    send = alice.pc.getTransceivers()[0].receiver.transport._send_rtp
    layers = offered_publisher(int(vp8[1]), mid[1])

    async def frames(count: int) -> None:
        """``count`` frames of every layer at 30 fps, each layer's first a keyframe, and a
        keyframe on every layer each half second (the switches wait for one)."""
        for k in range(count):
            for rid, layer in layers.items():
                packets, fill = SHAPE[rid]
                for packet in layer.frame(key=k % 15 == 0, packets=packets, fill=fill):
                    await send(packet)
            await asyncio.sleep(1 / 30)

    def received() -> list[RtpView]:
        return [RtpView(p) for p in bob_rtp if not is_rtcp(p)]

    def padding() -> list[RtpView]:
        return [v for v in received() if v.ssrc == rtx_ssrc and v.padding]

    counters = room.session.counters
    forwarder = room.session._participants["A"].publications[mid[1]].forwarder

    # No limit on Bob's downlink: the top layer, nothing held back, nothing probed.
    await frames(45)
    assert forwarder.layer_of("B") == (2, -1)
    assert counters["probe-clusters"] == 0 and padding() == []

    # ~400 kbit/s: held on the smallest layer while he may have the top one -> probed.
    _, estimator = simulate(Link(400_000), 10.0)
    room.session._participants["B"].estimator = estimator
    estimate = estimator.estimate
    assert estimate is not None and estimate < 500_000
    await frames(30)
    assert forwarder.layer_of("B")[0] == 0
    assert counters["probe-clusters"] == 1
    probe = padding()
    assert len(probe) >= 5
    assert counters["probe-padding-packets"] == len(probe)
    for view in probe:
        # Padding only: nothing in the payload (no RTX OSN), RFC 3550 §5.1 padding after it.
        assert view.pt == int(bob_rtx[1])
        assert view.payload_end == view.payload_start
        assert view.data[-1] == len(view.data) - view.payload_end
        assert read_transport_sequence(view.data, TRANSPORT_CC_ID) >= 0
    # The transport-wide numbers run on across media and padding, one per packet.
    numbers = [read_transport_sequence(v.data, TRANSPORT_CC_ID) for v in received()]
    assert all(n >= 0 for n in numbers)
    assert sorted(numbers) == list(range(min(numbers), min(numbers) + len(numbers)))
    # Media went on on its own SSRC alongside.
    assert any(v.ssrc == media_ssrc for v in received())
    # No feedback came (aiortc sends none): once RESULT_TIMEOUT has passed, the probe is
    # judged unreported, raises nothing, and the next waits FIRST_BACKOFF.
    for _ in range(20):
        await frames(3)
        if counters["probe-result:unreported"]:
            break
    assert counters["probe-result:unreported"] == 1
    assert estimator.estimate is not None and estimator.estimate <= estimate * 1.1
    assert counters["probe-clusters"] == 1
    assert room.session._probes._probing["B"].schedule.next_at > time.monotonic()
    assert RESULT_TIMEOUT + DURATION < FIRST_BACKOFF
