"""Simulcast negotiation (RFC 8853 ``a=simulcast``, RFC 8851 ``a=rid``) on SDP text.

aiortc 1.16 has no simulcast: its parser drops ``a=rid`` / ``a=simulcast`` and its answers never
carry them, so a browser that offers three encodings would fall back to sending only its first
one. The node reads them from the offer itself (:func:`read_simulcast`) and writes the matching
receive lines into aiortc's answer (:func:`answer_simulcast`); :class:`~.peer.NodePeer` also adds
the RID and repaired-RID header extensions (RFC 8852) to those m-lines' negotiated extensions,
since the packets of the layers are told apart by them (the browsers do not announce which SSRC
carries which rid: Chromium and Safari announce none, Firefox all of them without the mapping).

Pure functions of the text; no aiortc. The node only *receives* simulcast, so only the offer's
``send`` streams matter; a ``recv`` description (the browser asking to receive simulcast) is
ignored, and the answer then simply has none.

The offers differ (see ``tests/unit/media/transport/offers/``): Chromium lists the rids in its
``sendEncodings`` order, Firefox in the same order but announces an SSRC per layer, Safari has
H.264 first. Nothing here relies on the order meaning low-to-high: the forwarding core ranks
the layers by what it receives (their keyframes' sizes, their bit rates).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from liveloop_sfu.errors import InvalidPayload

__all__ = ["MAX_LAYERS", "SimulcastOffer", "answer_simulcast", "read_simulcast"]

# Browsers send at most 3 spatial layers of a camera (Chromium: 3 from 960x540 up, 2 below); the
# answer keeps the first MAX_LAYERS streams the offer lists and the browser drops the others
# (RFC 8853 §5.3.2: the answerer may remove simulcast streams).
MAX_LAYERS = 3

# RFC 8851 §10: rid-id = 1*(alpha-numeric / "-" / "_"). The RID header extension carries it in the
# one-byte form (RFC 8285 §4.2: at most 16 bytes), which is what every browser uses.
_RID = re.compile(r"^[A-Za-z0-9_-]{1,16}$")


@dataclass(frozen=True, slots=True)
class SimulcastOffer:
    """The simulcast streams a browser offers to send on one m-line."""

    mid: str
    rids: tuple[str, ...]  # answered, in the offer's a=simulcast order
    paused: frozenset[str]  # offered with "~" (RFC 8853 §5.1): announced, not sent yet


def read_simulcast(sdp: str) -> dict[str, SimulcastOffer]:
    """The m-lines of an offer that send simulcast, by mid. An m-line with a malformed
    ``a=simulcast`` or ``a=rid`` is an :class:`InvalidPayload` (a clear error, nothing applied);
    one whose streams name no ``a=rid:<id> send`` line, or that offers one stream only, is not
    simulcast."""
    found: dict[str, SimulcastOffer] = {}
    for section in _media_sections(sdp):
        offer = _read_section(section)
        if offer is not None:
            found[offer.mid] = offer
    return found


def answer_simulcast(answer: str, offers: Mapping[str, SimulcastOffer]) -> str:
    """``answer`` (aiortc's, without simulcast) with ``a=rid:<id> recv`` and
    ``a=simulcast:recv <ids>`` (RFC 8853 §5.3.2) added to each m-line of ``offers``."""
    if not offers:
        return answer
    newline = "\r\n" if "\r\n" in answer else "\n"
    lines = answer.split(newline)
    out: list[str] = []
    pending: list[str] = []  # the lines owed to the current m-section, written at its end
    for line in lines:
        if line.startswith("m=") or (line == "" and pending):
            out += pending
            pending = []
        out.append(line)
        if line.startswith("a=mid:"):
            offer = offers.get(line[len("a=mid:") :].strip())
            if offer is not None:
                pending = _answer_lines(offer)
    if pending:
        if out and out[-1] == "":
            out[-1:-1] = pending
        else:
            out += pending
    return newline.join(out)


def _answer_lines(offer: SimulcastOffer) -> list[str]:
    streams = ";".join(("~" if rid in offer.paused else "") + rid for rid in offer.rids)
    return [f"a=rid:{rid} recv" for rid in offer.rids] + [f"a=simulcast:recv {streams}"]


def _media_sections(sdp: str) -> list[list[str]]:
    sections: list[list[str]] = []
    for raw in sdp.splitlines():
        line = raw.strip()
        if line.startswith("m="):
            sections.append([])
        elif sections and line.startswith("a="):
            sections[-1].append(line[2:])
    return sections


def _read_section(attributes: list[str]) -> SimulcastOffer | None:
    mid = next((a[len("mid:") :].strip() for a in attributes if a.startswith("mid:")), None)
    simulcast = [a[len("simulcast:") :] for a in attributes if a.startswith("simulcast:")]
    if not simulcast:
        return None
    if mid is None:
        return None  # peer.py's own checks refuse an m-line without a=mid
    if len(simulcast) > 1:
        raise InvalidPayload(f"unusable SDP offer: m-line {mid} has several a=simulcast lines")
    send_rids = _send_rids(mid, [a[len("rid:") :] for a in attributes if a.startswith("rid:")])
    streams = _send_streams(mid, simulcast[0])
    # RFC 8853 §5.3.1: a stream naming a rid without its a=rid line is ignored; of a list of
    # alternatives (RFC 8853 §5.1, "1,2") the first the offer defines is the stream's format.
    rids: list[str] = []
    paused: set[str] = set()
    for alternatives in streams:
        chosen = next(((rid, p) for rid, p in alternatives if rid in send_rids), None)
        if chosen is None or chosen[0] in rids:
            continue
        rids.append(chosen[0])
        if chosen[1]:
            paused.add(chosen[0])
    rids = rids[:MAX_LAYERS]
    if len(rids) < 2:
        return None
    return SimulcastOffer(mid, tuple(rids), frozenset(paused & set(rids)))


def _send_rids(mid: str, values: list[str]) -> set[str]:
    """The ids of ``a=rid:<id> send [restrictions]`` lines (RFC 8851 §4)."""
    rids: set[str] = set()
    for value in values:
        parts = value.split()
        if len(parts) < 2 or parts[1] not in ("send", "recv") or not _RID.match(parts[0]):
            raise InvalidPayload(f"unusable SDP offer: m-line {mid} has a malformed a=rid line")
        if parts[1] == "send":
            if parts[0] in rids:
                raise InvalidPayload(f"unusable SDP offer: m-line {mid} repeats rid {parts[0]}")
            rids.add(parts[0])
    return rids


def _send_streams(mid: str, value: str) -> list[list[tuple[str, bool]]]:
    """The ``send`` part of an ``a=simulcast`` value (RFC 8853 §5.1:
    ``send 1;~2,3 recv 4``), as a list of streams, each a list of (rid, paused) alternatives."""
    words = value.split()
    if len(words) not in (2, 4) or any(w not in ("send", "recv") for w in words[::2]):
        raise InvalidPayload(f"unusable SDP offer: m-line {mid} has a malformed a=simulcast line")
    directions = dict(zip(words[::2], words[1::2], strict=True))
    if len(directions) != len(words) // 2:
        raise InvalidPayload(f"unusable SDP offer: m-line {mid} has a malformed a=simulcast line")
    streams: list[list[tuple[str, bool]]] = []
    for stream in directions.get("send", "").split(";") if "send" in directions else []:
        alternatives: list[tuple[str, bool]] = []
        for alternative in stream.split(","):
            rid = alternative.removeprefix("~")
            if not _RID.match(rid):
                raise InvalidPayload(
                    f"unusable SDP offer: m-line {mid} has a malformed a=simulcast line"
                )
            alternatives.append((rid, alternative.startswith("~")))
        streams.append(alternatives)
    return streams
