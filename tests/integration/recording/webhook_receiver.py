"""A real webhook receiver for the hand-off tests: an aiohttp server on loopback that checks
each delivery's signature the way docs/protocol.md tells receivers to, and counts them."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from liveloop_sfu.rooms.handoff_policy import verify
from tests.nodes import free_port


@dataclass
class Delivery:
    delivery_id: str
    event: str
    signature_ok: bool
    body: dict[str, Any]
    answered: int


@dataclass
class Receiver:
    """Answers 503 to the first ``fail_first`` deliveries, 200 after that."""

    secret: str
    fail_first: int = 0
    port: int = field(default_factory=free_port)
    deliveries: list[Delivery] = field(default_factory=list)
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/recording"

    def accepted(self) -> list[Delivery]:
        return [d for d in self.deliveries if d.answered == 200]

    async def _hook(self, request: web.Request) -> web.Response:
        raw = await request.read()
        signature = request.headers.get("Liveloop-Signature", "")
        status = 503 if len(self.deliveries) < self.fail_first else 200
        self.deliveries.append(
            Delivery(
                delivery_id=request.headers.get("Liveloop-Delivery-Id", ""),
                event=request.headers.get("Liveloop-Event", ""),
                signature_ok=verify(self.secret, signature, raw, time.time()),
                body=json.loads(raw),
                answered=status,
            )
        )
        return web.Response(status=status)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hooks/recording", self._hook)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
