"""Fake camera pictures for Chromium's ``--use-file-for-fake-video-capture`` (it loops the file),
made with ffmpeg (Debian package ``ffmpeg``): ffmpeg's moving ``testsrc2`` pattern at a chosen
size and rate, with per-frame noise when an encoder should need more bits than a clean pattern
takes (Chromium's built-in fake camera needs a few hundred kbit/s at most and runs at its own
rate; a file gives the bench's ``--resolution`` and ``--fps``).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


class CameraError(RuntimeError):
    pass


def y4m_camera(
    folder: Path, width: int = 640, height: int = 480, fps: int = 30, noise: int = 30
) -> Path:
    """Three seconds of the pattern as a y4m file in ``folder`` (``noise``: ffmpeg's noise
    strength, 0 for none; more is costlier to encode). Made once: an existing file is reused."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise CameraError("ffmpeg is needed to make the fake camera (Debian package ffmpeg)")
    path = folder / f"detailed-{width}x{height}-{fps}-{noise}.y4m"
    if path.is_file():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.y4m")
    filters = ["-vf", f"noise=alls={noise}:allf=t+u"] if noise else []
    subprocess.run(
        [
            ffmpeg, "-loglevel", "error", "-y", "-f", "lavfi",
            "-i", f"testsrc2=size={width}x{height}:rate={fps}",
            *filters, "-t", "3", "-pix_fmt", "yuv420p", str(partial),
        ],
        check=True,
        timeout=120,
    )  # fmt: skip
    partial.replace(path)
    return path
