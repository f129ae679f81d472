"""Typed, validated payloads for every client → server event.

Each ``parse_*`` function takes the raw JSON value python-socketio handed us and returns a frozen
dataclass, or raises :class:`~liveloop_sfu.errors.InvalidPayload` naming the field. Unknown fields
are ignored and never trusted (DESIGN.md: a client's room, partner and identity come from its
session, never from a payload). The limits of the wire contract live here and, for the commands
of the room use cases, which HTTP and the other nodes validate too, in
:mod:`liveloop_sfu.rooms.commands` (re-exported here, so this module still names every event's
parser).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from liveloop_sfu.errors import InvalidPayload
from liveloop_sfu.rooms.commands import (
    REPORT_REASONS,
    CreateRoom,
    JoinRoom,
    MediaState,
    ReportPartner,
    RequestRoom,
    VideoQuality,
    json_object,
    parse_create_room,
    parse_join_room,
    parse_media_state,
    parse_report_partner,
    parse_request_room,
    parse_room_id,
    parse_video_quality,
)

# The commands' parsers are this module's too: every client event's parser is named here.
__all__ = [
    "REPORT_REASONS",
    "ChatMessage",
    "CreateRoom",
    "IceCandidate",
    "JoinRoom",
    "MediaState",
    "ReportPartner",
    "RequestRoom",
    "SessionDescription",
    "VideoQuality",
    "parse_candidate",
    "parse_chat",
    "parse_create_room",
    "parse_empty",
    "parse_join_room",
    "parse_media_state",
    "parse_report_partner",
    "parse_request_room",
    "parse_resume",
    "parse_room_id",
    "parse_sdp",
    "parse_video_quality",
]

CHAT_MAX = 1000
SDP_MAX_BYTES = 64 * 1024
CANDIDATE_MAX = 1024
MID_MAX = 64


@dataclass(frozen=True, slots=True)
class SessionDescription:
    type: Literal["offer", "answer"]
    sdp: str


@dataclass(frozen=True, slots=True)
class IceCandidate:
    """An RTCIceCandidateInit, re-built from known fields only; ``None`` = end of candidates."""

    init: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class ChatMessage:
    message: str


def parse_sdp(payload: Any, expected: Literal["offer", "answer"]) -> SessionDescription:
    body = json_object(payload)
    sdp = body.get("sdp")
    if not isinstance(sdp, dict):
        raise InvalidPayload('sdp must be an object {"type", "sdp"}')
    if sdp.get("type") != expected:
        raise InvalidPayload(f'sdp.type must be "{expected}"')
    text = sdp.get("sdp")
    if not isinstance(text, str) or not text:
        raise InvalidPayload("sdp.sdp must be a non-empty string")
    if len(text.encode("utf-8", "surrogatepass")) > SDP_MAX_BYTES:
        raise InvalidPayload(f"sdp.sdp must be at most {SDP_MAX_BYTES} bytes")
    # RFC 8866 §5: a session description starts with the protocol version line.
    if not text.startswith("v=0"):
        raise InvalidPayload("sdp.sdp is not a session description (must start with v=0)")
    return SessionDescription(type=expected, sdp=text)


def parse_candidate(payload: Any) -> IceCandidate:
    body = json_object(payload)
    if "candidate" not in body:
        raise InvalidPayload("candidate is required (an RTCIceCandidateInit or null)")
    raw = body["candidate"]
    if raw is None:
        return IceCandidate(None)
    if not isinstance(raw, dict):
        raise InvalidPayload("candidate must be an RTCIceCandidateInit object or null")
    text = raw.get("candidate")
    if not isinstance(text, str) or len(text) > CANDIDATE_MAX:
        raise InvalidPayload(f"candidate.candidate must be a string ≤ {CANDIDATE_MAX} chars")
    if text and not (text.startswith("candidate:") or text.startswith("a=candidate:")):
        raise InvalidPayload('candidate.candidate must start with "candidate:"')
    mid = raw.get("sdpMid")
    if mid is not None and (not isinstance(mid, str) or len(mid) > MID_MAX):
        raise InvalidPayload("candidate.sdpMid must be a short string or null")
    index = raw.get("sdpMLineIndex")
    if index is not None and (
        not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < 1024
    ):
        raise InvalidPayload("candidate.sdpMLineIndex must be a small non-negative integer")
    if mid is None and index is None:
        raise InvalidPayload("candidate needs sdpMid or sdpMLineIndex")
    ufrag = raw.get("usernameFragment")
    if ufrag is not None and (not isinstance(ufrag, str) or len(ufrag) > 256):
        raise InvalidPayload("candidate.usernameFragment must be a short string or null")
    init: dict[str, Any] = {"candidate": text, "sdpMid": mid, "sdpMLineIndex": index}
    if ufrag is not None:
        init["usernameFragment"] = ufrag
    return IceCandidate(init)


def parse_chat(payload: Any) -> ChatMessage:
    body = json_object(payload)
    message = body.get("message")
    if not isinstance(message, str):
        raise InvalidPayload("message must be a string")
    if not message.strip():
        raise InvalidPayload("message must not be empty")
    if len(message) > CHAT_MAX:
        raise InvalidPayload(f"message must be at most {CHAT_MAX} characters")
    return ChatMessage(message=message)


def parse_empty(payload: Any) -> None:
    """Events without fields (``stop-call``, ``leave-room``) still insist on an object or null."""
    json_object(payload)


RESUME_TOKEN_MAX = 64


def parse_resume(payload: Any) -> str:
    """``resume {token}``: the ``resumeToken`` of the call to resume."""
    token = json_object(payload).get("token")
    if not isinstance(token, str) or not 1 <= len(token) <= RESUME_TOKEN_MAX:
        raise InvalidPayload(f"token must be a string of 1–{RESUME_TOKEN_MAX} characters")
    return token
