"""A complete scenario in one file: a syringe on a clinic tray, for needle (injection) fear.

This is the example of ``docs/scenario-guide.md``. Preview it with::

    vret scenario validate examples/syringe.py
    vret scenario render examples/syringe.py --rung 5 -o syringe.png
"""

from __future__ import annotations

from collections.abc import Mapping

from scenarios import procedural as p
from scenarios.base import Scenario
from scenarios.spec import LiveEvent, Parameter, Rung, ScenarioSpec


def _rung(label: str, description: str, distance: float, cap: float, size: float) -> Rung:
    return Rung(label=label, description=description,
                values={"distance": distance, "cap_on": cap, "size": size})


class Syringe(Scenario):
    """A syringe that comes closer, loses its cap and grows to life size."""

    spec = ScenarioSpec(
        name="syringe",
        title="Syringe",
        description="A syringe on a clinic tray, from across the room to within reach.",
        parameters=(
            Parameter(name="distance", label="Distance", unit="m", minimum=0.3, maximum=6.0,
                      rate=0.5, description="From the client's eyes to the syringe."),
            Parameter(name="cap_on", label="Needle cap", unit="", minimum=0.0, maximum=1.0,
                      rate=0.5, description="1: capped; 0: the needle is bare."),
            Parameter(name="size", label="Size", unit="x", minimum=0.3, maximum=3.0, rate=0.4,
                      description="Scale of the syringe against life size."),
        ),
        rungs=(
            _rung("Small, far, capped", "A small capped syringe across the room.", 6.0, 1, 0.3),
            _rung("Far, capped", "A life-size capped syringe across the room.", 5.0, 1, 1.0),
            _rung("Table, capped", "On the table two metres away, capped.", 2.0, 1, 1.0),
            _rung("Table, bare", "Two metres away, the cap off.", 2.0, 0, 1.0),
            _rung("Close, bare", "One metre away, the needle bare.", 1.0, 0, 1.0),
            _rung("Within reach", "Half a metre away, the bare needle pointing at the client.",
                  0.5, 0, 1.0),
            _rung("Magnified", "Within reach and three times life size: every detail of the "
                  "needle in view.", 0.5, 0, 3.0),
        ),
        live_events=(LiveEvent(name="drip", label="Drop from the needle",
                               description="A drop forms at the tip and falls."),),
        viewpoint=(0.0, 0.0, 0.0),
        eye_height=1.2,  # seated at the table
        view_pitch=-30.0,
    )

    def load(self) -> None:
        """A tray on a table in a plain room, and the syringe."""
        root = self.root
        p.sky_dome(root, (0.82, 0.84, 0.86), (0.9, 0.9, 0.88), (0.5, 0.5, 0.5))
        room = p.MeshBuilder("room")
        room.box((0, 3, -0.05), (8, 10, 0.1), (0.75, 0.76, 0.78, 1))   # floor
        room.box((0, 8, 1.5), (8, 0.1, 3.0), (0.86, 0.88, 0.86, 1))    # far wall
        room.box((0, 1.5, 0.75), (1.2, 6.0, 0.05), (0.55, 0.42, 0.3, 1))  # long table
        p.material(room.attach(root), roughness=0.7)
        syringe = root.attach_new_node("syringe")
        body = p.MeshBuilder("barrel")
        body.cylinder((0, 0, 0), 0.012, 0.09, (0.92, 0.95, 0.97, 1))
        body.cylinder((0, 0, 0.09), 0.004, 0.012, (0.9, 0.9, 0.9, 1))
        body.cylinder((0, 0, 0.005), 0.0115, 0.012, (0.12, 0.12, 0.14, 1))  # rubber stopper
        body.cylinder((0, 0, -0.06), 0.003, 0.065, (0.85, 0.86, 0.9, 1))  # plunger rod
        body.cylinder((0, 0, -0.064), 0.012, 0.004, (0.85, 0.86, 0.9, 1))  # thumb rest
        p.material(body.attach(syringe), roughness=0.2)
        needle = p.MeshBuilder("needle")
        needle.cylinder((0, 0, 0.1), 0.0007, 0.04, (0.8, 0.8, 0.85, 1), segments=8)
        p.material(needle.attach(syringe), roughness=0.15, metallic=1.0)
        cap = p.MeshBuilder("cap")
        cap.cylinder((0, 0, 0.1), 0.005, 0.045, (0.95, 0.55, 0.1, 1))
        self.cap = cap.attach(syringe)
        p.material(self.cap, roughness=0.5)
        tray = p.box(syringe, "tray", (0, -0.016, 0.03), (0.12, 0.006, 0.2), (0.3, 0.33, 0.36, 1))
        p.material(tray, roughness=0.3, metallic=0.8)
        drop = p.MeshBuilder("drop")
        drop.sphere((0, 0, 0), 0.0025, (0.85, 0.9, 1.0, 1), segments=8, rings=6)
        self.drop = drop.attach(syringe)
        p.material(self.drop, roughness=0.05)
        self.drop.hide()
        self.drop_fall = -1.0  # seconds into the drop's fall; negative: no drop
        syringe.set_p(90)  # lying on the tray, the needle pointing at the client
        self.syringe = syringe
        p.sun(root, (30, -50, 0), (1.0, 0.97, 0.92), 2.5)
        p.ambient(root, (0.8, 0.85, 0.9), 0.5)
        self.context.targets.tag(syringe, "stimulus", radius=0.08)

    def update(self, values: Mapping[str, float], dt: float) -> None:
        """Place the syringe on the table at the distance, at its size, capped or not."""
        self.syringe.set_pos(0, values["distance"], 0.79 + 0.012 * values["size"])
        self.syringe.set_scale(values["size"])
        # The cap slides off along the needle rather than vanishing.
        self.cap.set_z((1.0 - values["cap_on"]) * 0.06)
        if values["cap_on"] < 0.05:
            self.cap.hide()
        else:
            self.cap.show()
        if self.drop_fall >= 0:
            # Driven by dt, not the wall clock: the same calls give the same scene.
            self.drop_fall += dt
            # Falls (local -Y is down once the syringe lies on its side) onto the tray.
            self.drop.set_pos(0, -min(0.012, 0.5 * 9.8 * self.drop_fall ** 2), 0.14)
            if self.drop_fall > 1.5:
                self.drop_fall = -1.0
                self.drop.hide()

    def event(self, name: str) -> None:
        """The only live event: a drop forms at the needle's tip and falls onto the tray."""
        if name == "drip":
            self.drop_fall = 0.0
            self.drop.set_pos(0, 0, 0.14)
            self.drop.show()
