"""H.264 through the node: two real Chromium pages that negotiate only H.264 for video.

The client (web/) lets the browser choose its codecs, and Chromium prefers VP8. The test makes
both browsers offer H.264 only — an init script wraps ``RTCPeerConnection.prototype.createOffer``
to call ``setCodecPreferences`` first — without changing the client. Debian's Chromium encodes
H.264 (OpenH264) and decodes it (FFmpeg), so both directions are real H.264 end to end: the node
answers H.264 (aiortc's codec list has it), forwards the publisher's packets rewritten for the
subscriber, gates on H.264 IDR keyframes, and each browser decodes its partner's stream.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from playwright.async_api import Browser

from tests.browser.pages import MEDIA_TIMEOUT_MS, ClientPage
from tests.browser.test_group import assert_tiles_decode, create_room, join_room, room_state
from tests.nodes import NodeFactory

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# Video transceivers offer H.264 (packetization-mode=1, the mode aiortc negotiates) and its RTX.
PREFER_H264_JS = """
(() => {
  const h264Only = () =>
    RTCRtpReceiver.getCapabilities("video").codecs.filter(
      (c) =>
        (c.mimeType === "video/H264" && /packetization-mode=1/.test(c.sdpFmtpLine ?? "")) ||
        c.mimeType === "video/rtx",
    );
  const createOffer = RTCPeerConnection.prototype.createOffer;
  RTCPeerConnection.prototype.createOffer = function (...args) {
    for (const transceiver of this.getTransceivers()) {
      const video = transceiver.receiver.track.kind === "video";
      if (video && transceiver.currentDirection !== "stopped") {
        transceiver.setCodecPreferences(h264Only());
      }
    }
    return createOffer.apply(this, args);
  };
})();
"""

# The video codec each way, from the W3C stats (codecId -> codec.mimeType).
VIDEO_CODECS_JS = """
async () => {
  const stats = await window.liveloop.pc.getStats();
  const out = { inbound: null, outbound: null };
  const codec = (r) => (r.codecId && stats.get(r.codecId) ? stats.get(r.codecId).mimeType : null);
  stats.forEach((r) => {
    if (r.kind !== "video") return;
    if (r.type === "inbound-rtp") {
      out.inbound = { codec: codec(r), framesDecoded: r.framesDecoded ?? 0,
                      frameWidth: r.frameWidth ?? 0, packets: r.packetsReceived ?? 0 };
    } else if (r.type === "outbound-rtp") {
      out.outbound = { codec: codec(r), framesEncoded: r.framesEncoded ?? 0 };
    }
  });
  return out;
}
"""


async def open_h264_client(browser: Browser, url: str, name: str) -> ClientPage:
    context = await browser.new_context()
    await context.add_init_script(PREFER_H264_JS)
    page = await context.new_page()
    client = ClientPage(context=context, page=page, name=name)
    page.on("pageerror", lambda exc: client.errors.append(f"{name}: {exc}"))
    await page.goto(url)
    return client


async def video_codecs(client: ClientPage) -> dict[str, Any]:
    result: dict[str, Any] = await client.page.evaluate(VIDEO_CODECS_JS)
    return result


async def wait_decoding(client: ClientPage, timeout: float = MEDIA_TIMEOUT_MS / 1000) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        inbound = (await video_codecs(client))["inbound"]
        if inbound and inbound["framesDecoded"] > 0:
            return
        await asyncio.sleep(0.25)
    raise AssertionError(f"{client.name} decodes no video: {await video_codecs(client)}")


async def test_sfu_call_forwards_h264_between_two_chromium_pages(
    node_factory: NodeFactory, browser: Browser
) -> None:
    node = node_factory("--mode", "sfu")
    alice = await open_h264_client(browser, node.url + "/", "Alice")
    bob = await open_h264_client(browser, node.url + "/", "Bob")
    try:
        await alice.join()
        await alice.wait_status("waiting")
        await bob.join()
        await asyncio.gather(alice.wait_status("in-call"), bob.wait_status("in-call"))

        for me in (alice, bob):
            state = await me.state()
            assert state["call"]["mode"] == "sfu"
            # The node answered H.264 and nothing else for video.
            answer: str = await me.page.evaluate("window.liveloop.pc.remoteDescription.sdp")
            video = answer[answer.index("m=video") :]
            video_codecs_offered = {
                line.split(" ", 1)[1].split("/")[0]
                for line in video.splitlines()
                if line.startswith("a=rtpmap:")
            }
            assert video_codecs_offered <= {"H264", "rtx"} and "H264" in video_codecs_offered

        for me in (alice, bob):
            await wait_decoding(me)
            await me.wait_remote_video()
            before = await video_codecs(me)
            await asyncio.sleep(1.5)
            after = await video_codecs(me)
            # What arrives is H.264 (the partner's encoder output, forwarded by the node) and it
            # keeps decoding into frames with a picture.
            assert after["inbound"]["codec"] == "video/H264", after
            assert after["outbound"]["codec"] == "video/H264", after
            assert after["outbound"]["framesEncoded"] > 0, after
            assert after["inbound"]["framesDecoded"] > before["inbound"]["framesDecoded"], (
                before,
                after,
            )
            assert after["inbound"]["frameWidth"] > 0, after
    finally:
        errors = alice.errors + bob.errors
        await alice.close()
        await bob.close()
    assert not errors, errors


# Per video encoding a page sends, and per remote video it decodes: codec, rid, size, bytes.
SIMULCAST_CODECS_JS = """
async () => {
  const stats = await window.liveloop.pc.getStats();
  const codec = (r) => (r.codecId && stats.get(r.codecId) ? stats.get(r.codecId).mimeType : null);
  const out = { sent: [], received: [] };
  stats.forEach((r) => {
    if (r.kind !== "video") return;
    if (r.type === "outbound-rtp") {
      out.sent.push({ rid: r.rid ?? "", codec: codec(r), width: r.frameWidth ?? 0,
                      bytes: r.bytesSent ?? 0 });
    } else if (r.type === "inbound-rtp" && (r.framesDecoded ?? 0) > 0) {
      out.received.push({ codec: codec(r), width: r.frameWidth ?? 0,
                          frames: r.framesDecoded ?? 0 });
    }
  });
  return out;
}
"""


async def test_group_room_h264_simulcast_reaches_the_other_member(
    node_factory: NodeFactory, browser: Browser
) -> None:
    """H.264 simulcast in a group room (issue 15): Chromium sends every layer in H.264
    (OpenH264 behind libwebrtc's simulcast adapter), the node learns them by RID like VP8's,
    gates on H.264 IDR keyframes and ranks the layers by bit rate (an H.264 keyframe's size is
    not read), and the other member decodes the largest layer in H.264."""
    node = node_factory("--mode", "sfu")
    alice = await open_h264_client(browser, node.url + "/", "Alice")
    link = await create_room(alice)
    await alice.page.goto(link)
    bob = await open_h264_client(browser, link, "Bob")
    try:
        for client in (alice, bob):
            await join_room(client)
            assert await room_state(client) == "in-room"
        await asyncio.gather(
            assert_tiles_decode(alice, {"Bob"}), assert_tiles_decode(bob, {"Alice"})
        )
        await alice.page.wait_for_function(
            f"({SIMULCAST_CODECS_JS})().then((s) => s.sent.filter((x) => x.bytes > 0).length >= 2)",
            timeout=MEDIA_TIMEOUT_MS,
        )
        sent = (await alice.page.evaluate(SIMULCAST_CODECS_JS))["sent"]
        assert len({x["rid"] for x in sent}) >= 2 and all(x["rid"] for x in sent), sent
        assert {x["codec"] for x in sent} == {"video/H264"}, sent
        largest = max(x["width"] for x in sent)
        # Bob decodes H.264 at the largest layer's width (loopback: no congestion, no limit).
        await bob.page.wait_for_function(
            f"({SIMULCAST_CODECS_JS})().then((s) => s.received.some((x) => x.width === {largest}))",
            timeout=MEDIA_TIMEOUT_MS,
        )
        received = (await bob.page.evaluate(SIMULCAST_CODECS_JS))["received"]
        assert [x["codec"] for x in received] == ["video/H264"], received
    finally:
        errors = alice.errors + bob.errors
        await alice.close()
        await bob.close()
    assert not errors, errors
