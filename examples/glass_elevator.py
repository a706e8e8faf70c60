"""A scenario that moves the client: a glass elevator up the outside of a tower (heights).

It shows the one way a scenario moves the client: it sets ``context.client.carried`` in
``update`` and the server carries the client there, dimming the edges of the view while they
ride (the comfort vignette). Try it::

    vret scenario render examples/glass_elevator.py --rung 3 -o elevator.png
    vret serve --scenario examples/glass_elevator.py
"""

from __future__ import annotations

from collections.abc import Mapping

from panda3d.core import Point3

from scenarios import procedural as p
from scenarios.base import Scenario
from scenarios.spec import Parameter, Rung, ScenarioSpec

FLOORS = ((0.0, "Ground floor", "The elevator stands at the street, doors open."),
          (4.0, "First floor", "One floor up: the street just below the glass floor."),
          (12.0, "Third floor", "Three floors up, the cars small below."),
          (30.0, "Eighth floor", "Eight floors up over the street."),
          (60.0, "Roof level", "Sixty metres up at the top of the tower."))


class GlassElevator(Scenario):
    """A glass cab on a tower's facade; each rung is a floor, ridden at an elevator's pace."""

    spec = ScenarioSpec(
        name="glass_elevator",
        title="Glass elevator",
        description="A glass elevator rising up the outside of a tower over a street.",
        parameters=(
            Parameter(name="height", label="Height", unit="m", minimum=0.0, maximum=60.0,
                      rate=1.5, description="How high the cab is over the street (it rides "
                      "at 1.5 m/s, an elevator's pace)."),
        ),
        rungs=tuple(Rung(label=label, description=text, values={"height": h})
                    for h, label, text in FLOORS),
        viewpoint=(0.0, 0.0, 0.0),
        view_pitch=-15.0,
    )

    def load(self) -> None:
        """The street, the tower behind the cab, and the cab."""
        root = self.root
        p.sky_dome(root, (0.35, 0.55, 0.85), (0.8, 0.86, 0.9), (0.4, 0.4, 0.38))
        street = p.MeshBuilder("street")
        street.box((0, 20, -0.05), (80, 80, 0.1), (0.32, 0.33, 0.35, 1))
        for i in range(8):  # parked cars along the kerb
            street.box((-6 + (i % 2) * 12, 6 + 6 * i, 0.7), (1.8, 4.2, 1.4),
                       (0.7, 0.2 + 0.08 * i, 0.2, 1))
        street_node = street.attach(root)
        p.material(street_node, roughness=0.8)
        tower = p.box(root, "tower", (0, -3.0, 35), (20, 4, 70), (0.62, 0.64, 0.68, 1))
        p.material(tower, roughness=0.6)
        self.cab = root.attach_new_node("cab")
        frame = p.MeshBuilder("cab-floor")
        frame.box((0, 0, -0.05), (2.0, 2.0, 0.1), (0.3, 0.3, 0.32, 1))
        frame.box((0, 0, 2.4), (2.0, 2.0, 0.1), (0.3, 0.3, 0.32, 1))
        p.material(frame.attach(self.cab), roughness=0.5, metallic=0.6)
        glass = p.box(self.cab, "cab-glass", (0, 1.0, 1.2), (2.0, 0.02, 2.4),
                      (0.75, 0.88, 0.95, 0.25))
        p.glass(glass)
        p.sun(root, (40, -45, 0), (1.0, 0.97, 0.92), 2.5)
        p.ambient(root, (0.8, 0.85, 0.9), 0.5)
        self.context.targets.tag(street_node, "stimulus", radius=8.0)  # the drop below

    def update(self, values: Mapping[str, float], dt: float) -> None:
        """The cab at its height, and the client in it."""
        height = values["height"]
        self.cab.set_z(height)
        self.context.client.carried = Point3(0, 0, height)
