"""The settings tree: one subtree per part of the node, each setting declared once on its field
(flag, help, parser; the default is the field's). A service receives only its own subtree."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from liveloop_sfu.config import parse
from liveloop_sfu.config.declare import setting, setting_factory
from liveloop_sfu.config.ice import IceServer
from liveloop_sfu.config.limits import LimitSettings
from liveloop_sfu.config.media import MediaSettings
from liveloop_sfu.config.paths import default_web_root

OperatorMode = Literal["auto", "sfu", "p2p"]
MODES: tuple[OperatorMode, ...] = ("auto", "sfu", "p2p")
RecordPolicy = Literal["none", "all"]
RECORD_POLICIES: tuple[RecordPolicy, ...] = ("none", "all")
LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("text", "json")
ROOM_TOKEN_SECRET_MIN = 16
ROOM_TOKEN_TTL_MAX = 366 * 24 * 3600.0
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
WEBHOOK_SCHEMES = ("http://", "https://")
# Secrets that sign or authorise (admin token, client keys) are refused when shorter.
SECRET_MIN = 16


@dataclass(frozen=True, slots=True)
class NetworkSettings:
    """Where the node listens and whom its HTTP side trusts (app.py, http/public.py)."""

    host: str = setting(
        "127.0.0.1", "--host", "address to listen on (default {default})", parse.text
    )
    port: int = setting(
        8080,
        "--port",
        "TCP port for HTTP and socket.io (default {default})",
        parse.integer(0, 65535),
    )
    # Origins allowed for HTTP and socket.io; empty = same origin only, ("*",) = any.
    allowed_origins: tuple[str, ...] = setting(
        (),
        "--allowed-origins",
        "comma-separated origins allowed for HTTP and socket.io; empty = same origin only, "
        "* = any (default: same origin)",
        parse.words,
    )
    tls_cert: Path | None = setting(
        None,
        "--tls-cert",
        "PEM certificate: serve https itself (browsers need https or localhost)",
        parse.path,
    )
    tls_key: Path | None = setting(None, "--tls-key", "PEM private key for --tls-cert", parse.path)
    # Reverse proxies whose X-Forwarded-For names the client (signal/limits.py counts per client).
    trusted_proxies: tuple[str, ...] = setting(
        (),
        "--trusted-proxies",
        "comma-separated addresses or networks of reverse proxies whose X-Forwarded-For names "
        "the client (default: none, the TCP peer is the client)",
        parse.networks,
    )
    web_root: Path = setting_factory(
        default_web_root,
        "--web-root",
        "folder holding the browser client (default: the installed package's web/, or the "
        "checkout's)",
        parse.path,
    )
    # Seconds a draining node (SIGTERM, POST /api/admin/drain) lets its calls and rooms run
    # before it ends them; long enough for a call, so a rolling deploy drops none (app_drain.py).
    drain_timeout: float = setting(
        3600.0,
        "--drain-timeout",
        "seconds a draining node (SIGTERM or POST /api/admin/drain) lets its calls run before "
        "it ends them and exits; a second SIGTERM ends them at once (default {default})",
        parse.number(7 * 86400),
    )
    # /metrics on an address of its own (then not on the public listener): http/metrics_server.py.
    metrics_listen: tuple[str, int] | None = setting(
        None,
        "--metrics-listen",
        "HOST:PORT serving /metrics alone (e.g. 127.0.0.1:9100); then the public listener "
        "does not serve /metrics (default: /metrics on the public listener)",
        parse.host_port,
    )

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None


@dataclass(frozen=True, slots=True)
class LogSettings:
    level: str = setting(
        "info",
        "--log-level",
        f"one of {', '.join(LOG_LEVELS)} (default {{default}})",
        parse.choice(LOG_LEVELS, lower=True),
    )
    format: str = setting(
        "text",
        "--log-format",
        "json: one JSON object per line (room, peer ids as fields); text: readable "
        "(default {default})",
        parse.choice(LOG_FORMATS, lower=True),
    )


@dataclass(frozen=True, slots=True)
class RoomSettings:
    """Calls and group rooms (rooms/service.py, rooms/groups.py, the resume grace)."""

    mode: OperatorMode = setting(
        "auto",
        "--mode",
        "auto: through the node, falling back to peer-to-peer when the node is full or "
        "unreachable (relay-only with TURN; without TURN only with --allow-direct-p2p); sfu: "
        "always through the node; p2p: the node relays signaling only (default {default})",
        parse.choice(MODES),
    )
    max_forwarded_streams: int = setting(
        1000,
        "--max-forwarded-streams",
        "the operator's cap on forwarded streams; below it the node's own measurement "
        "(--admission-lag-ms, --admission-cpu) decides. In auto mode calls beyond either go "
        "p2p where p2p is allowed (see --allow-direct-p2p), else they are refused "
        "(default {default})",
        parse.integer(0, 1_000_000),
    )
    admission_lag_ms: int = setting(
        50,
        "--admission-lag-ms",
        "event-loop lag (95th percentile over a second) at which the node counts as saturated "
        "and takes no new call; 0: lag never refuses (default {default})",
        parse.integer(0, 60_000),
    )
    admission_cpu: int = setting(
        90,
        "--admission-cpu",
        "percent of a core the event loop's thread (or of the cores available, the process) "
        "may use before the node takes no new call; 0: CPU never refuses (default {default})",
        parse.integer(0, 100),
    )
    # Group rooms: participants per room, and private rooms (join only with a signed token).
    max_room_participants: int = setting(
        8,
        "--max-room-participants",
        "participants per group room; one more gets room-full (default {default})",
        parse.integer(2, 64),
    )
    require_room_token: bool = setting(
        False,
        "--require-room-token",
        "group rooms can only be joined with a room token (POST /api/rooms returns one; "
        "`liveloop-sfu mint-room-token ROOM_ID` mints one); needs --room-token-secret",
        parse.boolean,
        switch=True,
    )
    room_token_secret: str | None = setting(
        None,
        "--room-token-secret",
        f"secret (at least {ROOM_TOKEN_SECRET_MIN} characters) that signs room tokens; prefer "
        "the environment variable, command lines are visible to other users",
        parse.secret(ROOM_TOKEN_SECRET_MIN),
    )
    room_token_ttl: float = setting(
        24 * 3600.0,
        "--room-token-ttl",
        "seconds a minted room token stays valid (default {default})",
        parse.number(ROOM_TOKEN_TTL_MAX),
    )
    # Seconds a 1:1 call waits for a client whose socket dropped to come back (resume.py);
    # 0 = no resume.
    # Below the 10 s in which a vanished client's partner must learn it (issue 8): while a
    # resume is pending the node holds the media, so the grace is what a crashed tab costs.
    resume_grace: float = setting(
        8.0,
        "--resume-grace",
        "seconds a call is held for a client whose socket dropped, to resume it "
        "(default {default}; 0 = off)",
        parse.number(600, zero=True),
    )
    # Strangers in a p2p call learn each other's address from the ICE candidates (DESIGN.md,
    # Networking facts). With a TURN server p2p calls are relay-only unless this is set; without
    # one an auto node falls back to p2p only with it (rooms/p2p_policy.py).
    allow_direct_p2p: bool = setting(
        False,
        "--allow-direct-p2p",
        "let p2p calls connect the two browsers directly, so each learns the other's IP "
        "address (off: with a TURN server p2p calls are relay-only, without one an auto node "
        "ends a call it cannot carry instead of falling back to p2p)",
        parse.boolean,
        switch=True,
    )
    # What browsers are handed: the same servers as media.ice_servers (load_settings copies
    # them; --ice-servers is declared there), not a setting of its own.
    ice_servers: tuple[IceServer, ...] = ()
    # Browsers are given a TURN relay (--turn-urls or a turn: URL in --ice-servers); set by
    # load_settings, not a setting of its own.
    turn_configured: bool = False


@dataclass(frozen=True, slots=True)
class SocketIoSettings:
    """The socket.io transport: how fast a vanished client is noticed, and the largest message.
    A frozen client is dropped after at most ping_interval + 2 x ping_timeout (python-engineio
    sweeps its sockets once per ping_timeout), 9 s with these defaults."""

    ping_interval: float = setting(
        3.0,
        "--ping-interval",
        "socket.io ping interval in seconds (default {default})",
        parse.number(),
    )
    ping_timeout: float = setting(
        3.0,
        "--ping-timeout",
        "socket.io ping timeout in seconds (default {default})",
        parse.number(),
    )
    max_message_bytes: int = setting(
        256 * 1024,
        "--max-message-bytes",
        "largest socket.io message accepted (default {default})",
        parse.integer(1024, 1 << 26),
    )


@dataclass(frozen=True, slots=True)
class TurnSettings:
    """TURN REST credentials (rooms/turn.py): URLs handed to browsers with a credential derived
    from the secret shared with coturn (use-auth-secret), valid for ``ttl`` seconds."""

    urls: tuple[str, ...] = setting(
        (),
        "--turn-urls",
        "comma-separated turn:/turns: URLs given to browsers with time-limited credentials "
        "(needs --turn-secret)",
        parse.urls(("turn:", "turns:"), "turn:/turns:"),
    )
    secret: str | None = setting(
        None,
        "--turn-secret",
        "secret shared with the TURN server (coturn static-auth-secret)",
        parse.secret(),
        repr=False,
    )
    ttl: int = setting(
        3600,
        "--turn-ttl",
        "seconds a TURN credential stays valid (default {default})",
        parse.integer(60, 7 * 24 * 3600),
    )


@dataclass(frozen=True, slots=True)
class RecordingSettings:
    """Recording (media/recording/, rooms/recordings.py): "all" records every call (they are
    then always sfu); "none" records only rooms started through the admin API."""

    record: RecordPolicy = setting(
        "none",
        "--record",
        "none: record only rooms started through the admin API; all: record every call "
        "(recorded calls always go through the node) (default {default})",
        parse.choice(RECORD_POLICIES),
    )
    recordings_dir: Path = setting(
        Path("recordings"),
        "--recordings-dir",
        "folder for recordings, one sub-folder per recording (default {default})",
        parse.path,
    )
    # Seconds a recording is kept; 0 = forever.
    recordings_max_age: float = setting(
        0.0,
        "--recordings-max-age",
        "delete recordings older than this: seconds, or a number with s/m/h/d "
        "(e.g. 30d); 0 = keep forever (default {default})",
        parse.duration,
    )
    # Below this much free disk, recording stops.
    recordings_min_free_mb: int = setting(
        1024,
        "--recordings-min-free-mb",
        "free disk space (MB) below which recording stops and no new one starts "
        "(default {default})",
        parse.integer(0, 1 << 40),
    )
    # Hand-off of a finished recording (rooms/handoff.py): a signed webhook and/or a command.
    webhook_url: str | None = setting(
        None,
        "--recording-webhook-url",
        "http(s) URL that gets a signed POST of each finished recording's manifest, retried "
        "until it answers 2xx (needs --recording-webhook-secret)",
        parse.url(WEBHOOK_SCHEMES),
    )
    webhook_secret: str | None = setting(
        None,
        "--recording-webhook-secret",
        f"secret (at least {SECRET_MIN} characters) that signs the webhook "
        "(Liveloop-Signature: HMAC-SHA256); prefer the environment variable",
        parse.secret(SECRET_MIN),
        repr=False,
    )
    # Split like a shell would (never run by one); the recording's folder is appended.
    finished_command: tuple[str, ...] = setting(
        (),
        "--recording-finished-command",
        "command run (no shell) for each finished recording, with its folder as the last "
        "argument, e.g. 'rclone copy --config /etc/rclone.conf remote:recordings'",
        parse.command,
    )
    finished_command_timeout: float = setting(
        3600.0,
        "--recording-finished-command-timeout",
        "seconds the finished-recording command may run before it is killed (default {default})",
        parse.number(7 * 24 * 3600),
    )


@dataclass(frozen=True, slots=True)
class ClusterSettings:
    # Several nodes as one service: matchmaking, room routing and socket.io fan-out through this
    # Redis (``redis://``, ``rediss://`` or ``unix://``); None = one node, all in process.
    redis_url: str | None = setting(
        None,
        "--redis-url",
        "Redis shared by several nodes (redis://host:6379/0, rediss://, unix://): matchmaking, "
        "room routing and socket.io fan-out across nodes (default: none, one node in process)",
        parse.url(REDIS_SCHEMES),
    )


@dataclass(frozen=True, slots=True)
class SafetySettings:
    """Safety among strangers (rooms/safety.py, signal/client_keys.py)."""

    # The secret that signs each browser's client key (None = a random one per process; set one
    # shared by all nodes of a cluster, or reports stop recognising browsers across nodes and
    # restarts). Never logged.
    client_key_secret: str | None = setting(
        None,
        "--client-key-secret",
        "secret signing the client keys that reports block (default: random per process; "
        "share one across the nodes of a cluster)",
        parse.secret(SECRET_MIN),
        repr=False,
    )
    # How long a reported pair of browsers is kept apart.
    report_block_days: float = setting(
        365.0,
        "--report-block-days",
        "days a reported pair of browsers is never matched (default {default})",
        parse.number(36_500),
    )


@dataclass(frozen=True, slots=True)
class AdminSettings:
    # Bearer token of /api/admin/...; None = the admin API refuses every request. Never logged.
    token: str | None = setting(
        None,
        "--admin-token",
        "bearer token for /api/admin/...; unset = admin API disabled",
        parse.secret(SECRET_MIN),
        repr=False,
    )


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything an operator can set, built once at the edge (``load_settings``). Defaults give
    a working single-process node. Each subtree goes to the part of the node it configures."""

    network: NetworkSettings = field(default_factory=NetworkSettings)
    logging: LogSettings = field(default_factory=LogSettings)
    rooms: RoomSettings = field(default_factory=RoomSettings)
    media: MediaSettings = field(default_factory=MediaSettings)
    socketio: SocketIoSettings = field(default_factory=SocketIoSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)
    turn: TurnSettings = field(default_factory=TurnSettings)
    recording: RecordingSettings = field(default_factory=RecordingSettings)
    cluster: ClusterSettings = field(default_factory=ClusterSettings)
    safety: SafetySettings = field(default_factory=SafetySettings)
    admin: AdminSettings = field(default_factory=AdminSettings)
