"""The client's controllers in the scene, rendered for real: the bodies where they are held,
and the pointing ray to the rating panel, ending where it meets it."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from panda3d.core import Point2, Point3, Quat, Vec3

from instruments.definition import ResponseScale
from vr_server.engine import Engine
from vr_server.rating_panel import RatingPanel
from vr_server.xr.hands import RAY_COLOUR, ControllerModels

HEAD = Point3(0, 0, 1.6)


@pytest.fixture
def scene(engine: Engine) -> Iterator[tuple[ControllerModels, RatingPanel]]:
    before = engine.output.get_clear_color()
    engine.set_background((0.0, 0.0, 0.0))
    engine.head.set_pos_hpr(HEAD, (0, 0, 0))
    models, panel = ControllerModels(engine.world), RatingPanel(engine.world)
    yield models, panel
    models.remove()
    panel.remove()
    engine.output.set_clear_color(before)
    engine.head.set_pos_hpr(0, 0, 1.65, 0, 0, 0)


def _pixel(engine: Engine, point: Point3) -> tuple[int, int]:
    """Where a world point lands in the output's image (column, row from the top)."""
    cam = engine.cameras[0]
    film = Point2()
    assert cam.node().get_lens().project(cam.get_relative_point(engine.world, point), film)
    w, h = engine.output.get_x_size(), engine.output.get_y_size()
    return int((film.x + 1) / 2 * w), int((1 - film.y) / 2 * h)


def test_a_controller_and_its_ray_to_the_panel_are_seen(
        engine: Engine, scene: tuple[ControllerModels, RatingPanel]) -> None:
    models, panel = scene
    panel.open("k", "How anxious?", ResponseScale(low=0, high=100), False, "calm", "worst",
               HEAD, 0.0, 0.0)
    hand = Point3(0.2, 0.6, 1.45)
    aim = (panel.cell_centre(50.0) - hand).normalized()
    models.place("right", (hand, Quat()))
    length = panel.hit_distance(hand, aim)
    assert length == pytest.approx((panel.cell_centre(50.0) - hand).length(), rel=1e-3)
    models.point((hand, aim), length)
    engine.step()
    image = engine.screenshot().astype(int)
    x, y = _pixel(engine, hand)
    around = image[y - 3:y + 4, x - 3:x + 4].max(axis=2)
    assert (around < 60).sum() >= 8  # the dark body where the hand is (the ray leaves it)
    # Along the ray, a third of the way to the panel: the ray's colour.
    mid = _pixel(engine, hand + aim * (length / 3))
    patch = image[mid[1] - 2:mid[1] + 3, mid[0] - 2:mid[0] + 3].reshape(-1, 3)
    ray = np.asarray(RAY_COLOUR[:3]) * 255
    assert (np.abs(patch - ray).max(axis=1) < 90).any()
    assert panel.hit_distance(hand, Vec3(1, 0, 0)) is None  # pointing away from the panel
    models.point(None, None)
    models.place("right", None)
    assert models.ray.is_hidden() and models.bodies["right"].is_hidden()
