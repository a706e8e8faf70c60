"""Display modes, each in its own process (Panda3D allows one engine per process)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "syringe.py"


def _render(tmp_path: Path, *args: str) -> np.ndarray:
    out = tmp_path / f"shot-{len(list(tmp_path.iterdir()))}.png"
    done = subprocess.run(
        [sys.executable, "-m", "vret", "scenario", "render", str(EXAMPLE), "--rung", "6",
         "-o", str(out), *args], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return np.asarray(Image.open(out).convert("RGB")).astype(np.int16)


def test_stereo_renders_two_eyes_side_by_side_with_parallax(tmp_path: Path) -> None:
    mono = _render(tmp_path, "--size", "320x240")
    stereo = _render(tmp_path, "--size", "320x240", "--display", "stereo")
    assert mono.shape == (240, 320, 3) and stereo.shape == (240, 640, 3)
    left, right = stereo[:, :320], stereo[:, 320:]
    # Each eye sees the scene (like the mono view), from a point 63 mm apart: close to each
    # other and to the mono view, but not identical (the syringe is half a metre away).
    assert np.abs(left - mono).mean() < 12 and np.abs(right - mono).mean() < 12
    assert (np.abs(left - right).max(axis=2) > 24).mean() > 0.001


def test_basic_shading_renders_too(tmp_path: Path) -> None:
    basic = _render(tmp_path, "--size", "160x90", "--shading", "basic")
    assert basic.std() > 8


def test_window_mode_without_a_display_says_what_is_missing(tmp_path: Path) -> None:
    env = {k: v for k, v in __import__("os").environ.items() if k not in {"DISPLAY",
                                                                        "WAYLAND_DISPLAY"}}
    done = subprocess.run(
        [sys.executable, "-m", "vret", "serve", "--scenario", str(EXAMPLE), "--display",
         "window", "--data-dir", str(tmp_path)], env=env, cwd=tmp_path, capture_output=True,
        text=True, timeout=60)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "window mode needs a display" in done.stderr
