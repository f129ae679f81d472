"""The live progress line of ``liveloop-sfu bench`` (stderr, no dependency). Pure rendering plus
a tiny writer: on a terminal the line is redrawn in place, otherwise a line is printed every
``every`` seconds so logs stay readable."""

from __future__ import annotations

import sys
from typing import TextIO

WIDTH = 24


def render(
    label: str,
    elapsed: float,
    total: float,
    *,
    matched: int,
    users: int,
    receiving: int,
    fps: float | None,
    loss_pct: float | None,
    node_cpu_pct: float | None,
    errors: int,
) -> str:
    fraction = min(1.0, max(0.0, elapsed / total)) if total > 0 else 1.0
    filled = round(fraction * WIDTH)
    bar = "#" * filled + "." * (WIDTH - filled)
    fps_text = "-" if fps is None else f"{fps:4.1f}"
    loss_text = "-" if loss_pct is None else f"{loss_pct:.2f}%"
    cpu_text = "-" if node_cpu_pct is None else f"{node_cpu_pct:.0f}%"
    return (
        f"[{bar}] {elapsed:5.1f}/{total:.0f}s {label}: joined {matched}/{users} "
        f"streams in {receiving} fps {fps_text} loss {loss_text} node CPU {cpu_text}"
        + (f" errors {errors}" if errors else "")
    )


class Progress:
    def __init__(self, stream: TextIO = sys.stderr, every: float = 5.0) -> None:
        self._stream = stream
        self._tty = stream.isatty()
        self._every = every
        self._last_printed = -1e9
        self._dirty = False

    def show(self, line: str, now: float) -> None:
        if self._tty:
            self._stream.write("\r\x1b[2K" + line)
            self._dirty = True
        elif now - self._last_printed >= self._every:
            self._stream.write(line + "\n")
            self._last_printed = now
        self._stream.flush()

    def done(self) -> None:
        if self._tty and self._dirty:
            self._stream.write("\n")
            self._stream.flush()
        self._dirty = False
