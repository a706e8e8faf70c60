"""The stage: the exposure scenario and the safe place, loaded side by side in one engine.

Both scenes are built up front, so a stop never waits for anything to load: removing the
stimulus and showing the safe place is two visibility flips in the same frame. The stage owns
the collaborators the scenes are given (targets, sound, the client's view) and nothing about
the session; the frame pipeline tells it what to show.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

import numpy as np
from panda3d.core import Point3, Vec3

from scenarios.base import ClientView, Scenario, ScenarioContext
from scenarios.runner import ScenarioRunner
from scenarios.sound import SoundPlayer
from scenarios.targets import GazeHit, TargetRegistry
from vr_server.engine import Engine

log = logging.getLogger(__name__)


class Stage:
    """The loaded scenario and safe place, and which of them the client sees."""

    def __init__(self, engine: Engine, scenario_cls: type[Scenario],
                 safe_cls: type[Scenario] | None, seed: int,
                 clock: Callable[[], float] = lambda: 0.0,
                 contain_failures: bool = False) -> None:
        self.engine = engine
        self.world = engine.world
        exposure_root = engine.scene.attach_new_node(scenario_cls.spec.name)
        self.targets = TargetRegistry(scope=exposure_root)
        self.client = ClientView()
        self.sound = SoundPlayer(engine.audio_manager, engine.head)
        self.safe_sound = SoundPlayer(engine.audio_manager, engine.head)
        self.scenario_cls = scenario_cls
        # Separate seeded streams: the safe place's randomness never shifts the scenario's.
        seeds = np.random.SeedSequence(seed).spawn(2)
        self.runner = ScenarioRunner(scenario_cls(ScenarioContext(
            root=exposure_root, seed=seed,
            rng=np.random.default_rng(seeds[0]), sound=self.sound, targets=self.targets,
            client=self.client, clock=clock, loader=engine.base.loader)))
        self.safe_runner: ScenarioRunner | None = None
        if safe_cls is not None:
            self.safe_runner = ScenarioRunner(safe_cls(ScenarioContext(
                root=engine.safe.attach_new_node(safe_cls.spec.name), seed=seed,
                rng=np.random.default_rng(seeds[1]), sound=self.safe_sound,
                targets=TargetRegistry(), client=self.client, clock=clock,
                loader=engine.base.loader)))
        self.showing_safe = False
        self.contain_failures = contain_failures
        """In a session, an exception from a scene's code removes that scene (the exposure
        gives way to the safe place at once) instead of ending the session; the failures wait
        in :attr:`failures` for the session to record. Previews and tests let them raise."""
        self.failures: list[tuple[str, BaseException]] = []
        self.broken: set[str] = set()
        """Scenes that failed: ``"exposure"`` and/or ``"safe"``; never shown again."""

    @property
    def spec(self) -> object:
        """The exposure scenario's spec."""
        return self.scenario_cls.spec

    def load(self) -> None:
        """Build both scenes; the exposure scene shows its mildest level, the safe place hides."""
        self.runner.load()
        if self.safe_runner is not None:
            self.safe_runner.load()
        self.engine.safe.hide()
        if self.safe_runner is not None:
            # The safe place is built around its own viewpoint; line that up with the
            # scenario's, so the client is in the same spot whichever scene is shown.
            safe, here = self.safe_runner.spec, self.scenario_cls.spec
            self.engine.safe.set_hpr(here.view_heading - safe.view_heading, 0, 0)
            self.engine.safe.set_pos(0, 0, 0)
            offset = self.engine.world.get_relative_vector(self.engine.safe, safe.viewpoint)
            self.engine.safe.set_pos(here.viewpoint[0] - offset.x, here.viewpoint[1] - offset.y,
                                     here.viewpoint[2] - offset.z)
        self.place_client()

    def place_client(self) -> None:
        """Put the head at the scenario's viewpoint and eye height, facing its way."""
        spec = self.scenario_cls.spec
        x, y, z = spec.viewpoint
        eye = z + spec.eye_height
        self.engine.head.set_pos_hpr(x, y, eye, spec.view_heading, spec.view_pitch, 0)
        self.client.head = Point3(x, y, eye)
        self.client.heading = spec.view_heading

    def _guard(self, scene: str, call: Callable[[], object]) -> None:
        """Run a scene's code; with ``contain_failures``, a failure removes that scene."""
        if scene in self.broken:
            return
        if not self.contain_failures:
            call()
            return
        try:
            call()
        except Exception as exc:  # any bug in scene code; the session goes on without it
            log.exception("the %s scene failed", scene)
            self.failures.append((scene, exc))
            self.broken.add(scene)
            if scene == "exposure":
                self.engine.scene.hide()
                self.sound.stop_all()
                self.showing_safe = False
                self.show_safe(True)
            else:
                self.engine.safe.hide()
                self.safe_sound.stop_all()

    def show_safe(self, safe: bool) -> None:
        """Swap scenes at once: stimulus gone and safe place shown in this frame (or back)."""
        if not safe and "exposure" in self.broken:
            safe = True  # a failed exposure scene is never shown again
        if safe == self.showing_safe:
            return
        self.showing_safe = safe
        # Where the exposure had carried the client does not carry over: the other scene
        # starts from its viewpoint (a cut, which the comfort vignette does not treat as
        # motion).
        self.client.carried = Point3(0, 0, 0)
        self.client.carried_heading = 0.0
        self._carry()
        if safe:
            # The exposure goes first, before any of the safe place's code runs.
            self.engine.scene.hide()
            self.sound.stop_all()
            safe_runner = self.safe_runner
            if safe_runner is not None and "safe" not in self.broken:
                self.engine.safe.show()
                self._guard("safe", lambda: safe_runner.scenario.rung_start(safe_runner.rung))
        else:
            self.engine.safe.hide()
            self.safe_sound.stop_all()
            self.engine.scene.show()

            def back() -> None:
                # Back from a stop: from the mildest values, ramping up to the level again.
                self.runner.restart_mildest()
                self.runner.scenario.rung_start(self.runner.rung)

            self._guard("exposure", back)

    def set_level(self, rung: int, intensity: float) -> None:
        """Aim the exposure at a level (reached at the scenario's declared rates). While the
        safe place is shown only the target moves: the rung is announced to the scenario
        (its sounds restart) when the exposure is shown again."""
        self._guard("exposure", lambda: self.runner.set_level(
            rung, intensity, announce=not self.showing_safe))

    def play_event(self, scene: str, name: str) -> bool:
        """Play a live event in the exposure (``"exposure"``) or the safe place (``"safe"``);
        False when that scene is not the one shown."""
        if scene == "exposure" and not self.showing_safe:
            self._guard("exposure", lambda: self.runner.scenario.event(name))
            return "exposure" not in self.broken
        if scene == "safe" and self.showing_safe and self.safe_runner is not None:
            safe_runner = self.safe_runner
            self._guard("safe", lambda: safe_runner.scenario.event(name))
            return "safe" not in self.broken
        return False

    def update(self, dt: float) -> Mapping[str, float]:
        """Advance whichever scene is shown by ``dt`` seconds; returns the exposure values."""
        if self.showing_safe:
            safe_runner = self.safe_runner
            if safe_runner is not None:
                self._guard("safe", lambda: safe_runner.step(dt))
            self._carry()
            self.safe_sound.update(self.world)
            return self.runner.values
        self._guard("exposure", lambda: self.runner.step(dt))
        self._carry()
        self.sound.update(self.world)
        return self.runner.values

    def _carry(self) -> None:
        """Move the client's rig to where the shown scene has carried them."""
        carried = self.client.carried
        self.engine.rig.set_pos_hpr(carried, (self.client.carried_heading, 0, 0))

    def floor_area(self) -> tuple[float, float, float, float] | None:
        """The shown scene's walled floor (:meth:`Scenario.floor_area`) in world coordinates,
        or None in the open (or when its scene failed and the question cannot be asked)."""
        runner = self.safe_runner if self.showing_safe else self.runner
        if runner is None or ("safe" if self.showing_safe else "exposure") in self.broken:
            return None
        try:
            area = runner.scenario.floor_area()
        except Exception:  # a scene's bug must not stop the frame; the avatar stays put
            return None
        if area is None:
            return None
        root = runner.scenario.root
        a = self.world.get_relative_point(root, Point3(area[0], area[1], 0))
        b = self.world.get_relative_point(root, Point3(area[2], area[3], 0))
        return (min(a.x, b.x), min(a.y, b.y), max(a.x, b.x), max(a.y, b.y))

    def gaze(self, origin: Point3, direction: Vec3) -> GazeHit:
        """What the client's gaze ray hits (stimulus, avatar or elsewhere)."""
        return self.targets.gaze(self.world, origin, direction)

    def stimulus_distance(self, head: Point3) -> float | None:
        """Metres from the head to the nearest visible stimulus."""
        return self.targets.nearest_distance(self.world, head)

    def unload(self) -> None:
        """Remove both scenes, their roots and their sounds."""
        for runner in (self.runner, self.safe_runner):
            if runner is not None:
                runner.unload()
                runner.scenario.root.remove_node()
        self.sound.release()
        self.safe_sound.release()
        self.engine.scene.show()
        self.engine.safe.hide()
