"""The compiled packet path is the code in the tree (liveloop_sfu/media/native.py)."""

from __future__ import annotations

from liveloop_sfu.media import native


def test_no_compiled_module_is_older_than_its_source() -> None:
    # A stale extension runs the old code while the tests read the new source: rebuild with
    # `pip install -e .` (scripts/install.sh does) after editing a compiled module.
    assert native.stale_modules() == [], "rerun `.venv/bin/pip install -e .`"
