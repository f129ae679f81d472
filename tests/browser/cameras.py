"""Fake camera pictures for Chromium's ``--use-file-for-fake-video-capture`` (it loops the file).

:func:`detailed_camera` is what bandwidth tests need: fine detail and per-frame noise at 640x480,
30 fps, so the encoder wants well over a megabit per second and its rate is set by the bandwidth
estimate, not by the picture (Chromium's built-in pattern needs a few hundred kbit/s at most).
The file is made by :func:`benchmarks.browsers.camera.y4m_camera`, which the bench's
``--browsers`` use too.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.browsers.camera import CameraError, y4m_camera


def detailed_camera(
    folder: Path, width: int = 640, height: int = 480, fps: int = 30, noise: int = 30
) -> Path:
    """Writes three seconds of the detailed, noisy picture as a y4m file in ``folder``
    (``noise``: ffmpeg's noise strength; less is cheaper to encode)."""
    try:
        return y4m_camera(folder, width, height, fps, noise)
    except CameraError as exc:
        pytest.fail(str(exc))
