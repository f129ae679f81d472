"""Helpers shared by the test folders: polling a condition, scraping a node's /metrics."""

from __future__ import annotations

import asyncio
import re
import urllib.request
from collections.abc import Callable

from tests.nodes import Node

_SAMPLE = re.compile(r"^([a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$")


def scrape(node: Node) -> dict[str, float]:
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


async def until(condition: Callable[[], bool], timeout: float) -> None:
    """Poll ``condition`` every 50 ms; TimeoutError after ``timeout`` seconds."""
    for _ in range(int(timeout / 0.05) + 1):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"not reached within {timeout} s")
