"""Garbage sent to the node's media ports during a call does not disturb the call.

An attacker who learns a node's media port (it is in every answer) can spray it. Random bytes,
fake STUN requests, fake RTP/RTCP and fake DTLS records from a stranger's address must neither
break the call nor reach the forwarder as media."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import random
import re
import socket
import struct
import time
from concurrent.futures import ProcessPoolExecutor

import pytest

from liveloop_sfu.media.transport.ice_gathering import GuardedStunProtocol
from tests.helpers import until
from tests.integration.in_process import Room

pytestmark = pytest.mark.slow

CANDIDATE_PORT = re.compile(r"a=candidate:\S+ 1 udp \d+ 127\.0\.0\.1 (\d+) typ host")
WINDOW = 3.0


def garbage(rng: random.Random) -> bytes:
    kind = rng.randrange(6)
    if kind == 0:  # random bytes
        return os.urandom(rng.randrange(1, 1500))
    if kind == 1:  # a STUN binding request (RFC 8489 §5) with a bogus USERNAME, no integrity
        body = struct.pack("!HH", 0x0006, 8) + b"node:bad"
        return struct.pack("!HHI", 0x0001, len(body), 0x2112A442) + os.urandom(12) + body
    if kind == 2:  # an RTP-looking packet (version 2, random SSRC / PT)
        return bytes([0x80, rng.randrange(256)]) + os.urandom(rng.randrange(10, 1200))
    if kind == 3:  # an RTCP-looking packet (SR / RR / PSFB)
        return bytes([0x81, rng.choice([200, 201, 206])]) + os.urandom(rng.randrange(6, 200))
    if kind == 4:  # a DTLS 1.2 handshake record header with junk
        return bytes([0x16, 0xFE, 0xFD]) + os.urandom(rng.randrange(10, 300))
    return b""  # empty datagram


def spray(ports: list[int], seconds: float, rate: float) -> int:
    """Blocking sender, run in a process of its own (the call's peers share this one)."""
    rng = random.Random(8)
    sent = 0
    start = time.monotonic()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        while time.monotonic() - start < seconds:
            for port in ports:
                sock.sendto(garbage(rng), ("127.0.0.1", port))
                sent += 1
            time.sleep(max(0.0, start + sent / rate - time.monotonic()))
    return sent


def fps(frames: list[tuple[int | None, float]], start: float, end: float) -> float:
    return sum(1 for _, t in frames if start <= t < end) / (end - start)


async def test_garbage_on_media_ports_does_not_disturb_a_call(room: Room) -> None:
    alice = await room.join("a", "alice-id", first_frame=0)
    bob = await room.join("b", "bob-id", first_frame=30_000)
    await room.connect("a")
    await room.connect("b")
    ports = sorted({int(p) for sid in "ab" for p in CANDIDATE_PORT.findall(room.answers[sid])})
    assert len(ports) == 2  # one BUNDLE transport per participant
    await until(lambda: min(len(alice.video_log.counters), len(bob.video_log.counters)) >= 30, 20)

    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        await loop.run_in_executor(pool, time.sleep, 0)  # the worker is up and imported
        # Quiet, sprayed, quiet: a busy shared test machine moves fps on its own, so the
        # sprayed window is compared with the quiet ones around it.
        start = time.monotonic()
        await asyncio.sleep(WINDOW)
        quiet_before = fps(bob.video_log.frames, start, time.monotonic())
        before = dict(room.session.metrics())
        dropped = GuardedStunProtocol.dropped
        start = time.monotonic()
        sent = await loop.run_in_executor(pool, spray, ports, WINDOW, 1000.0)
        sprayed = fps(bob.video_log.frames, start, time.monotonic())
    after = room.session.metrics()
    start = time.monotonic()
    await asyncio.sleep(WINDOW)
    quiet_after = fps(bob.video_log.frames, start, time.monotonic())
    quiet = (quiet_before + quiet_after) / 2
    print(
        f"fps quiet {quiet_before:.1f} / {quiet_after:.1f}, sprayed {sprayed:.1f}; "
        f"{sent} datagrams; metrics {after}"
    )

    assert sent > 1500
    assert quiet > 10 and sprayed >= 0.75 * quiet
    assert room.failures == []
    assert alice.pc.connectionState == bob.pc.connectionState == "connected"
    for peer, first in ((alice, 30_000), (bob, 0)):
        assert peer.video_log.in_order()
        assert min(peer.video_log.counters) >= first  # only the partner's frames
    # None of it was taken for media from a participant.
    for key in ("rtp-malformed", "rtp-unroutable", "rtcp-malformed"):
        assert after.get(key, 0) == before.get(key, 0), key
    # Everything but the fake STUN requests was refused before reaching a participant's media
    # (aioice rejects those: their USERNAME names no ICE session of the node's): at the socket
    # guard, or — what looks like RTP/RTCP (RFC 7983: first byte 128..191) takes the hot path
    # straight to SRTP — by SRTP authentication (RFC 3711 §3.4).
    refused = GuardedStunProtocol.dropped - dropped
    refused += after["srtp-errors"] - before.get("srtp-errors", 0)
    assert refused >= sent * 0.7


async def test_an_empty_datagram_alone_does_not_end_a_call(room: Room) -> None:
    """Regression: aiortc's DTLS receive loop reads ``data[0]`` and died on an empty datagram."""
    alice = await room.join("a", "alice-id")
    await room.join("b", "bob-id", first_frame=30_000)
    await room.connect("a")
    await room.connect("b")
    port = int(CANDIDATE_PORT.findall(room.answers["a"])[0])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(b"", ("127.0.0.1", port))
    seen = len(alice.video_log.counters)
    await until(lambda: len(alice.video_log.counters) >= seen + 30, 15)
    assert room.session.metrics().get("closed-by-peer", 0) == 0
    assert room.failures == []
