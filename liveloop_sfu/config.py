"""One frozen settings tree, built once at the edge from CLI flags and ``LIVELOOP_*`` variables.

Nothing below this module reads ``os.environ``: :func:`load_settings` takes the argument list and
an environment mapping, so tests build settings from plain values. Every flag has an environment
variable of the same name (``--max-forwarded-streams`` ↔ ``LIVELOOP_MAX_FORWARDED_STREAMS``); a flag
given on the command line wins over the environment.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from liveloop_sfu.errors import ConfigError
from liveloop_sfu.signal.limits import LimitSettings, parse_rate

OperatorMode = Literal["auto", "sfu", "p2p"]
MODES: tuple[OperatorMode, ...] = ("auto", "sfu", "p2p")
RecordPolicy = Literal["none", "all"]
RECORD_POLICIES: tuple[RecordPolicy, ...] = ("none", "all")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("text", "json")
ICE_URL_SCHEMES = ("stun:", "stuns:", "turn:", "turns:")
ROOM_TOKEN_SECRET_MIN = 16
ROOM_TOKEN_TTL_MAX = 366 * 24 * 3600.0


@dataclass(frozen=True, slots=True)
class IceServer:
    """One RTCIceServer as the browser (and aiortc) understand it."""

    urls: tuple[str, ...]
    username: str | None = None
    credential: str | None = None

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"urls": list(self.urls)}
        if self.username is not None:
            out["username"] = self.username
        if self.credential is not None:
            out["credential"] = self.credential
        return out


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything an operator can set. Defaults give a working single-process node."""

    host: str = "127.0.0.1"
    port: int = 8080
    mode: OperatorMode = "auto"
    # Origins allowed for HTTP and socket.io; empty = same origin only, ("*",) = any.
    allowed_origins: tuple[str, ...] = ()
    log_level: str = "info"
    ice_servers: tuple[IceServer, ...] = ()
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # SFU media plane.
    max_forwarded_streams: int = 200
    media_connect_timeout: float = 10.0
    media_addresses: tuple[str, ...] = ("127.0.0.1",)
    announced_ip: str | None = None
    rtc_min_port: int | None = None
    rtc_max_port: int | None = None
    # A connected browser that sends no RTP/RTCP for this long has vanished (its ICE consent
    # would take aioice 30 s to expire, RFC 7675).
    media_timeout: float = 6.0
    # socket.io transport: how fast a vanished client is noticed, and the largest message. A
    # frozen client is dropped after at most ping_interval + 2 x ping_timeout (python-engineio
    # sweeps its sockets once per ping_timeout), 9 s with these defaults.
    ping_interval: float = 3.0
    ping_timeout: float = 3.0
    max_message_bytes: int = 256 * 1024
    # Several nodes as one service: matchmaking, room routing and socket.io fan-out through this
    # Redis (``redis://``, ``rediss://`` or ``unix://``); None = one node, all in process.
    redis_url: str | None = None
    # Abuse limits (signal/limits.py) and the proxies allowed to name the client's address.
    limits: LimitSettings = field(default_factory=LimitSettings)
    trusted_proxies: tuple[str, ...] = ()
    log_format: str = "text"
    # TURN REST credentials (liveloop_sfu/rooms/turn.py): URLs handed to browsers with a credential
    # derived from the secret shared with coturn (use-auth-secret), valid for turn_ttl seconds.
    turn_urls: tuple[str, ...] = ()
    turn_secret: str | None = field(default=None, repr=False)
    turn_ttl: int = 3600
    # Seconds SIGTERM waits for calls to be told and closed before the process exits.
    drain_timeout: float = 5.0
    # Group rooms: participants per room, and private rooms (join only with a signed token).
    max_room_participants: int = 8
    require_room_token: bool = False
    room_token_secret: str | None = None
    room_token_ttl: float = 24 * 3600.0
    web_root: Path = field(default_factory=lambda: Path(__file__).resolve().parent.parent / "web")
    # Recording (media/recording/, rooms/recordings.py): "all" records every call (they are then
    # always sfu); "none" records only rooms started through the admin API.
    record: RecordPolicy = "none"
    recordings_dir: Path = Path("recordings")
    recordings_max_age: float = 0.0  # seconds a recording is kept; 0 = forever
    recordings_min_free_mb: int = 1024  # below this much free disk, recording stops
    # Bearer token of /api/admin/...; None = the admin API refuses every request. Never logged.
    admin_token: str | None = field(default=None, repr=False)
    # Safety among strangers (liveloop_sfu/rooms/safety.py): the secret that signs each browser's
    # client key (None = a random one per process; set one shared by all nodes of a cluster, or
    # reports stop recognising browsers across nodes and restarts), and how long a reported
    # pair of browsers is kept apart.
    client_key_secret: str | None = field(default=None, repr=False)
    report_block_days: float = 365.0
    # Seconds a 1:1 call waits for a client whose socket dropped to come back (resume.py);
    # 0 = no resume.
    # Below the 10 s in which a vanished client's partner must learn it (issue 8): while a
    # resume is pending the node holds the media, so the grace is what a crashed tab costs.
    resume_grace: float = 8.0

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None


def _env_name(dest: str) -> str:
    return "LIVELOOP_" + dest.upper()


def build_parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    """The ``liveloop-sfu`` command line. Environment values become the flags' defaults."""
    parser = argparse.ArgumentParser(
        prog="liveloop-sfu",
        description="Live Loop SFU: random and group video calls through a forwarding node. "
        "Every flag can also be set by the environment variable shown in brackets.",
    )

    def add(flag: str, help_text: str, **kwargs: Any) -> None:
        dest = flag.lstrip("-").replace("-", "_")
        env_name = _env_name(dest)
        if env_name in env:
            kwargs["default"] = env[env_name]
        parser.add_argument(flag, dest=dest, help=f"{help_text} [{env_name}]", **kwargs)

    d = Settings()
    add("--host", f"address to listen on (default {d.host})", default=d.host)
    add("--port", f"TCP port for HTTP and socket.io (default {d.port})", default=str(d.port))
    add(
        "--mode",
        "auto: through the node, falling back to peer-to-peer when the node is full or "
        "unreachable; sfu: always through the node; p2p: the node relays signaling only "
        f"(default {d.mode})",
        default=d.mode,
    )
    add(
        "--allowed-origins",
        "comma-separated origins allowed for HTTP and socket.io; empty = same origin only, "
        "* = any (default: same origin)",
        default="",
    )
    add("--log-level", f"one of {', '.join(LOG_LEVELS)} (default {d.log_level})", default="info")
    add(
        "--log-format",
        "json: one JSON object per line (room, peer ids as fields); text: readable "
        f"(default {d.log_format})",
        default=d.log_format,
    )
    add(
        "--ice-servers",
        "ICE servers given to browsers and used by the node: a JSON list of RTCIceServer "
        'objects ([{"urls": "turn:host:3478", "username": "u", "credential": "p"}]) or a '
        "comma-separated list of stun:/turn: URLs (default: none)",
        default="",
    )
    add("--tls-cert", "PEM certificate: serve https itself (browsers need https or localhost)")
    add("--tls-key", "PEM private key for --tls-cert")
    add(
        "--max-forwarded-streams",
        "capacity of the node in forwarded streams; in auto mode calls beyond it go p2p "
        f"(default {d.max_forwarded_streams})",
        default=str(d.max_forwarded_streams),
    )
    add(
        "--media-connect-timeout",
        "seconds a browser has to connect its media to the node before the call falls back or "
        f"ends (default {d.media_connect_timeout:g})",
        default=str(d.media_connect_timeout),
    )
    add(
        "--media-addresses",
        "comma-separated local addresses the node gathers media candidates on "
        f"(default {','.join(d.media_addresses)})",
        default=",".join(d.media_addresses),
    )
    add("--announced-ip", "address put in the node's ICE candidates (node behind 1:1 NAT)")
    add("--rtc-min-port", "lowest UDP port for media sockets (with --rtc-max-port)")
    add("--rtc-max-port", "highest UDP port for media sockets (with --rtc-min-port)")
    add(
        "--ping-interval",
        f"socket.io ping interval in seconds (default {d.ping_interval:g})",
        default=str(d.ping_interval),
    )
    add(
        "--ping-timeout",
        f"socket.io ping timeout in seconds (default {d.ping_timeout:g})",
        default=str(d.ping_timeout),
    )
    add(
        "--max-message-bytes",
        f"largest socket.io message accepted (default {d.max_message_bytes})",
        default=str(d.max_message_bytes),
    )
    add(
        "--redis-url",
        "Redis shared by several nodes (redis://host:6379/0, rediss://, unix://): matchmaking, "
        "room routing and socket.io fan-out across nodes (default: none, one node in process)",
    )
    add(
        "--max-room-participants",
        f"participants per group room; one more gets room-full (default {d.max_room_participants})",
        default=str(d.max_room_participants),
    )
    add(
        "--require-room-token",
        "group rooms can only be joined with a room token (POST /api/rooms returns one; "
        "`liveloop-sfu mint-room-token ROOM_ID` mints one); needs --room-token-secret",
        action="store_const",
        const="true",
        default="false",
    )
    add(
        "--room-token-secret",
        "secret (at least 16 characters) that signs room tokens; prefer the environment "
        "variable, command lines are visible to other users",
    )
    add(
        "--room-token-ttl",
        f"seconds a minted room token stays valid (default {d.room_token_ttl:g})",
        default=str(d.room_token_ttl),
    )
    add("--web-root", "folder holding the browser client (default: the checkout's web/)")
    add(
        "--record",
        "none: record only rooms started through the admin API; all: record every call "
        f"(recorded calls always go through the node) (default {d.record})",
        default=d.record,
    )
    add(
        "--recordings-dir",
        f"folder for recordings, one sub-folder per recording (default {d.recordings_dir})",
        default=str(d.recordings_dir),
    )
    add(
        "--recordings-max-age",
        "delete recordings older than this: seconds, or a number with s/m/h/d "
        "(e.g. 30d); 0 = keep forever (default 0)",
        default="0",
    )
    add(
        "--recordings-min-free-mb",
        "free disk space (MB) below which recording stops and no new one starts "
        f"(default {d.recordings_min_free_mb})",
        default=str(d.recordings_min_free_mb),
    )
    add("--admin-token", "bearer token for /api/admin/...; unset = admin API disabled")
    add(
        "--media-timeout",
        "seconds without any RTP/RTCP from a connected browser before its media counts as "
        f"lost (default {d.media_timeout:g})",
        default=str(d.media_timeout),
    )
    add(
        "--drain-timeout",
        f"seconds SIGTERM waits for calls to be told and closed (default {d.drain_timeout:g})",
        default=str(d.drain_timeout),
    )
    _add_limit_flags(add, d.limits)
    add(
        "--trusted-proxies",
        "comma-separated addresses or networks of reverse proxies whose X-Forwarded-For names "
        "the client (default: none, the TCP peer is the client)",
        default="",
    )
    add(
        "--turn-urls",
        "comma-separated turn:/turns: URLs given to browsers with time-limited credentials "
        "(needs --turn-secret)",
        default="",
    )
    add("--turn-secret", "secret shared with the TURN server (coturn static-auth-secret)")
    add(
        "--turn-ttl",
        f"seconds a TURN credential stays valid (default {d.turn_ttl})",
        default=str(d.turn_ttl),
    )
    add(
        "--client-key-secret",
        "secret signing the client keys that reports block (default: random per process; "
        "share one across the nodes of a cluster)",
    )
    add(
        "--resume-grace",
        f"seconds a call is held for a client whose socket dropped, to resume it "
        f"(default {d.resume_grace:g}; 0 = off)",
        default=str(d.resume_grace),
    )
    add(
        "--report-block-days",
        f"days a reported pair of browsers is never matched (default {d.report_block_days:g})",
        default=str(d.report_block_days),
    )
    return parser


def _add_limit_flags(add: Any, d: LimitSettings) -> None:
    for name, rate, what in (
        ("chat", d.chat, "chat messages"),
        ("churn", d.churn, "request-room / stop-call / join-room / leave-room"),
        ("signaling", d.signaling, "offers, answers and ICE candidates"),
        ("other", d.other, "any other event"),
    ):
        add(
            f"--rate-{name}",
            f"per-connection limit on {what}, RATE/BURST per second (default {rate})",
            default=str(rate),
        )
    add(
        "--rate-ip-multiplier",
        f"per-address limit = per-connection limit x this (default {d.ip_multiplier:g})",
        default=str(d.ip_multiplier),
    )
    add(
        "--rate-strikes",
        f"refused events a connection may collect, RATE/BURST, before it is disconnected "
        f"(default {d.strikes})",
        default=str(d.strikes),
    )
    add(
        "--max-connections-per-ip",
        f"open socket.io connections per client address (default {d.max_connections_per_ip})",
        default=str(d.max_connections_per_ip),
    )
    add(
        "--rate-connect",
        f"new socket.io connections per client address, RATE/BURST per second "
        f"(default {d.connect})",
        default=str(d.connect),
    )
    add(
        "--max-candidates-per-call",
        f"ICE candidates a client may send per call (default {d.max_candidates_per_call})",
        default=str(d.max_candidates_per_call),
    )
    add(
        "--max-media-sections",
        f"m-sections (tracks) in one offer or answer (default {d.max_media_sections})",
        default=str(d.max_media_sections),
    )


def load_settings(argv: Sequence[str], env: Mapping[str, str]) -> Settings:
    """Parse and validate flags + environment into :class:`Settings` (raises ConfigError)."""
    ns = build_parser(env).parse_args(list(argv))
    return settings_from_values(vars(ns))


def settings_from_values(values: Mapping[str, Any]) -> Settings:
    d = Settings()
    mode = str(values.get("mode") or d.mode)
    if mode not in MODES:
        raise ConfigError(f"--mode must be one of {', '.join(MODES)}, not {mode!r}")
    log_level = str(values.get("log_level") or d.log_level).lower()
    if log_level not in LOG_LEVELS:
        raise ConfigError(f"--log-level must be one of {', '.join(LOG_LEVELS)}")
    cert, key = _path(values.get("tls_cert")), _path(values.get("tls_key"))
    if (cert is None) != (key is None):
        raise ConfigError("--tls-cert and --tls-key go together")
    min_port = _opt_int(values, "rtc_min_port", 1, 65535)
    max_port = _opt_int(values, "rtc_max_port", 1, 65535)
    if (min_port is None) != (max_port is None) or (
        min_port is not None and max_port is not None and min_port > max_port
    ):
        raise ConfigError("--rtc-min-port and --rtc-max-port go together, min <= max")
    web_root = _path(values.get("web_root")) or d.web_root
    record = str(values.get("record") or d.record)
    if record not in RECORD_POLICIES:
        raise ConfigError(f"--record must be one of {', '.join(RECORD_POLICIES)}, not {record!r}")
    if record != "none" and mode == "p2p":
        # DESIGN: a recorded room is always sfu; in p2p the media never passes the node.
        raise ConfigError("--record all needs the media to pass the node: not with --mode p2p")
    admin_token = str(values.get("admin_token") or "") or None
    if admin_token is not None and len(admin_token) < 16:
        raise ConfigError("--admin-token must be at least 16 characters")
    log_format = str(values.get("log_format") or d.log_format).lower()
    if log_format not in LOG_FORMATS:
        raise ConfigError(f"--log-format must be one of {', '.join(LOG_FORMATS)}")
    turn_urls = _csv(values.get("turn_urls"))
    turn_secret = str(values.get("turn_secret") or "") or None
    if turn_urls and turn_secret is None:
        raise ConfigError("--turn-urls needs --turn-secret")
    for url in turn_urls:
        if not url.startswith(("turn:", "turns:")):
            raise ConfigError(f"--turn-urls must be turn:/turns: URLs, got {url!r}")
    require_token = _bool(values, "require_room_token")
    secret = str(values.get("room_token_secret") or "") or None
    if secret is not None and len(secret) < ROOM_TOKEN_SECRET_MIN:
        raise ConfigError(
            f"--room-token-secret must be at least {ROOM_TOKEN_SECRET_MIN} characters"
        )
    if require_token and secret is None:
        raise ConfigError("--require-room-token needs --room-token-secret")
    return Settings(
        host=str(values.get("host") or d.host),
        port=_int(values, "port", d.port, 0, 65535),
        mode=mode,  # checked against MODES above
        allowed_origins=_csv(values.get("allowed_origins")),
        log_level=log_level,
        ice_servers=parse_ice_servers(str(values.get("ice_servers") or "")),
        tls_cert=cert,
        tls_key=key,
        max_forwarded_streams=_int(
            values, "max_forwarded_streams", d.max_forwarded_streams, 0, 1_000_000
        ),
        media_connect_timeout=_float(values, "media_connect_timeout", d.media_connect_timeout),
        media_addresses=_addresses(values.get("media_addresses"), d.media_addresses),
        announced_ip=_ip_or_none(values.get("announced_ip")),
        rtc_min_port=min_port,
        rtc_max_port=max_port,
        media_timeout=_float(values, "media_timeout", d.media_timeout),
        drain_timeout=_float(values, "drain_timeout", d.drain_timeout),
        ping_interval=_float(values, "ping_interval", d.ping_interval),
        ping_timeout=_float(values, "ping_timeout", d.ping_timeout),
        max_message_bytes=_int(values, "max_message_bytes", d.max_message_bytes, 1024, 1 << 26),
        redis_url=_redis_url(values.get("redis_url")),
        max_room_participants=_int(values, "max_room_participants", d.max_room_participants, 2, 64),
        require_room_token=require_token,
        room_token_secret=secret,
        room_token_ttl=_float(values, "room_token_ttl", d.room_token_ttl, ROOM_TOKEN_TTL_MAX),
        web_root=web_root,
        record=record,  # checked against RECORD_POLICIES above
        recordings_dir=_path(values.get("recordings_dir")) or d.recordings_dir,
        recordings_max_age=_duration(values.get("recordings_max_age"), "recordings_max_age"),
        recordings_min_free_mb=_int(
            values, "recordings_min_free_mb", d.recordings_min_free_mb, 0, 1 << 40
        ),
        admin_token=admin_token,
        limits=_limits(values, d.limits),
        trusted_proxies=_networks(values.get("trusted_proxies")),
        log_format=log_format,
        turn_urls=turn_urls,
        turn_secret=turn_secret,
        turn_ttl=_int(values, "turn_ttl", d.turn_ttl, 60, 7 * 24 * 3600),
        client_key_secret=_secret(values.get("client_key_secret"), "client-key-secret"),
        report_block_days=_float(values, "report_block_days", d.report_block_days, 36_500),
        resume_grace=0.0
        if str(values.get("resume_grace")) in ("0", "0.0")
        else _float(values, "resume_grace", d.resume_grace, 600),
    )


def _secret(value: Any, flag: str) -> str | None:
    secret = str(value or "") or None
    if secret is not None and len(secret) < 16:
        raise ConfigError(f"--{flag} must be at least 16 characters")
    return secret


def _limits(values: Mapping[str, Any], d: LimitSettings) -> LimitSettings:
    def rate(name: str, default: Any) -> Any:
        raw = values.get(f"rate_{name}")
        return parse_rate(str(raw), f"--rate-{name}") if raw else default

    multiplier = _float(values, "rate_ip_multiplier", d.ip_multiplier, 1e6, unit="")
    if multiplier < 1:
        raise ConfigError("--rate-ip-multiplier must be at least 1")
    return LimitSettings(
        chat=rate("chat", d.chat),
        churn=rate("churn", d.churn),
        signaling=rate("signaling", d.signaling),
        other=rate("other", d.other),
        ip_multiplier=multiplier,
        strikes=rate("strikes", d.strikes),
        connect=rate("connect", d.connect),
        max_connections_per_ip=_int(
            values, "max_connections_per_ip", d.max_connections_per_ip, 1, 1_000_000
        ),
        max_candidates_per_call=_int(
            values, "max_candidates_per_call", d.max_candidates_per_call, 1, 100_000
        ),
        max_media_sections=_int(values, "max_media_sections", d.max_media_sections, 1, 1024),
    )


def _networks(value: Any) -> tuple[str, ...]:
    networks = []
    for part in _csv(value):
        try:
            networks.append(str(ipaddress.ip_network(part, strict=False)))
        except ValueError as exc:
            raise ConfigError(f"--trusted-proxies: not an address or network: {part!r}") from exc
    return tuple(networks)


def parse_ice_servers(text: str) -> tuple[IceServer, ...]:
    """A JSON list of RTCIceServer objects, or comma-separated URLs; validated."""
    text = text.strip()
    if not text:
        return ()
    if text.startswith("["):
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"--ice-servers is not valid JSON: {exc}") from exc
        if not isinstance(raw, list):
            raise ConfigError("--ice-servers JSON must be a list")
        return tuple(_ice_server(item) for item in raw)
    return tuple(_ice_server({"urls": url}) for url in _csv(text))


def _ice_server(item: Any) -> IceServer:
    if not isinstance(item, dict):
        raise ConfigError("each ICE server must be an object with 'urls'")
    urls = item.get("urls")
    url_list = [urls] if isinstance(urls, str) else urls
    if not isinstance(url_list, list) or not url_list:
        raise ConfigError("an ICE server needs 'urls' (a string or a list of strings)")
    for url in url_list:
        if not isinstance(url, str) or not url.startswith(ICE_URL_SCHEMES):
            raise ConfigError(f"ICE server URL must start with stun:/turn:, got {url!r}")
    username, credential = item.get("username"), item.get("credential")
    for name, value in (("username", username), ("credential", credential)):
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"ICE server {name} must be a string")
    return IceServer(urls=tuple(url_list), username=username, credential=credential)


def _csv(value: Any) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(part.strip() for part in str(value).split(",") if part.strip())


def _path(value: Any) -> Path | None:
    return Path(str(value)) if value else None


def _int(values: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    raw = values.get(name)
    if raw is None or raw == "":
        return default
    try:
        number = int(str(raw))
    except ValueError as exc:
        raise ConfigError(f"--{name.replace('_', '-')} must be an integer") from exc
    if not low <= number <= high:
        raise ConfigError(f"--{name.replace('_', '-')} must be between {low} and {high}")
    return number


def _opt_int(values: Mapping[str, Any], name: str, low: int, high: int) -> int | None:
    if values.get(name) in (None, ""):
        return None
    return _int(values, name, 0, low, high)


def _float(
    values: Mapping[str, Any],
    name: str,
    default: float,
    maximum: float = 3600,
    unit: str = " seconds",
) -> float:
    raw = values.get(name)
    if raw is None or raw == "":
        return default
    try:
        number = float(str(raw))
    except ValueError as exc:
        raise ConfigError(f"--{name.replace('_', '-')} must be a number") from exc
    if not 0 < number < maximum:
        raise ConfigError(f"--{name.replace('_', '-')} must be between 0 and {maximum:g}{unit}")
    return number


def _duration(value: Any, name: str) -> float:
    """Seconds from ``"90"``, ``"15m"``, ``"12h"`` or ``"30d"``; 0 or empty = no limit."""
    text = str(value or "0").strip().lower()
    unit = _DURATION_UNITS.get(text[-1:], 0)
    number = text[:-1] if unit else text
    try:
        seconds = float(number) * (unit or 1)
    except ValueError as exc:
        raise ConfigError(f"--{name.replace('_', '-')} must be seconds or N[s|m|h|d]") from exc
    if seconds < 0:
        raise ConfigError(f"--{name.replace('_', '-')} must not be negative")
    return seconds


def _bool(values: Mapping[str, Any], name: str) -> bool:
    raw = str(values.get(name) or "false").strip().lower()
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"--{name.replace('_', '-')} must be true or false, not {raw!r}")


def _ip_or_none(value: Any) -> str | None:
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(str(value)))
    except ValueError as exc:
        raise ConfigError(f"not an IP address: {value!r}") from exc


def _addresses(value: Any, default: tuple[str, ...]) -> tuple[str, ...]:
    parts = _csv(value)
    if not parts:
        return default
    return tuple(str(_ip_or_none(part)) for part in parts)


REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def _redis_url(value: Any) -> str | None:
    if not value:
        return None
    url = str(value).strip()
    if not url.startswith(REDIS_SCHEMES):
        raise ConfigError(f"--redis-url must start with {', '.join(REDIS_SCHEMES)}")
    return url


def log_level_number(settings: Settings) -> int:
    return int(getattr(logging, settings.log_level.upper()))
