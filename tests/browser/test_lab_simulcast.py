"""A room of three in the network lab: the weakest member lowers nobody (issue 15, "How it is
proven", first point).

Alice, Bob and Carol, each real Chromium in their own lab network, meet in a group room on a lab
node. Each camera plays a detailed 960x540 15 fps picture, so each publishes three simulcast
layers (240x135, 480x270, 960x540; web/js/simulcast.js) and each member receives the two others.
Every second the test samples, per receiver, the video bit rate received and each remote video's
decoded picture width (getStats), and every publisher's ``qualityLimitationReason``.

1. Reference: 20 s once everyone receives the top layer of both others.
2. Carol's downlink limited to 400 kbit/s (``tc tbf``) for 20 s: the node's estimate of her
   downlink (media/core/bandwidth_estimator.py) moves her to lower layers
   (media/sfu/simulcast_allocator.py), without a freeze over a second (each freeze measured on
   its own, :mod:`tests.browser.freeze_watch`); Alice and Bob keep
   >= 0.9 x their reference bit rate (the publishers are not capped by Carol's link).
3. Lifted (the shaper's rate raised far above the room's needs, as a link improves): Carol is
   back on the top layer of both videos within 20 s.

A publisher limited by CPU, or receivers that decode the reference at under 12 of the camera's
15 fps, make the numbers meaningless (this machine has 2 shared cores): the test then fails as
invalid, with the table. The three browsers and the node need about the machine's two cores, so
a slow spell of the shared host starves them for a while; a reference window the receivers could
not decode is therefore taken again, up to three windows in all, before the run counts as
invalid. Only the reference is taken again: the limited and lifted phases are verdicts.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Playwright

from tests.browser import freeze_watch
from tests.browser.cameras import detailed_camera
from tests.browser.pages import ClientPage
from tests.browser.test_group import create_room, join_room, room_state
from tests.helpers import scrape
from tests.lab import Lab
from tests.lab.netns import call_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TOP_WIDTH = 960
LIMIT_KBPS = 400
LIFTED_KBPS = 100_000  # far above three members' layers
MAX_FREEZE_S = 1.0
PHASE_S = 20
MIN_REFERENCE_FPS = 12.0
REFERENCE_WINDOWS = 3  # at most, each PHASE_S long
# The freeze floor's history (this machine, valid runs only): 2-3 s frozen at the cut before
# the layer that no longer fits was held back (select_layer ``hold``); 1.6-3.7 s in two runs of
# five, with probes; then (2026-12-07) four causes found with a per-100 ms trace and removed:
# an estimate held at 1 Mbit/s on the 400 kbit/s link by the episode floor, a first decrease
# to 2 Mbit/s (delivered rate unmeasured over 3 packets), just-resumed layers counted at their
# first second's rate, and an estimate growing past the link while application-limited, the
# layers and the probes following it: 0.58-0.99 s in eleven runs of eleven, 1.03 s in a
# fresh-clone CI run. Those figures read the freeze totals once a second, where two freezes
# ending in the same second count as one (a bound: their sum less 0.15 s). Read one by one
# (freeze_watch) and with held-back keyframes asked 0.1 s apart (simulcast_allocator), each
# run's longest freeze came at the cut: 0.34-0.74 s in sixteen runs of sixteen (0.71-0.98 s in
# six runs with the keyframes asked together); back on the top layer 2.0-8.0 s after the lift.
# The node's counters the table ends with.
WATCHED = (
    "simulcast", "temporal-layer", "keyframe_requests", "plis_received", "nacks_received",
    "rtx_sent", "probe",
)  # fmt: skip

# Per page: each remote video received (by the sender's tile name) and each layer sent.
ROOM_STATS_JS = """
async () => {
  const pc = window.liveloop.pc;
  if (!pc) return null;
  const names = {};
  document.querySelectorAll("#room-tiles .tile:not(.self)").forEach((tile) => {
    const stream = tile.querySelector("video")?.srcObject;
    const track = stream ? stream.getVideoTracks()[0] : null;
    if (track) names[track.id] = tile.querySelector(".tile-name").textContent;
  });
  const estimate = window.liveloop.state.call.nodeEstimate;
  const out = { received: {}, sent: [], downlink: estimate ? estimate.downlink : null };
  (await pc.getStats()).forEach((r) => {
    if (r.kind !== "video") return;
    if (r.type === "inbound-rtp" && names[r.trackIdentifier]) {
      out.received[names[r.trackIdentifier]] = {
        t: r.timestamp, bytes: r.bytesReceived ?? 0, width: r.frameWidth ?? 0,
        frames: r.framesDecoded ?? 0, freezes: r.freezeCount ?? 0,
        frozen: r.totalFreezesDuration ?? 0 };
    }
    if (r.type === "outbound-rtp") {
      out.sent.push({ rid: r.rid ?? "", limitation: r.qualityLimitationReason ?? "none",
                      mode: r.scalabilityMode ?? "", width: r.frameWidth ?? 0 });
    }
  });
  return out;
}
"""


class CpuLimited(Exception):
    """A publisher's encoder reported qualityLimitationReason "cpu"."""


@dataclass
class Video:
    """One remote video at one receiver, over one second."""

    kbps: float
    width: int
    frames: int
    freezes: int
    frozen: float


@dataclass
class Sample:
    t: float
    videos: dict[str, dict[str, Video]]  # receiver -> sender -> video
    downlinks: dict[str, float | None]  # receiver -> the node's estimate of its downlink
    probes: str = ""  # the node's bandwidth probes so far: "passed/all"

    def kbps(self, receiver: str) -> float:
        return sum(v.kbps for v in self.videos[receiver].values())

    def widths(self, receiver: str) -> list[int]:
        return [v.width for _, v in sorted(self.videos[receiver].items())]


@dataclass
class Room:
    members: dict[str, ClientPage]
    start: float = 0.0
    wall_start: float = 0.0  # time.time() at ``start``
    samples: list[Sample] = field(default_factory=list)
    marks: dict[int, str] = field(default_factory=dict)  # sample index -> event
    # Reads the node's /metrics (in its namespace): the probe counters of each second.
    node_metrics: Callable[[], Awaitable[dict[str, float]]] | None = None
    _last: dict[str, dict[str, Any]] = field(default_factory=dict)

    async def stats(self) -> dict[str, dict[str, Any]]:
        names = list(self.members)
        pages = [self.members[name].page for name in names]
        results = await asyncio.gather(*(page.evaluate(ROOM_STATS_JS) for page in pages))
        stats = dict(zip(names, results, strict=True))
        for name, value in stats.items():
            assert value is not None, f"{name} has no RTCPeerConnection"
            cpu = [x["rid"] for x in value["sent"] if x["limitation"] == "cpu"]
            if cpu:
                raise CpuLimited(f"{name}'s layers {cpu}, {time.monotonic() - self.start:.0f} s")
        return stats

    async def wait_for_top_layers(self, seconds: int = 45) -> None:
        """Until every member decodes both others at the top width three seconds in a row (the
        publishers' own estimates ramp their top layers up), at most ``seconds``. The first call
        starts the room's clock; later ones go on sampling on it."""
        if not self.samples:
            self.start, self.wall_start = time.monotonic(), time.time()
            self._last = await self.stats()
        for _ in range(seconds):
            await self.run(1)
            last = self.samples[-3:]
            if len(last) == 3 and all(
                s.widths(r) == [TOP_WIDTH] * 2 for s in last for r in s.videos
            ):
                return
        raise AssertionError(f"never all on the top layer\n{self.table()}")

    def mark(self, event: str) -> None:
        self.marks[len(self.samples)] = event

    async def run(self, seconds: int) -> list[Sample]:
        taken = []
        for _ in range(seconds):
            due = self.start + len(self.samples) + 1
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            taken.append(await self.sample())
        return taken

    async def sample(self) -> Sample:
        stats = await self.stats()
        videos: dict[str, dict[str, Video]] = {}
        for receiver, now in stats.items():
            before = self._last.get(receiver, {"received": {}})["received"]
            videos[receiver] = {}
            for sender, after in now["received"].items():
                prior = before.get(sender)
                elapsed = after["t"] - prior["t"] if prior else 0
                bits = (after["bytes"] - prior["bytes"]) * 8 if prior else 0
                videos[receiver][sender] = Video(
                    bits / elapsed if elapsed > 0 else 0.0,
                    after["width"],
                    after["frames"],
                    after["freezes"],
                    after["frozen"],
                )
        self._last = stats
        downlinks = {r: stats[r]["downlink"] for r in stats}
        probes = ""
        if self.node_metrics is not None:
            metrics = await self.node_metrics()
            passed = metrics.get('liveloop_bandwidth_probe_results_total{result="ok"}', 0)
            started = metrics.get("liveloop_bandwidth_probes_total", 0)
            probes = f"{passed:.0f}/{started:.0f}"
        sample = Sample(time.monotonic() - self.start, videos, downlinks, probes)
        self.samples.append(sample)
        return sample

    def table(self) -> str:
        """Per second and receiver: kbit/s received (both videos), each video's decoded width and
        frames in that second (videos in the order of their senders' names), and the node's
        estimate of the receiver's downlink in kbit/s ("-": no limit); then the node's bandwidth
        probes so far (passed/started)."""
        names = list(self.members)
        head = "   t    " + "".join(f"{n + ' kbps':>11}  widths   fps    est  " for n in names)
        head += " probes"
        rows = [f"load average {os.getloadavg()[0]:.1f}", head]
        previous: Sample | None = None
        for i, s in enumerate(self.samples):
            cells = []
            for n in names:
                videos = sorted(s.videos.get(n, {}).items())
                widths = "/".join(f"{v.width:>3}" for _, v in videos)
                before = previous.videos.get(n, {}) if previous else {}
                fps = "/".join(
                    f"{v.frames - before[k].frames if k in before else 0:>2}" for k, v in videos
                )
                kbps = sum(v.kbps for _, v in videos)
                downlink = s.downlinks.get(n)
                estimate = "   -" if downlink is None else f"{downlink / 1000:4.0f}"
                cells.append(f"{kbps:11.0f}  {widths:<8} {fps:<6} {estimate} ")
            rows.append(
                f"{s.t:4.0f} s " + " ".join(cells) + f" {s.probes:>6}  {self.marks.get(i, '')}"
            )
            previous = s
        return "\n".join(rows)


def longest_still(samples: list[Sample], receiver: str) -> float:
    """The longest time any video at ``receiver`` stood still (no frame decoded) over whole
    seconds of ``samples``: a freeze still going on when the samples end, which webrtc-stats
    counts only once it ends (those that ended: :mod:`.freeze_watch`)."""
    longest = 0.0
    for sender in samples[0].videos[receiver]:
        still = 0.0
        for before, after in itertools.pairwise(samples):
            same = after.videos[receiver][sender].frames == before.videos[receiver][sender].frames
            still = still + (after.t - before.t) if same else 0.0
            longest = max(longest, still)
    return longest


def decode_rates(samples: list[Sample]) -> dict[str, float]:
    """Frames decoded per second over ``samples``, for each receiver and sender."""
    first, last = samples[0], samples[-1]
    return {
        f"{receiver} from {sender}": (video.frames - first.videos[receiver][sender].frames)
        / (last.t - first.t)
        for receiver, videos in last.videos.items()
        for sender, video in videos.items()
    }


async def take_reference(room: Room) -> list[Sample]:
    """``PHASE_S`` seconds of the whole room on the top layers, every video decoded at
    ``MIN_REFERENCE_FPS`` or more (80 % of the camera's 15 fps). A window decoded slower is taken
    again, after the room is back on the top layers (a starved receiver's late feedback can move
    it down), up to ``REFERENCE_WINDOWS``; then the run is invalid. The floor stays the same for
    every window: a room that never decodes at it fails, whatever the cause."""
    slow: list[dict[str, float]] = []
    for window in range(REFERENCE_WINDOWS):
        await room.wait_for_top_layers()
        room.mark("reference" if window == 0 else f"reference, window {window + 1}")
        reference = await room.run(PHASE_S)
        decoded = decode_rates(reference)
        if min(decoded.values()) >= MIN_REFERENCE_FPS:
            return reference
        slow.append({k: round(v, 1) for k, v in decoded.items()})
    pytest.fail(
        f"INVALID RUN (the machine cannot decode the reference, {REFERENCE_WINDOWS} windows): "
        f"fps {slow}\n{room.table()}"
    )


@pytest.fixture(scope="module")
def camera(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return detailed_camera(tmp_path_factory.mktemp("camera"), 960, 540, 15, noise=0)


async def test_a_member_on_a_poor_downlink_lowers_nobody_else(
    lab: Lab, playwright: Playwright, camera: Path
) -> None:
    node = lab.node("--mode", "sfu")
    capture = f"--use-file-for-fake-video-capture={camera}"
    nets = {name: lab.browser_net("public", name.lower()) for name in ("Alice", "Bob", "Carol")}
    browsers = {name: await net.chromium(playwright, capture) for name, net in nets.items()}
    alice = await ClientPage.open(browsers["Alice"], node.url_for(nets["Alice"]), "Alice")
    link = await create_room(alice)
    await alice.page.goto(link)
    members = {"Alice": alice}
    for name in ("Bob", "Carol"):
        members[name] = await ClientPage.open(browsers[name], link, name)
    for client in members.values():
        await join_room(client)
        assert await room_state(client) == "in-room"
    netns = node.node.netns
    assert netns is not None

    async def node_metrics() -> dict[str, float]:
        return await asyncio.to_thread(call_in, netns, lambda: scrape(node.node))

    room = Room(members, node_metrics=node_metrics)
    try:
        reference = await take_reference(room)
        await freeze_watch.start(members["Carol"].page)  # each of Carol's freezes from here
        nets["Carol"].shape(down_kbps=LIMIT_KBPS)
        room.mark(f"Carol limited to {LIMIT_KBPS} kbit/s")
        limited = await room.run(PHASE_S)
        # Lifted as a link improves: the shaper's rate goes up, and what it queued is still
        # delivered (deleting the qdisc would drop its queue: a loss no real link makes).
        nets["Carol"].shape(down_kbps=LIFTED_KBPS)
        room.mark("lifted")
        lifted: list[Sample] = []
        for _ in range(PHASE_S):
            lifted += await room.run(1)
            if lifted[-1].widths("Carol") == [TOP_WIDTH] * 2:
                break
        modes = {x["mode"] for x in (await room.stats())["Alice"]["sent"]}
        carol_freezes = await freeze_watch.stop(members["Carol"].page)
    except CpuLimited as exc:
        pytest.fail(f"INVALID RUN (a publisher is CPU-limited): {exc}\n{room.table()}")
    metrics = await node_metrics()
    before = {r: statistics.mean(s.kbps(r) for s in reference) for r in members}
    during = {r: statistics.mean(s.kbps(r) for s in limited) for r in members}
    carol_freeze = max(
        freeze_watch.longest(carol_freezes),
        longest_still([reference[-1], *limited, *lifted], "Carol"),
    )
    back = next((s.t - limited[-1].t for s in lifted if s.widths("Carol") == [TOP_WIDTH] * 2), None)
    table = (
        f"{room.table()}\nAlice's layers: {sorted(modes)}\n"
        + "".join(f"{k} {v:.0f}\n" for k, v in metrics.items() if any(w in k for w in WATCHED))
        + "\n".join(
            f"{r}: {before[r]:.0f} kbit/s before the limit, {during[r]:.0f} during" for r in members
        )
        + f"\nCarol: longest freeze {carol_freeze:.2f} s, top layer again after {back} s"
        + "\nCarol's freezes since the limit (s after the start, sender, duration): "
        + ", ".join(f"{f.at - room.wall_start:.1f} {f}" for f in carol_freezes)
    )
    print(table)
    for other in ("Alice", "Bob"):
        assert during[other] >= 0.9 * before[other], table
    # Carol gets lower layers (settled: the last 10 s of the limit).
    assert all(max(s.widths("Carol")) < TOP_WIDTH for s in limited[-10:]), table
    assert during["Carol"] <= LIMIT_KBPS, table
    # Back on the top layer within 20 s of the lift: met in every valid run since the node
    # probes a held-back subscriber's downlink (media/sfu/probes.py).
    assert back is not None and back <= PHASE_S, table
    # No freeze over a second for the limited receiver (issue 15's floor; the history above).
    assert carol_freeze <= MAX_FREEZE_S, table
