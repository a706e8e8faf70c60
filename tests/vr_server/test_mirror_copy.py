"""The mirror image is the client's view scaled down on the GPU: it matches the full view.

Each display mode runs in a process of its own (Panda3D allows one engine per process): this
file is also the child program, which runs a session, and at each mirror frame saves the
mirror image beside a screenshot of the full view drawn in the same frame.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "syringe.py"


def _child(mode: str, out: Path) -> None:
    from vr_server.app import AppConfig, ServerApp
    from vr_server.engine import DisplayConfig
    from vr_server.host import HostConfig
    from vr_server.mirror import MirrorConfig

    with tempfile.TemporaryDirectory() as tmp:
        app = ServerApp(AppConfig(
            scenario=str(EXAMPLE), host=HostConfig(data_dir=Path(tmp), session_id="s-mirror"),
            display=DisplayConfig(mode=mode, size=(320, 180)),  # type: ignore[arg-type]
            mirror=MirrorConfig(rate_hz=30.0, width=160)))
        app.start()
        pairs: list[tuple[np.ndarray, np.ndarray]] = []
        submit = app.mirror.submit

        def keep(pixels: np.ndarray, frame_number: int, t_frame_ns: int) -> None:
            pairs.append((pixels.copy(), app.engine.screenshot().copy()))
            submit(pixels, frame_number, t_frame_ns)

        app.mirror.submit = keep  # type: ignore[method-assign]
        app.run(1.5)
        app.close()
    np.savez(out, mirror=np.stack([m for m, _ in pairs]), full=np.stack([f for _, f in pairs]))


def _run(mode: str, tmp_path: Path) -> tuple[np.ndarray, np.ndarray]:
    out = tmp_path / f"{mode}.npz"
    done = subprocess.run([sys.executable, __file__, mode, str(out)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    data = np.load(out)
    return data["mirror"], data["full"]


@pytest.mark.parametrize("mode", ["offscreen", "stereo"])
def test_the_mirror_is_the_clients_view_scaled_down(mode: str, tmp_path: Path) -> None:
    mirrors, fulls = _run(mode, tmp_path)
    assert len(mirrors) >= 10  # about 30 a second were asked for over 1.5 s
    assert mirrors.shape[1:] == (90, 160, 3)
    for mirror, full in zip(mirrors, fulls, strict=True):
        if mode == "stereo":
            assert full.shape == (180, 640, 3)
            full = full[:, :320]  # the left eye
        scaled = np.asarray(Image.fromarray(full).resize((160, 90), Image.Resampling.BILINEAR))
        difference = np.abs(mirror.astype(np.int16) - scaled.astype(np.int16))
        # (The right eye differs from the left by about 3.3 here: the bound tells them apart.)
        assert difference.mean() < 1.5, f"mean difference {difference.mean():.1f}"
        assert mirror.std() > 8  # a scene, not a blank image


if __name__ == "__main__":
    _child(sys.argv[1], Path(sys.argv[2]))
