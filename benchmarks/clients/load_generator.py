"""One load-generating client process of ``liveloop-sfu bench``.

``python -m benchmarks.clients.load_generator PLAN.json`` says ``ready``, reads the common start
time from stdin, then runs the users the plan gives this process
(:mod:`benchmarks.harness.scenarios`), each as a coroutine speaking the real wire protocol (or, for
the Janus target, Janus's VideoRoom API), publishing the cached pre-encoded media and counting what
it receives (:class:`benchmarks.clients.peer.BenchPeer`). It prints JSON lines on stdout: a ``tick``
every second (cumulative counters, for progress and fps over time) and one ``result`` at the end (a
record per call). Bounded: every wait has a timeout and the whole run stops at the plan's end
plus a grace period. Logs go to stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks.clients.cheap_peer import CheapPeer, PacketizedMedia, Ticker, packetized
from benchmarks.clients.janus import (
    JanusSession,
    create_room_body,
    publish_body,
    subscribe,
)
from benchmarks.clients.peer import BenchPeer, negotiate
from benchmarks.harness.scenarios import UserPlan
from benchmarks.media.cache import MediaCache, MediaSpec, load_or_build
from liveloop_sfu.client import WireClient

log = logging.getLogger("benchmarks.clients.load_generator")

# ``--client``: cheap (benchmarks.clients.cheap_peer: compiled media path) or aiortc
# (benchmarks.clients.peer: aiortc handles every packet, for fidelity checks).
CLIENT_KINDS = ("cheap", "aiortc")
LoadPeer = BenchPeer | CheapPeer

STEP_TIMEOUT = 20.0
END_GRACE = 30.0
TICK = 1.0


@dataclass
class CallRecord:
    """One call (1:1) or one stay in a room (group, fan-out) of one user, as that user saw it."""

    user: str
    kind: str  # "1:1" | "group"
    mode: str = ""
    match_s: float | None = None  # request-room -> match-done (join-room -> ack for rooms)
    setup_s: float | None = None  # request-room / join-room -> first remote video frame
    seconds: float = 0.0  # first remote frame -> end of the call
    video_streams: int = 0  # video streams received (2+ in a group room)
    video_frames: int = 0  # over all of them
    video_packets: int = 0
    video_expected: int = 0
    audio_packets: int = 0
    audio_expected: int = 0
    jitter_ms: float | None = None
    rtt_ms: float | None = None
    latencies_ms: list[float] = field(default_factory=list)
    ended: str = ""  # length | partner-left | end | error: ...


@dataclass
class Totals:
    frames: int = 0
    packets: int = 0
    expected: int = 0

    def add_peer(self, peer: LoadPeer) -> None:
        for kind in ("video", "audio"):
            snap = peer.received.totals(kind)
            self.packets += snap.packets
            self.expected += snap.expected
            if kind == "video":
                self.frames += snap.frames


class LoadProcess:
    def __init__(self, plan: dict[str, Any], cache: MediaCache) -> None:
        self.plan = plan
        self.cache = cache
        self.users = [UserPlan(**{**u, "calls": tuple(u["calls"])}) for u in plan["users"]]
        self.start_at = float(plan["start_at"])
        self.end_at = self.start_at + float(plan["duration"])
        self.decode_left = int(plan.get("decode", 1))
        self.records: list[CallRecord] = []
        self.errors: list[str] = []
        self.peers: dict[str, LoadPeer] = {}  # user name -> current receiving peer
        self.publishers: dict[str, LoadPeer] = {}  # user name -> publishing peer (Janus)
        self.closed = Totals()
        self.matched = 0
        self.rooms: dict[str, asyncio.Event] = {}
        self.feeds: dict[str, dict[str, int]] = {}  # room -> user -> Janus feed id
        self.http: aiohttp.ClientSession | None = None
        self.client = str(plan.get("client", "aiortc"))
        self.cheap = self.client == "cheap"
        self.media: PacketizedMedia | None = packetized(cache) if self.cheap else None
        self.ticker = Ticker()

    # --- bookkeeping -------------------------------------------------------------------------
    def _decode(self) -> bool:
        if self.decode_left > 0:
            self.decode_left -= 1
            return True
        return False

    def _peer(self, publish: bool = True, receive: bool = True) -> LoadPeer:
        if self.media is not None:
            return CheapPeer(
                self.media,
                self.ticker,
                decode=receive and self._decode(),
                publish=publish,
                host_address=str(self.plan.get("host_address", "127.0.0.1")),
            )
        return self._aiortc_peer(publish, receive)

    @staticmethod
    def _follow_layers(wire: WireClient, peer: LoadPeer) -> None:
        """A cheap simulcast publisher pauses the encodings the node says nobody is given."""
        if isinstance(peer, CheapPeer) and peer.publish and peer.media.rids:
            peer.follow_layers(wire)

    def _aiortc_peer(self, publish: bool = True, receive: bool = True) -> BenchPeer:
        return BenchPeer(
            self.cache,
            decode=receive and self._decode(),
            publish=publish,
            host_address=str(self.plan.get("host_address", "127.0.0.1")),
        )

    async def _retire(self, name: str, peer: LoadPeer) -> None:
        if self.peers.get(name) is peer:
            del self.peers[name]
        self.closed.add_peer(peer)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(peer.close(), 10)

    def _record(self, record: CallRecord, peer: LoadPeer, started: float) -> None:
        received = peer.received
        first = received.first_video_at
        if first is not None:
            record.setup_s = first - started
            record.seconds = max(0.0, time.monotonic() - first)
        video, audio = received.totals("video"), received.totals("audio")
        record.video_streams = received.video_streams()
        record.video_frames, record.video_packets = video.frames, video.packets
        record.video_expected = video.expected
        record.audio_packets, record.audio_expected = audio.packets, audio.expected
        record.jitter_ms = received.jitter_ms("video")
        record.latencies_ms = [1000 * x for x in received.latencies]
        self.records.append(record)

    def remaining(self) -> float:
        return max(0.0, self.end_at - time.monotonic())

    def tick(self) -> dict[str, Any]:
        totals = Totals(self.closed.frames, self.closed.packets, self.closed.expected)
        receiving = 0
        for peer in list(self.peers.values()):
            totals.add_peer(peer)
            receiving += peer.received.video_streams()
        return {
            "event": "tick",
            "t": time.monotonic(),
            "frames": totals.frames,
            "packets": totals.packets,
            "expected": totals.expected,
            "receiving": receiving,
            "matched": self.matched,
            "errors": len(self.errors),
        }

    # --- users --------------------------------------------------------------------------------
    async def run_user(self, user: UserPlan) -> None:
        await asyncio.sleep(max(0.0, self.start_at + user.start - time.monotonic()))
        try:
            if self.plan["target"] == "janus":
                await self.janus_user(user)
            elif user.room is not None:
                await self.group_user(user)
            else:
                await self.one_to_one_user(user)
        except Exception as exc:
            if time.monotonic() < self.end_at:
                log.warning("user %s failed: %s: %s", user.name, type(exc).__name__, exc)
                self.errors.append(f"{user.name}: {type(exc).__name__}: {exc}")

    async def one_to_one_user(self, user: UserPlan) -> None:
        wire = WireClient(self.plan["url"], timeout=STEP_TIMEOUT)
        await wire.connect()
        try:
            for length in user.calls:
                if self.remaining() < 1.0:
                    break
                await self._one_call(user, wire, length)
        finally:
            with contextlib.suppress(Exception):
                await wire.close()

    async def _one_call(self, user: UserPlan, wire: WireClient, length: float) -> None:
        for event in ("partner-left", "negotiation-call-offer", "negotiation-call-answer"):
            while wire.pending(event):
                await wire.next(event)
        started = time.monotonic()
        await wire.request_room(user.name)
        match = await wire.next("match-done", timeout=max(1.0, self.remaining()))
        self.matched += 1
        record = CallRecord(user.name, "1:1", str(match.get("mode")), time.monotonic() - started)
        peer = self._peer()
        self._follow_layers(wire, peer)
        self.peers[user.name] = peer
        partner_name = str(match.get("peer", {}).get("userName"))
        try:
            if match.get("mode") == "p2p":
                await self._p2pnegotiate(wire, peer, str(match.get("role")))
            else:
                await negotiate(wire, peer)
            partner = self.peers.get(partner_name)
            if partner is not None:  # same process: its send times are on our clock
                peer.partner_sent_at = partner.video.sent_at
            peer.window_open = True
            call_end = min(self.end_at, time.monotonic() + length)
            left = await self._wait_partner_left(wire, call_end - time.monotonic())
            record.ended = (
                "partner-left" if left else ("end" if call_end >= self.end_at else "length")
            )
            record.rtt_ms = await rtt_ms(peer)
            self._record(record, peer, started)
            if not left:
                with contextlib.suppress(Exception):
                    await wire.call("stop-call")
        finally:
            await self._retire(user.name, peer)

    @staticmethod
    async def _p2pnegotiate(wire: WireClient, peer: LoadPeer, role: str) -> None:
        if role == "offerer":
            await negotiate(wire, peer)
            return
        offer = await wire.next("negotiation-call-offer", timeout=STEP_TIMEOUT)
        if not isinstance(peer, BenchPeer):
            raise RuntimeError("the cheap client does not answer offers (p2p): use --client aiortc")
        answer = await peer.answer(offer["sdp"]["sdp"])
        await wire.call("negotiation-call-answer", {"sdp": {"type": "answer", "sdp": answer}})

    @staticmethod
    async def _wait_partner_left(wire: WireClient, seconds: float) -> bool:
        try:
            await wire.next("partner-left", timeout=max(0.01, seconds))
        except TimeoutError:
            return False
        return True

    async def group_user(self, user: UserPlan) -> None:
        """``join-room`` → ack ``{ok, roomId, participantId, participants}``, then offer; a
        ``participant-joined`` or ``renegotiate`` asks for a new offer (one receiving m-line
        pair per other participant)."""
        wire = WireClient(self.plan["url"], timeout=STEP_TIMEOUT)
        await wire.connect()
        peer = self._peer(publish=user.publish)
        self._follow_layers(wire, peer)
        self.peers[user.name] = peer
        started = time.monotonic()
        try:
            ack = await wire.call("join-room", {"roomId": user.room, "userName": user.name})
            record = CallRecord(user.name, "group", "sfu", time.monotonic() - started)
            self.matched += 1
            # A receive pair per other member who publishes (the plan says who: in fan-out,
            # only the room's first member), never more than have joined.
            senders = sum(
                1 for u in self.users if u.unit == user.unit and u.publish and u is not user
            )
            others = len(ack.get("participants", []))
            peer.ensure_receivers(min(others, senders))
            await negotiate(wire, peer)
            peer.window_open = True
            while self.remaining() > 0:
                event = await _next_of(
                    wire, ("participant-joined", "renegotiate"), self.remaining()
                )
                if event is None:
                    break
                if event == "participant-joined":
                    others += 1
                    if min(others, senders) <= peer.receive_pairs():
                        continue  # a member who only receives: nothing new to receive
                peer.ensure_receivers(min(others, senders))
                await negotiate(wire, peer)
            record.ended = "end"
            record.rtt_ms = await rtt_ms(peer)
            self._record(record, peer, started)
            with contextlib.suppress(Exception):
                await wire.call("leave-room")
        finally:
            await self._retire(user.name, peer)
            with contextlib.suppress(Exception):
                await wire.close()

    async def janus_user(self, user: UserPlan) -> None:
        """The same user on Janus VideoRoom: pairs and rooms are VideoRoom rooms (Janus has no
        matchmaker). Everybody publishes on one peer connection, then — once every publisher of
        the room is up — subscribes to all the others' feeds on a second one."""
        room = f"unit{user.unit}"
        members = [u for u in self.users if u.unit == user.unit]
        publishers = [u.name for u in members if u.publish]
        if self.http is None:
            self.http = aiohttp.ClientSession()
        session = JanusSession(self.plan["url"], self.http)
        started = time.monotonic()
        await session.create()
        try:
            room_id = 1000 + user.unit  # a fresh Janus per run: numbers cannot collide
            handle = await session.attach()
            if room not in self.rooms:
                self.rooms[room] = asyncio.Event()
                await session.request(handle, create_room_body(room_id, len(members) + 1))
                self.rooms[room].set()
            await asyncio.wait_for(self.rooms[room].wait(), STEP_TIMEOUT)
            if user.publish:
                await self._janus_publish(session, handle, room, room_id, user.name)
            record = CallRecord(user.name, "group" if user.room else "1:1", "janus")
            record.match_s = time.monotonic() - started
            self.matched += 1
            others = [name for name in publishers if name != user.name]
            if not others:  # the fan-out publisher: nothing to receive
                await asyncio.sleep(self.remaining())
                return
            while any(name not in self.feeds.get(room, {}) for name in others):
                if self.remaining() <= 0:
                    return
                await asyncio.sleep(0.05)
            peer = self._peer(publish=False)
            self.peers[user.name] = peer
            if len(others) == 1 and others[0] in self.publishers:
                peer.partner_sent_at = self.publishers[others[0]].video.sent_at
            sub = await session.attach()
            feeds = [self.feeds[room][name] for name in others]
            event = await subscribe(session, sub, room_id, feeds)
            answer = await peer.answer(event["jsep"]["sdp"])
            await session.send(sub, {"request": "start"}, {"type": "answer", "sdp": answer})
            peer.window_open = True
            await asyncio.sleep(self.remaining())
            record.ended = "end"
            record.rtt_ms = await rtt_ms(self.publishers.get(user.name) or peer)
            self._record(record, peer, started)
            await self._retire(user.name, peer)
        finally:
            publisher_peer = self.publishers.pop(user.name, None)
            if publisher_peer is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(publisher_peer.close(), 10)
            await session.destroy()

    async def _janus_publish(
        self, session: JanusSession, handle: int, room: str, room_id: int, name: str
    ) -> None:
        """Publish ``name``'s cached media into the VideoRoom; its feed id goes to ``self.feeds``
        so that the room's subscribers find it."""
        publisher = self._peer(receive=False)
        self.publishers[name] = publisher
        offer = await publisher.create_offer()
        jsep = {"type": "offer", "sdp": offer, "trickle": False}
        event = await session.send(handle, publish_body(room_id, name), jsep)
        await publisher.accept_answer(event["jsep"]["sdp"])
        await publisher.connected(STEP_TIMEOUT)
        self.feeds.setdefault(room, {})[name] = int(event["plugindata"]["data"]["id"])

    # --- the process ------------------------------------------------------------------------
    async def run(self) -> dict[str, Any]:
        ticker = asyncio.get_running_loop().create_task(self._ticks())
        tasks = [asyncio.get_running_loop().create_task(self.run_user(u)) for u in self.users]
        try:
            _done, pending = await asyncio.wait(tasks, timeout=self.remaining() + END_GRACE)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            recorded = {r.user for r in self.records}
            for user in self.users:
                fanout_publisher = self.plan.get("scenario") == "fanout" and user.publish
                if user.name not in recorded and not fanout_publisher:
                    self.errors.append(f"{user.name}: no call was set up before the end")
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
            for name, peer in list(self.peers.items()):
                await self._retire(name, peer)
            if self.http is not None:
                await self.http.close()
            await self.ticker.stop()
        emit(self.tick())
        return {
            "event": "result",
            "records": [asdict(r) for r in self.records],
            "errors": self.errors,
        }

    async def _ticks(self, limit: int = 100_000) -> None:
        for _ in range(limit):
            emit(self.tick())
            await asyncio.sleep(TICK)


async def _next_of(wire: WireClient, events: tuple[str, ...], timeout: float) -> str | None:
    """The first of ``events`` the node sends within ``timeout`` (None: none came)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in events:
            if wire.pending(event):
                await wire.next(event)
                return event
        await asyncio.sleep(0.05)
    return None


async def rtt_ms(peer: LoadPeer) -> float | None:
    """Round-trip time from the receiver reports the far end sent about our published streams
    (aiortc's ``remote-inbound-rtp`` stats, RFC 3550 §6.4.1 LSR/DLSR)."""
    if isinstance(peer, CheapPeer):
        return peer.rtt_ms()
    try:
        report = await asyncio.wait_for(peer.pc.getStats(), 5)
    except Exception:
        return None
    values = [
        float(stats.roundTripTime)
        for stats in report.values()
        if getattr(stats, "type", "") == "remote-inbound-rtp"
        and getattr(stats, "roundTripTime", None) is not None
    ]
    return 1000 * max(values) if values else None


def emit(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m benchmarks.clients.load_generator PLAN.json", file=sys.stderr)
        return 2
    plan = json.loads(Path(args[0]).read_text())
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    cache = load_or_build(MediaSpec(**plan["spec"]), Path(plan["cache_dir"]))
    # Starting Python with aiortc takes seconds on a loaded machine: say when we are ready and
    # take the common start time (time.monotonic(), one clock for the whole machine) from stdin.
    emit({"event": "ready"})
    line = sys.stdin.readline().strip()
    if not line:
        return 1
    plan["start_at"] = float(line)
    process = LoadProcess(plan, cache)
    # The cache, its packetized copy and the imported modules live as long as the process:
    # out of the collector's way (its full collections would walk them again and again).
    gc.freeze()
    profile_to = os.environ.get("LIVELOOP_BENCH_PROFILE")  # a developer's look at what runs
    if profile_to:
        import cProfile

        with cProfile.Profile() as profile:
            result = asyncio.run(process.run())
        profile.dump_stats(f"{profile_to}.{os.getpid()}")
    else:
        result = asyncio.run(process.run())
    emit(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
