"""The enclosed space keeps the contract, and its door, walls, light and sound behave."""

from __future__ import annotations

from panda3d.core import NodePath, Point3, Vec3

from scenarios.enclosed import CLEARANCE, FLICKER_S, MIN_CEILING, MIN_SIZE, VENT_OFF_S
from tests.scenarios.contract import FRAME, ScenarioContract
from vr_server.stage import Stage

TOP = 6


def _run(stage: Stage, seconds: float) -> None:
    for _ in range(round(seconds / FRAME)):
        stage.update(FRAME)


def _face(stage: Stage, name: str) -> Point3:
    """Where a wall's inner face (or the ceiling's underside) is, in world coordinates."""
    scenario = stage.runner.scenario
    node: NodePath = scenario.ceiling if name == "ceiling" else scenario.walls[name]
    return node.find(f"**/{name}-geometry").get_pos(stage.world)


class TestEnclosed(ScenarioContract):
    scenario = "enclosed"

    def test_door_swings_shut_with_a_slam_then_bolts_with_a_click(self, stage: Stage) -> None:
        scenario = stage.runner.scenario
        assert scenario.hinge.get_h() > 90  # rung 0: wide open
        assert not scenario.led_green.is_hidden() and scenario.led_red.is_hidden()
        stage.set_level(2, 0.0)
        _run(stage, 5.5)  # the door closes at 0.2 per second
        assert abs(scenario.hinge.get_h()) < 1e-6
        assert ("play", "door-slam") in stage.sound.log
        assert ("play", "lock-click") not in stage.sound.log
        stage.set_level(4, 0.0)
        _run(stage, 1.5)
        assert ("play", "lock-click") in stage.sound.log
        assert scenario.bolt.get_x() > 0.06  # thrown into the keeper
        assert scenario.led_red.is_hidden() is False and scenario.led_green.is_hidden()
        # Looking straight ahead is looking at the shut door.
        assert stage.gaze(stage.client.head, Vec3(0, 1, 0)).looking_at == "stimulus"

    def test_walls_and_ceiling_close_in_but_stay_beyond_reach(self, stage: Stage) -> None:
        head = stage.client.head
        assert _face(stage, "front").y - head.y > 4  # a large room, the door across it
        assert stage.stimulus_distance(head) > 1.3
        stage.set_level(TOP, 1.0)
        stage.runner.snap()
        top = stage.runner.scenario.spec.rungs[TOP].values
        # The closet: 70 cm to the back and side walls, the door a little further ahead.
        for name, axis, where in (("front", 1, top["depth"] - MIN_SIZE / 2),
                                  ("back", 1, -MIN_SIZE / 2), ("left", 0, -MIN_SIZE / 2),
                                  ("right", 0, MIN_SIZE / 2)):
            assert abs(_face(stage, name)[axis] - where) < 1e-4, name
        assert abs(_face(stage, "ceiling").z - MIN_CEILING) < 1e-4
        # The nearest enclosing surface is the ceiling, a hand's width above the eyes.
        assert abs(stage.stimulus_distance(head) - (MIN_CEILING - head.z)) < 0.01
        # A client who steps toward a wall holds it off: it stops short instead of passing.
        stage.client.head = Point3(0.45, 0.4, 1.65)
        stage.update(FRAME)
        assert _face(stage, "right").x >= 0.45 + CLEARANCE - 1e-6
        assert _face(stage, "front").y >= 0.4 + CLEARANCE - 1e-6

    def test_hum_grows_as_the_room_shrinks_and_stops_with_the_vent(self, stage: Stage) -> None:
        scenario = stage.runner.scenario
        assert ("loop", "vent-hum") in stage.sound.log
        mild = scenario.hum_volume
        stage.set_level(TOP, 1.0)
        stage.runner.snap()
        assert scenario.hum_volume > mild + 0.5
        scenario.event("vent_stops")
        stage.update(FRAME)
        assert stage.sound.log[-1] == ("stop", "vent-hum")
        _run(stage, VENT_OFF_S - 1)
        assert stage.sound.log.count(("loop", "vent-hum")) == 1
        _run(stage, 1.5)
        assert stage.sound.log.count(("loop", "vent-hum")) == 2

    def test_flicker_never_brighter_than_the_level(self, stage: Stage) -> None:
        scenario = stage.runner.scenario
        stage.set_level(5, 0.0)
        stage.runner.snap()
        steady = scenario._lamp_light.get_color()[0]
        scenario.event("lights_flicker")
        levels = []
        for _ in range(round(FLICKER_S / FRAME) + 5):
            stage.update(FRAME)
            levels.append(scenario._lamp_light.get_color()[0])
        assert max(levels) <= steady + 1e-6
        assert min(levels) < 0.5 * steady  # it did flicker
        assert levels[-1] == steady  # and came back
