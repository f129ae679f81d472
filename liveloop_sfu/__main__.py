"""``liveloop-sfu``: start a node (``python -m liveloop_sfu`` does the same)."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence

from aiohttp import web

from liveloop_sfu.app import MediaFactory, create_app, ssl_context
from liveloop_sfu.config import load_settings, log_level_number
from liveloop_sfu.errors import ConfigError
from liveloop_sfu.logs import configure_logging


def main(argv: Sequence[str] | None = None, media_factory: MediaFactory | None = None) -> int:
    """Start a node. ``media_factory`` replaces the sfu media (the benchmark's relay baseline)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["bench"]:
        # The load-testing harness lives in benchmarks/ (installed with the package).
        from benchmarks.bench import main as bench_main

        return bench_main(args[1:])
    try:
        settings = load_settings(args, os.environ)
    except ConfigError as exc:
        print(f"liveloop-sfu: configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(
        log_level_number(settings),
        settings.log_format,
        [settings.turn_secret, settings.admin_token, settings.redis_url],
    )
    if settings.mode != "p2p":
        # aioice/aiortc log every candidate pair and packet at INFO; keep the node's log readable.
        logging.getLogger("aioice").setLevel(max(logging.WARNING, log_level_number(settings)))
        logging.getLogger("aiortc").setLevel(max(logging.WARNING, log_level_number(settings)))
    app = create_app(settings, media_factory=media_factory)
    scheme = "https" if settings.tls else "http"
    print(f"Live Loop SFU on {scheme}://{settings.host}:{settings.port} (mode {settings.mode})")
    web.run_app(
        app,
        host=settings.host,
        port=settings.port,
        ssl_context=ssl_context(settings),
        print=None,
        access_log=None,
        # SIGTERM: the node drains (app.Node.close, on_shutdown) within drain_timeout, having told
        # and disconnected every client; then aiohttp waits this long for handlers still running
        # before cancelling them. Only websocket close handshakes are left by then, and
        # python-engineio's reader would otherwise sit until its ping timeout.
        shutdown_timeout=1.0,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
