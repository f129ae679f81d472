"""A person in a real Chromium page of the service (``web/``), as ``liveloop-sfu bench --browsers``
drives one: open the page, go through the Studio like a person (name, "Find a partner" or a room
link and "Join the room"), and read the page's ``getStats`` once a second.

The steps are the page's own buttons and labels, as a person uses them; the only thing read from
inside the page is ``window.liveloop`` (main.js: the read-only state and the RTCPeerConnection the
tests use too).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from playwright.async_api import Browser, BrowserContext, Page
from playwright.async_api import Error as PlaywrightError

# A loaded 2-core machine can take long to load the client and open the camera.
STEP_TIMEOUT_MS = 30_000

# The page's statistics (W3C webrtc-stats) as :mod:`benchmarks.reports.browsers` reads them:
# every received video stream, the page's own video encodings, the selected pair's RTT.
STATS_JS = """
async () => {
  const pc = window.liveloop?.pc;
  if (!pc) return null;
  const stats = await pc.getStats();
  const out = { inbound: [], outbound: [], rtt: null };
  let pairId = null;
  stats.forEach((r) => {
    if (r.type === "inbound-rtp" && r.kind === "video") {
      out.inbound.push({
        id: r.id,
        framesDecoded: r.framesDecoded ?? 0,
        frameWidth: r.frameWidth ?? 0,
        frameHeight: r.frameHeight ?? 0,
        bytesReceived: r.bytesReceived ?? 0,
        packetsReceived: r.packetsReceived ?? 0,
        packetsLost: r.packetsLost ?? 0,
        jitter: r.jitter ?? null,
        freezeCount: r.freezeCount ?? 0,
        totalFreezesDuration: r.totalFreezesDuration ?? 0,
      });
    }
    if (r.type === "outbound-rtp" && r.kind === "video") {
      out.outbound.push({
        rid: r.rid ?? null,
        qualityLimitationReason: r.qualityLimitationReason ?? "none",
        frameWidth: r.frameWidth ?? 0,
        framesEncoded: r.framesEncoded ?? 0,
      });
    }
    if (r.type === "transport" && r.selectedCandidatePairId) pairId = r.selectedCandidatePairId;
  });
  const pair = pairId ? stats.get(pairId) : null;
  out.rtt = pair?.currentRoundTripTime ?? null;
  return out;
}
"""


@dataclass
class BrowserUser:
    """One person: a browser context (a fresh profile) with one page of the service."""

    name: str
    context: BrowserContext
    page: Page
    joined: str = ""  # "1:1 with NAME" or "room ROOM"
    join_started: float | None = None  # time.monotonic()
    first_frame: float | None = None
    samples: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @classmethod
    async def open(cls, browser: Browser, url: str, name: str) -> BrowserUser:
        context = await browser.new_context()
        page = await context.new_page()
        user = cls(name, context, page)
        page.on("pageerror", lambda exc: user.errors.append(str(exc)[:300]))
        await page.goto(url)
        await page.wait_for_function("window.liveloop !== undefined", timeout=STEP_TIMEOUT_MS)
        return user

    async def _studio(self) -> None:
        """The Studio is open once the camera's preview plays."""
        await self.page.get_by_role("heading", name="Get ready").wait_for(timeout=STEP_TIMEOUT_MS)
        await self.page.wait_for_function(
            "document.getElementById('preview-video').videoWidth > 0", timeout=STEP_TIMEOUT_MS
        )
        await self.page.get_by_label("Your name").fill(self.name)

    async def find_partner(self) -> None:
        """Home → Studio → "Find a partner"; returns once the page waits or is matched."""
        await self.page.get_by_role("button", name="Start").click()
        await self._studio()
        self.join_started = time.monotonic()
        await self.page.get_by_role("button", name="Find a partner").click()
        await self.wait_call_state(("waiting", "in-call"))

    async def wait_call_state(self, states: tuple[str, ...]) -> None:
        await self.page.wait_for_function(
            "(states) => states.includes(document.getElementById('call-status').dataset.state)",
            arg=list(states),
            timeout=STEP_TIMEOUT_MS,
        )

    async def join_room(self, base_url: str, room: str) -> None:
        """A room link → Studio → "Join the room"; returns once the page is in the room."""
        await self.page.goto(f"{base_url}/room/{urllib.parse.quote(room, safe='')}")
        await self._studio()
        self.join_started = time.monotonic()
        await self.page.get_by_role("button", name="Join the room").click()
        await self.page.wait_for_function(
            "['in-room', 'error', 'ended'].includes(window.liveloop.state.room.status)",
            timeout=STEP_TIMEOUT_MS,
        )
        state: dict[str, Any] = await self.page.evaluate("window.liveloop.state.room")
        if state.get("status") != "in-room":
            raise RuntimeError(f"{self.name} could not join {room}: {state.get('error')}")
        self.joined = f"room {room}"

    async def wait_first_frame(self) -> None:
        """Polls ``getStats`` until a received video frame is decoded (the setup time)."""
        deadline = time.monotonic() + STEP_TIMEOUT_MS / 1000
        while self.first_frame is None and time.monotonic() < deadline:
            stats: dict[str, Any] | None = await self.page.evaluate(STATS_JS)
            if stats and any(s["framesDecoded"] > 0 for s in stats["inbound"]):
                self.first_frame = time.monotonic()
            else:
                await asyncio.sleep(0.1)
        if self.first_frame is None:
            raise TimeoutError(f"{self.name}: no video frame in {STEP_TIMEOUT_MS / 1000:.0f} s")

    async def sample(self, t: float) -> None:
        """One ``getStats`` reading, at ``t`` seconds since the run's start."""
        try:
            stats: dict[str, Any] | None = await self.page.evaluate(STATS_JS)
        except PlaywrightError:
            # The page is between two documents (a room link opening): nothing to read yet. A
            # page that stops answering for good shows as no frames in the summary.
            stats = None
        if (
            self.first_frame is None
            and stats
            and any(s["framesDecoded"] > 0 for s in stats["inbound"])
        ):
            self.first_frame = time.monotonic()
        self.samples.append({"t": round(t, 3), "stats": stats})

    @property
    def setup_ms(self) -> float | None:
        """From pressing the join button to the first decoded frame (to within a sample)."""
        if self.join_started is None or self.first_frame is None:
            return None
        return 1000.0 * (self.first_frame - self.join_started)

    async def close(self) -> None:
        with contextlib.suppress(PlaywrightError):  # the browser went first
            await self.context.close()
