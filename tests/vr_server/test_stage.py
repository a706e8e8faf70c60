"""The stage: the exposure and the safe place side by side, swapped within a frame."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from scenarios.registry import load
from scenarios.runner import MAX_STEP_S
from vr_server.engine import Engine
from vr_server.stage import Stage

EXAMPLE = str(Path(__file__).resolve().parents[2] / "examples" / "syringe.py")


@pytest.fixture
def stage(engine: Engine) -> Iterator[Stage]:
    stage = Stage(engine, load("enclosed"), load("safe_place"), seed=1, contain_failures=True)
    stage.load()
    yield stage
    stage.unload()


def test_stop_swaps_the_scenes_in_one_call_and_silences_the_stimulus(stage: Stage) -> None:
    stage.set_level(5, 0.0)
    for _ in range(30):
        stage.update(1 / 90)
    assert any(s.looping for s in stage.sound._sounds)  # the room's hum
    stage.show_safe(True)
    assert stage.engine.scene.is_hidden() and not stage.engine.safe.is_hidden()
    assert not any(s.looping for s in stage.sound._sounds)
    assert not stage.targets.positions(stage.world, "stimulus")  # nothing to look at


def test_a_lower_level_during_a_stop_does_not_wake_the_stimulus(stage: Stage) -> None:
    stage.set_level(5, 0.0)
    stage.update(1 / 90)
    stage.show_safe(True)
    heard = len(stage.sound.log)
    stage.set_level(2, 0.0)  # the therapist steps down while the client is in the safe place
    stage.update(1 / 90)
    assert stage.sound.log[heard:] == []  # no sound of the room restarted in the safe place
    assert not any(s.looping for s in stage.sound._sounds)
    stage.show_safe(False)
    assert stage.runner.values == stage.runner.spec.level_values(0, 0.0)  # from the mildest
    assert stage.runner.target == stage.runner.spec.level_values(2, 0.0)


def test_a_stalled_frame_never_jumps(stage: Stage) -> None:
    before = dict(stage.runner.values)
    stage.set_level(6, 1.0)
    stage.update(5.0)  # a five-second stall
    for p in stage.runner.spec.parameters:
        assert abs(stage.runner.values[p.name] - before[p.name]) <= p.rate * MAX_STEP_S + 1e-9


def test_a_failing_scene_is_removed_and_reported(engine: Engine) -> None:
    cls = load(EXAMPLE)
    stage = Stage(engine, cls, load("safe_place"), seed=1, contain_failures=True)
    stage.load()
    try:
        def broken(values: object, dt: float) -> None:
            raise ValueError("bad geometry")

        stage.runner.scenario.update = broken  # type: ignore[method-assign]
        stage.update(1 / 90)
        (scene, error), = stage.failures
        assert scene == "exposure" and "bad geometry" in str(error)
        assert stage.showing_safe and stage.engine.scene.is_hidden()
        stage.show_safe(False)  # never shown again
        assert stage.showing_safe and stage.engine.scene.is_hidden()
    finally:
        stage.unload()


def test_the_enclosed_rooms_walls_are_the_floor_area_in_world_coordinates(stage: Stage) -> None:
    stage.set_level(0, 0.0)
    stage.update(1 / 90)
    big = stage.floor_area()
    assert big is not None and big[2] - big[0] == pytest.approx(6.0, abs=0.01)
    stage.set_level(len(stage.runner.scenario.spec.rungs) - 1, 1.0)
    stage.runner.snap()
    stage.update(1 / 90)
    small = stage.floor_area()
    assert small is not None
    assert (small[2] - small[0], small[3] - small[1]) == pytest.approx((1.4, 1.6), abs=0.05)
    stage.show_safe(True)
    assert stage.floor_area() is None  # the safe place is open
