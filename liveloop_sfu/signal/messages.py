"""Typed, validated payloads for every client → server event.

Each ``parse_*`` function takes the raw JSON value python-socketio handed us and returns a frozen
dataclass, or raises :class:`~liveloop_sfu.errors.InvalidPayload` naming the field. Unknown fields
are ignored and never trusted (DESIGN.md: a client's room, partner and identity come from its
session, never from a payload). The limits of the wire contract live here and nowhere else.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Literal

from liveloop_sfu.errors import InvalidPayload

USER_NAME_MAX = 32
CHAT_MAX = 1000
SDP_MAX_BYTES = 64 * 1024
USER_IMAGE_MAX_BYTES = 64 * 1024
CANDIDATE_MAX = 1024
MID_MAX = 64

ClientMode = Literal["sfu", "p2p"]

_IMAGE_PREFIX = re.compile(r"^data:image/(png|jpeg|webp);base64,")
_BASE64_BODY = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")


@dataclass(frozen=True, slots=True)
class RequestRoom:
    user_name: str
    user_image: str | None
    mode: ClientMode | None


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


def _object(payload: Any) -> dict[str, Any]:
    if payload is None:
        return {}
    if not isinstance(payload, dict):
        raise InvalidPayload("the payload must be a JSON object")
    return payload


def _has_control_chars(text: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cf") for ch in text)


def parse_user_name(value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidPayload("userName must be a string")
    name = value.strip()
    if not 1 <= len(name) <= USER_NAME_MAX:
        raise InvalidPayload(f"userName must be 1–{USER_NAME_MAX} characters")
    if _has_control_chars(name):
        raise InvalidPayload("userName must not contain control characters")
    return name


def parse_user_image(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidPayload("userImage must be a data URL string")
    if len(value) > USER_IMAGE_MAX_BYTES:
        raise InvalidPayload(f"userImage must be at most {USER_IMAGE_MAX_BYTES} bytes")
    prefix = _IMAGE_PREFIX.match(value)
    if prefix is None or not _BASE64_BODY.match(value[prefix.end() :]):
        raise InvalidPayload("userImage must be a base64 PNG, JPEG or WebP data URL")
    return value


def parse_request_room(payload: Any) -> RequestRoom:
    body = _object(payload)
    mode = body.get("mode")
    if mode is not None and mode not in ("sfu", "p2p"):
        raise InvalidPayload('mode must be "sfu" or "p2p"')
    return RequestRoom(
        user_name=parse_user_name(body.get("userName")),
        user_image=parse_user_image(body.get("userImage")),
        mode=mode,
    )


def parse_sdp(payload: Any, expected: Literal["offer", "answer"]) -> SessionDescription:
    body = _object(payload)
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
    body = _object(payload)
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
    body = _object(payload)
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
    _object(payload)
