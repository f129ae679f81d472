"""The cheap receiver over a real loopback UDP socket with real SRTP (libsrtp through pylibsrtp):
it counts from clear headers, decrypts only its sample, reassembles sampled frames, NACKs gaps,
and hands STUN to aioice's path."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from pylibsrtp import Policy, Session

from benchmarks.clients.native.datagrams import DatagramBatch
from benchmarks.clients.native.header_counter import MediaReceiver
from benchmarks.clients.native.media_sender import packetize
from liveloop_sfu.media.core.rtp import build_rtp
from liveloop_sfu.media.core.transport_feedback import DELTA_TICK_US, parse_transport_feedback

KEY = bytes(range(30))  # AES_CM_128_HMAC_SHA1_80: 16 bytes of key, 14 of salt
SSRC = 0x11223344
VP8 = 96


@pytest.fixture
def link() -> Iterator[tuple[socket.socket, socket.socket]]:
    receiving = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiving.bind(("127.0.0.1", 0))
    receiving.setblocking(False)
    sending = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sending.connect(receiving.getsockname())
    yield sending, receiving
    sending.close()
    receiving.close()


def _frame_packets(frame: bytes, seq: int, ts: int) -> list[bytes]:
    chunks = packetize(frame, 100)
    return [
        build_rtp(
            pt=VP8,
            seq=seq + i,
            ts=ts,
            ssrc=SSRC,
            marker=i == len(chunks) - 1,
            payload=bytes([0x90 if i == 0 else 0x80, 0x80, 0x80, 0x01]) + chunk,
        )
        for i, chunk in enumerate(chunks)
    ]


def _receiver(receiving: socket.socket, stun: list[bytes], frame_every: int) -> MediaReceiver:
    rx = Session(policy=Policy(key=KEY, ssrc_type=Policy.SSRC_ANY_INBOUND))
    receiver = MediaReceiver(
        receiving, rx, lambda data, addr: stun.append(data), sample_every=0, frame_every=frame_every
    )
    receiver.kinds[VP8] = "video"
    receiver.clock_rates[VP8] = 90000
    return receiver


def _wait_for_stamps_at_arrival(sending: socket.socket, receiving: socket.socket) -> None:
    """Return once the kernel stamps ``receiving``'s datagrams when they arrive.

    When no socket of the machine has asked for receive times, the first one to ask switches
    them on through deferred work (``net_enable_timestamp`` in net/core/dev.c), and so does the
    last one to close, off. A datagram that arrives before that work has run is stamped when it
    is read (``__sock_recv_timestamp``). Closing the last test's socket and opening this one's
    can leave the first packet stamped at the drain, 30 ms late, so the test waits for the
    kernel here and measures the receiver. A load client never sees this: its ICE and DTLS
    handshake comes before any media.
    """
    probe = DatagramBatch(receiving, slots=1)
    for _ in range(200):
        sending.send(b"\x00\x01" + bytes(18))
        time.sleep(0.005)
        read_at = time.time_ns()
        assert probe.read() == 1 and probe.size(0) == 20
        if 0 < probe.arrival_ns(0) < read_at - 2_000_000:
            return
    raise AssertionError("the kernel did not stamp a datagram at its arrival within 1 s")


def test_packetize_splits_evenly_and_keeps_every_byte() -> None:
    frame = bytes(range(256)) * 3
    chunks = packetize(frame, 300)
    assert [len(c) for c in chunks] == [256, 256, 256]
    assert b"".join(chunks) == frame
    assert packetize(b"", 300) == [b""]


def test_counts_samples_and_reassembles(link: tuple[socket.socket, socket.socket]) -> None:
    sending, receiving = link
    tx = Session(policy=Policy(key=KEY, ssrc_type=Policy.SSRC_ANY_OUTBOUND))
    stun: list[bytes] = []
    receiver = _receiver(receiving, stun, frame_every=2)
    frames = [bytes([n]) * 250 for n in range(4)]  # 3 packets each
    seq = 65534  # across the 16-bit wrap
    for number, frame in enumerate(frames):
        for packet in _frame_packets(frame, seq, 3000 * number):
            sending.send(tx.protect(packet))
        seq += 3
    sending.send(b"\x00\x01" + bytes(18))  # a STUN-looking datagram (RFC 7983: first byte 0..3)

    assert receiver.drain(0.0, 100.0, 100) == 13
    (stream,) = receiver.streams.values()
    assert (stream.packets, stream.frames, stream.expected()) == (12, 4, 12)
    assert stun == [b"\x00\x01" + bytes(18)]
    # The stream's first packet (libsrtp's numbering starts there: across the sequence wrap
    # below, a later first one would be misnumbered), then frames 2 and 4 (every 2nd) whole:
    # 7 packets of 12 decrypted, the frames' payloads byte-exact.
    assert receiver.decrypted == 7 and receiver.srtp_errors == 0
    assert [f.data for f in receiver.frames] == [frames[1], frames[3]]
    assert all(f.complete for f in receiver.frames)


def test_gap_is_nacked_and_forgery_is_caught(link: tuple[socket.socket, socket.socket]) -> None:
    sending, receiving = link
    tx = Session(policy=Policy(key=KEY, ssrc_type=Policy.SSRC_ANY_OUTBOUND))
    receiver = _receiver(receiving, [], frame_every=1)
    packets = _frame_packets(bytes(250), 100, 0) + _frame_packets(bytes(250), 103, 3000)
    protected = [tx.protect(p) for p in packets]
    sending.send(protected[0])
    sending.send(protected[2])  # 101 lost
    forged = bytearray(protected[3])
    forged[-1] ^= 1  # a wrong authentication tag
    sending.send(bytes(forged))
    receiver.drain(0.0, 0.0, 100)

    assert receiver.srtp_errors == 1  # the sample caught the forgery...
    assert receiver.frames and not receiver.frames[0].complete  # ...and the frame's hole
    assert receiver.gaps
    assert receiver.due_nacks(0.001) == []  # NACKs wait a moment for reordering
    assert receiver.due_nacks(0.05) == [(SSRC, [101])]


def test_transport_feedback_carries_each_packets_kernel_arrival(
    link: tuple[socket.socket, socket.socket],
) -> None:
    # Two packets read by one drain, sent 30 ms apart: their transport-wide feedback gives each
    # its own arrival (the kernel's, read with the datagram), not the drain's one time.
    sending, receiving = link
    tx = Session(policy=Policy(key=KEY, ssrc_type=Policy.SSRC_ANY_OUTBOUND))
    receiver = _receiver(receiving, [], frame_every=0)
    receiver.transport_cc_id = 5
    _wait_for_stamps_at_arrival(sending, receiving)
    for number in range(2):
        packet = build_rtp(
            pt=VP8,
            seq=number,
            ts=0,
            ssrc=SSRC,
            payload=bytes(100),
            extensions=[(5, bytes([0, number]))],
        )
        sending.send(tx.protect(packet))
        time.sleep(0.03)
    now = time.monotonic()
    assert receiver.drain(now, time.time(), 100) == 2
    (packet,) = receiver.feedback.build(int(now * 1e6), 1, SSRC)
    arrivals = parse_transport_feedback(packet).arrivals
    assert len(arrivals) == 2 and arrivals[1] - arrivals[0] >= 30_000 - 2 * DELTA_TICK_US
    assert all(arrival <= now * 1e6 for arrival in arrivals)  # before the drain read them
    # The receiver reports' jitter comes from the same arrivals (RFC 3550 §6.4.1): 30 ms between
    # two packets of one timestamp.
    (stream,) = receiver.streams.values()
    block = stream.reception.report_block(now)
    assert block is not None and block.jitter > 0
