"""A TCP forwarder: ``python -m tests.lab.forward LISTEN_HOST LISTEN_PORT TARGET_HOST
TARGET_PORT``.

The lab needs it because the node listens on one address (``--host`` takes one; asyncio binds
``::`` as IPv6-only): the node listens on its IPv4 address, and this forwards the IPv6 address's
port 443 to it, so IPv6-only browsers load the page and reach socket.io. Media does not pass
here: the node's IPv6 media address is its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def main(listen_host: str, listen_port: int, target_host: str, target_port: int) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(
                target_host, target_port
            )
        except OSError:
            writer.close()
            return
        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))

    server = await asyncio.start_server(handle, listen_host, listen_port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    listen_host, listen_port, target_host, target_port = sys.argv[1:5]
    asyncio.run(main(listen_host, int(listen_port), target_host, int(target_port)))
