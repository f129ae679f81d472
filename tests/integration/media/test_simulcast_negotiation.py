"""The node answers the simulcast offers of Chromium, Firefox and Safari (the saved offers of
tests/unit/media/transport/offers/) through its real aiortc peer connection: the receive side
of every offered layer, the RID and repaired-RID header extensions with the browser's ids, and
a negotiated m-line whose layers' SSRCs are left to be learnt from the packets."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from liveloop_sfu.media.core.rewriter import REPAIRED_RID_URI, RID_URI
from liveloop_sfu.media.settings import MediaSettings
from liveloop_sfu.media.transport.peer import NodePeer

pytestmark = pytest.mark.slow

OFFERS = Path(__file__).parents[2] / "unit" / "media" / "transport" / "offers"


def saved_offer(name: str) -> str:
    """A saved offer without its candidates: Chromium's are mDNS names (.local), which aioice
    would resolve with a lock bound to the first test's event loop."""
    text = (OFFERS / f"{name}_simulcast.sdp").read_bytes().decode()
    return "".join(line for line in text.splitlines(True) if not line.startswith("a=candidate"))


def video_section(sdp: str) -> str:
    return sdp[sdp.index("m=video") :]


@pytest.mark.parametrize(
    ("name", "rids"),
    [("chromium_156", ("q", "h", "f")), ("firefox", ("f", "h", "q")), ("safari", ("l", "m", "h"))],
)
async def test_the_answer_receives_every_offered_layer(name: str, rids: tuple[str, ...]) -> None:
    offer = saved_offer(name)
    node = NodePeer(MediaSettings(), label=name)
    try:
        answer = await node.answer(offer, lambda slots: {})
    finally:
        await node.close()
    video = video_section(answer)
    assert [f"a=rid:{rid} recv" for rid in rids] == re.findall(r"a=rid:\S+ recv", video)
    assert f"a=simulcast:recv {';'.join(rids)}" in video
    assert "a=rid" not in answer[: answer.index("m=video")]  # audio: no simulcast
    offered = dict(re.findall(r"a=extmap:(\d+)(?:/\w+)? (\S+)", video_section(offer)))
    ids = {uri: ext_id for ext_id, uri in offered.items()}
    assert f"a=extmap:{ids[RID_URI]} {RID_URI}" in video
    assert f"a=extmap:{ids[REPAIRED_RID_URI]} {REPAIRED_RID_URI}" in video
    line = next(line for line in node.media if line.kind == "video")
    assert (line.rids, line.remote_ssrc, line.remote_rtx_ssrc) == (rids, None, None)
    assert line.extension_id(RID_URI) == int(ids[RID_URI])
    audio = next(line for line in node.media if line.kind == "audio")
    assert audio.rids == () and audio.extension_id(RID_URI) is None


async def test_simulcast_without_the_rid_extension_is_answered_as_one_encoding() -> None:
    offer = "".join(
        line for line in saved_offer("chromium_156").splitlines(True) if RID_URI not in line
    )
    node = NodePeer(MediaSettings(), label="no-rid")
    try:
        answer = await node.answer(offer, lambda slots: {})
    finally:
        await node.close()
    assert "a=simulcast" not in answer and "a=rid" not in answer
    line = next(line for line in node.media if line.kind == "video")
    assert line.rids == ()
