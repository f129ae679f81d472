"""What a client asks of the room use cases: frozen commands, each with the rule that validates it.

Every ``parse_*`` function takes a raw JSON value and returns a frozen dataclass, or raises
:class:`~liveloop_sfu.errors.InvalidPayload` naming the field. The same rules hold whichever
boundary the request came through: a socket.io event (the signal layer's ``signal/messages.py``
re-exports them), ``POST /api/rooms`` and the ``/room/<id>`` page (:mod:`liveloop_sfu.http.public`),
or another node forwarding its client's ``join-room`` (:mod:`liveloop_sfu.rooms.groups`), which
is why they live here, below the boundaries, and not in one of them. Unknown fields are ignored
and never trusted (DESIGN.md: a client's room, partner and identity come from its session, never
from a payload).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from liveloop_sfu.errors import InvalidPayload
from liveloop_sfu.modes import CALL_MODES, CallMode

USER_NAME_MAX = 32
USER_IMAGE_MAX_BYTES = 64 * 1024
ROOM_ID_MAX = 64
ROOM_NAME_MAX = 64
ROOM_TOKEN_MAX = 256
TRACK_ID_MAX = 128
PARTICIPANT_ID_MAX = 64
# The tallest picture a subscriber may ask for (8K); anything taller is a mistake, not a screen.
VIDEO_HEIGHT_MAX = 4320
REPORT_TEXT_MAX = 280
# Why a user reports a partner (``report-partner``); the web client offers the same list.
REPORT_REASONS = ("harassment", "nudity", "hate", "spam", "underage", "violence", "other")

_IMAGE_PREFIX = re.compile(r"^data:image/(png|jpeg|webp);base64,")
_BASE64_BODY = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")
# Room ids appear in links (/room/<id>) and log lines: URL-safe characters only.
_ROOM_ID = re.compile(r"^[A-Za-z0-9_-]+$")
# An msid track id (RFC 8830 §2: 1-64 "token" characters; browsers use UUIDs). We allow 128.
_TRACK_ID = re.compile(r"^[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+$")


@dataclass(frozen=True, slots=True)
class RequestRoom:
    user_name: str
    user_image: str | None
    mode: CallMode | None


@dataclass(frozen=True, slots=True)
class JoinRoom:
    room_id: str
    user_name: str
    token: str | None


@dataclass(frozen=True, slots=True)
class ReportPartner:
    reason: str
    text: str | None


@dataclass(frozen=True, slots=True)
class MediaState:
    """What a participant currently sends: microphone on, camera on, and the msid track id of
    its screen share (``None`` when not sharing)."""

    audio: bool
    video: bool
    screen_track_id: str | None


@dataclass(frozen=True, slots=True)
class VideoQuality:
    """What a subscriber shows of one remote video (``set-video-quality``): at most
    ``max_height`` pixels of picture height, or nothing at all (``max_height`` 0: ``off``)."""

    participant_id: str
    track_id: str
    max_height: int  # 0: off

    def to_wire(self) -> dict[str, Any]:
        body: dict[str, Any] = {"participantId": self.participant_id, "trackId": self.track_id}
        if self.max_height:
            body["maxHeight"] = self.max_height
        else:
            body["off"] = True
        return body


@dataclass(frozen=True, slots=True)
class CreateRoom:
    """Body of ``POST /api/rooms``."""

    name: str | None


def json_object(payload: Any) -> dict[str, Any]:
    """The payload as a JSON object; ``None`` (no payload) is the empty one."""
    if payload is None:
        return {}
    if not isinstance(payload, dict):
        raise InvalidPayload("the payload must be a JSON object")
    return payload


def has_control_chars(text: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cf") for ch in text)


def parse_user_name(value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidPayload("userName must be a string")
    name = value.strip()
    if not 1 <= len(name) <= USER_NAME_MAX:
        raise InvalidPayload(f"userName must be 1–{USER_NAME_MAX} characters")
    if has_control_chars(name):
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
    body = json_object(payload)
    mode = body.get("mode")
    if mode is not None and mode not in CALL_MODES:
        raise InvalidPayload('mode must be "sfu" or "p2p"')
    return RequestRoom(
        user_name=parse_user_name(body.get("userName")),
        user_image=parse_user_image(body.get("userImage")),
        mode=mode,
    )


def parse_room_id(value: Any) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= ROOM_ID_MAX:
        raise InvalidPayload(f"roomId must be a string of 1–{ROOM_ID_MAX} characters")
    if not _ROOM_ID.match(value):
        raise InvalidPayload("roomId may only contain letters, digits, '-' and '_'")
    return value


def parse_join_room(payload: Any) -> JoinRoom:
    body = json_object(payload)
    token = body.get("token")
    if token not in (None, "") and (not isinstance(token, str) or len(token) > ROOM_TOKEN_MAX):
        raise InvalidPayload(f"token must be a string of at most {ROOM_TOKEN_MAX} characters")
    return JoinRoom(
        room_id=parse_room_id(body.get("roomId")),
        user_name=parse_user_name(body.get("userName")),
        token=token or None,
    )


def parse_media_state(payload: Any) -> MediaState:
    body = json_object(payload)
    audio, video = body.get("audio"), body.get("video")
    if not isinstance(audio, bool) or not isinstance(video, bool):
        raise InvalidPayload("audio and video must be booleans")
    screen = body.get("screenTrackId")
    if screen is not None and (
        not isinstance(screen, str)
        or not 1 <= len(screen) <= TRACK_ID_MAX
        or not _TRACK_ID.match(screen)
    ):
        raise InvalidPayload(
            f"screenTrackId must be null or an msid track id (1–{TRACK_ID_MAX} characters)"
        )
    return MediaState(audio=audio, video=video, screen_track_id=screen)


def parse_video_quality(payload: Any) -> VideoQuality:
    """``{participantId, trackId, maxHeight}`` or ``{participantId, trackId, off: true}``."""
    body = json_object(payload)
    participant_id, track_id = body.get("participantId"), body.get("trackId")
    if not isinstance(participant_id, str) or not 1 <= len(participant_id) <= PARTICIPANT_ID_MAX:
        raise InvalidPayload(f"participantId must be a string of 1–{PARTICIPANT_ID_MAX} characters")
    if (
        not isinstance(track_id, str)
        or not 1 <= len(track_id) <= TRACK_ID_MAX
        or not _TRACK_ID.match(track_id)
    ):
        raise InvalidPayload(f"trackId must be an msid track id (1–{TRACK_ID_MAX} characters)")
    off, height = body.get("off"), body.get("maxHeight")
    if off is not None and off is not True:
        raise InvalidPayload("off must be true when present")
    if (off is True) == (height is not None):
        raise InvalidPayload("give exactly one of maxHeight and off")
    if off is True:
        return VideoQuality(participant_id, track_id, 0)
    # bool is an int in Python: true/false are not heights.
    if not isinstance(height, int) or isinstance(height, bool):
        raise InvalidPayload("maxHeight must be an integer number of pixels")
    if not 1 <= height <= VIDEO_HEIGHT_MAX:
        raise InvalidPayload(f"maxHeight must be 1–{VIDEO_HEIGHT_MAX}")
    return VideoQuality(participant_id, track_id, height)


def parse_create_room(payload: Any) -> CreateRoom:
    body = json_object(payload)
    name = body.get("name")
    if name is None or name == "":
        return CreateRoom(name=None)
    if not isinstance(name, str):
        raise InvalidPayload("name must be a string")
    name = name.strip()
    if not 1 <= len(name) <= ROOM_NAME_MAX:
        raise InvalidPayload(f"name must be 1–{ROOM_NAME_MAX} characters")
    if has_control_chars(name):
        raise InvalidPayload("name must not contain control characters")
    return CreateRoom(name=name)


def parse_report_partner(payload: Any) -> ReportPartner:
    body = json_object(payload)
    reason = body.get("reason")
    if reason not in REPORT_REASONS:
        raise InvalidPayload("reason must be one of " + ", ".join(REPORT_REASONS))
    text = body.get("text")
    if text is None or text == "":
        return ReportPartner(reason=str(reason), text=None)
    if not isinstance(text, str):
        raise InvalidPayload("text must be a string")
    text = text.strip()
    if len(text) > REPORT_TEXT_MAX:
        raise InvalidPayload(f"text must be at most {REPORT_TEXT_MAX} characters")
    if has_control_chars(text):
        raise InvalidPayload("text must not contain control characters")
    return ReportPartner(reason=str(reason), text=text or None)
