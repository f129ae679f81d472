"""Writes docs/screenshot-call.png: two real Chromium pages in a call through a real node.

    .venv/bin/python -m tests.browser.screenshot [--mode sfu|p2p] [--out docs/screenshot-call.png]

Each person gets their own camera picture (a gradient with their name, made locally by ffmpeg
and played by Chromium's fake capture device) so the two videos can be told apart; without
ffmpeg both show Chromium's built-in test pattern.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import tempfile
from pathlib import Path

from playwright.async_api import Browser, Playwright, async_playwright, expect

from tests.browser.pages import CHROMIUM, CHROMIUM_ARGS, ClientPage, wait_until_flowing
from tests.nodes import ROOT, start_node

PEOPLE = (("Alice", "0x2f7d6d", "0xe0b040"), ("Bob", "0x3050a0", "0xd07050"))
VIEWPORT = {"width": 1280, "height": 860}


def fake_camera(folder: Path, name: str, color0: str, color1: str) -> Path | None:
    """A 4-second 640x480 Y4M clip (Chromium loops it) or None when ffmpeg is missing."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        return None
    out = folder / f"{name.lower()}.y4m"
    picture = (
        f"gradients=s=640x480:r=30:c0={color0}:c1={color1}:speed=0.004,"
        f"drawtext=text='{name}':fontcolor=white:fontsize=84:x=(w-tw)/2:y=(h-th)/2"
    )
    subprocess.run(
        [
            *(ffmpeg, "-loglevel", "error", "-y", "-f", "lavfi", "-i", picture),
            *("-t", "4", "-pix_fmt", "yuv420p", str(out)),
        ],
        check=True,
        timeout=120,
    )
    return out


async def launch(playwright: Playwright, camera: Path | None) -> Browser:
    args = list(CHROMIUM_ARGS)
    if camera is not None:
        args.append(f"--use-file-for-fake-video-capture={camera}")
    return await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)


async def take(url: str, out: Path, folder: Path) -> None:
    cameras = [fake_camera(folder, *person) for person in PEOPLE]
    async with async_playwright() as playwright:
        browsers = [await launch(playwright, camera) for camera in cameras]
        try:
            alice, bob = [
                await ClientPage.open(b, url, person[0], viewport=VIEWPORT, color_scheme="dark")
                for b, person in zip(browsers, PEOPLE, strict=True)
            ]
            for client in (alice, bob):
                await client.enter_studio()
                await client.page.get_by_role("button", name="Take a snapshot").click()
                await client.find_partner()
            await alice.wait_status("in-call")
            await bob.wait_status("in-call")
            await wait_until_flowing(alice)
            await alice.wait_remote_video()
            await alice.send_chat("Hi Bob! Where are you calling from?")
            await expect(bob.page.locator("#chat-list li")).to_have_count(1)
            await bob.send_chat("Hello Alice — from Lisbon. The picture is sharp!")
            await expect(alice.page.locator("#chat-list li")).to_have_count(2)
            # Through the node the sender's bandwidth estimate starts near 300 kbps and ramps
            # up over ~10 s (p2p starts near 1.8 Mbps): wait for a sharp picture.
            await asyncio.sleep(10.0)
            out.parent.mkdir(parents=True, exist_ok=True)
            await alice.page.screenshot(path=str(out))
            assert not alice.errors and not bob.errors, alice.errors + bob.errors
        finally:
            for browser in browsers:
                await browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--mode", default="sfu", choices=("p2p", "sfu", "auto"))
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshot-call.png")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="liveloop-shot-") as tmp:
        node = start_node(Path(tmp), "--mode", options.mode)
        try:
            asyncio.run(take(node.url + "/", options.out, Path(tmp)))
        finally:
            node.stop()
    print(f"wrote {options.out}")


if __name__ == "__main__":
    main()
