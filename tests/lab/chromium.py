"""Chromium inside a lab network: one process per network namespace.

Playwright starts ``executable_path`` with ``--remote-debugging-pipe`` and talks to the browser
over two inherited file descriptors, not over TCP, so it drives a browser in another network
namespace as it drives a local one. The executable is a small script that runs the real
``/usr/bin/chromium`` through ``ip netns exec``.

The camera and microphone need a secure origin; a lab node serves plain http on a lab address,
so every browser gets ``--unsafely-treat-insecure-origin-as-secure`` for the lab nodes' origins.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tests.browser.pages import CHROMIUM, CHROMIUM_ARGS
from tests.lab import netns

if TYPE_CHECKING:
    from playwright.async_api import Browser, Playwright

    from tests.lab.topology import Network


def trust(home: Path, ca_certificates: list[Path]) -> None:
    """Makes Chromium trust the test CAs: on Linux it verifies certificates (those of TURN
    servers over TLS too) with the system roots plus the NSS database in $HOME/.pki/nssdb,
    where ``certutil`` (Debian ``libnss3-tools``) adds the CA as trusted for servers (``C``)."""
    database = home / ".pki" / "nssdb"
    if not (database / "cert9.db").exists():
        database.mkdir(parents=True, exist_ok=True)
        netns.run("certutil", "-d", f"sql:{database}", "-N", "--empty-password")
    for index, ca in enumerate(ca_certificates):
        netns.run("certutil", "-d", f"sql:{database}", "-A", "-n", f"lab-ca-{index}",
                  "-t", "C,,", "-i", str(ca))  # fmt: skip


def wrapper_script(network: Network) -> str:
    home = network.workdir / "home"
    home.mkdir(exist_ok=True)
    trust(home, network.lab.trusted_cas)
    # HOME: Chromium reads its certificate trust (an NSS database) from $HOME/.pki/nssdb.
    return (
        f'#!/bin/sh\nexport HOME={home}\nexec ip netns exec {network.namespace} {CHROMIUM} "$@"\n'
    )


async def launch_in(network: Network, playwright: Playwright, *extra_args: str) -> Browser:
    script = network.workdir / "chromium.sh"
    script.write_text(wrapper_script(network))
    script.chmod(0o755)
    args = list(CHROMIUM_ARGS)
    origins = network.lab.secure_origins
    if origins:
        args.append("--unsafely-treat-insecure-origin-as-secure=" + ",".join(origins))
    browser = await playwright.chromium.launch(
        executable_path=str(script), headless=True, args=[*args, *extra_args]
    )
    network.lab.browsers.append(browser)
    return browser
