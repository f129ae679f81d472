"""A client in its own process that joins the queue, prints its match, then waits; the test
freezes it with SIGSTOP (its socket stays open but it answers nothing, like a laptop whose lid
closed or a phone that lost its network) and kills it afterwards. With ``resume`` it declares,
as the browser client does, that it can resume (socket.io auth ``{"resume": true}``) and prints
its ``resumeToken`` as well.
``python -m tests.integration.faults.vanishing_client URL NAME [resume]``"""

from __future__ import annotations

import asyncio
import json
import sys

from liveloop_sfu.client import WireClient


async def main(url: str, name: str, resume: bool) -> None:
    client = await WireClient(url, timeout=10).connect(auth={"resume": True} if resume else None)
    await client.request_room(name)
    match = await client.next("match-done", timeout=30)
    print(json.dumps({"roomId": match["roomId"], "token": match.get("resumeToken")}), flush=True)
    await asyncio.sleep(120)  # bounded: the test stops it long before


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3:] == ["resume"]))
