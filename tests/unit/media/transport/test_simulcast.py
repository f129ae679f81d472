"""Simulcast negotiation on SDP text (RFC 8853, RFC 8851): the offers of the three browsers.

``offers/chromium_156_simulcast.sdp`` was captured from Chromium 156 (headless, this machine:
``addTransceiver(track, {sendEncodings: [{rid: "q", scaleResolutionDownBy: 4}, {rid: "h", ...: 2},
{rid: "f"}]})``, then ``createOffer``). No Firefox or Safari runs here: their files are written
in the shapes those browsers produce (Firefox: session-level fingerprint, ``extmap:6/recvonly``,
one ``a=ssrc`` per layer and per RTX with FID groups but no rid-to-SSRC mapping, high layer
first; Safari: libwebrtc's shape with H.264 first and ``l;m;h`` rids).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from liveloop_sfu.errors import InvalidPayload
from liveloop_sfu.media.transport.simulcast import (
    SimulcastOffer,
    answer_simulcast,
    read_simulcast,
)

OFFERS = Path(__file__).parent / "offers"


def offer(name: str) -> str:
    return (OFFERS / f"{name}_simulcast.sdp").read_bytes().decode()


@pytest.mark.parametrize(
    ("name", "rids"),
    [("chromium_156", ("q", "h", "f")), ("firefox", ("f", "h", "q")), ("safari", ("l", "m", "h"))],
)
def test_each_browser_offer_names_its_layers_in_its_own_order(
    name: str, rids: tuple[str, ...]
) -> None:
    assert read_simulcast(offer(name)) == {"1": SimulcastOffer("1", rids, frozenset())}


def test_the_answer_receives_what_was_offered_in_the_offered_m_line_only() -> None:
    answer = "v=0\r\nm=audio 9 X 111\r\na=mid:0\r\nm=video 9 X 96\r\na=mid:1\r\na=recvonly\r\n"
    simulcast = {"1": SimulcastOffer("1", ("q", "h", "f"), frozenset({"h"}))}
    lines = answer_simulcast(answer, simulcast).split("\r\n")
    video = lines[lines.index("m=video 9 X 96") :]
    assert video[-5:] == [
        "a=rid:q recv",
        "a=rid:h recv",
        "a=rid:f recv",
        "a=simulcast:recv q;~h;f",
        "",
    ]
    audio = lines[: lines.index("m=video 9 X 96")]
    assert not any("rid" in line or "simulcast" in line for line in audio)


def test_an_answer_without_simulcast_is_unchanged() -> None:
    answer = "v=0\r\nm=video 9 X 96\r\na=mid:0\r\n"
    assert answer_simulcast(answer, {}) == answer


def with_video_lines(extra: str, drop: tuple[str, ...] = ()) -> str:
    """Chromium's offer with its a=rid / a=simulcast lines replaced."""
    lines = [
        line
        for line in offer("chromium_156").split("\r\n")
        if not line.startswith(("a=rid:", "a=simulcast:", *drop))
    ]
    return "\r\n".join(lines).rstrip("\r\n") + "\r\n" + extra


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        # Alternatives: the first one with an a=rid line stands for the stream (RFC 8853 §5.1).
        ("a=rid:a send\r\na=rid:b send\r\na=simulcast:send x,a;b\r\n", ("a", "b")),
        # A stream naming an undefined rid is ignored (§5.3.1); a recv description is, too.
        ("a=rid:a send\r\na=rid:b send\r\na=simulcast:send a;zz;b recv r\r\n", ("a", "b")),
        # More than three layers: the first three are answered.
        (
            "".join(f"a=rid:{r} send\r\n" for r in "abcd") + "a=simulcast:send a;b;c;d\r\n",
            ("a", "b", "c"),
        ),
    ],
)
def test_stream_lists(lines: str, expected: tuple[str, ...]) -> None:
    assert read_simulcast(with_video_lines(lines))["1"].rids == expected


@pytest.mark.parametrize(
    "lines",
    [
        "",  # no simulcast at all
        "a=rid:a send\r\na=simulcast:send a\r\n",  # one stream is not simulcast
        "a=rid:a recv\r\na=rid:b recv\r\na=simulcast:recv a;b\r\n",  # wants to receive it
        "a=simulcast:send a;b\r\n",  # no a=rid lines
    ],
)
def test_not_simulcast(lines: str) -> None:
    assert read_simulcast(with_video_lines(lines)) == {}


@pytest.mark.parametrize(
    "lines",
    [
        "a=rid:a send\r\na=rid:b send\r\na=simulcast:send\r\n",
        "a=rid:a send\r\na=rid:b send\r\na=simulcast:sideways a;b\r\n",
        "a=rid:a send\r\na=rid:b send\r\na=simulcast:send a;b send a\r\n",
        "a=rid:a send\r\na=rid:b send\r\na=simulcast:send a;b\r\na=simulcast:send b;a\r\n",
        "a=rid:a send\r\na=rid:b send\r\na=simulcast:send a;b;\xe9\r\n",
        "a=rid:a send\r\na=rid:a send\r\na=simulcast:send a;a\r\n",
        "a=rid:a\r\na=simulcast:send a;b\r\n",
        "a=rid:" + "x" * 17 + " send\r\na=rid:b send\r\na=simulcast:send b\r\n",
    ],
)
def test_malformed_simulcast_is_a_clear_error(lines: str) -> None:
    with pytest.raises(InvalidPayload, match="unusable SDP offer: m-line 1"):
        read_simulcast(with_video_lines(lines))
