"""The soak, short: churn against a node sharing a real Redis, then no leaks
(benchmarks/suites/soak)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.suites.soak import soak, table
from tests.redis_server import RedisServer

pytestmark = pytest.mark.slow


async def test_short_soak_leaks_nothing(tmp_path: Path) -> None:
    redis = RedisServer(tmp_path / "redis")
    (tmp_path / "redis").mkdir()
    redis.start()
    try:
        report = await soak(
            seconds=25, users=6, redis_url=redis.url, interval=2.0, log_dir=tmp_path
        )
    finally:
        redis.stop()
    print(table(report))
    churn = report["churn"]
    assert churn["calls"] >= 20, churn  # real calls with media, not just queueing
    assert churn["drops"] >= 1 and churn["nexts"] >= 10, churn
    assert sum(churn["failures"].values()) <= churn["calls"] // 5, churn
    checks = report["verdict"]["checks"]
    assert all(checks.values()), (checks, report["final"], report["leftoverRedisKeys"])
    # Redis held users, queues and rooms during the run, and none of it is left.
    assert max(s["redis_keys"] for s in report["samples"]) > report["final"]["redis_keys"]
