"""Malformed SDP offers to the node's media plane: a clear ``invalid-payload`` every time, never
``internal``, and the node keeps nothing of a refused offer.

Each example mutates a real offer (from an aiortc peer, as a browser's would look): lines
dropped, duplicated, swapped or replaced, numbers made huge or negative, text truncated."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import event as note_event
from hypothesis import strategies as st

from benchmarks.media.synthetic import SyntheticPeer
from liveloop_sfu.errors import InvalidPayload, LiveLoopError
from liveloop_sfu.media.settings import MediaSettings
from liveloop_sfu.media.sfu.session import SfuSession
from liveloop_sfu.signal.messages import parse_sdp

pytestmark = pytest.mark.slow


async def _real_offer() -> str:
    peer = SyntheticPeer()
    try:
        return await peer.create_offer()
    finally:
        await peer.close()


OFFER = asyncio.run(_real_offer())
LINES = OFFER.split("\r\n")

ops = st.tuples(
    st.sampled_from(["drop", "dup", "swap", "replace", "number", "truncate", "prefix"]),
    st.integers(0, len(LINES) - 1),
    st.integers(0, len(LINES) - 1),
    st.text(max_size=30) | st.sampled_from(["m=video", "a=group:BUNDLE", "a=mid:", "c=IN IP4"]),
    st.sampled_from(["-1", "0", "99999999999999999999", "4294967296", "x", ""]),
)


def mutate(mutations: list[tuple[str, int, int, str, str]]) -> str:
    lines = list(LINES)
    for op, i, j, text, number in mutations:
        i, j = i % len(lines), j % len(lines)
        if op == "drop" and len(lines) > 1:
            del lines[i]
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "swap":
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "replace":
            lines[i] = text
        elif op == "number":
            lines[i] = re.sub(r"\d+", number, lines[i], count=1)
        elif op == "truncate":
            lines[i] = lines[i][: len(lines[i]) // 2]
        elif op == "prefix":
            lines[i] = text + lines[i]
    return "\r\n".join(lines)


async def offer_once(sdp: str) -> str:
    """'ok' or the error code the node gives this offer."""

    async def emit(sid: str, event: str, payload: Mapping[str, Any]) -> None:
        return None

    async def on_failure(sid: str, reason: str) -> None:
        return None

    session = SfuSession("fuzz", MediaSettings(), emit, on_failure)
    try:
        await session.add_participant("s", "p")
        try:
            parse_sdp({"sdp": {"type": "offer", "sdp": sdp}}, "offer")
            await session.on_offer("s", sdp)
        except LiveLoopError as exc:
            refusal: LiveLoopError | None = exc
        else:
            refusal = None
        if refusal is None:
            return "ok"
        # A clear refusal: invalid-payload with a message, nothing else (never internal).
        assert isinstance(refusal, InvalidPayload) and refusal.message, refusal.to_wire()
        return refusal.code
    finally:
        await session.close()
        assert session.forwarded_streams == 0


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ops, min_size=1, max_size=4))
def test_mutated_offers_are_answered_or_refused_cleanly(
    mutations: list[tuple[str, int, int, str, str]],
) -> None:
    # Anything other than InvalidPayload (a bare exception, or another code) fails the test.
    outcome = asyncio.run(offer_once(mutate(mutations)))
    note_event(outcome)  # --hypothesis-show-statistics: how many were answered
    assert outcome in ("ok", "invalid-payload")


@pytest.mark.parametrize(
    "sdp",
    [
        "v=0\r\n",
        "v=0\r\nm=video\r\n",
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF\r\n",
        OFFER.replace("a=group:BUNDLE", "a=group:NOTBUNDLE"),
        OFFER.replace("a=fingerprint", "a=x-fingerprint"),
        OFFER.replace("a=ice-ufrag", "a=x-ice-ufrag"),
        OFFER.replace("VP8/90000", "VP8/ninety"),
        OFFER[: len(OFFER) // 2],
        # Found by the fuzz test: an m-line whose kind is not one (aiortc took it for a data
        # channel and failed while answering).
        OFFER.replace("m=video", "m=m=video"),
        OFFER.replace("m=video", "m=application"),
    ],
)
def test_known_bad_offers_get_invalid_payload(sdp: str) -> None:
    assert asyncio.run(offer_once(sdp)) == "invalid-payload"
