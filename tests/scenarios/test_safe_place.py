"""The safe place keeps the scenario contract, holds nothing feared and nothing startling,
appears under the client wherever the exposure left them, and paces breathing at 6 a minute."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest
from panda3d.core import Point3

from scenarios.registry import load
from scenarios.safe_place import (
    BEACH_SLOPE,
    BREATH_IN,
    BREATH_OUT,
    SHORE_Y,
    SOUND_FADE,
    WATER_Z,
    SafePlace,
)
from tests.scenarios.contract import FRAME, ScenarioContract
from vr_server.engine import Engine
from vr_server.stage import Stage

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "syringe.py"


class TestSafePlace(ScenarioContract):
    scenario = "safe_place"

    def test_stimulus_is_tagged(self, stage: Stage) -> None:
        # Overrides the contract on purpose: the safe place is where the client goes to get
        # away from the feared thing, so nothing in it may be tagged as a stimulus (gaze and
        # proximity channels must read "elsewhere" and "none" while it is shown).
        assert not stage.targets.positions(stage.world, "stimulus")
        assert len(stage.targets) == 0

    def test_variants_are_calm_choices_not_a_hierarchy(self) -> None:
        spec = SafePlace.spec
        assert spec.graded is False
        # Its events may be used in safe hold, where escalating events are refused.
        assert spec.live_events and not any(e.escalates for e in spec.live_events)
        assert spec.parameter("wave_height").maximum <= 0.4  # gentle at every setting
        labels = [r.label for r in spec.rungs]
        assert len(set(labels)) == len(labels) >= 6

    def test_shown_beside_an_exposure_under_the_client(self, engine: Engine) -> None:
        stage = Stage(engine, load(str(EXAMPLE)), SafePlace, seed=5)
        start = time.perf_counter()
        stage.load()
        assert time.perf_counter() - start < 1.5, "the safe place must be ready at once"
        try:
            assert stage.safe_runner is not None
            safe = stage.safe_runner.scenario
            assert isinstance(safe, SafePlace)
            for _ in range(5):
                stage.update(FRAME)
            assert not safe.surf.looping, "no surf heard while the exposure runs"

            # The exposure left the client high up and facing -X (heading 90).
            stage.client.head = Point3(3.0, -2.0, 121.65)
            engine.head.set_h(90)
            stage.show_safe(True)
            stage.update(FRAME)
            root = safe.root.get_pos(stage.world)
            assert (root.x, root.y) == pytest.approx((3.0, -2.0), abs=1e-4)
            # The sand under the head is one standing eye height below it.
            sand = root.z + WATER_Z + BEACH_SLOPE * SHORE_Y
            assert sand == pytest.approx(121.65 - SafePlace.spec.eye_height, abs=1e-3)
            # The sea lies ahead, in the direction the client faces.
            ahead = safe.surf_anchor.get_pos(stage.world) - stage.client.head
            ahead.z = 0
            assert ahead.normalized().dot((-1, 0, 0)) > 0.99

            # Once shown it stays put: another variant, with the client's head turned, does not
            # swing the world round them.
            engine.head.set_h(30)
            stage.safe_runner.set_level(len(SafePlace.spec.rungs) - 1, 0.0)
            stage.update(FRAME)
            assert safe.root.get_pos(stage.world) == root
            assert safe.root.get_h(stage.world) == pytest.approx(90)

            # The loops start silent and fade in over a few seconds: no sudden sound.
            assert safe.surf.looping and safe.birds.looping
            assert safe.waves_volume < 0.01
            for _ in range(int(SOUND_FADE / FRAME) + 2):
                stage.update(FRAME)
            assert safe.waves_volume > 0.2 and safe.birdsong_volume > 0.1

            stage.show_safe(False)
            assert not safe.surf.looping and not safe.birds.looping
        finally:
            stage.unload()

    def test_variants_change_the_light(self, stage: Stage) -> None:
        safe = stage.runner.scenario
        assert isinstance(safe, SafePlace)
        brightness = {}
        for rung in (0, 1, len(SafePlace.spec.rungs) - 1):
            stage.set_level(rung, 0.0)
            stage.runner.snap()
            color = safe.sun.node().get_color()
            brightness[rung] = color[0] + color[1] + color[2]
            stars = not safe.stars.is_hidden()
            assert stars == (rung == len(SafePlace.spec.rungs) - 1), f"stars at rung {rung}"
        assert brightness[1] > brightness[0] > 5 * brightness[len(SafePlace.spec.rungs) - 1]

    def test_breathing_guide_paces_six_breaths_a_minute(self, stage: Stage) -> None:
        safe = stage.runner.scenario
        assert isinstance(safe, SafePlace)
        assert safe.orb.is_hidden()
        safe.event("breathing_guide")
        heights = []
        for _ in range(int(30 / FRAME)):
            stage.update(FRAME)
            heights.append(safe.orb.get_z())
        assert not safe.orb.is_hidden()
        speed = max(abs(b - a) for a, b in itertools.pairwise(heights)) / FRAME
        assert speed < 0.5, "the light moves slowly"
        peaks = [i for i in range(1, len(heights) - 1)
                 if heights[i - 1] < heights[i] >= heights[i + 1]]
        gaps = [(b - a) * FRAME for a, b in itertools.pairwise(peaks)]
        assert len(peaks) == 3 and all(g == pytest.approx(BREATH_IN + BREATH_OUT, abs=0.05)
                                       for g in gaps)
        assert peaks[0] * FRAME == pytest.approx(BREATH_IN, abs=0.05)  # starts breathing in
        safe.event("breathing_guide_off")
        for _ in range(int(3.1 / FRAME)):
            stage.update(FRAME)
        assert safe.orb.is_hidden()

    def test_nothing_moves_fast(self, stage: Stage) -> None:
        # Over a whole swell cycle at the roughest and at the calmest setting, no visible node
        # moves faster than a slow walk (the swells roll in at 1 m/s).
        safe = stage.runner.scenario
        safe.event("breathing_guide")
        nodes = safe.root.find_all_matches("**")
        for rung in (1, len(SafePlace.spec.rungs) - 1):
            stage.set_level(rung, 1.0)
            stage.runner.snap()
            before = [(n.get_pos(safe.root), n.get_scale(safe.root).z) for n in nodes]
            for _ in range(int(11 / FRAME)):
                stage.update(FRAME)
                after = [(n.get_pos(safe.root), n.get_scale(safe.root).z) for n in nodes]
                for node, (p0, s0), (p1, s1) in zip(nodes, before, after, strict=True):
                    if min(s0, s1) < 0.01 or node.is_hidden():
                        continue  # a swell that has sunk to nothing starts again out at sea
                    speed = (p1 - p0).length() / FRAME
                    assert speed <= 1.2, f"{node.get_name()} moves at {speed:.2f} m/s"
                before = after
