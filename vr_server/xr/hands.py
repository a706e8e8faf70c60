"""The client's controllers in the scene: a small body where each tracked controller is, and,
while the rating panel is open, a pointing ray from the controller in use to where it points.

A client who cannot see their hands cannot aim at a choice; the ray ends at the panel, where
the cell it meets is highlighted. Everything here is drawn like the rating panel: unlit, after
the scene, never hidden by it.
"""

from __future__ import annotations

from panda3d.core import (
    CardMaker,
    LineSegs,
    NodePath,
    Point3,
    Quat,
    Vec3,
)

from scenarios import procedural as p
from vr_server.rating_panel import linear
from vr_server.xr.types import HANDS, Hand

RAY_M = 2.0
"""How far the ray reaches when it meets nothing."""
BODY_COLOUR = (0.12, 0.13, 0.15, 1.0)
RAY_COLOUR = (0.55, 0.8, 1.0, 1.0)
"""Colours as they should look (sRGB); drawn as the renderer's linear colours, like the
rating panel's."""


class ControllerModels:
    """One body per hand and the pointing ray, under ``world``."""

    def __init__(self, world: NodePath) -> None:
        self.world = world
        self.root = world.attach_new_node("controllers")
        self.root.set_light_off(1)
        self.root.set_shader_off(1)
        self.root.set_bin("fixed", 35)  # over the scene and the panel, under the vignette
        self.root.set_depth_test(False)
        self.root.set_depth_write(False)
        self.bodies: dict[Hand, NodePath] = {}
        for hand in HANDS:
            body = p.MeshBuilder(f"controller-{hand}")
            body.box((0, -0.02, -0.01), (0.04, 0.1, 0.035), linear(BODY_COLOUR))
            body.box((0, 0.03, 0.01), (0.05, 0.03, 0.05), linear(BODY_COLOUR))
            node = body.attach(self.root)
            node.hide()
            self.bodies[hand] = node
        segs = LineSegs("pointer")
        segs.set_thickness(2.0)
        segs.set_color(*linear(RAY_COLOUR))
        segs.move_to(0, 0, 0)
        segs.draw_to(0, 1, 0)
        self.ray = self.root.attach_new_node(segs.create())
        dot = CardMaker("pointer-dot")
        dot.set_frame(-0.008, 0.008, -0.008, 0.008)
        self.dot = self.root.attach_new_node(dot.generate())
        self.dot.set_color(*linear(RAY_COLOUR))
        self.dot.set_two_sided(True)
        self.ray.hide()
        self.dot.hide()

    def place(self, hand: Hand, where: tuple[Point3, Quat] | None) -> None:
        """Show ``hand``'s body at its grip pose in the world (None: not tracked, hidden)."""
        body = self.bodies[hand]
        if where is None:
            body.hide()
            return
        body.set_pos_quat(self.world, where[0], where[1])
        body.show()

    def point(self, ray: tuple[Point3, Vec3] | None, length: float | None) -> None:
        """Show the ray from ``ray``'s origin along its direction, ``length`` metres long (to
        what it meets; None: :data:`RAY_M`); ``ray`` None hides it."""
        if ray is None:
            self.ray.hide()
            self.dot.hide()
            return
        origin, direction = ray
        reach = RAY_M if length is None else max(0.01, length)
        self.ray.set_pos(self.world, origin)
        self.ray.look_at(self.world, origin + direction, Vec3(0, 0, 1))
        self.ray.set_scale(1, reach, 1)
        self.ray.show()
        if length is None:
            self.dot.hide()  # it meets nothing
            return
        # Where it meets the panel, facing back along the ray.
        self.dot.set_pos(self.world, origin + direction * (reach - 0.004))
        self.dot.look_at(self.world, origin, Vec3(0, 0, 1))
        self.dot.show()

    def remove(self) -> None:
        """Take everything out of the scene."""
        self.root.remove_node()
