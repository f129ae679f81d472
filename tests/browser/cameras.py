"""Fake camera pictures for Chromium's ``--use-file-for-fake-video-capture`` (it loops the file).

:func:`detailed_camera` is what bandwidth tests need: fine detail and per-frame noise at 640x480,
30 fps, so the encoder wants well over a megabit per second and its rate is set by the bandwidth
estimate, not by the picture (Chromium's built-in pattern needs a few hundred kbit/s at most).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest


def detailed_camera(
    folder: Path, width: int = 640, height: int = 480, fps: int = 30, noise: int = 30
) -> Path:
    """Writes three seconds of the detailed, noisy picture as a y4m file in ``folder``
    (``noise``: ffmpeg's noise strength; less is cheaper to encode)."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        pytest.fail("ffmpeg is needed to make the test camera (Debian package ffmpeg)")
    path = folder / f"detailed-{width}x{height}-{fps}-{noise}.y4m"
    subprocess.run(
        [
            ffmpeg, "-loglevel", "error", "-y", "-f", "lavfi",
            "-i", f"testsrc2=size={width}x{height}:rate={fps}",
            "-vf", f"noise=alls={noise}:allf=t+u", "-t", "3", "-pix_fmt", "yuv420p", str(path),
        ],
        check=True,
        timeout=120,
    )  # fmt: skip
    return path
