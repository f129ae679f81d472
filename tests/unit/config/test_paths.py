"""The node's default --web-root: the wheel's package data, else the checkout's web/ (an
installed wheel's case runs for real in tests/integration/packaging/test_wheel_node.py)."""

from __future__ import annotations

from pathlib import Path

from liveloop_sfu.config import paths
from liveloop_sfu.config.tree import NetworkSettings

ROOT = Path(__file__).resolve().parents[3]


def test_a_checkout_serves_its_own_web() -> None:
    assert paths.packaged_web() is None
    assert paths.default_web_root() == paths.checkout_web() == ROOT / "web"
    assert NetworkSettings().web_root == ROOT / "web"
