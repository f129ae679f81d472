"""One frozen settings tree, built once at the edge from CLI flags and ``LIVELOOP_*`` variables.

Nothing below this package reads ``os.environ``: :func:`load_settings` takes the argument list
and an environment mapping, so tests build settings from plain values. Every setting is declared
once, on the field of the subtree that holds it (``tree.py``, ``media.py``, ``limits.py``): its
flag, help text, parser and default. The flag's environment variable is derived from it
(``--max-forwarded-streams`` ↔ ``LIVELOOP_MAX_FORWARDED_STREAMS``); a flag given on the command
line wins over the environment. Each service receives only its own subtree.
"""

from liveloop_sfu.config.ice import ICE_URL_SCHEMES, IceServer, parse_ice_servers
from liveloop_sfu.config.limits import LimitSettings, Rate, parse_rate
from liveloop_sfu.config.load import build_parser, load_settings, log_level_number
from liveloop_sfu.config.media import MediaSettings
from liveloop_sfu.config.tree import (
    LOG_FORMATS,
    LOG_LEVELS,
    MODES,
    RECORD_POLICIES,
    REDIS_SCHEMES,
    ROOM_TOKEN_SECRET_MIN,
    ROOM_TOKEN_TTL_MAX,
    AdminSettings,
    ClusterSettings,
    LogSettings,
    NetworkSettings,
    OperatorMode,
    RecordingSettings,
    RecordPolicy,
    RoomSettings,
    SafetySettings,
    Settings,
    SocketIoSettings,
    TurnSettings,
)

__all__ = [
    "ICE_URL_SCHEMES",
    "LOG_FORMATS",
    "LOG_LEVELS",
    "MODES",
    "RECORD_POLICIES",
    "REDIS_SCHEMES",
    "ROOM_TOKEN_SECRET_MIN",
    "ROOM_TOKEN_TTL_MAX",
    "AdminSettings",
    "ClusterSettings",
    "IceServer",
    "LimitSettings",
    "LogSettings",
    "MediaSettings",
    "NetworkSettings",
    "OperatorMode",
    "Rate",
    "RecordPolicy",
    "RecordingSettings",
    "RoomSettings",
    "SafetySettings",
    "Settings",
    "SocketIoSettings",
    "TurnSettings",
    "build_parser",
    "load_settings",
    "log_level_number",
    "parse_ice_servers",
    "parse_rate",
]
