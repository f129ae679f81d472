"""Group rooms in real Chromium pages through a real node: tiles, decoding, leaving, errors."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from playwright.async_api import expect

from tests.browser.conftest import OpenClient
from tests.browser.pages import MEDIA_TIMEOUT_MS, ClientPage
from tests.nodes import NodeFactory

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# For every remote tile of a selector: its name, picture size, and how many new frames its
# <video> presented (requestVideoFrameCallback) and how far currentTime moved within `ms`.
TILE_FRAMES_JS = """
async ([selector, wanted, ms]) => {
  const tiles = [...document.querySelectorAll(selector)];
  return Promise.all(tiles.map((tile) => new Promise((resolve) => {
    const video = tile.querySelector("video");
    const start = video.currentTime;
    let frames = 0;
    const done = () => resolve({
      name: tile.querySelector(".tile-name").textContent,
      frames,
      width: video.videoWidth,
      height: video.videoHeight,
      advanced: video.currentTime - start,
    });
    const timer = setTimeout(done, ms);
    const step = () => {
      frames += 1;
      if (frames >= wanted) {
        clearTimeout(timer);
        done();
      } else {
        video.requestVideoFrameCallback(step);
      }
    };
    video.requestVideoFrameCallback(step);
  })));
}
"""

# Mean brightness (0-255) of the picture in the remote tile named `name`.
TILE_LUMA_JS = """
(name) => {
  const tile = [...document.querySelectorAll("#room-tiles .tile:not(.self)")]
    .find((t) => t.querySelector(".tile-name").textContent === name);
  const canvas = document.createElement("canvas");
  canvas.width = 64;
  canvas.height = 48;
  const g = canvas.getContext("2d", { willReadFrequently: true });
  g.drawImage(tile.querySelector("video"), 0, 0, canvas.width, canvas.height);
  const pixels = g.getImageData(0, 0, canvas.width, canvas.height).data;
  let sum = 0;
  for (let i = 0; i < pixels.length; i += 4) sum += (pixels[i] + pixels[i + 1] + pixels[i + 2]) / 3;
  return sum / (pixels.length / 4);
}
"""

REMOTE_TILES = "#room-tiles .tile:not(.self)"
SCREEN_TILES = "#room-spotlight .tile"


async def create_room(client: ClientPage) -> str:
    """Home → "Create a group room"; returns the room link the page shows."""
    await client.page.get_by_role("button", name="Create a group room").click()
    link = client.page.get_by_label("Room link")
    await expect(link).not_to_have_value("")
    value: str = await link.input_value()
    return value


async def join_room(client: ClientPage) -> None:
    """A room link opens the Studio; name, then "Join the room"."""
    # A loaded machine may take longer than expect()'s 5 s to load the client's modules.
    heading = client.page.get_by_role("heading", name="Get ready")
    await expect(heading).to_be_visible(timeout=MEDIA_TIMEOUT_MS)
    await client.page.wait_for_function(
        "document.getElementById('preview-video').videoWidth > 0", timeout=MEDIA_TIMEOUT_MS
    )
    await client.page.get_by_label("Your name").fill(client.name)
    await client.page.get_by_role("button", name="Join the room").click()


async def room_state(client: ClientPage) -> str:
    await client.page.wait_for_function(
        "['in-room', 'error', 'ended'].includes(window.liveloop.state.room.status)",
        timeout=MEDIA_TIMEOUT_MS,
    )
    status: str = await client.page.evaluate("window.liveloop.state.room.status")
    return status


async def tile_frames(client: ClientPage, selector: str = REMOTE_TILES) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = await client.page.evaluate(TILE_FRAMES_JS, [selector, 5, 8000])
    return frames


async def assert_tiles_decode(client: ClientPage, names: set[str]) -> None:
    """Exactly these people's tiles, each presenting fresh decoded frames."""
    tiles = client.page.locator(REMOTE_TILES)
    await expect(tiles).to_have_count(len(names), timeout=MEDIA_TIMEOUT_MS)
    shown = set(await tiles.locator(".tile-name").all_text_contents())
    assert shown == names, (client.name, shown)
    await client.page.wait_for_function(
        f"[...document.querySelectorAll('{REMOTE_TILES} video')].every(v => v.videoWidth > 0)",
        timeout=MEDIA_TIMEOUT_MS,
    )
    for tile in await tile_frames(client):
        assert tile["width"] > 0 and tile["frames"] >= 5, (client.name, tile)
        assert tile["advanced"] > 0, (client.name, tile)


async def room_of_two(url: str, open_client: OpenClient) -> tuple[ClientPage, ClientPage, str]:
    """Alice creates a room on the node at ``url``, Bob opens its link, both join and see each
    other's video; returns (Alice, Bob, the room's link)."""
    alice = await open_client(url + "/", "Alice")
    link = await create_room(alice)
    await alice.page.goto(link)
    bob = await open_client(link, "Bob")
    for client in (alice, bob):
        await join_room(client)
        assert await room_state(client) == "in-room"
    await asyncio.gather(assert_tiles_decode(alice, {"Bob"}), assert_tiles_decode(bob, {"Alice"}))
    return alice, bob, link


async def test_three_people_in_a_room_see_each_other_share_and_leave(
    node_factory: NodeFactory, open_client: OpenClient
) -> None:
    node = node_factory("--mode", "sfu", "--max-room-participants", "3")
    alice = await open_client(node.url + "/", "Alice")
    link = await create_room(alice)
    assert link.startswith(node.url + "/room/"), link
    await alice.page.goto(link)
    bob = await open_client(link, "Bob")
    carol = await open_client(link, "Carol")
    people = (alice, bob, carol)
    for client in people:  # one after the other: joiners arrive into a room with media
        await join_room(client)
        assert await room_state(client) == "in-room"

    everyone = {c.name for c in people}
    await asyncio.gather(*(assert_tiles_decode(c, everyone - {c.name}) for c in people))
    await expect(alice.page.locator("#room-tiles .tile.self .tile-name")).to_have_text(
        "Alice (you)"
    )

    # Chat goes to everyone else in the room, once.
    await bob.send_chat("Hello, both of you!")
    for me in (alice, carol):
        await expect(me.page.locator("#chat-list .chat-peer")).to_have_text(
            re.compile("Bob.*Hello, both of you!")
        )
    await expect(bob.page.locator("#chat-list li")).to_have_count(1)

    # A fourth person does not fit (--max-room-participants 3) and is told so plainly.
    dave = await open_client(link, "Dave")
    await join_room(dave)
    assert await room_state(dave) == "error"
    await expect(dave.page.get_by_role("alert").filter(has_text="room is full")).to_have_text(
        "This room is full: it already has as many people as it can take. Try again later."
    )
    await expect(dave.page.get_by_role("button", name="Join again")).to_be_visible()
    await dave.close()

    # Bob's camera off: his tile (and only his) says so and goes dark on the others' pages,
    # which shows that tracks reach the tile of the person who sent them.
    await bob.page.get_by_role("button", name="Camera off").click()
    for me in (alice, carol):
        bob_tile = me.page.locator(REMOTE_TILES).filter(has_text="Bob")
        await expect(bob_tile.locator(".tile-cam-off")).to_be_visible(timeout=5000)
        await me.page.wait_for_function(f"({TILE_LUMA_JS})('Bob') < 2", timeout=5000)
        other = "Carol" if me is alice else "Alice"
        assert await me.page.evaluate(TILE_LUMA_JS, other) > 20  # the fake camera's test card
    await bob.page.get_by_role("button", name="Camera on").click()

    # Alice shares her screen (Chromium's fake 16:9 screen); the others get a large tile.
    await alice.page.get_by_role("button", name="Share screen").click()
    for me in (bob, carol):
        screen = me.page.locator(SCREEN_TILES)
        await expect(screen).to_have_count(1, timeout=MEDIA_TIMEOUT_MS)
        await expect(screen.locator(".tile-name")).to_have_text("Alice's screen")
        await me.page.wait_for_function(
            f"document.querySelector('{SCREEN_TILES} video').videoWidth > 0",
            timeout=MEDIA_TIMEOUT_MS,
        )
        [shared] = await tile_frames(me, SCREEN_TILES)
        assert shared["frames"] >= 5 and shared["advanced"] > 0, shared
        assert shared["width"] / shared["height"] > 1.6, shared  # the screen, not a 4:3 camera
    await alice.page.get_by_role("button", name="Stop sharing").click()
    for me in (bob, carol):
        await expect(me.page.locator(SCREEN_TILES)).to_have_count(0, timeout=5000)

    # Carol leaves: her tile disappears on the other pages, and they go on seeing each other.
    await carol.page.get_by_role("button", name="Leave").click()
    await expect(carol.page.get_by_role("heading", name="Get ready")).to_be_visible()
    for me in (alice, bob):
        await expect(me.page.locator(REMOTE_TILES)).to_have_count(1, timeout=5000)
    await asyncio.gather(assert_tiles_decode(alice, {"Bob"}), assert_tiles_decode(bob, {"Alice"}))


async def test_private_room_needs_its_token(
    node_factory: NodeFactory, open_client: OpenClient
) -> None:
    node = node_factory(
        "--mode",
        "sfu",
        "--require-room-token",
        env={"LIVELOOP_ROOM_TOKEN_SECRET": "a-test-secret-of-32-characters!!"},
    )
    erin = await open_client(node.url + "/", "Erin")
    link = await create_room(erin)
    assert "?token=" in link, link

    forged = link.split("?token=")[0] + "?token=v1.9999999999.forged"
    await erin.page.goto(forged)
    await join_room(erin)
    assert await room_state(erin) == "error"
    await expect(erin.page.locator("#room-error")).to_have_text(
        "This room link is not valid or has expired. Ask for a new link."
    )

    await erin.page.goto(link)
    await join_room(erin)
    assert await room_state(erin) == "in-room"
    await expect(erin.page.locator("#room-status")).to_have_text(
        "You are the only one here. Share the link to invite people."
    )


async def test_a_visitor_joining_and_leaving_twice_decodes_each_time(
    node_factory: NodeFactory, open_client: OpenClient
) -> None:
    """Join/leave churn in Chromium: the second visit gets the receive slots the first one had
    (the node continues those streams on the same SSRCs, after a sequence jump), and the three
    who stay keep decoding each other throughout."""
    node = node_factory("--mode", "sfu")
    alice = await open_client(node.url + "/", "Alice")
    link = await create_room(alice)
    await alice.page.goto(link)
    bob = await open_client(link, "Bob")
    carol = await open_client(link, "Carol")
    stayers = (alice, bob, carol)
    for client in stayers:
        await join_room(client)
        assert await room_state(client) == "in-room"
    names = {c.name for c in stayers}
    await asyncio.gather(*(assert_tiles_decode(c, names - {c.name}) for c in stayers))

    for visit in range(2):
        visitor = await open_client(link, "Dave")
        await join_room(visitor)
        assert await room_state(visitor) == "in-room", visit
        everyone = names | {"Dave"}
        await asyncio.gather(
            *(assert_tiles_decode(c, everyone - {c.name}) for c in (*stayers, visitor))
        )
        await visitor.page.get_by_role("button", name="Leave").click()
        await expect(visitor.page.get_by_role("heading", name="Get ready")).to_be_visible()
        await visitor.close()
        await asyncio.gather(*(assert_tiles_decode(c, names - {c.name}) for c in stayers))
