"""A simple, calm figure that stands where the therapist avatar will stand.

It gives the scene the avatar's place (at the client's side, never between the client and the
stimulus) and its gaze target, so "looking at the avatar" can be measured and tested now. The
full avatar (body with joints, gaze, speech, gestures) replaces it.
"""

from __future__ import annotations

import math

from panda3d.core import NodePath, Point3

from scenarios import procedural as p
from scenarios.targets import TargetRegistry

SIDE_OFFSET = (-1.1, 0.8)
"""Where the figure stands from the client's feet, in the client's frame (metres: left, ahead)."""
HEIGHT = 1.72


class AvatarStandIn:
    """A figure at the client's side that turns to face the client."""

    def __init__(self, parent: NodePath, targets: TargetRegistry) -> None:
        self.parent = parent
        self.targets = targets
        self.root: NodePath | None = None
        self._head: NodePath | None = None
        self._face: tuple[float, float, float] | None = None

    def load(self, viewpoint: tuple[float, float, float], heading: float) -> None:
        """Build the figure beside the client standing at ``viewpoint`` facing ``heading``."""
        root = self.parent.attach_new_node("avatar")
        body = p.MeshBuilder("avatar-body")
        cloth, trousers, skin = (0.28, 0.42, 0.52, 1), (0.22, 0.22, 0.26, 1), (0.78, 0.6, 0.5, 1)
        body.cylinder((0, 0, 0.0), 0.09, 0.85, trousers, segments=12)            # legs
        body.cylinder((0, 0, 0.85), 0.19, 0.58, cloth, segments=16, top_radius=0.21)  # torso
        body.cylinder((-0.25, 0, 0.8), 0.05, 0.6, cloth, segments=8)             # arms
        body.cylinder((0.25, 0, 0.8), 0.05, 0.6, cloth, segments=8)
        body.cylinder((0, 0, 1.43), 0.05, 0.08, skin, segments=8)                # neck
        mesh = body.attach(root)
        p.material(mesh, roughness=0.8)
        head = p.MeshBuilder("avatar-head")
        head.sphere((0, 0, 0), (0.09, 0.1, 0.12), skin, segments=14, rings=10)
        head.sphere((-0.035, 0.085, 0.02), 0.012, (0.1, 0.1, 0.12, 1), segments=6, rings=4)
        head.sphere((0.035, 0.085, 0.02), 0.012, (0.1, 0.1, 0.12, 1), segments=6, rings=4)
        head.sphere((0, -0.01, 0.06), (0.095, 0.1, 0.08), (0.25, 0.17, 0.12, 1),
                    segments=12, rings=6)  # hair
        self._head = head.attach(root)
        self._head.set_pos(0, 0, HEIGHT - 0.12)
        p.material(self._head, roughness=0.7)
        rad = math.radians(heading)
        dx, dy = SIDE_OFFSET
        x = viewpoint[0] + dx * math.cos(rad) - dy * math.sin(rad)
        y = viewpoint[1] + dx * math.sin(rad) + dy * math.cos(rad)
        root.set_pos(x, y, viewpoint[2])
        self.root = root
        # A sphere around head and shoulders: where a client looks to meet the therapist.
        self.targets.tag(root, "avatar", radius=0.4, center=(0.0, 0.0, HEIGHT - 0.3))

    def face_position(self, world: NodePath) -> tuple[float, float, float] | None:
        """Where the client looks to meet the avatar's eyes (None before load)."""
        if self._head is None:
            return None
        if self._face is None:  # the figure turns on the spot: its face stays put
            pos = self._head.get_pos(world)
            self._face = (pos.x, pos.y, pos.z)
        return self._face

    def update(self, dt: float, client_head: Point3) -> None:
        """Turn toward the client (the figure keeps the client in view)."""
        if self.root is not None:
            target = Point3(client_head.x, client_head.y, self.root.get_z())
            self.root.look_at(target)

    def unload(self) -> None:
        """Remove the figure."""
        if self.root is not None:
            self.targets.untag(self.root)
            self.root.remove_node()
            self.root = None
            self._head = None
            self._face = None
