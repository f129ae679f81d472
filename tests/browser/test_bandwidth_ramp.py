"""A 1:1 call through the node ramps up like peer to peer (issue 14, transport-wide feedback).

Two real Chromium pages call each other on loopback twice in this test: peer to peer
(``--mode p2p``, the reference) and through the node (``--mode sfu``). Both cameras play the
same detailed, noisy 640x480 30 fps picture (a y4m the test makes with ffmpeg), which the encoder
needs well over a megabit per second for, so the bitrate is limited by what the sender's
bandwidth estimate allows, not by the picture. Every second the test samples Alice's outbound
and Bob's inbound video from ``getStats``.

Through the node the sender's estimate rests on the node's transport feedback
(media/sfu/transport_cc.py); without it, it only had Bob's REMB relayed and took 30-60 s to reach
what peer to peer has by the 5th second. A sender whose quality is limited by CPU makes the
comparison meaningless: the test then fails as invalid rather than passing or failing on it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Playwright

from tests.browser.pages import CHROMIUM, CHROMIUM_ARGS, ClientPage
from tests.nodes import NodeFactory

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SECONDS = 30  # the measured span of each call
FULL_WIDTH = 640

# Alice's outbound and Bob's inbound video, and the sender's quality limitation.
VIDEO_STATS_JS = """
async () => {
  const pc = window.liveloop.pc;
  if (!pc) return null;
  const out = { sent: null, received: null, available: null };
  (await pc.getStats()).forEach((r) => {
    if (r.type === "outbound-rtp" && r.kind === "video") {
      out.sent = { t: r.timestamp, bytes: r.bytesSent ?? 0, width: r.frameWidth ?? 0,
                   limitation: r.qualityLimitationReason ?? "none" };
    }
    if (r.type === "inbound-rtp" && r.kind === "video") {
      // One stream per 1:1 call; counted over all of them should the browser list more.
      const seen = out.received ?? { t: r.timestamp, bytes: 0, width: 0, streams: 0 };
      out.received = { t: r.timestamp, bytes: seen.bytes + (r.bytesReceived ?? 0),
                       width: Math.max(seen.width, r.frameWidth ?? 0), streams: seen.streams + 1 };
    }
    if (r.type === "candidate-pair" && r.nominated && r.availableOutgoingBitrate) {
      out.available = r.availableOutgoingBitrate;
    }
  });
  return out;
}
"""


class CpuLimited(Exception):
    """A sender reported qualityLimitationReason "cpu": the run measures the machine, not us."""


@dataclass
class Ramp:
    """One call's per-second samples: ``(stats time ms, bytes, frame width)`` of Alice's sent
    and Bob's received video; the first sample is when Alice's video starts."""

    mode: str
    sent: list[tuple[float, int, int]] = field(default_factory=list)
    received: list[tuple[float, int, int]] = field(default_factory=list)
    limitations: set[str] = field(default_factory=set)
    streams: int = 0  # most inbound video streams Bob listed at once (1 expected)

    def sent_kbps(self, second: int) -> float:
        """Alice's sending rate over the second before ``second``."""
        (t0, b0, _), (t1, b1, _) = self.sent[second - 1], self.sent[second]
        return (b1 - b0) * 8 / (t1 - t0)  # bits per ms = kbps

    def received_mean_kbps(self) -> float:
        (t0, b0, _), (t1, b1, _) = self.received[0], self.received[SECONDS]
        return (b1 - b0) * 8 / (t1 - t0)

    def full_width_after(self) -> float:
        """Seconds from the start until Bob decodes full-width video (inf: never)."""
        start = self.sent[0][0]
        return next(
            ((t - start) / 1000 for t, _, width in self.received if width >= FULL_WIDTH),
            float("inf"),
        )

    def row(self) -> str:
        rates = " · ".join(f"{self.sent_kbps(s):6.0f}" for s in (5, 10, 20))
        return (
            f"{self.mode:4}  sent at 5/10/20 s: {rates} kbps  "
            f"received mean {self.received_mean_kbps():6.0f} kbps  "
            f"full width after {self.full_width_after():5.1f} s  "
            f"limitations {sorted(self.limitations)}  inbound video streams {self.streams}"
        )


@pytest.fixture(scope="module")
def detailed_camera(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A few seconds of 640x480 30 fps video with fine detail and per-frame noise (Chromium's
    fake camera loops it): costly to encode, so the encoder wants all the bitrate it may get."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        pytest.fail("ffmpeg is needed to make the test camera (Debian package ffmpeg)")
    path = tmp_path_factory.mktemp("camera") / "detailed-640x480.y4m"
    subprocess.run(
        [
            ffmpeg, "-loglevel", "error", "-f", "lavfi",
            "-i", "testsrc2=size=640x480:rate=30",
            "-vf", "noise=alls=30:allf=t+u", "-t", "3", "-pix_fmt", "yuv420p", str(path),
        ],
        check=True,
    )  # fmt: skip
    return path


@pytest.fixture
async def chromium(playwright: Playwright, detailed_camera: Path) -> AsyncIterator[Any]:
    """``await chromium()``: a fresh Chromium whose fake camera plays the detailed picture."""
    browsers: list[Any] = []

    async def launch() -> Any:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[*CHROMIUM_ARGS, f"--use-file-for-fake-video-capture={detailed_camera}"],
        )
        browsers.append(browser)
        return browser

    yield launch
    for browser in browsers:
        await browser.close()


async def video_stats(client: ClientPage) -> dict[str, Any]:
    stats: dict[str, Any] | None = await client.page.evaluate(VIDEO_STATS_JS)
    if stats is None:
        state = await client.state()
        raise AssertionError(f"{client.name} has no RTCPeerConnection: {state} {client.errors}")
    return stats


async def measure_call(node_url: str, mode: str, browser: Any) -> Ramp:
    """Alice and Bob meet on ``node_url``; samples every second for :data:`SECONDS` from the
    moment Alice's video starts."""
    alice = await ClientPage.open(browser, node_url + "/", "Alice")
    bob = await ClientPage.open(browser, node_url + "/", "Bob")
    try:
        await alice.join()
        await alice.wait_status("waiting")
        await bob.join()
        await asyncio.gather(alice.wait_status("in-call"), bob.wait_status("in-call"))
        deadline = time.monotonic() + 20
        while True:
            first = await video_stats(alice)
            if first["sent"] and first["sent"]["bytes"] > 0:
                break
            assert time.monotonic() < deadline, f"{mode}: Alice's video never started"
            await asyncio.sleep(0.1)
        ramp = Ramp(mode)
        start = time.monotonic()
        for second in range(SECONDS + 1):
            await asyncio.sleep(max(0.0, start + second - time.monotonic()))
            mine, theirs = await asyncio.gather(video_stats(alice), video_stats(bob))
            sent = mine["sent"]
            # Bob may list no inbound video yet when Alice's starts (through the node the first
            # packets take a little longer): he has received nothing by then, at this moment
            # (both pages' stats times are the same machine's clock).
            received = theirs["received"] or {"t": sent["t"], "bytes": 0, "width": 0}
            ramp.sent.append((sent["t"], sent["bytes"], sent["width"]))
            ramp.received.append((received["t"], received["bytes"], received["width"]))
            ramp.streams = max(ramp.streams, received.get("streams", 0))
            for stats in (mine, theirs):
                if stats["sent"]:
                    ramp.limitations.add(stats["sent"]["limitation"])
            if "cpu" in ramp.limitations:
                raise CpuLimited(f"{mode} after {second} s: {ramp.limitations}")
        return ramp
    finally:
        await alice.close()
        await bob.close()


async def test_through_the_node_ramps_like_peer_to_peer(
    node_factory: NodeFactory, chromium: Any
) -> None:
    load = os.getloadavg()
    ramps: dict[str, Ramp] = {}
    try:
        for mode in ("p2p", "sfu"):
            node = node_factory("--mode", mode)
            ramps[mode] = await measure_call(node.url, mode, await chromium())
            node.stop()
    except CpuLimited as exc:
        pytest.fail(f"INVALID RUN (sender CPU-limited, load average {load}): {exc}")
    p2p, sfu = ramps["p2p"], ramps["sfu"]
    table = f"load average {load[0]:.1f}\n{p2p.row()}\n{sfu.row()}"
    print(table)
    assert sfu.received_mean_kbps() >= 0.9 * p2p.received_mean_kbps(), table
    assert sfu.sent_kbps(5) >= 0.7 * p2p.sent_kbps(5), table
    assert sfu.full_width_after() <= p2p.full_width_after() + 2, table
