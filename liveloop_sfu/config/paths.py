"""Where the node finds the browser client it serves (``--web-root``'s default).

An installed wheel carries it as package data, ``liveloop_sfu/web/`` (setup.py copies web/ and
the socket.io browser build there at build time); a checkout (the editable install) serves its
own ``web/`` beside the package, with the socket.io build ``npm ci --prefix web`` put there.
Nothing is fetched or written at run time.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def packaged_web() -> Path | None:
    """``liveloop_sfu/web`` of an installed wheel, or None (a checkout has none)."""
    # A package installed from a wheel lives on the file system, so its resources are paths; a
    # zipped import would not be, and is not a way this node is installed.
    web = resources.files("liveloop_sfu") / "web"
    if isinstance(web, Path) and web.is_dir():
        return web
    return None


def checkout_web() -> Path:
    """The checkout's ``web/``: beside the ``liveloop_sfu`` folder."""
    return Path(__file__).resolve().parent.parent.parent / "web"


def default_web_root() -> Path:
    return packaged_web() or checkout_web()
