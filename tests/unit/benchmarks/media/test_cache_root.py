"""The benchmark media cache lives in the user's cache folder (XDG Base Directory), never beside
the sources or in an installed package."""

from __future__ import annotations

from pathlib import Path

from benchmarks.media.cache import user_cache_root


def test_xdg_cache_home_is_used_when_absolute(tmp_path: Path) -> None:
    root = user_cache_root({"XDG_CACHE_HOME": str(tmp_path)})
    assert root == tmp_path / "liveloop-sfu" / "media"


def test_otherwise_home_cache() -> None:
    expected = Path.home() / ".cache" / "liveloop-sfu" / "media"
    assert user_cache_root({}) == expected
    # The spec: a relative XDG_CACHE_HOME is invalid and ignored.
    assert user_cache_root({"XDG_CACHE_HOME": "relative/cache"}) == expected
