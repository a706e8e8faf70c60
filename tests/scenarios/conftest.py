"""One offscreen engine for the scenario tests (Panda3D allows one per process)."""

from __future__ import annotations

import pytest

from vr_server.engine import DisplayConfig, Engine, current

SIZE = (320, 180)


@pytest.fixture(scope="session")
def engine() -> Engine:
    """The process's offscreen engine: real rendering (EGL, llvmpipe without a GPU)."""
    return current(DisplayConfig(mode="offscreen", size=SIZE, shading="pbr"))
