"""The openxr display mode's stereo path, rendered offscreen for real (llvmpipe here).

Both eyes are drawn from the runtime's views (the fake runtime's: the eyes 63 mm apart, the
same frustum). The eyes must differ by the eye offset only: with their poses swapped their
images swap exactly; at the same pose they are identical; near things shift between the eyes
by the disparity the offset gives, far things do not; the mirror's source is the left eye.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

DOC_IMAGES = Path(__file__).resolve().parents[3] / "docs" / "images"


@pytest.mark.timeout(120)
def test_per_eye_images_differ_by_the_eye_offset_only(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "tests.vr_server.xr.eyes_probe",
                             str(tmp_path)], capture_output=True, text=True, timeout=110)
    assert result.returncode == 0, result.stderr[-3000:]
    m = json.loads((tmp_path / "eyes.json").read_text())
    assert m["left_vs_right_mean"] > 1.0  # two different views
    assert m["swapped_left_vs_right"] == 0.0 and m["swapped_right_vs_left"] == 0.0
    assert m["centre_a_vs_b"] == 0.0
    assert m["centre_vs_left_mean"] > 0.5  # the centre is neither eye
    # The floor 2-3 m below and ahead: f * ipd / z = 160 px * 0.063 m / ~2.5 m = about 4 px,
    # the left eye seeing it further right; the city far below: no shift.
    assert 2 <= m["near_shift_px"] <= 7
    assert m["far_shift_px"] == 0
    assert m["mirror_vs_left"] == 0.0 and m["mirror_shape"] == [180, 320, 3]
    if os.environ.get("VRET_DOC_IMAGES"):  # the picture in docs/headsets.md
        eyes = [np.asarray(Image.open(tmp_path / f"eye-{side}.png")) for side in
                ("left", "right")]
        gap = np.full((eyes[0].shape[0], 8, 3), 255, np.uint8)
        Image.fromarray(np.hstack([eyes[0], gap, eyes[1]])).save(DOC_IMAGES / "headset-eyes.png")
