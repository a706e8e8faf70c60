"""Drives one scenario from the session's level: targets, ramps, safe exits.

The runner is the only thing that moves scene parameters. Each frame it steps every parameter
toward the level's target by at most ``rate * dt`` (the rate the scenario declared), then hands
the values to :meth:`Scenario.update`. A stop does not ramp: the frame pipeline hides the whole
scenario in the same frame and shows the safe place. When the exposure comes back after a stop,
the runner restarts from the mildest values and ramps up again, so the client never returns to
the harshest setting at once.
"""

from __future__ import annotations

from collections.abc import Mapping

from scenarios.base import Scenario
from scenarios.spec import ScenarioSpec

MAX_STEP_S = 0.1
"""The longest frame a ramp accounts for: no frame moves a parameter more than ``rate * 0.1``."""


class ScenarioRunner:
    """Targets and smoothed values for one loaded scenario."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.spec: ScenarioSpec = type(scenario).spec
        self._rates = {p.name: p.rate for p in self.spec.parameters}
        self.rung = 0
        self.intensity = 0.0
        self.values: dict[str, float] = self.spec.level_values(0, 0.0)
        self.target: dict[str, float] = dict(self.values)
        self.loaded = False

    def load(self) -> None:
        """Build the scene and show the mildest level."""
        self.scenario.load()
        self.loaded = True
        self.scenario.rung_start(0)
        self.scenario.settle()
        self.scenario.update(self.values, 0.0)

    def set_level(self, rung: int, intensity: float, announce: bool = True) -> None:
        """Aim at a level; the values get there at the declared rates.

        ``announce`` False changes the target without calling ``rung_start`` (the scene is
        hidden; it is announced when the scene is shown again).
        """
        self.target = self.spec.level_values(rung, intensity)
        if rung != self.rung:
            self.rung = rung
            if announce:
                self.scenario.rung_start(rung)
        self.intensity = intensity

    def snap(self) -> None:
        """Jump to the target at once: for previews and screenshots only, never in a session."""
        self.values = dict(self.target)
        self.scenario.settle()
        self.scenario.update(self.values, 0.0)

    def restart_mildest(self) -> None:
        """Drop the values to the mildest level (after a stop); the target is kept."""
        self.values = self.spec.level_values(0, 0.0)
        self.scenario.settle()

    def step(self, dt: float) -> Mapping[str, float]:
        """Move every value toward its target by at most its rate, then update the scene."""
        values, target = self.values, self.target
        # After a stall (a dragged window, a slow disk) the ramp resumes where it was rather
        # than covering the whole stall in one visible jump.
        dt = min(dt, MAX_STEP_S)
        for name, rate in self._rates.items():
            gap = target[name] - values[name]
            limit = rate * dt
            if gap > limit:
                values[name] += limit
            elif gap < -limit:
                values[name] -= limit
            else:
                values[name] = target[name]
        self.scenario.update(values, dt)
        return values

    @property
    def settled(self) -> bool:
        """Whether every value has reached its target."""
        return self.values == self.target

    def unload(self) -> None:
        """Remove the scene."""
        if self.loaded:
            self.scenario.unload()
            self.loaded = False
