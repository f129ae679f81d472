"""A load balancer for tests: a TCP proxy on loopback in front of real nodes, that sends each new
connection to the first node whose ``/readyz`` answers 200 — what a load balancer's readiness
check does, asked per connection so a test knows where each connection goes. Bytes are piped
unchanged both ways (HTTP and WebSocket alike; the nodes see the proxy's address as Host, so a
page loaded through it is same-origin with its socket.io connection)."""

from __future__ import annotations

import asyncio
import contextlib
import urllib.error
import urllib.request

from tests.nodes import Node


def ready(node: Node) -> bool:
    try:
        with urllib.request.urlopen(node.url + "/readyz", timeout=2) as response:
            return int(response.status) == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):  # 503, or gone
        return False


class LoadBalancer:
    def __init__(self, nodes: list[Node]) -> None:
        self.nodes = nodes
        self.chosen: list[int] = []  # the port each connection went to, in order
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        node = None
        for candidate in self.nodes:
            if await asyncio.to_thread(ready, candidate):
                node = candidate
                break
        if node is None:
            writer.close()
            return
        self.chosen.append(node.port)
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", node.port)
        except OSError:
            writer.close()
            return
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(source, sink))
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    @staticmethod
    async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                sink.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._pipes):
            task.cancel()
        for task in list(self._pipes):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._server is not None:
            await self._server.wait_closed()
