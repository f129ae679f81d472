"""Subscribers ask for what they show, publishers stop what nobody uses: real Chromium through a
real node, a room of two (the fake camera is 640x480: Alice sends two layers, h 320x240 and
f 640x480).

- Bob's tile of Alice made small (160x120): his browser asks for 180 lines (rounded up), and
  the node moves him to h (the received frameWidth is 320; the node says it forwards "h").
- Nobody is given Alice's f any more: a few seconds later the node pauses it at her browser (the
  encoding's ``active`` is false) and its bytes stop, while h's keep growing. Bob's tile large
  again: f is resumed and he gets 640 again.
- Bob's page hidden: his browser asks ``off`` for Alice's video, and his inbound video bytes stop
  growing (his audio goes on: the reference that the connection itself is alive). Headless
  Chromium never hides a page (checked: a second tab, ``window.open`` and a window minimised
  through CDP all leave ``document.visibilityState`` "visible"), so the test sets the very
  property the client reads, ``document.visibilityState``, and fires ``visibilitychange``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.browser.conftest import OpenClient
from tests.browser.pages import MEDIA_TIMEOUT_MS, ClientPage
from tests.browser.test_group import room_of_two
from tests.browser.test_group_simulcast import OUTBOUND_JS, outbound
from tests.helpers import scrape
from tests.nodes import NodeFactory

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# The encodings' active flags of the page's camera sender, by rid.
ACTIVE_JS = """
() => {
  const sender = window.liveloop.pc.getSenders().find((s) => s.track?.kind === "video");
  return Object.fromEntries(
    (sender?.getParameters().encodings ?? []).map((e) => [e.rid, e.active !== false]));
}
"""

# What the page receives: video frame width and bytes, audio bytes.
INBOUND_JS = """
async () => {
  const stats = await window.liveloop.pc.getStats();
  const out = { width: 0, videoBytes: 0, audioBytes: 0 };
  stats.forEach((r) => {
    if (r.type !== "inbound-rtp") return;
    if (r.kind === "video" && (r.framesDecoded ?? 0) > 0) {
      out.width = r.frameWidth ?? 0;
      out.videoBytes += r.bytesReceived ?? 0;
    }
    if (r.kind === "audio") out.audioBytes += r.bytesReceived ?? 0;
  });
  return out;
}
"""

# get-video-layers is a client event like any other: polled slower than the node's limit for
# events it does not list (5 a second).
POLL_MS = 400
SMALL_TILE = "#room-tiles .tile:not(.self) video { width: 160px !important; height: 120px; }"
HIDE_PAGE = """
() => {
  Object.defineProperty(document, "visibilityState", { configurable: true, get: () => "hidden" });
  Object.defineProperty(document, "hidden", { configurable: true, get: () => true });
  document.dispatchEvent(new Event("visibilitychange"));
}
"""


# Alice's encodings as sent: size and what limits them (for failure messages).
SENT_JS = """
async () => {
  const stats = await window.liveloop.pc.getStats();
  return [...stats.values()].filter((r) => r.type === "outbound-rtp" && r.kind === "video")
    .map((r) => [r.rid, r.frameWidth, r.frameHeight, r.bytesSent, r.qualityLimitationReason]);
}
"""


async def inbound(client: ClientPage) -> dict[str, Any]:
    stats: dict[str, Any] = await client.page.evaluate(INBOUND_JS)
    return stats


async def wait_layer(client: ClientPage, rid: str, width: int, publisher: ClientPage) -> None:
    """Until the node says it forwards layer ``rid`` and the page decodes frames ``width`` wide.
    Both, because either alone may be true for a moment: the node names its new layer from the
    keyframe request on, and a publisher's encoder may send a layer smaller for a while."""
    check = (
        "Promise.all([window.liveloop.socket.emitWithAck('get-video-layers', {}),"
        f" ({INBOUND_JS})()]).then(([ack, s]) => s.width === {width}"
        f" && ack.layers.length === 1 && ack.layers[0].rid === '{rid}')"
    )
    try:
        await client.page.wait_for_function(check, timeout=MEDIA_TIMEOUT_MS, polling=POLL_MS)
    except Exception as exc:
        layers = await client.page.evaluate(
            "window.liveloop.socket.emitWithAck('get-video-layers', {})"
        )
        sent = await publisher.page.evaluate(SENT_JS)
        raise AssertionError(f"not on {rid} ({width}): node {layers}, sent {sent}") from exc


async def sent_bytes(client: ClientPage) -> dict[str, int]:
    return {layer["rid"]: layer["bytes"] for layer in await outbound(client)}


async def test_small_tiles_get_small_layers_unused_layers_pause_hidden_pages_get_nothing(
    node_factory: NodeFactory, open_client: OpenClient
) -> None:
    node = node_factory("--mode", "sfu")
    alice, bob, _ = await room_of_two(node.url, open_client)
    await alice.page.wait_for_function(
        f"({OUTBOUND_JS})().then((l) => l.filter((x) => x.bytes > 0).length === 2)",
        timeout=MEDIA_TIMEOUT_MS,
    )
    # A large tile (about 450x340 here): f, the smallest layer at least 360 lines tall.
    await wait_layer(bob, "f", 640, alice)

    # A small tile (120 lines: Bob asks for 180, rounded up to 90s) is moved to h.
    await bob.page.add_style_tag(content=SMALL_TILE)
    await wait_layer(bob, "h", 320, alice)

    # Nobody is given f now: paused at Alice's browser, and its bytes stop while h's grow.
    await alice.page.wait_for_function(f"({ACTIVE_JS})().f === false", timeout=MEDIA_TIMEOUT_MS)
    assert await alice.page.evaluate(ACTIVE_JS) == {"h": True, "f": False}
    await asyncio.sleep(1.0)  # what the encoder had under way when it stopped
    before = await sent_bytes(alice)
    await asyncio.sleep(2.0)
    after = await sent_bytes(alice)
    assert after["f"] == before["f"], (before, after)
    assert after["h"] > before["h"] + 10_000, (before, after)  # ~40 kbit/s at the least
    metrics = scrape(node)
    assert metrics["liveloop_simulcast_paused_layers"] == 1
    assert metrics['liveloop_keyframe_requests_total{reason="layer-switch"}'] >= 1

    # A large tile again: f resumed, Bob back on it.
    await bob.page.evaluate("document.querySelector('style:last-of-type').remove()")
    await alice.page.wait_for_function(f"({ACTIVE_JS})().f === true", timeout=MEDIA_TIMEOUT_MS)
    await wait_layer(bob, "f", 640, alice)
    assert scrape(node)["liveloop_simulcast_paused_layers"] == 0

    # A hidden page: no video is forwarded to it (its audio, the reference, goes on).
    await bob.page.evaluate(HIDE_PAGE)
    await bob.page.wait_for_function(
        "window.liveloop.socket.emitWithAck('get-video-layers', {})"
        ".then((ack) => ack.layers.every((l) => l.off))",
        timeout=MEDIA_TIMEOUT_MS,
        polling=POLL_MS,
    )
    await asyncio.sleep(1.0)  # what was in flight
    before_in = await inbound(bob)
    await asyncio.sleep(2.0)
    after_in = await inbound(bob)
    assert after_in["videoBytes"] == before_in["videoBytes"], (before_in, after_in)
    assert after_in["audioBytes"] > before_in["audioBytes"], (before_in, after_in)
