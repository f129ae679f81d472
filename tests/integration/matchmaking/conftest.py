"""Real ``redis-server`` processes for the Redis matchmaker tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.redis_server import RedisServer


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """Shared by a module's tests; each test isolates itself with its own hash tag."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A server only this test uses, so it may stop, freeze and restart it."""
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()
