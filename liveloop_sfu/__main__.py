"""``liveloop-sfu``: start a node (``python -m liveloop_sfu`` does the same), or run one of its
commands (:data:`COMMANDS`)."""

from __future__ import annotations

import argparse
import asyncio
import errno
import importlib.metadata
import logging
import os
import sys
import textwrap
import time
from collections.abc import Mapping, Sequence

from aiohttp import web

from liveloop_sfu.app import (
    MediaFactory,
    create_app,
    drain_on_sigterm,
    learn_announced_ip,
    ssl_context,
)
from liveloop_sfu.config import Settings, build_parser, load_settings, log_level_number
from liveloop_sfu.config.load import settings_from_values
from liveloop_sfu.errors import ConfigError, InvalidPayload
from liveloop_sfu.logs import configure_logging
from liveloop_sfu.media.native import stale_modules
from liveloop_sfu.rooms import tokens as room_tokens
from liveloop_sfu.signal.messages import parse_room_id

MINT_USAGE = (
    "usage: liveloop-sfu mint-room-token ROOM_ID [--room-token-secret S] [--room-token-ttl T]"
)

# The commands main() dispatches on its first argument, as --help lists them (a test runs each).
COMMANDS: tuple[tuple[str, str], ...] = (
    ("bench", "load-test a node or a running service (liveloop-sfu bench --help)"),
    ("mint-room-token", "print a token for a private group room (ROOM_ID, node flags)"),
)
DISTRIBUTION = "liveloop-sfu"


def version() -> str:
    """The installed distribution's version (pyproject.toml), as pip sees it."""
    return importlib.metadata.version(DISTRIBUTION)


def node_parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    """The node's command line (every setting, config/load.py) plus what only the program has:
    ``--version`` and the list of commands after the options."""
    parser = build_parser(env)
    parser.usage = (
        "liveloop-sfu [OPTIONS]\n"
        "       liveloop-sfu COMMAND [ARGS] (commands are listed at the end)"
    )
    # Raw, so the commands stay one per line; the description is wrapped here instead.
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.description = textwrap.fill(parser.description or "", 78)
    width = max(len(name) for name, _ in COMMANDS)
    lines = [f"  {name.ljust(width)}  {summary}" for name, summary in COMMANDS]
    parser.epilog = "commands (instead of starting a node):\n" + "\n".join(lines)
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {version()}", help="print the version"
    )
    return parser


def new_event_loop(env: Mapping[str, str]) -> asyncio.AbstractEventLoop:
    """The node's event loop: uvloop (libuv, in C) unless ``LIVELOOP_EVENT_LOOP=asyncio`` or it is
    not installed. Why: with the packet path compiled, what is left in Python per wake-up of the
    node is the event loop's own work (epoll results, handles, the datagram transport's read);
    uvloop does it in C — about 8 % less node CPU at 16 forwarded streams (docs/benchmarks.md).
    The asyncio loop behaves the same, only slower."""
    if env.get("LIVELOOP_EVENT_LOOP", "uvloop") != "asyncio":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def mint_room_token(args: Sequence[str], env: Mapping[str, str], now: float) -> tuple[int, str]:
    """``liveloop-sfu mint-room-token ROOM_ID [node flags]``: (exit status, text to print). The
    secret and lifetime come from the node's own flags / environment, so an operator mints with
    the configuration the node runs with."""
    if not args or args[0].startswith("-") or args[0] in ("-h", "--help"):
        return 2, MINT_USAGE
    room_id = args[0]
    try:
        room_id = parse_room_id(room_id)
        settings = load_settings(args[1:], env)
    except (ConfigError, InvalidPayload) as exc:
        return 2, f"liveloop-sfu mint-room-token: {exc}"
    rooms = settings.rooms
    if rooms.room_token_secret is None:
        return (
            2,
            "liveloop-sfu mint-room-token: set --room-token-secret (or LIVELOOP_ROOM_TOKEN_SECRET)",
        )
    secret = rooms.room_token_secret.encode()
    return 0, room_tokens.mint(secret, room_id, now, rooms.room_token_ttl)


def main(argv: Sequence[str] | None = None, media_factory: MediaFactory | None = None) -> int:
    """Start a node. ``media_factory`` replaces the sfu media (the benchmark's relay baseline)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["bench"]:
        # The load-testing harness lives in a checkout's benchmarks/ (liveloop_sfu/bench.py).
        from liveloop_sfu.bench import run as run_bench

        return run_bench(args[1:])
    if args and args[0] == "mint-room-token":
        status, text = mint_room_token(args[1:], os.environ, time.time())
        print(text, file=sys.stdout if status == 0 else sys.stderr)
        return status
    try:
        settings = settings_from_values(vars(node_parser(os.environ).parse_args(args)))
    except ConfigError as exc:
        print(f"liveloop-sfu: configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(
        log_level_number(settings),
        settings.logging.format,
        [
            settings.turn.secret,
            settings.admin.token,
            settings.cluster.redis_url,
            settings.safety.client_key_secret,
            settings.recording.webhook_secret,
        ],
    )
    if settings.rooms.mode != "p2p":
        # aioice/aiortc log every candidate pair and packet at INFO; keep the node's log readable.
        logging.getLogger("aioice").setLevel(max(logging.WARNING, log_level_number(settings)))
        logging.getLogger("aiortc").setLevel(max(logging.WARNING, log_level_number(settings)))
    stale = stale_modules()
    if stale:
        logging.getLogger(__name__).warning(
            "compiled modules older than their source (run `pip install -e .`): %s",
            ", ".join(stale),
        )
    loop = new_event_loop(os.environ)
    try:
        # Before any session exists: every candidate the node writes carries this address.
        settings = loop.run_until_complete(learn_announced_ip(settings))
    except ConfigError as exc:
        loop.close()
        print(f"liveloop-sfu: configuration error: {exc}", file=sys.stderr)
        return 2
    app = create_app(settings, media_factory=media_factory)
    drain_on_sigterm(app)
    network = settings.network
    scheme = "https" if network.tls else "http"
    print(f"Live Loop SFU on {scheme}://{network.host}:{network.port} (mode {settings.rooms.mode})")
    media = settings.media
    if settings.rooms.mode != "p2p":
        announced = f" announced as {media.announced_ip}" if media.announced_ip else ""
        print(f"Media on {', '.join(media.addresses)}{announced}")
    try:
        _run(app, settings, loop)
    except OSError as exc:
        if exc.errno not in _LISTEN_ERRORS:
            raise
        # The public port or --metrics-listen is taken (or not ours): say so, no traceback.
        print(f"liveloop-sfu: cannot listen: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


# bind() failures an operator can fix: address in use, not on this host, a privileged port.
_LISTEN_ERRORS = (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES)


def _run(app: web.Application, settings: Settings, loop: asyncio.AbstractEventLoop) -> None:
    network = settings.network
    web.run_app(
        app,
        host=network.host,
        port=network.port,
        ssl_context=ssl_context(network),
        print=None,
        access_log=None,
        # SIGTERM drains (liveloop_sfu/drain.py); once the drain is over, or on SIGINT, the node
        # closes (app.Node.close, on_shutdown), having told and disconnected every client; then
        # aiohttp waits this long for handlers still running before cancelling them. Only
        # websocket close handshakes are left by then, and python-engineio's reader would
        # otherwise sit until its ping timeout.
        shutdown_timeout=1.0,
        loop=loop,
    )


if __name__ == "__main__":
    sys.exit(main())
