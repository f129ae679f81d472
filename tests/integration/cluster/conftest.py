"""Several real node processes sharing one real ``redis-server``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.redis_server import RedisServer


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """Each test has its own server, so it may stop and restart it."""
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()
