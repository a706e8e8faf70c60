"""Render the openxr display mode's two eyes offscreen and compare them (run in its own process:
one Panda3D engine per process). Writes a JSON of measurements, and the eye images as PNGs.

    python -m tests.vr_server.xr.eyes_probe OUT_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from scenarios.registry import load
from vr_server.engine import DisplayConfig, Engine
from vr_server.stage import Stage
from vr_server.xr.convert import xr_pose_from_hpr
from vr_server.xr.fake import FakeScript, FakeXr
from vr_server.xr.headset import place_head_and_eyes
from vr_server.xr.types import XrView

SIZE = (320, 180)


def eyes(engine: Engine) -> list[np.ndarray]:
    """Both eye images as drawn this frame (top row first)."""
    engine.step()  # the task manager's frame: simplepbr's per-frame inputs, then the draw
    engine.step()
    gsg = engine.output.get_gsg()
    images = []
    for tex in engine.eye_textures:
        engine.graphics_engine.extract_texture_data(tex, gsg)
        data = tex.get_ram_image_as("RGB")
        images.append(np.frombuffer(memoryview(data), np.uint8).reshape(
            tex.get_y_size(), tex.get_x_size(), 3)[::-1].copy())
    return images


def best_shift(left: np.ndarray, right: np.ndarray, most: int = 12) -> int:
    """How many pixels to the right a band of the left eye's image sits, compared with the
    right eye's (the horizontal shift that matches them best)."""
    a, b = left.astype(np.float32), right.astype(np.float32)
    w = a.shape[1]
    errors = {s: float(np.abs(a[:, most + s:w - most + s] - b[:, most:w - most]).mean())
              for s in range(-most, most + 1)}
    return min(errors, key=lambda s: errors[s])


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    engine = Engine(DisplayConfig(mode="openxr", size=SIZE))
    stage = Stage(engine, load("heights"), load("safe_place"), 3, clock=lambda: 0.0)
    stage.load()
    stage.update(0.0)  # the mildest rung: the terrace's floor just ahead, the street beyond
    fake = FakeXr(FakeScript(eye_size=SIZE))
    # A head turned a little left and down, toward the floor ahead and the street.
    head = xr_pose_from_hpr((0.0, 0.0, 1.65), 15.0, -20.0)
    left, right = (fake._eye(head, side) for side in (-0.5, 0.5))
    centre = XrView(head, left.fov)

    place_head_and_eyes(engine, head, (left, right))
    img_left, img_right = eyes(engine)
    mirror = engine.screenshot()
    place_head_and_eyes(engine, head, (right, left))  # the eyes' poses swapped
    swapped_left, swapped_right = eyes(engine)
    place_head_and_eyes(engine, head, (centre, centre))  # both at the centre
    centre_a, centre_b = eyes(engine)
    # For the documentation: the balcony high up (rung 4, ramped at the scenario's rates).
    stage.set_level(4, 1.0)
    for _ in range(600):
        stage.update(0.1)
    place_head_and_eyes(engine, head, (left, right))
    for name, img in zip(("left", "right"), eyes(engine), strict=True):
        Image.fromarray(img).save(out / f"eye-{name}.png")

    def diff(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).max())

    # Where the eyes differ: by columns (a horizontal offset moves near things sideways).
    rows_differ = np.abs(img_left.astype(np.int16) - img_right.astype(np.int16)).sum(axis=(1, 2))
    result = {
        "left_vs_right_max": diff(img_left, img_right),
        "left_vs_right_mean": float(np.abs(img_left.astype(np.int16)
                                           - img_right.astype(np.int16)).mean()),
        "swapped_left_vs_right": diff(swapped_left, img_right),
        "swapped_right_vs_left": diff(swapped_right, img_left),
        "centre_a_vs_b": diff(centre_a, centre_b),
        "centre_vs_left_mean": float(np.abs(centre_a.astype(np.int16)
                                            - img_left.astype(np.int16)).mean()),
        "mirror_vs_left": diff(mirror, img_left) if mirror.shape == img_left.shape else -1.0,
        "mirror_shape": list(mirror.shape),
        "rows_with_difference": int((rows_differ > 0).sum()),
        "near_shift_px": best_shift(img_left[120:], img_right[120:]),
        "far_shift_px": best_shift(img_left[:40], img_right[:40]),
    }
    (out / "eyes.json").write_text(json.dumps(result, indent=1))
    stage.unload()
    engine.destroy()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
