"""Writes docs/screenshot-call.png: two real Chromium pages in a call through a real node
(or, with ``--group``, docs/screenshot-group.png: four pages in a group room, one sharing; or,
with ``--blocked``, docs/screenshot-blocked.png: in the network lab, as root, a page behind a
firewall that drops all UDP, its call ended and the page explaining why).

    .venv/bin/python -m tests.browser.screenshot [--mode sfu|p2p] [--out docs/screenshot-call.png]
    .venv/bin/python -m tests.browser.screenshot --group [--out docs/screenshot-group.png]
    .venv/bin/python -m tests.browser.screenshot --blocked [--out docs/screenshot-blocked.png]

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
GROUP = (*PEOPLE, ("Chiara", "0x6a3d8f", "0x40b0c0"), ("Dmitri", "0x8a5a20", "0x50a050"))
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


def fake_microphone(folder: Path, name: str, speaking: bool) -> Path | None:
    """A 4-second WAV: a warbling tone (someone talking) or silence; None without ffmpeg."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        return None
    out = folder / f"{name.lower()}.wav"
    sound = "sine=f=220:r=48000,vibrato=f=5:d=0.5" if speaking else "anullsrc=r=48000:cl=mono"
    subprocess.run(
        [*(ffmpeg, "-loglevel", "error", "-y", "-f", "lavfi", "-i", sound), "-t", "4", str(out)],
        check=True,
        timeout=120,
    )
    return out


async def launch(
    playwright: Playwright, camera: Path | None, microphone: Path | None = None
) -> Browser:
    args = list(CHROMIUM_ARGS)
    if camera is not None:
        args.append(f"--use-file-for-fake-video-capture={camera}")
    if microphone is not None:
        args.append(f"--use-file-for-fake-audio-capture={microphone}")
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


async def take_group(url: str, out: Path, folder: Path) -> None:
    """Four people in a room; Bob shares his screen, Chiara is muted, Dmitri talks (the active
    speaker); Alice's view is shot."""
    cameras = [fake_camera(folder, *person) for person in GROUP]
    microphones = [fake_microphone(folder, p[0], speaking=p[0] == "Dmitri") for p in GROUP]
    async with async_playwright() as playwright:
        browsers = [
            await launch(playwright, camera, microphone)
            for camera, microphone in zip(cameras, microphones, strict=True)
        ]
        try:
            clients = [
                await ClientPage.open(b, url, person[0], viewport=VIEWPORT, color_scheme="dark")
                for b, person in zip(browsers, GROUP, strict=True)
            ]
            alice, bob, chiara, _ = clients
            await alice.page.get_by_role("button", name="Create a group room").click()
            link = await alice.page.get_by_label("Room link").input_value()
            for client in clients:
                await client.page.goto(link)
                await client.page.get_by_label("Your name").fill(client.name)
                await client.page.get_by_role("button", name="Join the room").click()
                await expect(client.page.locator("#room-status")).to_have_attribute(
                    "data-state", "in-room", timeout=30_000
                )
            tiles = alice.page.locator("#room-tiles .tile:not(.self) video")
            await expect(tiles).to_have_count(3, timeout=30_000)
            await chiara.page.get_by_role("button", name="Mute").click()
            await bob.page.get_by_role("button", name="Share screen").click()
            await expect(alice.page.locator("#room-spotlight .tile")).to_have_count(
                1, timeout=20_000
            )
            await alice.send_chat("Can everyone see Bob's screen?")
            await expect(bob.page.locator("#chat-list li")).to_have_count(1)
            await bob.send_chat("That's the dashboard I mentioned.")
            await expect(alice.page.locator("#chat-list li")).to_have_count(2)
            await asyncio.sleep(10.0)  # bandwidth estimates ramp up: a sharp picture
            speaking = alice.page.locator("#room-tiles .tile.speaking .tile-name")
            await expect(speaking).to_have_text("Dmitri")
            out.parent.mkdir(parents=True, exist_ok=True)
            await alice.page.screenshot(path=str(out))
            errors = [error for client in clients for error in client.errors]
            assert not errors, errors
        finally:
            for browser in browsers:
                await browser.close()


async def take_blocked(out: Path, folder: Path) -> None:
    """Alice behind a firewall that lets only TCP to port 443 out (tests/lab ``udp_blocked``),
    Bob behind a NAT, a node on a public lab address with no TURN: Alice's view once the call
    ended."""
    from tests.lab import lab_network

    camera_args = []
    for person in PEOPLE:
        camera = fake_camera(folder, *person)
        camera_args.append([f"--use-file-for-fake-video-capture={camera}"] if camera else [])
    async with async_playwright() as playwright, lab_network(folder / "lab") as lab:
        node = lab.node("--media-connect-timeout", "4", host="0.0.0.0", media_flags=False)
        nets = (lab.browser_net("udp_blocked"), lab.browser_net("cone_nat"))
        clients = []
        for net, person, args in zip(nets, PEOPLE, camera_args, strict=True):
            browser = await net.chromium(playwright, *args)
            clients.append(
                await ClientPage.open(
                    browser, node.url_for(net), person[0], viewport=VIEWPORT, color_scheme="dark"
                )
            )
        alice, bob = clients
        for client in clients:
            await client.enter_studio()
            await client.page.get_by_role("button", name="Take a snapshot").click()
            await client.find_partner()
        await alice.wait_status("partner-left", timeout_ms=30_000)
        await expect(alice.page.locator("#call-error")).to_contain_text("block video calls")
        out.parent.mkdir(parents=True, exist_ok=True)
        await alice.page.screenshot(path=str(out))
        assert not alice.errors and not bob.errors, alice.errors + bob.errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--mode", default="sfu", choices=("p2p", "sfu", "auto"))
    parser.add_argument("--group", action="store_true", help="a group room of four people")
    parser.add_argument(
        "--blocked", action="store_true", help="a page behind a UDP-blocking firewall (lab, root)"
    )
    parser.add_argument("--out", type=Path)
    options = parser.parse_args()
    name = "screenshot-group.png" if options.group else "screenshot-call.png"
    if options.blocked:
        name = "screenshot-blocked.png"
    out: Path = options.out or ROOT / "docs" / name
    if options.blocked:
        with tempfile.TemporaryDirectory(prefix="liveloop-shot-") as tmp:
            asyncio.run(take_blocked(out, Path(tmp)))
        print(f"wrote {out}")
        return
    with tempfile.TemporaryDirectory(prefix="liveloop-shot-") as tmp:
        mode = "sfu" if options.group else options.mode
        node = start_node(Path(tmp), "--mode", mode)
        try:
            shoot = take_group if options.group else take
            asyncio.run(shoot(node.url + "/", out, Path(tmp)))
        finally:
            node.stop()
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
