"""The cheap load client end to end: two of them make a 1:1 call through a real node process.

Structural facts, no figures: what the clients counted from clear RTP headers matches what the
node says it forwarded; the sampled, decrypted frames are the publisher's cached frames, in
order; the receivers' reports, NACKs and PLIs reach the node (its own counters); the node's
NACKs upstream are answered by the publisher's retransmissions.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace
from pathlib import Path

import pytest

from benchmarks.clients.cheap_peer import CheapPeer, Ticker, packetized
from benchmarks.clients.peer import negotiate
from benchmarks.harness.processes import LOAD_TEST_LIMITS
from benchmarks.media.cache import MediaSpec, load_or_build
from liveloop_sfu.client import WireClient
from tests.helpers import scrape, until
from tests.nodes import Node, NodeFactory

pytestmark = pytest.mark.slow

SPEC = MediaSpec(width=320, height=240, fps=30, video_kbps=300, seconds=2, keyframe_interval=30)
CALL_SECONDS = 5.0
# Lossy uplinks: the first publisher leaves out every 97th packet but can retransmit it (the
# node's NACK repairs it); the second leaves out every 89th for good, so its subscriber NACKs
# the node in vain and then asks for a keyframe, as a browser does.
DROP_EVERY = (97, 89)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One media cache for the module's tests: the simulcast test's largest encoding is the
    first test's media, encoded once."""
    return tmp_path_factory.mktemp("cache")


async def _call(node: Node, peers: list[CheapPeer]) -> list[WireClient]:
    wires = [WireClient(node.url, timeout=20) for _ in peers]
    for index, wire in enumerate(wires):
        await wire.connect()
        await wire.request_room(f"cheap{index}")
    for wire in wires:
        await wire.next("match-done", timeout=20)
    for wire, peer in zip(wires, peers, strict=True):
        await negotiate(wire, peer)
    return wires


async def _stop_and_count(node: Node, peers: list[CheapPeer]) -> tuple[int, dict[str, float]]:
    """Publishers stop; what is in flight arrives; then both sides' counts are final: the
    packets the receivers counted from clear headers, and the node's metrics."""
    for peer in peers:
        assert peer.pump is not None
        peer.pump.sending = False
    await asyncio.sleep(0.5)
    received = sum(p.received.totals(kind).packets for p in peers for kind in ("video", "audio"))
    return received, await asyncio.to_thread(scrape, node)


async def _close(peers: list[CheapPeer], ticker: Ticker, wires: list[WireClient]) -> None:
    for peer in peers:
        with contextlib.suppress(Exception):
            await peer.close()
    await ticker.stop()
    for wire in wires:
        with contextlib.suppress(Exception):
            await wire.close()


async def test_cheap_clients_call_through_a_node(node_factory: NodeFactory, cache: Path) -> None:
    node = node_factory("--mode", "sfu", *LOAD_TEST_LIMITS)
    media = packetized(load_or_build(SPEC, cache))
    ticker = Ticker()
    peers = [CheapPeer(media, ticker, decode=True, frame_every=4) for _ in range(2)]
    peers[0].drop_every, peers[1].drop_every = DROP_EVERY
    peers[1].forget_dropped = True
    peers[0].partner_sent_at = peers[1].video.sent_at
    peers[1].partner_sent_at = peers[0].video.sent_at
    wires: list[WireClient] = []
    try:
        wires = await _call(node, peers)
        for peer in peers:
            peer.window_open = True
        await until(lambda: all(p.received.decoded >= 3 for p in peers), 30, "sampled frames")
        await asyncio.sleep(CALL_SECONDS)
        received, metrics = await _stop_and_count(node, peers)
        forwarded = metrics["liveloop_forwarded_packets_total"]
    finally:
        await _close(peers, ticker, wires)

    # Counted from clear headers = what the node says it forwarded (retransmissions aside).
    assert forwarded > 500
    assert abs(received - forwarded) <= 0.02 * forwarded, (received, forwarded)
    for peer in peers:
        log = peer.received
        assert log.totals("video").frames > 100 and log.totals("audio").packets > 200
        # Sampled frames decrypted whole are cached frames, byte for byte, in order.
        assert log.decoded >= 10 and log.unreadable == 0 and log.out_of_order == 0
        assert peer.receiver is not None and peer.receiver.srtp_errors == 0
        assert log.latencies, "no frame latency measured"
        # Frames of several packets went to the kernel whole (UDP GSO) and arrived as the packets
        # counted above.
        assert peer.senders["video"].batched >= 10
    # The node hears each side's reports, and the NACKs and PLIs for the unrepairable gaps...
    assert metrics["liveloop_rtcp_receiver_reports_received_total"] >= 2 * CALL_SECONDS
    assert metrics["liveloop_rtcp_sender_reports_received_total"] >= 2 * CALL_SECONDS
    assert peers[0].sent_nacks >= 1 and peers[0].sent_plis >= 1
    assert metrics["liveloop_rtcp_nacks_received_total"] >= peers[0].sent_nacks
    assert metrics["liveloop_rtcp_plis_received_total"] >= peers[0].sent_plis
    # They offered transport-cc as browsers do: the node stamped what it sent them, and their
    # transport feedback (about 10 a second each) reached it.
    assert all(p.transport_cc_id > 0 for p in peers)
    # Every RTP packet the node sent them carried its transport-wide number, and was recorded.
    for peer in peers:
        packets = sum(peer.received.totals(kind).packets for kind in ("video", "audio"))
        assert peer.receiver is not None and peer.receiver.feedback_recorded >= packets, (
            peer.receiver.feedback_recorded if peer.receiver else None,
            packets,
        )
    assert all(p.sent_feedback >= 5 * CALL_SECONDS for p in peers)
    assert metrics["liveloop_transport_feedback_received_total"] >= sum(
        p.sent_feedback for p in peers
    ) - 2 * len(peers)  # the last ones may still be on their way at the scrape
    # As publishers they stamp transport-wide numbers on what they send, retransmissions too, as
    # browsers do: the node records the arrivals and sends each of them transport feedback.
    assert all(p.received_feedback >= 5 * CALL_SECONDS for p in peers)
    assert metrics["liveloop_transport_feedback_sent_total"] >= sum(
        p.received_feedback for p in peers
    )
    # ...and NACKs the gaps upstream itself; the first publisher answers with RTX.
    assert metrics["liveloop_nacks_sent_total"] >= 1
    assert peers[0].answered_nacks >= 1


async def test_cheap_clients_publish_h264(node_factory: NodeFactory, cache: Path) -> None:
    # --codec h264: the clients offer only H.264, send RFC 6184 payloads (single NAL units and
    # FU-A fragments), and the sampled frames rebuilt from them are the cached access units.
    node = node_factory("--mode", "sfu", *LOAD_TEST_LIMITS)
    spec = replace(SPEC, codec="h264")
    media = packetized(load_or_build(spec, cache))
    ticker = Ticker()
    peers = [CheapPeer(media, ticker, decode=True, frame_every=4) for _ in range(2)]
    wires: list[WireClient] = []
    try:
        wires = await _call(node, peers)
        await until(lambda: all(p.received.decoded >= 10 for p in peers), 30, "sampled frames")
        await asyncio.sleep(3)  # packets enough that the first ones (aiortc's) do not count
        received, metrics = await _stop_and_count(node, peers)
        forwarded = metrics["liveloop_forwarded_packets_total"]
        answers = [p.pc.remoteDescription.sdp for p in peers]
    finally:
        await _close(peers, ticker, wires)
    assert all("H264/90000" in sdp and "VP8/90000" not in sdp for sdp in answers)
    assert forwarded > 500 and abs(received - forwarded) <= 0.02 * forwarded
    for peer in peers:
        log = peer.received
        assert log.unreadable == 0 and log.out_of_order == 0
        assert peer.receiver is not None and peer.receiver.srtp_errors == 0
        assert not peer.senders["video"].vp8 and peer.senders["video"].marker


async def test_cheap_clients_publish_simulcast(node_factory: NodeFactory, cache: Path) -> None:
    # --simulcast 3: each publisher offers three encodings (a=rid, a=simulcast, no SSRCs) and
    # sends each with its RID; the node answers them, forwards each subscriber one stream, and
    # pauses an encoding nobody is given (its gauge in /metrics).
    node = node_factory("--mode", "sfu", *LOAD_TEST_LIMITS)
    media = packetized(load_or_build(replace(SPEC, simulcast=3), cache))
    assert media.rids == ("q", "h", "f") and len(media.layers) == 2
    ticker = Ticker()
    peers = [CheapPeer(media, ticker, decode=True, frame_every=4) for _ in range(2)]
    wires: list[WireClient] = []
    try:
        wires = await _call(node, peers)
        for peer, wire in zip(peers, wires, strict=True):
            peer.follow_layers(wire)  # set-video-layers, as the load generator does
        await until(lambda: all(p.received.decoded >= 10 for p in peers), 30, "sampled frames")
        await until(
            lambda: scrape(node)["liveloop_simulcast_paused_layers"] >= 2, 20, "paused layers"
        )
        # The publishers stop sending what the node paused (set-video-layers), the rest goes on.
        await until(lambda: all(p.paused_rids for p in peers), 10, "encodings paused")
        before = [[s.sent for s in [*p.layer_senders, p.senders["video"]]] for p in peers]
        await asyncio.sleep(0.5)
        for peer, sent in zip(peers, before, strict=True):
            senders = [*peer.layer_senders, peer.senders["video"]]
            for rid, sender, count in zip(media.rids, senders, sent, strict=True):
                assert (sender.sent == count) == (rid in peer.paused_rids), (rid, peer.paused_rids)
        received, metrics = await _stop_and_count(node, peers)
        forwarded = metrics["liveloop_forwarded_packets_total"]
        answers = [p.answer_sdp for p in peers]
    finally:
        await _close(peers, ticker, wires)
    for sdp in answers:
        video = sdp[sdp.index("m=video") :]
        assert "a=simulcast:recv q;h;f" in video and "a=rid:q recv" in video
    assert forwarded > 300 and abs(received - forwarded) <= 0.02 * forwarded
    for peer in peers:
        senders = [*peer.layer_senders, peer.senders["video"]]
        assert len({s.ssrc for s in senders}) == 3 and all(s.sent > 30 for s in senders)
        log = peer.received
        # One video stream of the three reaches each subscriber, whichever encoding the node
        # gives it; its sampled frames are that encoding's cached frames, in order.
        assert log.video_streams() == 1
        assert log.unreadable == 0 and log.out_of_order == 0
        assert sum(log.layers.values()) == log.decoded and set(log.layers) <= set(media.rids)
    # Of the 3 encodings per publisher, at most 2 are given (the one its subscriber gets and
    # the smallest, never paused): the node paused at least one of each.
    assert metrics["liveloop_simulcast_paused_layers"] >= 2
