"""Fixtures shared by every test folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.nodes import Node, NodeFactory, start_node


@pytest.fixture
def node_factory(tmp_path: Path) -> Iterator[NodeFactory]:
    """``node_factory(*cli_flags, env=None)`` starts a real node; all are stopped at teardown."""
    nodes: list[Node] = []

    def factory(*flags: str, env: dict[str, str] | None = None) -> Node:
        node = start_node(tmp_path, *flags, env=env)
        nodes.append(node)
        return node

    yield factory
    for node in nodes:
        node.stop()
