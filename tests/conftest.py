"""Fixtures shared by every test folder."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.lab import Lab, lab_network
from tests.nodes import Node, NodeFactory, start_node
from tests.redis_server import RedisServer


@pytest.fixture
def node_factory(tmp_path: Path) -> Iterator[NodeFactory]:
    """``node_factory(*cli_flags, env=None)`` starts a real node; all are stopped at teardown."""
    nodes: list[Node] = []

    def factory(*flags: str, env: dict[str, str] | None = None) -> Node:
        node = start_node(tmp_path, *flags, env=env)
        nodes.append(node)
        return node

    yield factory
    for node in nodes:  # all drain at once
        node.terminate()
    for node in nodes:
        node.wait_stopped()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One real ``redis-server`` shared by the whole session: each test isolates itself (its own
    hash tag, or only the keys its own nodes write), so sharing it saves a start per test."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A server only this test uses, so it may stop, freeze and restart it, and its nodes may use
    the fixed ``{liveloop}`` keys without meeting another test's."""
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def lab(tmp_path: Path) -> AsyncIterator[Lab]:
    """A network lab (tests/lab) removed at teardown, failed test or not. Needs root."""
    async with lab_network(tmp_path / "lab") as instance:
        yield instance
