"""`liveloop-sfu bench` says what to install when the harness cannot run (liveloop_sfu/bench.py);
the installed wheel's case, no checkout at all, runs for real in
tests/integration/packaging/test_wheel_node.py."""

from __future__ import annotations

from pathlib import Path

from liveloop_sfu import bench


def _checkout(root: Path) -> Path:
    (root / "benchmarks").mkdir()
    (root / "benchmarks" / "__init__.py").write_text("")
    return root


def test_this_checkout_runs_the_harness() -> None:
    assert (bench.checkout_root() / "benchmarks" / "__init__.py").is_file()
    assert bench.problem(bench.checkout_root(), bench._importable) is None


def test_without_a_checkout_it_says_clone(tmp_path: Path) -> None:
    assert bench.problem(tmp_path, bench._importable) == bench.NO_CHECKOUT


def test_without_the_extra_it_names_the_extra(tmp_path: Path) -> None:
    only_runtime = {"aiohttp", "aiortc"}  # what a node has; matplotlib comes with `bench`
    reason = bench.problem(_checkout(tmp_path), lambda name: name in only_runtime)
    assert reason is not None
    assert "`bench` extra" in reason and "matplotlib" in reason
    assert "scripts/install.sh --bench" in reason
