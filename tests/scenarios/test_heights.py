"""The heights scenario: the contract, plus what a clinician relies on at each rung."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np
import pytest
from panda3d.core import GeomVertexReader

from scenarios.heights import STOREY, Heights
from tests.scenarios.contract import FRAME, ScenarioContract
from vr_server.engine import Engine
from vr_server.stage import Stage


class TestHeights(ScenarioContract):
    scenario = "heights"


@pytest.fixture
def stage(engine: Engine) -> Iterator[Stage]:
    stage = Stage(engine, Heights, None, seed=5)
    stage.load()
    yield stage
    stage.unload()


def at(stage: Stage, rung: int, intensity: float = 0.0) -> Heights:
    """The scenario shown at a level at once (as previews do), one frame later."""
    stage.set_level(rung, intensity)
    stage.runner.snap()
    stage.update(FRAME)
    scenario = stage.runner.scenario
    assert isinstance(scenario, Heights)
    return scenario


def test_the_street_drops_from_the_terrace_to_the_50th_floor(stage: Stage) -> None:
    low = at(stage, 0)
    street = low.drop_marker.get_z(stage.world) - low.root.get_z(stage.world)
    assert -1.0 < street < 0.0  # the terrace is half a metre above the pavement
    assert (roof_heights(low) > 0).all()  # from the terrace, every roof is overhead
    high = at(stage, len(Heights.spec.rungs) - 1)
    street = high.drop_marker.get_z(high.root)
    assert street == pytest.approx(-50 * STOREY)
    # Nearly every roof in the city is now below the client's feet (a few towers are not).
    roofs = roof_heights(high)
    assert (roofs < 0).mean() > 0.9


def roof_heights(scenario: Heights) -> np.ndarray:
    """Heights of every roof corner relative to the balcony floor."""
    roofs = scenario.city.find("**/roofs")
    reader = GeomVertexReader(roofs.node().get_geom(0).get_vertex_data(), "vertex")
    zs = []
    while not reader.is_at_end():
        zs.append(reader.get_data3().z)
    return np.asarray(zs) + scenario.city.get_z()


def test_height_climbs_smoothly_and_only_through_the_parameter(stage: Stage) -> None:
    scenario = at(stage, 0)
    stage.set_level(3, 0.0)
    zs = []
    for _ in range(90):
        stage.update(FRAME)
        zs.append(scenario.city.get_z())
    steps = [a - b for a, b in itertools.pairwise(zs)]
    assert all(0 <= s <= Heights.spec.parameter("height").rate * FRAME + 1e-6 for s in steps)
    assert zs[-1] < zs[0] - 5.0  # a second and a half later: visibly higher


def test_railing_and_floor_give_way(stage: Stage) -> None:
    """Solid parapet -> open bars -> knee-high bar -> nothing; concrete floor -> glass."""
    scenario = at(stage, 0)
    assert not scenario.front_rail.is_hidden() and not scenario.front_panel.is_hidden()
    top = scenario.front_rail.get_tight_bounds(scenario.root)[1].z
    assert top == pytest.approx(1.3, abs=0.02)  # chest-high
    scenario = at(stage, 2)
    assert scenario.front_panel.is_hidden()  # open bars: the street shows through
    scenario = at(stage, 5)
    top = scenario.front_rail.get_tight_bounds(scenario.root)[1].z
    assert top == pytest.approx(0.5, abs=0.02)  # knee-high bar
    scenario = at(stage, 6)
    assert scenario.front_rail.is_hidden() and scenario.side_rails.is_hidden()
    # The edge stays a gaze/proximity target with the railing gone.
    assert stage.targets.positions(stage.world, "stimulus")
    assert scenario.edge_marker.get_y(scenario.root) == pytest.approx(1.3)

    scenario = at(stage, 3)
    assert not scenario.slab.is_hidden()
    assert scenario.slab.get_color_scale()[3] == pytest.approx(1.0)
    scenario = at(stage, 3, 0.5)  # half-way to the glass rung: the concrete fades
    assert 0.3 < scenario.slab.get_color_scale()[3] < 0.7
    scenario = at(stage, 4)
    assert scenario.slab.is_hidden() and not scenario.glass_floor.is_hidden()


def test_wind_is_heard_and_seen(stage: Stage) -> None:
    calm = at(stage, 0)
    for _ in range(45):
        stage.update(FRAME)
    quiet = calm.volumes["wind"]
    calm_flag = calm.flag.get_r()
    calm_lean = max(abs(g.get_shear()[1]) for g in calm.tree_groups)
    windy = at(stage, 6, 1.0)
    for _ in range(45):
        stage.update(FRAME)
    assert windy.volumes["wind"] > quiet + 0.5
    assert windy.volumes["traffic"] < 0.2  # the street is far below
    assert calm_flag > 60 and windy.flag.get_r() == pytest.approx(0.0)  # hanging -> streaming
    assert max(abs(g.get_shear()[1]) for g in windy.tree_groups) > 3 * calm_lean
    # A gust swells the wind on top of the parameter, then dies away.
    before = windy.volumes["wind"]
    windy.event("gust")
    for _ in range(60):
        stage.update(FRAME)
    assert ("play", "gust") in stage.sound.log
    assert windy.volumes["wind"] >= before
    for _ in range(90 * 10):
        stage.update(FRAME)
    assert windy.volumes["wind"] == pytest.approx(before)
    # A stop silences the loops; back from the safe place they play again.
    stage.show_safe(True)
    assert not windy.wind_sound.looping
    stage.show_safe(False)
    assert windy.wind_sound.looping and windy.traffic_sound.looping


def test_paper_falls_all_the_way_to_the_street(stage: Stage) -> None:
    scenario = at(stage, 2)  # tenth floor: 32 m to fall
    scenario.event("paper")
    z0 = scenario.paper_node.get_z()
    for _ in range(90 * 2):
        stage.update(FRAME)
    assert scenario.paper_node.get_y() > scenario.edge_marker.get_y()  # over the edge
    assert scenario.paper_node.get_z() < z0
    for _ in range(90 * 20):
        stage.update(FRAME)
    assert scenario.paper.landed
    assert scenario.paper_node.get_z() == pytest.approx(-10 * STOREY, abs=0.05)
