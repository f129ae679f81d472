"""The cheap client's packet I/O in C (benchmarks/clients/native/_wire.c, through wire.py), over
real loopback UDP sockets with real SRTP (pylibsrtp's libsrtp on both ends): what it sends is
what the Python path sends, datagram for datagram; what it reads is what the kernel queued."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from pylibsrtp import Policy, Session

from benchmarks.clients.native import wire
from benchmarks.clients.native.datagrams import SLOT_BYTES, SLOTS
from benchmarks.clients.native.media_sender import HISTORY, StreamSender, TransportSequence
from liveloop_sfu.media.core.rtp import build_extension_block
from liveloop_sfu.media.native import compiled
from liveloop_sfu.media.transport.srtp.packet_io import PeerIo, SrtpContext

KEY = bytes(range(30))  # AES_CM_128_HMAC_SHA1_80: 16 bytes of key, 14 of salt
CONNECTED = object()  # stands for aiortc's DtlsState.CONNECTED


def test_built_wherever_the_rest_is_compiled() -> None:
    # An install that compiled the packet path (scripts/install.sh) built the C part too: the
    # tests below must run, not quietly take the Python path.
    assert wire.available() == compiled()


class _DtlsState:
    """What StreamSender and PeerIo read of aiortc's DTLS transport: its state and sending
    SRTP session."""

    def __init__(self, tx: Session | None = None) -> None:
        self._state = CONNECTED
        self._tx_srtp = tx


async def _io(receiving: socket.socket, tx: Session) -> tuple[PeerIo, socket.socket, Any]:
    """A PeerIo that sends as the node's does (packets one by one, protected with ``tx``) from a
    new socket under a real asyncio datagram transport (closed by the caller), to
    ``receiving``."""
    sending = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sending.bind(("127.0.0.1", 0))
    sending.setblocking(False)
    loop = asyncio.get_running_loop()
    datagrams, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, sock=sending)
    io = PeerIo("test", CONNECTED, lambda pair: (sending, datagrams, receiving.getsockname()))
    io.transport, io.nominated = _DtlsState(tx), {1: object()}
    return io, sending, datagrams


@pytest.fixture
def link() -> Iterator[tuple[socket.socket, socket.socket]]:
    assert wire.available(), "the C packet I/O is not built: scripts/install.sh builds it"
    receiving = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiving.bind(("127.0.0.1", 0))
    receiving.setblocking(False)
    sending = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sending.bind(("127.0.0.1", 0))
    sending.setblocking(False)
    yield sending, receiving
    sending.close()
    receiving.close()


def _datagrams(receiving: socket.socket, count: int) -> list[bytes]:
    out: list[bytes] = []
    deadline = time.monotonic() + 2.0
    while len(out) < count and time.monotonic() < deadline:
        try:
            out.append(receiving.recv(4096))
        except BlockingIOError:
            time.sleep(0.001)
    return out


def _sender(sending: socket.socket, receiving: socket.socket, *, native: bool) -> StreamSender:
    io = PeerIo("test", CONNECTED, lambda pair: (None, None, None))
    io.transport = _DtlsState()
    sender = StreamSender(io, 96, 0x1234, b"", vp8=True, seq=65533)
    tx = Session(policy=Policy(key=KEY, ssrc_type=Policy.SSRC_ANY_OUTBOUND))
    sender.batch_through(
        SrtpContext(tx), sending, None, receiving.getsockname(), CONNECTED, native=native
    )
    return sender


def test_c_path_sends_what_the_python_path_sends(
    link: tuple[socket.socket, socket.socket],
) -> None:
    sending, receiving = link
    frames = [[bytes([n]) * 300] * 3 + [bytes([n]) * 120] for n in range(3)]  # GSO-shaped
    received: dict[bool, list[bytes]] = {}
    for native in (True, False):
        sender = _sender(sending, receiving, native=native)
        assert (sender._wire is not None) == native
        for number, chunks in enumerate(frames):
            assert sender.send_frame(chunks, 3000 * number, number) == 4
        rx = Session(policy=Policy(key=KEY, ssrc_type=Policy.SSRC_ANY_INBOUND))
        # Each frame went in one system call (GSO), and the kernel cut it into its 4 packets,
        # across the sequence number's wrap.
        assert sender.batched == 3
        received[native] = [rx.unprotect(d) for d in _datagrams(receiving, 12)]
    assert len(received[True]) == 12
    assert received[True] == received[False]
    assert [p[2] << 8 | p[3] for p in received[True]][:4] == [65533, 65534, 65535, 0]


async def test_c_writer_numbers_keeps_and_stamps_what_python_does(
    link: tuple[socket.socket, socket.socket],
) -> None:
    # A video stream and an audio stream sharing one transport-wide counter (draft §2), with
    # header extensions around it; a frame of 70 packets (more than one GSO send); then every
    # kept packet, the counters and the next numbers compared with the Python path's.
    _, receiving = link
    _, block = build_extension_block([(5, b"\0\0"), (1, b"0")])
    extensions = b"\xbe\xde" + (len(block) // 4).to_bytes(2, "big") + block
    frames = [[b"k" * 500] * 69 + [b"k" * 20], [b"p" * 300, b"p" * 300], [b"q"]]
    seen: dict[bool, tuple[list[bytes], list[bytes | None], tuple[int, ...]]] = {}
    for native in (True, False):
        wide = TransportSequence(0xFFF0)
        tx = Session(policy=Policy(key=KEY, ssrc_type=Policy.SSRC_ANY_OUTBOUND))
        io, sending, datagrams = await _io(receiving, tx)
        streams = [
            StreamSender(io, 96, 1, extensions, vp8=True, seq=10, transport=wide, transport_at=5),
            StreamSender(io, 111, 2, extensions, vp8=False, seq=20, transport=wide, transport_at=5),
        ]
        for stream in streams:
            stream.batch_through(
                SrtpContext(tx), sending, None, receiving.getsockname(), CONNECTED, native=native
            )
            assert (stream._writer is not None) == native
        video, audio = streams
        sent = [video.send_frame(chunks, 9000 * n, 300 + n) for n, chunks in enumerate(frames)]
        sent.append(audio.send_frame([b"opus"], 960, 0))
        assert sent == [70, 2, 1, 1]
        rx = Session(policy=Policy(key=KEY, ssrc_type=Policy.SSRC_ANY_INBOUND))
        clear = [rx.unprotect(d) for d in _datagrams(receiving, 74)]
        kept = [video.packet(seq) for seq in range(10, 83)] + [audio.packet(20)]
        counters = (video.seq, video.packets, video.octets, audio.octets, wide.value)
        seen[native] = (clear, kept, counters)
        datagrams.close()
    assert len(seen[True][0]) == 74
    assert seen[True] == seen[False]
    assert all(seen[True][1])
    assert video.packet(83) is None and HISTORY == wire._WIRE.HISTORY


def _writer(sender: wire.WireSender) -> Any:
    """A C writer of a plain stream: no extensions, no VP8 descriptor, no marker."""
    return wire.frame_writer(
        sender, b0=0x80, pt=96, marker=False, vp8=False, ssrc=7, ext_head=b"", ext_tail=b"",
        transport=False,
    )  # fmt: skip


@pytest.mark.parametrize("forget", [False, True])
def test_c_writer_drops_as_python_does(
    link: tuple[socket.socket, socket.socket], forget: bool
) -> None:
    # A lossy link made by the publisher (tests): every 3rd packet of the stream is not sent,
    # and with ``forget`` not kept for retransmission either; the same in C as in Python.
    sending, receiving = link
    frames = [[bytes([n]) * 300] * 4 for n in range(5)]
    seen: dict[bool, tuple[list[bytes], list[bytes | None], tuple[int, ...]]] = {}
    for native in (True, False):
        sender = _sender(sending, receiving, native=native)
        sender.drop_every, sender.forget_dropped = 3, forget
        assert (sender._writer is not None) == native
        sent = [sender.send_frame(chunks, 3000 * n, n) for n, chunks in enumerate(frames)]
        rx = Session(policy=Policy(key=KEY, ssrc_type=Policy.SSRC_ANY_INBOUND))
        clear = [rx.unprotect(d) for d in _datagrams(receiving, 14)]
        kept = [sender.packet((65533 + i) & 0xFFFF) for i in range(20)]
        seen[native] = (clear, kept, (sender.seq, sender.packets, sender.octets, *sent))
    assert len(seen[True][0]) == 14  # 20 packets, 6 dropped
    assert seen[True] == seen[False]
    assert sum(p is None for p in seen[True][1]) == (6 if forget else 0)


def test_gso_runs_end_at_a_shorter_packet(link: tuple[socket.socket, socket.socket]) -> None:
    # GSO: segments of one size, the last one no longer. A shorter packet in the middle ends
    # a run; the packets after it go on their own; the datagrams come out in order.
    sending, receiving = link
    tx = Session(policy=Policy(key=KEY, ssrc_type=Policy.SSRC_ANY_OUTBOUND))
    sender = wire.WireSender(tx, sending, receiving.getsockname())
    writer = _writer(sender)
    chunks = [bytes([i]) * size for i, size in enumerate([200, 200, 120, 200, 200])]
    assert writer.send_frame(chunks, 0, 0, 0, 0, True, True, sender.spill, 0, 0, False) == 5
    rx = Session(policy=Policy(key=KEY, ssrc_type=Policy.SSRC_ANY_INBOUND))
    packets = [rx.unprotect(d) for d in _datagrams(receiving, 5)]
    assert [p[12:] for p in packets] == chunks
    assert [p[2] << 8 | p[3] for p in packets] == [0, 1, 2, 3, 4]
    assert sender.spill == [] and writer.octets == sum(len(c) for c in chunks)


def test_bad_input_is_refused_and_nothing_is_sent(
    link: tuple[socket.socket, socket.socket],
) -> None:
    sending, receiving = link
    tx = Session(policy=Policy(key=KEY, ssrc_type=Policy.SSRC_ANY_OUTBOUND))
    with pytest.raises(ValueError, match="numeric"):
        wire.WireSender(tx, sending, ("localhost", 9))
    sender = wire.WireSender(tx, sending, receiving.getsockname())
    writer = _writer(sender)
    with pytest.raises(ValueError, match="too long"):
        writer.send_frame([b"x", bytes(2000)], 0, 0, 0, 0, True, True, [], 0, 0, False)
    assert writer.packet(0) is None  # refused before anything was numbered or kept
    with pytest.raises(TypeError):
        writer.send_frame("not a list", 0, 0, 0, 0, True, True, [], 0, 0, False)
    with pytest.raises(TypeError):
        writer.send_frame([b"x"], 0, 0, 0, 0, True, True, [])
    assert writer.send_frame([b"x"], 0, 0, 0, 0, True, True, [], 0, 0, False) == 1
    # libsrtp protects a packet once (RFC 3711 §3.3.2 replay list, on the sender too): a frame
    # numbered again is refused, not sent twice.
    with pytest.raises(ValueError, match="libsrtp status"):
        writer.send_frame([b"x"], 0, 0, 0, 0, True, True, [], 1, 0, False)
    assert len(_datagrams(receiving, 2)) == 1


def test_reader_reads_sizes_truncation_and_kernel_times(
    link: tuple[socket.socket, socket.socket],
) -> None:
    sending, receiving = link
    reader = wire.reader(receiving)
    assert reader.slots == SLOTS and len(reader.buffers) == SLOTS
    assert reader.read() == 0  # nothing queued: no exception, no datagram
    before = time.time_ns()
    payloads = [b"a" * 10, b"b" * 1200, b"c" * (SLOT_BYTES + 1), b"d"]
    for payload in payloads:
        sending.sendto(payload, receiving.getsockname())
    time.sleep(0.05)
    assert reader.read() == 4
    assert [reader.size(i) for i in range(4)] == [10, 1200, -1, 1]
    assert reader.truncated == 1
    assert bytes(reader.buffers[1][:1200]) == payloads[1]
    stamps = [reader.arrival_ns(i) for i in range(4)]
    assert all(before <= s <= time.time_ns() for s in stamps) and stamps == sorted(stamps)
    assert [reader.arrival(i) for i in range(4)] == pytest.approx([s * 1e-9 for s in stamps])
    with pytest.raises(IndexError):
        reader.size(SLOTS)
    with pytest.raises(TypeError):
        wire._WIRE.Reader(receiving.fileno(), [b"not a bytearray"])
    # Made without __init__ (never by our code): an error, not a crash.
    with pytest.raises(RuntimeError, match="not initialised"):
        wire._WIRE.Reader.__new__(wire._WIRE.Reader).read()
    writer = wire._WIRE.FrameWriter.__new__(wire._WIRE.FrameWriter)
    with pytest.raises(RuntimeError, match="not initialised"):
        writer.send_frame([b"x"], 0, 0, 0, 0, True, True, [], 0, 0, False)
    assert writer.packet(0) is None
