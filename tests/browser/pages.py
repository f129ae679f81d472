"""Real headless Chromium driving the real client: launch flags and a page object for tests.

The flags are DESIGN.md's "Chromium in tests" list (benchmarks/browsers/chromium.py, shared
with the bench's browsers). Every page gets its own browser context, which is a fresh profile
(no shared cookies, storage or permissions). Nothing is downloaded: Playwright drives the Debian
``/usr/bin/chromium``.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from playwright.async_api import Browser, BrowserContext, Page, Playwright, expect
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

# One list of flags for the tests' Chromium and the bench's (`liveloop-sfu bench --browsers`).
from benchmarks.browsers.chromium import CHROMIUM as CHROMIUM
from benchmarks.browsers.chromium import CHROMIUM_ARGS as CHROMIUM_ARGS

FAKE_UI = "--use-fake-ui-for-media-stream"
# The same browser, but every camera/microphone permission prompt is answered "deny".
DENYING_ARGS: tuple[str, ...] = (
    *(arg for arg in CHROMIUM_ARGS if arg != FAKE_UI),
    "--deny-permission-prompts",
)

# How long a call may take to connect and show video on this (2-core) machine.
MEDIA_TIMEOUT_MS = 20_000
# How long the page's script may take to start (window.liveloop exists) after the load event.
APP_READY_MS = 15_000

# Reads the page's RTCPeerConnection statistics: inbound audio/video counters, the selected
# candidate pair, this browser's own candidates and the ones it was given by the other side
# (address, port, type, protocol and, for a relayed one, the transport to its TURN server: udp,
# tcp or tls).
STATS_JS = """
async () => {
  const pc = window.liveloop.pc;
  if (!pc) return null;
  const stats = await pc.getStats();
  const out = { video: null, audio: null, pair: null, localCandidates: [], remoteCandidates: [] };
  let pairId = null;
  const candidate = (id) => {
    const c = stats.get(id);
    return c
      ? {
          address: c.address ?? c.ip,
          port: c.port,
          type: c.candidateType,
          protocol: c.protocol,
          relayProtocol: c.relayProtocol ?? null,
        }
      : null;
  };
  stats.forEach((r) => {
    if (r.type === "inbound-rtp" && (r.kind === "audio" || r.kind === "video")) {
      out[r.kind] = {
        packetsReceived: r.packetsReceived ?? 0,
        framesDecoded: r.framesDecoded ?? 0,
        frameWidth: r.frameWidth ?? 0,
      };
    }
    if (r.type === "transport" && r.selectedCandidatePairId) pairId = r.selectedCandidatePairId;
    if (r.type === "local-candidate") out.localCandidates.push(candidate(r.id));
    if (r.type === "remote-candidate") out.remoteCandidates.push(candidate(r.id));
  });
  if (pairId) {
    const pair = stats.get(pairId);
    out.pair = {
      local: candidate(pair.localCandidateId),
      remote: candidate(pair.remoteCandidateId),
    };
  }
  return out;
}
"""

# Mean brightness (0–255) of the remote <video>'s current picture, sampled through a canvas.
REMOTE_LUMA_JS = """
() => {
  const video = document.getElementById("remote-video");
  const canvas = document.createElement("canvas");
  canvas.width = 64;
  canvas.height = 48;
  const g = canvas.getContext("2d", { willReadFrequently: true });
  g.drawImage(video, 0, 0, canvas.width, canvas.height);
  const pixels = g.getImageData(0, 0, canvas.width, canvas.height).data;
  let sum = 0;
  for (let i = 0; i < pixels.length; i += 4) sum += (pixels[i] + pixels[i + 1] + pixels[i + 2]) / 3;
  return sum / (pixels.length / 4);
}
"""

# Total energy of the received audio (W3C webrtc-stats totalAudioEnergy): flat while silent.
AUDIO_ENERGY_JS = """
async () => {
  let energy = null;
  (await window.liveloop.pc.getStats()).forEach((r) => {
    if (r.type === "inbound-rtp" && r.kind === "audio") energy = r.totalAudioEnergy ?? 0;
  });
  return energy;
}
"""


async def launch_chromium(playwright: Playwright, *, deny_media: bool = False) -> Browser:
    return await playwright.chromium.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=list(DENYING_ARGS if deny_media else CHROMIUM_ARGS),
    )


@dataclass
class ClientPage:
    """One person using the client in their own fresh browser profile."""

    context: BrowserContext
    page: Page
    name: str
    errors: list[str] = field(default_factory=list)

    @classmethod
    async def open(
        cls, browser: Browser, url: str, name: str, **context_options: Any
    ) -> ClientPage:
        context = await browser.new_context(**context_options)
        page = await context.new_page()
        client = cls(context=context, page=page, name=name)
        page.on("pageerror", lambda exc: client.errors.append(f"{name}: {exc}"))
        failed: list[str] = []
        page.on("requestfailed", lambda request: failed.append(f"{request.url} {request.failure}"))
        await page.goto(url)
        try:
            await page.wait_for_function("window.liveloop !== undefined", timeout=APP_READY_MS)
        except PlaywrightTimeoutError as exc:
            # The document loaded but the app never started. In the network lab that was a
            # network change seen by Chromium while a fresh link settled (tests/lab/netns.py:
            # no DAD now); a person would reload, and only that case does so here.
            if not any("ERR_NETWORK_CHANGED" in entry for entry in failed):
                message = f"{name}: the app did not start; failed requests: {failed}"
                raise AssertionError(message) from exc
            print(f"{name}: network changed while the page loaded ({failed}); reloading")
            await page.reload()
        return client

    async def enter_studio(self) -> None:
        await self.page.get_by_role("button", name="Start").click()
        await expect(self.page.get_by_role("heading", name="Get ready")).to_be_visible()
        # The preview plays once the camera is open.
        await self.page.wait_for_function(
            "document.getElementById('preview-video').videoWidth > 0", timeout=MEDIA_TIMEOUT_MS
        )

    async def find_partner(self) -> None:
        await self.page.get_by_label("Your name").fill(self.name)
        await self.page.get_by_role("button", name="Find a partner").click()

    async def join(self) -> None:
        """Home → Studio → Call, queued for a partner."""
        await self.enter_studio()
        await self.find_partner()
        await expect(self.status).not_to_have_text("")

    @property
    def status(self) -> Any:
        return self.page.locator("#call-status")

    async def wait_status(self, state: str, timeout_ms: int = MEDIA_TIMEOUT_MS) -> None:
        await expect(self.status).to_have_attribute("data-state", state, timeout=timeout_ms)

    async def state(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.page.evaluate("window.liveloop.state")
        return result

    async def stats(self) -> dict[str, Any]:
        result: dict[str, Any] | None = await self.page.evaluate(STATS_JS)
        assert result is not None, f"{self.name} has no RTCPeerConnection"
        return result

    async def wait_remote_video(self) -> int:
        """Waits until the remote <video> shows decoded frames; returns its width."""
        await self.page.wait_for_function(
            "document.getElementById('remote-video').videoWidth > 0", timeout=MEDIA_TIMEOUT_MS
        )
        width: int = await self.page.evaluate("document.getElementById('remote-video').videoWidth")
        return width

    async def remote_luma(self) -> float:
        luma: float = await self.page.evaluate(REMOTE_LUMA_JS)
        return luma

    async def audio_energy(self) -> float:
        energy: float | None = await self.page.evaluate(AUDIO_ENERGY_JS)
        assert energy is not None, f"{self.name} receives no audio"
        return energy

    async def send_chat(self, text: str) -> None:
        await self.page.get_by_label("Message").fill(text)
        await self.page.get_by_role("button", name="Send").click()

    async def close(self) -> None:
        await self.context.close()


async def media_flow(
    client: ClientPage, seconds: float = 1.5
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two stats samples `seconds` apart, to see counters move (not just exist)."""
    first = await client.stats()
    await asyncio.sleep(seconds)
    return first, await client.stats()


async def wait_until_flowing(client: ClientPage, timeout: float = MEDIA_TIMEOUT_MS / 1000) -> None:
    """Polls getStats until both inbound audio packets and decoded video frames exist."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stats = await client.stats()
        video, audio = stats["video"], stats["audio"]
        if video and audio and video["framesDecoded"] > 0 and audio["packetsReceived"] > 0:
            return
        await asyncio.sleep(0.25)
    raise AssertionError(f"{client.name}: media never started: {await client.stats()}")
