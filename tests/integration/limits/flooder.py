"""A hostile client in its own process: ``python -m tests.integration.limits.flooder URL
SECONDS CONNECTIONS RATE`` floods a node with every event class from CONNECTIONS sockets at about
RATE events per second each, reconnecting whenever the node disconnects it, and prints what it saw
as one JSON line. Bounded: it stops after SECONDS."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections import Counter
from typing import Any

from liveloop_sfu.client import WireClient

CANDIDATE = {
    "candidate": {
        "candidate": "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host",
        "sdpMid": "0",
        "sdpMLineIndex": 0,
    }
}
EVENTS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("newMessage", {"message": "spam"}),
    ("request-room", {"userName": "flood"}),
    ("stop-call", {}),
    ("send-new-ice-candidates", CANDIDATE),
    ("no-such-event", {"x": 1}),
)


async def flood_one(url: str, until: float, rate: float, seen: Counter[str]) -> None:
    sent = 0
    start = time.monotonic()
    while time.monotonic() < until:
        client = WireClient(url, timeout=5)
        try:
            await client.connect()
        except Exception:
            seen["connect-refused"] += 1
            await client.close()
            await asyncio.sleep(0.2)
            continue
        seen["connected"] += 1
        while time.monotonic() < until and not client.disconnected.is_set():
            event, payload = EVENTS[sent % len(EVENTS)]
            sent += 1
            if sent % 7 == 0:  # sample the acks of every event now and then
                with contextlib.suppress(Exception):
                    ack = await client.call_raw(event, payload)
                    code = ack.get("error", {}).get("code") if isinstance(ack, dict) else None
                    seen[f"ack:{code or 'ok'}"] += 1
            else:
                with contextlib.suppress(Exception):
                    await client.sio.emit(event, payload)
            due = start + sent / rate - time.monotonic()
            await asyncio.sleep(max(0.0, due))
        if client.disconnected.is_set():
            seen["disconnected"] += 1
        await client.close()
    seen["sent"] += sent


async def main(url: str, seconds: float, connections: int, rate: float) -> None:
    seen: Counter[str] = Counter()
    until = time.monotonic() + seconds
    await asyncio.gather(*(flood_one(url, until, rate, seen) for _ in range(connections)))
    print(json.dumps(dict(seen)), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])))
