"""The scenario API: the base class every exposure environment derives from.

Lifecycle (called by the server's frame pipeline, always from the render thread)::

    scenario = MyScenario(context)   # nothing built yet
    scenario.load()                  # build the scene under context.root, tag the stimuli
    scenario.rung_start(rung)        # the hierarchy moved to a new rung (after load: rung 0)
    scenario.settle()                # the values jump (after load, a preview, a stop)
    scenario.update(values, dt)      # every frame: apply the current parameter values
    scenario.event(name)             # a live event the therapist triggered
    scenario.unload()                # remove everything; the context's root is left empty

``values`` are already smoothed: the runner (:mod:`scenarios.runner`) moves each parameter
toward the level's target no faster than the parameter's declared rate, so ``update`` only maps
numbers onto the scene and never needs to guard against jumps. Scenarios never reach for
Panda3D's ShowBase globals; everything they may touch arrives in the :class:`ScenarioContext`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from panda3d.core import NodePath, Point3

from scenarios.sound import SoundPlayer
from scenarios.spec import ScenarioSpec
from scenarios.targets import TargetRegistry


@dataclass
class ClientView:
    """Where the client is, updated by the frame pipeline before scenarios run each frame."""

    head: Point3 = field(default_factory=lambda: Point3(0, 0, 1.65))
    heading: float = 0.0
    """Which way the head faces (degrees about Z; 0 looks along +Y)."""
    hand: Point3 = field(default_factory=lambda: Point3(0.25, 0.45, 1.0))
    """The client's dominant hand (a resting position in front of the body when no controller
    is tracked): where a spider walking 'toward your hand' goes."""
    carried: Point3 = field(default_factory=lambda: Point3(0, 0, 0))
    """How far the scenario has carried the client from its viewpoint (an elevator's rise, a
    moving walkway's travel), in the scenario's metres. A scenario that moves the client sets
    it in ``update``; the server moves the client there and dims the edges of the view while
    it moves (the comfort vignette). Nothing else moves the client: there is no artificial
    locomotion."""
    carried_heading: float = 0.0
    """Degrees the scenario has turned the client about Z (a turning platform)."""


@dataclass
class ScenarioContext:
    """What the engine hands a scenario: its own root node and the collaborators it may use."""

    root: NodePath
    """The scenario's subtree: everything it builds goes under here, and nothing else."""
    seed: int
    rng: np.random.Generator
    """The scenario's only source of randomness: the same seed gives the same scene."""
    sound: SoundPlayer
    targets: TargetRegistry
    client: ClientView = field(default_factory=ClientView)
    clock: Callable[[], float] = lambda: 0.0
    """Session time in seconds (it runs on while the session is paused; animate from ``dt``,
    which is 0 while paused)."""
    loader: Any = None
    """Panda3D's model loader, for sites that bring their own models; the built-ins do not."""


class Scenario:
    """Base of every scenario. Subclasses set :attr:`spec` and override the lifecycle hooks."""

    spec: ClassVar[ScenarioSpec]

    def __init__(self, context: ScenarioContext) -> None:
        self.context = context
        self.root = context.root
        self.rng = context.rng

    def load(self) -> None:
        """Build the scene under ``self.root`` and tag the stimulus nodes."""
        raise NotImplementedError(f"{type(self).__name__} must implement load()")

    def rung_start(self, rung: int) -> None:
        """The hierarchy moved to ``rung``; override for one-off changes (a door closing).

        Also called when the scene comes back after a stop or a break (same rung): a stop
        silences every sound, so a scenario with looping sounds (wind, a hum) starts them
        again here.
        """

    def settle(self) -> None:
        """The values are about to jump rather than ramp (the scene was just built, a preview
        snapped to a level, or the exposure came back from a stop at its mildest values): put
        moving things where the next ``update`` expects them instead of animating there."""

    def update(self, values: Mapping[str, float], dt: float) -> None:
        """Apply this frame's parameter values to the scene (``dt``: seconds since last)."""
        raise NotImplementedError(f"{type(self).__name__} must implement update()")

    def floor_area(self) -> tuple[float, float, float, float] | None:
        """The free floor around the client where walls enclose it, as ``(x_min, y_min,
        x_max, y_max)`` in :attr:`root`'s coordinates, as the walls stand now; None (the
        default) for an open scene. The avatar stands inside it, comes closer in a small
        room, and waits outside one too small for it beside the client."""
        return None

    def event(self, name: str) -> None:
        """Play a live event from :attr:`ScenarioSpec.live_events` (validated by the caller)."""

    def unload(self) -> None:
        """Remove everything the scenario built. Overrides must call ``super().unload()``."""
        self.context.sound.stop_all()
        self.context.targets.clear()
        for child in self.root.get_children():
            child.remove_node()
        self.root.clear_light()
        self.root.clear_fog()
