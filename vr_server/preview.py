"""Screenshots of a scenario at a level, without a session: ``vret scenario render``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from scenarios.base import Scenario
from vr_server.engine import DisplayConfig, current
from vr_server.stage import Stage


def render(scenario_cls: type[Scenario], rung: int, intensity: float = 0.0,
           config: DisplayConfig | None = None, seed: int = 0, settle_frames: int = 3,
           stage: Stage | None = None) -> np.ndarray:
    """The client's view of ``scenario_cls`` at a level, as an ``(h, w, 3)`` uint8 array.

    The level is applied at once (a preview, not a session: no ramp). Pass a loaded ``stage``
    to render several levels without rebuilding the scene.
    """
    engine = current(config or DisplayConfig())
    own = stage is None
    if stage is None:
        stage = Stage(engine, scenario_cls, None, seed)
        stage.load()
    try:
        stage.set_level(rung, intensity)
        stage.runner.snap()
        for _ in range(settle_frames):
            stage.update(0.0)
            engine.step()
        return engine.screenshot()
    finally:
        if own:
            stage.unload()


def save_png(image: np.ndarray, path: Path) -> None:
    """Write an ``(h, w, 3)`` uint8 image as PNG."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)
