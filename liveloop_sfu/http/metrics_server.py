"""``/metrics`` on an address of its own (``--metrics-listen HOST:PORT``), so the node's
Prometheus text need not be public.

With it, the public listener does not serve ``/metrics`` at all (a 404 like any unknown path):
operators who set a private address mean the figures to stay private. Plain HTTP only, and only
``/metrics`` (anything else is 404): bind it to loopback or a private network. It runs beside the
public listener for the whole life of the node, drain included, so a deploy can be watched.
"""

from __future__ import annotations

from aiohttp import web

from liveloop_sfu.http.metrics import CONTENT_TYPE, NodeMetrics

__all__ = ["MetricsListener", "exposition"]


async def exposition(metrics: NodeMetrics) -> web.Response:
    """The Prometheus text exposition of ``metrics`` (liveloop_sfu/http/metrics.py)."""
    return web.Response(body=await metrics.render(), headers={"Content-Type": CONTENT_TYPE})


class MetricsListener:
    def __init__(self, metrics: NodeMetrics, host: str, port: int) -> None:
        self._metrics = metrics
        self._host, self._port = host, port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._serve)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, self._host, self._port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """Where it listens (the real port when 0 was asked for)."""
        if self._runner is None:
            return []
        return [(str(a[0]), int(a[1])) for a in self._runner.addresses]

    async def _serve(self, request: web.Request) -> web.Response:
        return await exposition(self._metrics)

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
