"""The web client's diagnosis of a media connection that did not connect (web/js/ice-diagnosis.js),
as a table run in the real page: the lab tests (test_lab_server_defaults.py) show the "blocked"
case end to end; this covers every outcome of the pure function."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Browser

from tests.browser.pages import ClientPage
from tests.nodes import NodeFactory

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def summary(
    local: tuple[str, ...] = ("host",),
    remote: tuple[str, ...] = ("203.0.113.2",),
    sent: int = 0,
    answered: int = 0,
    succeeded: bool = False,
) -> dict[str, Any]:
    return {
        "localTypes": list(local),
        "remoteAddresses": list(remote),
        "checksSent": sent,
        "checksAnswered": answered,
        "succeeded": succeeded,
    }


CASES = [
    # summary, page host, diagnosis
    (None, "203.0.113.9", "unknown"),  # no statistics (a closed connection)
    (summary(sent=12, answered=3), "203.0.113.9", "connected"),
    (summary(succeeded=True), "203.0.113.9", "connected"),
    # Checks out, no answer, no relay: the network drops the media.
    (summary(local=("host",), sent=12), "203.0.113.9", "blocked"),
    (summary(local=("host", "srflx"), sent=12), "203.0.113.9", "blocked"),
    # Relay-only with the TURN server out of reach: nothing could even be gathered.
    (summary(local=(), remote=("203.0.113.7",)), "203.0.113.9", "blocked"),
    # A relay was gathered: TURN got through, so the network does not block everything.
    (summary(local=("host", "relay"), sent=12), "203.0.113.9", "unknown"),
    # The other side offered only loopback, and this page is not on loopback.
    (summary(remote=("127.0.0.1",), sent=4), "203.0.113.9", "loopback-only"),
    (summary(remote=("::1",), sent=4), "node.example", "loopback-only"),
    (summary(remote=("127.0.0.1",), sent=4), "127.0.0.1", "blocked"),
    # Nothing from the other side yet, nothing sent: too early to say.
    (summary(remote=(), sent=0), "203.0.113.9", "unknown"),
]

CLASSIFY_JS = """
async ([cases]) => {
  const { classifyIceFailure } = await import("/js/ice-diagnosis.js");
  return cases.map(([summary, host]) => classifyIceFailure(summary, host));
}
"""

TEXT_JS = """
async () => {
  const { iceFailureText } = await import("/js/connection-text.js");
  return [
    iceFailureText("blocked", { turnOffered: false }),
    iceFailureText("blocked", { turnOffered: true }),
    iceFailureText("unknown"),
    iceFailureText("connected"),
  ];
}
"""


async def test_the_diagnosis_table(node_factory: NodeFactory, browser: Browser) -> None:
    node = node_factory("--mode", "p2p")
    client = await ClientPage.open(browser, node.url + "/", "Alice")
    try:
        cases = [[case, host] for case, host, _ in CASES]
        got = await client.page.evaluate(CLASSIFY_JS, [cases])
        assert got == [expected for _, _, expected in CASES]
        no_turn, with_turn, unknown, connected = await client.page.evaluate(TEXT_JS)
        # What the user reads names the operator's fix, and whether the site has TURN at all.
        assert "offers no relay (TURN) server" in no_turn
        assert "could not be reached either" in with_turn
        for text in (no_turn, with_turn):
            assert "block video calls" in text and "TCP or TLS on port 443" in text
        assert unknown is None and connected is None
        assert client.errors == []
    finally:
        await client.close()
