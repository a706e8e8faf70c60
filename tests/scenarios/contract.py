"""The contract every scenario keeps: a test class each scenario's tests inherit.

Subclass :class:`ScenarioContract` and set ``scenario`` (a registered name or a file path)::

    class TestHeights(ScenarioContract):
        scenario = "heights"
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

import numpy as np
import pytest
from panda3d.core import NodePath

from scenarios.base import Scenario
from scenarios.registry import load
from telemetry import wire
from telemetry.schemas import Envelope, Message, SampleBatch, Samples
from vr_server.engine import Engine
from vr_server.preview import render
from vr_server.stage import Stage
from vr_server.streams import scenario_stream

FRAME = 1 / 90


def scene_state(root: NodePath) -> list[tuple[object, ...]]:
    """Every node's name, transform and visibility under ``root``, rounded: a comparable state."""
    state = []
    for node in [root, *root.find_all_matches("**")]:
        pos, hpr, scale = node.get_pos(root), node.get_hpr(root), node.get_scale(root)
        shear, tint = node.get_shear(root), node.get_color_scale()
        state.append((node.get_name(), node.is_hidden(),
                      *(round(v, 5) for v in (*pos, *hpr, *scale, *shear, *tint))))
    return state


class ScenarioContract:
    """Inherited tests: load headless, render every rung, determinism, valid telemetry,
    smooth parameters, live events, clean unload."""

    scenario: ClassVar[str]
    min_rungs: ClassVar[int] = 6
    min_changed: ClassVar[float] = 0.05
    """Share of pixels that must change clearly between the lowest and highest rung; a
    scenario whose feared thing is small may lower it, saying why."""

    @pytest.fixture
    def cls(self) -> type[Scenario]:
        return load(self.scenario)

    @pytest.fixture
    def stage(self, engine: Engine, cls: type[Scenario]) -> Iterator[Stage]:
        stage = Stage(engine, cls, None, seed=7)
        stage.load()
        yield stage
        stage.unload()

    def test_spec_has_a_graded_hierarchy(self, cls: type[Scenario]) -> None:
        spec = cls.spec
        assert len(spec.rungs) >= self.min_rungs
        for rung in spec.rungs:
            assert rung.label.strip() and rung.description.strip()
        for parameter in spec.parameters:
            assert parameter.label.strip()

    def test_every_rung_renders(self, engine: Engine, cls: type[Scenario],
                                stage: Stage) -> None:
        for rung in range(len(cls.spec.rungs)):
            image = render(cls, rung, 0.0, stage=stage)
            assert image.shape[:2] == (engine.config.size[1], engine.config.size[0])
            # A real scene, not a cleared buffer: light and shade across the picture.
            assert image.std() > 8, f"rung {rung} rendered a flat image"

    def test_lowest_and_highest_rung_differ_clearly(self, cls: type[Scenario],
                                                    stage: Stage) -> None:
        low = render(cls, 0, 0.0, stage=stage).astype(np.int16)
        high = render(cls, len(cls.spec.rungs) - 1, 1.0, stage=stage).astype(np.int16)
        changed = (np.abs(low - high).max(axis=2) > 24).mean()
        assert changed > self.min_changed, f"only {changed:.1%} of the pixels changed"

    def test_same_seed_same_state(self, engine: Engine, cls: type[Scenario]) -> None:
        states = []
        for _ in range(2):
            stage = Stage(engine, cls, None, seed=11)
            stage.load()
            stage.set_level(len(cls.spec.rungs) // 2, 0.5)
            for event in cls.spec.live_events:
                stage.runner.scenario.event(event.name)
            for _ in range(45):
                stage.update(FRAME)
            states.append((scene_state(stage.runner.scenario.root), dict(stage.runner.values)))
            stage.unload()
        assert states[0] == states[1]

    def test_parameters_never_jump_and_stay_in_bounds(self, cls: type[Scenario],
                                                      stage: Stage) -> None:
        spec = cls.spec
        top = len(spec.rungs) - 1
        previous = dict(stage.runner.values)
        for target in ((top, 1.0), (0, 0.0), (top // 2, 0.3)):
            stage.set_level(*target)
            for _ in range(90):
                values = stage.update(FRAME)
                for p in spec.parameters:
                    assert p.minimum <= values[p.name] <= p.maximum
                    assert abs(values[p.name] - previous[p.name]) <= p.rate * FRAME + 1e-9
                previous = dict(values)

    def test_emits_only_valid_telemetry(self, cls: type[Scenario], stage: Stage) -> None:
        spec = cls.spec
        descriptor = scenario_stream(spec, 90.0)
        stage.set_level(len(spec.rungs) - 1, 1.0)
        rows, hits = [], []
        for _ in range(30):
            values = stage.update(FRAME)
            rows.append([values[n] for n in spec.parameter_names])
            hits.append(stage.gaze(stage.client.head, stage.engine.head.get_quat().get_forward()))
        batch = SampleBatch(stream=descriptor.name,
                            timestamps_ns=np.arange(30, dtype=np.int64) * 11_111_111,
                            values=np.asarray(rows, dtype=descriptor.dtype))
        env = Envelope(session="s1", seq=0, t_session_ns=0, t_wall_ns=0)
        frames = wire.encode(Message(env, Samples(batches=(batch,))), b"tel.s1")
        _, decoded = wire.decode(frames, has_topic=True)
        assert isinstance(decoded.body, Samples)
        assert np.isfinite(decoded.body.batches[0].values).all()
        assert all(hit.looking_at in {"stimulus", "avatar", "elsewhere"} for hit in hits)
        distance = stage.stimulus_distance(stage.client.head)
        assert distance is None or distance >= 0

    def test_stimulus_is_tagged(self, stage: Stage) -> None:
        assert stage.targets.positions(stage.world, "stimulus"), "no node tagged as stimulus"

    def test_live_events_play(self, cls: type[Scenario], stage: Stage) -> None:
        stage.set_level(len(cls.spec.rungs) - 1, 0.0)
        stage.runner.snap()
        for event in cls.spec.live_events:
            stage.runner.scenario.event(event.name)
            for _ in range(30):
                stage.update(FRAME)
            stage.engine.step()  # and the scene still draws

    def test_unload_leaves_nothing_behind(self, engine: Engine, cls: type[Scenario]) -> None:
        tasks = {t.name for t in engine.task_mgr.getAllTasks()}
        lights = engine.render.find_all_matches("**/+LightNode").get_num_paths()
        stage = Stage(engine, cls, None, seed=3)
        stage.load()
        stage.set_level(len(cls.spec.rungs) - 1, 1.0)
        for _ in range(10):
            stage.update(FRAME)
            engine.step()
        root = stage.runner.scenario.root
        stage.runner.unload()  # the scenario's own unload: its root must be left empty
        assert root.get_num_children() == 0
        stage.unload()
        assert len(stage.targets) == 0
        assert all(not s.looping for s in stage.sound._sounds)
        assert stage.sound.loaded == 0
        assert {t.name for t in engine.task_mgr.getAllTasks()} == tasks
        assert engine.render.find_all_matches("**/+LightNode").get_num_paths() == lights
        assert engine.scene.get_num_children() == 0
