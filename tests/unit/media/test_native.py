"""The mypyc build (setup.py) and the runtime report (media/native.py) name the same modules, both
from the one folder list (media/compiled.py), and the report tells compiled from pure modules by
what was really imported."""

from __future__ import annotations

import ast
import importlib
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path
from typing import Any

from liveloop_sfu.media import native
from liveloop_sfu.media.compiled import BENCHMARK_COMPILED_PACKAGES, COMPILED_PACKAGES

ROOT = Path(__file__).resolve().parents[3]

# The compiled set is the one of before the layout change: moving modules into compiled folders
# must not compile more (the session glue crashed under mypyc) nor fewer.
# Issue 13 split "rtp_common" in two compiled modules holding its code: "seq" (its wraparound
# arithmetic, now with the one unwrapper, RFC 3550 A.1) and "rtp_common" (parse error, NTP);
# and "keyframes" in one compiled module per codec, "vp8", "vp9", "h264" (their detectors, and
# VP8's payload descriptor), with "keyframes" left as the per-codec dispatch.
# Issue 15 (simulcast) adds "layer" (one incoming stream of a track, the forwarder's input stage
# moved there) and "simulcast" (RID reading, per-layer statistics); its bandwidth probes add
# "probe_cluster" (a probe's send and receive rate from transport feedback).
TODAYS_COMPILED = {
    "aimd", "bandwidth_estimator", "delay_based", "probe_cluster", "sent_packets",
    "transport_feedback",
    "layer", "simulcast",
    "datagrams", "drops", "forwarder", "h264", "header_counter", "history", "keyframe_requests",
    "keyframes", "media_sender", "nack_generator", "packet_io", "pump", "reception", "remb",
    "rewriter", "rtcp", "rtp", "rtp_common", "rtp_path", "sender_report", "seq", "subscription",
    "vp8", "vp9", "wire",
}  # fmt: skip


def _setup_modules(folders: tuple[str, ...]) -> list[str]:
    """What setup.py hands mypycify for ``folders``: its ``_compiled_modules()``, run from its
    own source."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    keep = [
        node
        for node in tree.body
        if isinstance(node, ast.Import | ast.ImportFrom)
        or (isinstance(node, ast.FunctionDef) and node.name == "_compiled_modules")
    ]
    namespace: dict[str, Any] = {"__file__": str(ROOT / "setup.py")}
    exec(compile(ast.Module(body=keep, type_ignores=[]), "setup.py", "exec"), namespace)
    modules: list[str] = namespace["_compiled_modules"](folders)
    return modules


def test_setup_compiles_exactly_the_reported_modules() -> None:
    # In a checkout (this test's), the load client's folders are compiled and reported too.
    paths = _setup_modules(COMPILED_PACKAGES + BENCHMARK_COMPILED_PACKAGES)
    dotted = sorted(p.removesuffix(".py").replace("/", ".") for p in paths)
    assert dotted == list(native.native_modules())
    assert all((ROOT / p).is_file() for p in paths)
    assert {name.rsplit(".", 1)[1] for name in dotted} == TODAYS_COMPILED


def test_benchmark_modules_are_a_group_of_their_own() -> None:
    # setup.py leaves the load client's group out of a wheel as a whole (BuildExtForCheckout).
    node = {p.removesuffix(".py") for p in _setup_modules(COMPILED_PACKAGES)}
    bench = {p.removesuffix(".py") for p in _setup_modules(BENCHMARK_COMPILED_PACKAGES)}
    assert node and bench and not node & bench
    assert all(p.startswith("liveloop_sfu/") for p in node)
    assert all(p.startswith("benchmarks/") for p in bench)


def test_every_compiled_folder_exists_and_holds_sources() -> None:
    for folder in COMPILED_PACKAGES + BENCHMARK_COMPILED_PACKAGES:
        assert (ROOT / folder / "__init__.py").is_file(), folder
        assert any(p.name != "__init__.py" for p in (ROOT / folder).glob("*.py")), folder


def test_report_matches_what_was_imported() -> None:
    report = native.compiled_modules()
    assert list(report) == list(native.native_modules())
    for name, is_compiled in report.items():
        path = str(importlib.import_module(name).__file__)
        assert is_compiled == path.endswith(tuple(EXTENSION_SUFFIXES)), (name, path)
    assert native.compiled() == all(report.values())
