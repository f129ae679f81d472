"""One client process of the forwarding benchmark: several 1:1 calls through a node (or Janus).

``python -m benchmarks.clients.call_client --url http://127.0.0.1:P --calls K [--decode D]``

Each call is two participants of this process (so a publisher and its subscriber share one clock)
that speak the wire contract (:class:`~liveloop_sfu.client.WireClient`: ``request-room``, offer,
the node's answer) with an ordinary aiortc peer each. The peers publish cached pre-encoded media
and count what they receive (:class:`benchmarks.clients.peer.BenchPeer`), so the node is what a
run measures. With ``--target janus`` each call is a Janus VideoRoom room of two
(:mod:`benchmarks.clients.janus`).

The process is driven by JSON lines on stdin (``setup``, ``start``, ``end``, ``stop``) and answers
each with one JSON line on stdout; logs go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import aiohttp

from benchmarks.clients.janus import (
    JanusSession,
    create_room_body,
    publish_body,
    subscribe,
)

# Re-exported: these lived here before clients/peer.py, and other benchmarks import them from here.
from benchmarks.clients.peer import (
    BenchPeer,
    CachedAudioTrack,
    CachedVideoTrack,
    ReceiveLog,
    negotiate,
)
from benchmarks.media.cache import (
    DEFAULT_CACHE_ROOT,
    MediaCache,
    MediaSpec,
    load_or_build,
)
from benchmarks.media.synthetic import VIDEO_CLOCK_RATE
from benchmarks.reports.stats import StreamSnapshot
from liveloop_sfu.client import WireClient

__all__ = [
    "VIDEO_CLOCK_RATE",
    "BenchPeer",
    "CachedAudioTrack",
    "CachedVideoTrack",
    "ClientProcess",
    "Participant",
    "ReceiveLog",
    "negotiate",
    "open_call",
    "open_janus_call",
]

log = logging.getLogger("benchmarks.clients.call_client")

FLOWING_TIMEOUT = 30.0


@dataclass
class Participant:
    """One user of a call. ``peer`` receives (and, on our node, also publishes); on Janus the
    media is published on a second peer connection, ``publisher``."""

    name: str
    wire: WireClient | None
    peer: BenchPeer
    publisher: BenchPeer | None = None
    janus: JanusSession | None = None

    @property
    def sender(self) -> BenchPeer:
        return self.publisher or self.peer

    def partner_left(self) -> int:
        if self.wire is not None:
            return self.wire.pending("partner-left")
        return self.janus.hangups() if self.janus is not None else 0

    async def close(self) -> None:
        for peer in (self.peer, self.publisher):
            if peer is not None:
                with contextlib.suppress(Exception):
                    await peer.close()
        if self.wire is not None:
            with contextlib.suppress(Exception):
                await self.wire.close()
        if self.janus is not None:
            with contextlib.suppress(Exception):
                await self.janus.destroy()


async def open_call(url: str, cache: MediaCache, name: str, decode: int) -> list[Participant]:
    """Two participants matched with each other (the caller makes sure nobody else is queued
    meanwhile) and negotiated with the node. ``decode`` of them (0-2) decode their video."""
    names = [f"{name}{side}" for side in "ab"]
    wires = [WireClient(url, timeout=20) for _ in names]
    peers = [BenchPeer(cache, decode=i < decode) for i in range(len(names))]
    participants = [Participant(n, w, p) for n, w, p in zip(names, wires, peers, strict=True)]
    for wire in wires:
        await wire.connect()
    for wire, user in zip(wires, names, strict=True):
        await wire.request_room(user)
    for me, partner in ((0, 1), (1, 0)):
        match = await wires[me].next("match-done", timeout=20)
        if match["peer"].get("userName") != names[partner]:
            raise RuntimeError(
                f"{names[me]} was matched with {match['peer']}, not {names[partner]}"
            )
        peers[me].partner_sent_at = peers[partner].video.sent_at
    for wire, peer in zip(wires, peers, strict=True):
        await negotiate(wire, peer)
    return participants


async def open_janus_call(
    url: str,
    http: aiohttp.ClientSession,
    cache: MediaCache,
    name: str,
    decode: int,
    host_address: str,
) -> list[Participant]:
    """The same call on Janus VideoRoom: a room of two, each participant publishing on one peer
    connection and subscribing to the other's feed on a second (see benchmarks.clients.janus)."""
    participants: list[Participant] = []
    feeds: list[int] = []
    room = random.randrange(1, 1 << 40)
    for i, side in enumerate("ab"):
        session = JanusSession(url, http)
        await session.create()
        publisher = BenchPeer(cache, decode=False, host_address=host_address)
        peer = BenchPeer(cache, decode=i < decode, publish=False, host_address=host_address)
        participants.append(Participant(f"{name}{side}", None, peer, publisher, session))
        handle = await session.attach()
        if i == 0:
            await session.request(handle, create_room_body(room, publishers=2))
        offer = await publisher.create_offer()
        event = await session.send(
            handle,
            publish_body(room, f"{name}{side}"),
            {"type": "offer", "sdp": offer, "trickle": False},
        )
        feeds.append(int(event["plugindata"]["data"]["id"]))
        await publisher.accept_answer(event["jsep"]["sdp"])
    # VideoRoom refuses subscriptions to a publisher whose PeerConnection is not up yet.
    for participant in participants:
        await participant.sender.connected(timeout=20)
    partners = list(reversed(participants))
    for me, partner_feed, partner in zip(participants, reversed(feeds), partners, strict=True):
        assert me.janus is not None
        me.peer.partner_sent_at = partner.sender.video.sent_at
        handle = await me.janus.attach()
        event = await subscribe(me.janus, handle, room, [partner_feed])
        answer = await me.peer.answer(event["jsep"]["sdp"])
        await me.janus.send(handle, {"request": "start"}, {"type": "answer", "sdp": answer})
    return participants


class ClientProcess:
    def __init__(
        self,
        url: str,
        calls: int,
        decode: int,
        cache: MediaCache,
        name: str,
        target: str = "liveloop",
        host_address: str = "127.0.0.1",
    ) -> None:
        self.url, self.calls, self.decode, self.cache, self.name = url, calls, decode, cache, name
        self.target, self.host_address = target, host_address
        self.participants: list[Participant] = []
        self._start: dict[str, dict[str, StreamSnapshot]] = {}
        self._start_time = 0.0
        self._http: aiohttp.ClientSession | None = None

    async def setup(self) -> dict[str, Any]:
        started = time.monotonic()
        for index in range(self.calls):
            decode = min(2, max(0, self.decode - 2 * index))
            call_name = f"{self.name}-{index}"
            if self.target == "janus":
                if self._http is None:
                    self._http = aiohttp.ClientSession()
                self.participants += await open_janus_call(
                    self.url, self._http, self.cache, call_name, decode, self.host_address
                )
            else:
                self.participants += await open_call(self.url, self.cache, call_name, decode)
        await self._wait_flowing()
        return {"event": "ready", "seconds": time.monotonic() - started}

    async def _wait_flowing(self) -> None:
        deadline = time.monotonic() + FLOWING_TIMEOUT
        while True:
            waiting = [p.name for p in self.participants if not self._flowing(p.peer)]
            if not waiting:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"no media for {', '.join(waiting)}")
            await asyncio.sleep(0.1)

    @staticmethod
    def _flowing(peer: BenchPeer) -> bool:
        received = peer.received
        frames = received.totals("video").frames
        return (
            frames >= 3
            and received.totals("audio").packets >= 3
            and (not peer.decode or received.decoded >= 1)
        )

    def start(self) -> dict[str, Any]:
        self._start_time = time.monotonic()
        for participant in self.participants:
            received = participant.peer.received
            received.latencies.clear()
            participant.peer.window_open = True
            self._start[participant.name] = {
                kind: received.totals(kind) for kind in ("video", "audio", "rtx")
            }
        return {"event": "started"}

    def end(self) -> dict[str, Any]:
        seconds = time.monotonic() - self._start_time
        receivers = []
        for participant in self.participants:
            peer = participant.peer
            peer.window_open = False
            window = {
                kind: peer.received.totals(kind).minus(self._start[participant.name][kind])
                for kind in ("video", "audio", "rtx")
            }
            receivers.append(
                {
                    "name": participant.name,
                    "decodes": peer.decode,
                    "connection": peer.pc.connectionState,
                    "partner_left": participant.partner_left(),
                    "keyframe_requests": participant.sender.video.keyframe_requests,
                    "decoded_total": peer.received.decoded,
                    "unreadable_total": peer.received.unreadable,
                    "latencies": list(peer.received.latencies),
                    **{
                        kind: {
                            "packets": snap.packets,
                            "expected": snap.expected,
                            "frames": snap.frames,
                            "octets": snap.octets,
                        }
                        for kind, snap in window.items()
                    },
                }
            )
        return {"event": "window", "seconds": seconds, "receivers": receivers}

    async def stop(self) -> dict[str, Any]:
        for participant in self.participants:
            await participant.close()
        if self._http is not None:
            await self._http.close()
        return {"event": "stopped"}


def _reply(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


class CommandedProcess(Protocol):
    """A client process the harness drives over stdin/stdout (this one, room_client's)."""

    async def setup(self) -> dict[str, Any]: ...

    def start(self) -> dict[str, Any]: ...

    def end(self) -> dict[str, Any]: ...

    async def stop(self) -> dict[str, Any]: ...


async def serve(process: CommandedProcess, max_commands: int = 100) -> None:
    """Answer commands from stdin until ``stop`` (or end of input)."""
    loop = asyncio.get_running_loop()
    try:
        for _ in range(max_commands):
            line = await loop.run_in_executor(None, sys.stdin.readline)
            command = line.strip()
            if command == "setup":
                _reply(await process.setup())
            elif command == "start":
                _reply(process.start())
            elif command == "end":
                _reply(process.end())
            elif command in ("stop", ""):
                break
            else:
                _reply({"event": "error", "message": f"unknown command {command!r}"})
    except Exception as exc:
        log.exception("client failed")
        _reply({"event": "error", "message": f"{type(exc).__name__}: {exc}"})
    finally:
        _reply(await process.stop())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--calls", type=int, required=True)
    parser.add_argument("--decode", type=int, default=1, help="receivers that decode video")
    parser.add_argument("--name", default="bench")
    parser.add_argument("--target", choices=("liveloop", "janus"), default="liveloop")
    parser.add_argument("--host-address", default="127.0.0.1", help="where peers gather ICE")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_ROOT)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    cache = load_or_build(MediaSpec(), args.cache_dir)
    process = ClientProcess(
        args.url, args.calls, args.decode, cache, args.name, args.target, args.host_address
    )
    asyncio.run(serve(process))
    return 0


if __name__ == "__main__":
    sys.exit(main())
