"""Helpers shared by the test folders: polling a condition, scraping a node's /metrics."""

from __future__ import annotations

import asyncio
import re
import time
import urllib.request
from collections.abc import Callable
from typing import Protocol

_SAMPLE = re.compile(r"^([a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$")


class _HasUrl(Protocol):
    @property
    def url(self) -> str: ...


def scrape(node: _HasUrl) -> dict[str, float]:
    """``/metrics`` as {"name{labels}": value}."""
    with urllib.request.urlopen(node.url + "/metrics", timeout=5) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    samples = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match:
            samples[match.group(1) + (match.group(2) or "")] = float(match.group(3))
    return samples


async def until(
    condition: Callable[[], object],
    timeout: float = 15.0,
    what: str = "",
    *,
    every: float = 0.05,
    in_thread: bool = False,
) -> None:
    """Poll ``condition`` every ``every`` seconds until it is true; TimeoutError (saying ``what``)
    after ``timeout`` seconds. ``in_thread``: the condition blocks (an HTTP request to a node), so
    it runs in a worker thread and the event loop (and a node or client on it) keeps running."""
    deadline = time.monotonic() + timeout
    while not (await asyncio.to_thread(condition) if in_thread else condition()):
        if time.monotonic() > deadline:
            raise TimeoutError(what or f"not reached within {timeout} s")
        await asyncio.sleep(every)
