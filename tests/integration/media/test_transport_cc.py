"""Transport-wide congestion control with a browser that offers it, through a real session:
the node answers it (and only to who offers it), reports the arrival of every packet the browser
stamps with a transport-wide sequence number, and stamps its own on what it sends.

The clients are real aiortc peers. aiortc 1.16 neither offers transport-cc nor stamps the
extension, so Alice's offer is given the two lines a browser's offer has, and the packets she
stamps are sent through her own DTLS/SRTP transport as a browser's would be.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from typing import Any

import pytest
from aiortc.codecs import CODECS, HEADER_EXTENSIONS

from benchmarks.clients.cheap_peer import TRANSPORT_CC_ID, offer_transport_cc
from benchmarks.media.synthetic import SyntheticPeer
from liveloop_sfu.media.core.rewriter import TRANSPORT_CC_URI
from liveloop_sfu.media.core.rtcp import parse_rtcp
from liveloop_sfu.media.core.rtp import build_rtp, is_rtcp
from liveloop_sfu.media.core.transport_feedback import TransportFeedback, read_transport_sequence
from tests.integration.in_process import Room

pytestmark = pytest.mark.slow

TCC_ID = TRANSPORT_CC_ID
UNROUTED_SSRC = 0x7CC0FFEE  # announced nowhere: recorded for feedback, then dropped unroutable


def capture(transport: Any, rtcp: list[bytes], rtp: list[bytes]) -> None:
    """Keep a copy of every decrypted RTP and RTCP packet the client's transport receives."""
    handle_rtcp, handle_rtp = transport._handle_rtcp_data, transport._handle_rtp_data

    async def on_rtcp(data: bytes) -> None:
        rtcp.append(data)
        await handle_rtcp(data)

    async def on_rtp(data: bytes, arrival_time_ms: int) -> None:
        rtp.append(data)
        await handle_rtp(data, arrival_time_ms)

    transport._handle_rtcp_data, transport._handle_rtp_data = on_rtcp, on_rtp


async def call_offering_transport_cc(room: Room) -> SyntheticPeer:
    """Alice (offering transport-cc as a browser does) and Bob (an aiortc peer, not offering
    it), both connected through the node; returns Alice's client."""
    alice = await room.join("A", "alice")
    await room.join("B", "bob")
    await room.session.on_offer("A", offer_transport_cc(await alice.create_offer()))
    await alice.accept_answer(room.answers["A"])
    await room.connect("B")
    await alice.wait_connected()
    return alice


async def test_transport_feedback_reports_each_stamped_packet(room: Room) -> None:
    alice = await call_offering_transport_cc(room)

    # Answered where offered, with the browser's id; never to Bob, who did not offer it; and
    # aiortc's own tables (what every aiortc client in this process negotiates) are untouched.
    answer = room.answers["A"]
    assert answer.count(f"a=extmap:{TCC_ID} {TRANSPORT_CC_URI}") == 2
    for pt, name in re.findall(r"a=rtpmap:(\d+) (\S+)/", answer):
        assert (f"a=rtcp-fb:{pt} transport-cc" in answer) == (name.lower() != "rtx"), name
    assert "transport-cc" not in room.answers["B"]
    assert TRANSPORT_CC_URI not in room.answers["B"]
    assert all(e.uri != TRANSPORT_CC_URI for kind in HEADER_EXTENSIONS.values() for e in kind)
    assert all(
        f.type != "transport-cc" for kind in CODECS.values() for c in kind for f in c.rtcpFeedback
    )

    transport = alice.pc.getTransceivers()[0].receiver.transport
    rtcp: list[bytes] = []
    rtp: list[bytes] = []
    capture(transport, rtcp, rtp)

    # 100 stamped packets 10 ms apart, 40..44 never sent (lost on the way, as far as the node
    # can tell), across the 16-bit wrap.
    first, sent_at = 65500, {}
    vp8 = next(
        int(pt) for pt, name in re.findall(r"a=rtpmap:(\d+) (\S+)/", answer) if name == "VP8"
    )
    for i in range(100):
        seq = (first + i) & 0xFFFF
        if 40 <= i < 45:
            continue
        packet = build_rtp(
            pt=vp8, seq=i, ts=90 * i, ssrc=UNROUTED_SSRC, payload=bytes(200),
            extensions=[(TCC_ID, seq.to_bytes(2, "big"))],
        )  # fmt: skip
        await transport._send_rtp(packet)
        sent_at[seq] = time.monotonic()
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.5)

    reports: dict[int, int] = {}
    feedback = [p for data in rtcp if is_rtcp(data) for p in parse_rtcp(data)]
    feedback = [p for p in feedback if isinstance(p, TransportFeedback)]
    for packet in feedback:
        for i, arrival in enumerate(packet.arrivals):
            reports[(packet.base_sequence + i) & 0xFFFF] = arrival
    assert feedback, "no transport feedback from the node"
    assert all(reports.get(seq, -1) != -1 for seq in sent_at), "a sent packet reported lost"
    assert all(reports[(first + i) & 0xFFFF] == -1 for i in range(40, 45))
    counts = [p.feedback_count for p in feedback]
    assert counts == [(counts[0] + i) & 0xFF for i in range(len(counts))]
    # The arrival times are the node's: in order on loopback, and spread like the sending was.
    order = sorted(sent_at, key=sent_at.__getitem__)
    arrivals = [reports[seq] for seq in order]
    assert arrivals == sorted(arrivals)
    sent_span_us = (sent_at[order[-1]] - sent_at[order[0]]) * 1e6
    assert arrivals[-1] - arrivals[0] >= 0.5 * sent_span_us
    assert room.session.counters["rtcp-out-transport-feedback"] >= len(feedback)
    assert room.session.counters["rtp-unroutable"] >= len(sent_at)

    # What the node sends Alice carries the node's own transport-wide sequence numbers: one
    # counter for the whole transport, audio and video alike, no number twice. (Retransmissions
    # are left out: they repeat the original's number today, see docs/architecture.md.)
    rtx = {int(pt) for pt, name in re.findall(r"a=rtpmap:(\d+) (\S+)/", answer) if name == "rtx"}
    media = [data for data in rtp if data[1] & 0x7F not in rtx]
    stamped = [(data[8:12], read_transport_sequence(data, TCC_ID)) for data in media]
    numbers = [seq for _, seq in stamped if seq >= 0]
    assert len({ssrc for ssrc, _ in stamped}) >= 2, "audio and video"
    assert len(numbers) == len(stamped) > 100 and len(set(numbers)) == len(numbers)
    unwrapped = sorted((n - numbers[0]) & 0xFFFF for n in numbers)
    assert unwrapped[-1] - unwrapped[0] + 1 - len(unwrapped) <= 0.05 * len(unwrapped)


async def test_arrivals_are_the_kernels_when_the_node_reads_late(room: Room) -> None:
    """A burst that waits in the socket while the node's event loop is busy keeps the spacing it
    arrived with (srtp/packet_io.py reads each datagram's kernel receive time): stamped with
    the time the loop got to it, it would look like a queue building on the path, and the
    browser's delay-based estimator would back off from a link that is idle."""
    alice = await call_offering_transport_cc(room)
    transport = alice.pc.getTransceivers()[0].receiver.transport
    rtcp: list[bytes] = []
    capture(transport, rtcp, [])

    # Sent from inside the event loop with blocking sleeps between them: the node (the same
    # loop) reads all twenty only afterwards, in one go.
    spacing, first = 0.005, 1000
    for i in range(20):
        packet = build_rtp(
            pt=96, seq=i, ts=90 * i, ssrc=UNROUTED_SSRC, payload=bytes(200),
            extensions=[(TCC_ID, (first + i).to_bytes(2, "big"))],
        )  # fmt: skip
        await transport._send_rtp(packet)
        time.sleep(spacing)  # noqa: ASYNC251 - blocking the loop is the point
    await asyncio.sleep(0.5)

    reports: dict[int, int] = {}
    for data in rtcp:
        for packet in parse_rtcp(data) if is_rtcp(data) else []:
            if isinstance(packet, TransportFeedback):
                for i, arrival in enumerate(packet.arrivals):
                    reports[packet.base_sequence + i] = arrival
    arrivals = [reports.get(first + i, -1) for i in range(20)]
    assert -1 not in arrivals, arrivals
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    # Each gap is at least most of the blocking sleep (loopback adds nothing), never ~0.
    assert min(gaps) >= 0.6 * spacing * 1e6, gaps
