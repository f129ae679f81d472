"""The end-to-end matchmaking benchmark runs and measures something real (a short run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.suites import matchmaking_e2e
from tests.redis_server import RedisServer

pytestmark = pytest.mark.slow


def test_two_nodes_sharing_redis_match_wire_clients(tmp_path: Path) -> None:
    server = RedisServer(tmp_path)
    server.start()
    try:
        result = matchmaking_e2e.run_setup("redis-2n", server.url, 4, 0.3, 1.0, tmp_path)
    finally:
        server.stop()
    assert (result.nodes, result.clients, result.errors) == (2, 4, 0)
    assert result.matches > 0 and result.matches_per_s == result.matches / result.seconds
    assert 0 < result.p50_ms <= result.p99_ms
    assert "redis-2n" in matchmaking_e2e.table([result])
