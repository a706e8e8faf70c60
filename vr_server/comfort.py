"""The comfort vignette: the edges of the view dim while the scenario carries the client.

Seeing the world move while the body stays still (vection) is what makes people sick in VR,
and most of it comes through peripheral vision. So while a scenario moves the client's rig (an
elevator rising, a walkway gliding), a dark ring closes in from the edges of each eye's view,
the more the faster the motion, and opens again when it stops. The client's own head movement
never triggers it: the rig moves only when a scenario carries the client (there is no
artificial locomotion), and a jump (a cut to the safe place) is not motion.

The ring is drawn by each eye's camera, after the scene and without depth, so it is in every
image the client sees, in the mirror view, and in a replay (which steps it through the same
motion).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from panda3d.core import (
    CardMaker,
    NodePath,
    Point3,
    SamplerState,
    Texture,
    TransparencyAttrib,
)

FULL_SPEED_M_S = 1.5
"""Travel at this speed (or faster) closes the vignette fully."""
FULL_TURN_DEG_S = 45.0
"""Turning at this rate (or faster) closes it fully."""
CUT_M = 2.0
"""A move of more than this in one frame is a cut to another place, not motion."""
ATTACK_S = 0.15
RELEASE_S = 0.6
"""Seconds the ring takes to close fully when motion starts, and to open after it stops."""
INNER = 0.55
"""Where the dimming begins, as a fraction of the way from the centre of the view to its
edges; the centre of the view is never dimmed."""
MAX_ALPHA = 0.97
"""Alpha at the edges at full strength (blending is in linear light, so the edges look
darker than 1 - alpha suggests only once it is high)."""


@dataclass
class VignetteChange:
    """The vignette started (``on``) or finished (``off``) softening a motion."""

    on: bool
    strength: float


def _ring_texture(size: int = 128) -> Texture:
    """Black: transparent inside ``INNER``, opaque from the middle of the view's edges out,
    smooth in between."""
    y, x = np.mgrid[-1:1:size * 1j, -1:1:size * 1j]
    r = np.sqrt(x * x + y * y)  # 1 at the middle of each edge of the view
    t = np.clip((r - INNER) / (1.0 - INNER), 0.0, 1.0)
    alpha = (t * t * (3 - 2 * t) * 255).astype(np.uint8)
    rgba = np.zeros((size, size, 4), np.uint8)
    rgba[..., 3] = alpha
    tex = Texture("comfort-vignette")
    tex.setup_2d_texture(size, size, Texture.T_unsigned_byte, Texture.F_rgba8)
    # Panda3D's RAM images are BGRA; black needs no swap, the alpha channel is the last.
    tex.set_ram_image(rgba.tobytes())
    tex.set_wrap_u(SamplerState.WM_clamp)
    tex.set_wrap_v(SamplerState.WM_clamp)
    return tex


class ComfortVignette:
    """The ring on every eye camera, and the motion that sets its strength."""

    def __init__(self, rig: NodePath, world: NodePath, cameras: Sequence[NodePath],
                 on_change: Callable[[VignetteChange], None] | None = None,
                 enabled: bool = True) -> None:
        self.rig = rig
        self.world = world
        self.enabled = enabled
        self.on_change = on_change
        self.strength = 0.0
        """0 (open) to 1 (fully closed)."""
        self.peak = 0.0
        """The strongest it got in the motion now softened (reported when it ends)."""
        self._last: tuple[Point3, float] | None = None
        self._on = False
        tex = _ring_texture()
        self.cards: list[NodePath] = []
        for cam in cameras:
            maker = CardMaker("comfort-vignette")
            maker.set_frame(-1, 1, -1, 1)
            card = cam.attach_new_node(maker.generate())
            card.set_texture(tex)
            card.set_transparency(TransparencyAttrib.M_alpha)
            card.set_light_off(1)
            card.set_shader_off(1)
            card.set_bin("fixed", 40)  # after the scene and the rating panel
            card.set_depth_test(False)
            card.set_depth_write(False)
            card.set_color(0, 0, 0, 1)
            card.set_alpha_scale(0.0)
            card.hide()
            self.cards.append(card)
        self._cameras = list(cameras)
        self._fitted: list[tuple[float, ...]] = [()] * len(self.cards)
        self.fit()

    def fit(self) -> None:
        """Cover each camera's whole frustum, just past its near plane (again after a lens
        changed: a headset's runtime may change the eyes' frustums)."""
        for i, (cam, card) in enumerate(zip(self._cameras, self.cards, strict=True)):
            lens = cam.node().get_lens()
            film, offset = lens.get_film_size(), lens.get_film_offset()
            focal, near = lens.get_focal_length(), lens.get_near() * 1.5
            key = (film[0], film[1], offset[0], offset[1], focal, near)
            if key == self._fitted[i]:
                continue
            self._fitted[i] = key
            scale = near / focal * 1.02
            card.set_pos(offset[0] / focal * near, near, offset[1] / focal * near)
            card.set_scale(film[0] / 2 * scale, 1, film[1] / 2 * scale)

    def update(self, dt: float) -> None:
        """Follow the rig's motion since the last frame and set the ring's strength."""
        pos = self.rig.get_pos(self.world)
        heading = self.rig.get_h(self.world)
        last, self._last = self._last, (Point3(pos), heading)
        if last is None or dt <= 0:
            return
        if self.strength == 0.0 and pos == last[0] and heading == last[1]:
            return  # nothing moves and nothing shows: the common frame costs nothing more
        moved = (pos - last[0]).length()
        turned = abs((heading - last[1] + 180.0) % 360.0 - 180.0)
        target = 0.0
        if self.enabled and moved <= CUT_M:
            target = min(1.0, max(moved / dt / FULL_SPEED_M_S, turned / dt / FULL_TURN_DEG_S))
        # Toward the target at a steady pace: from open to closed in ATTACK_S, back in
        # RELEASE_S.
        if target > self.strength:
            self.strength = min(target, self.strength + dt / ATTACK_S)
        else:
            self.strength = max(target, self.strength - dt / RELEASE_S)
        self._show()

    def _show(self) -> None:
        alpha = self.strength * MAX_ALPHA
        for card in self.cards:
            if alpha <= 0.0:
                card.hide()
            else:
                card.show()
                card.set_alpha_scale(alpha)
        if self.strength > 0.0:
            self.peak = max(self.peak, self.strength)
        if self.strength >= 0.05 and not self._on:
            self._on = True
            if self.on_change is not None:
                self.on_change(VignetteChange(True, self.strength))
        elif self.strength == 0.0 and self._on:
            self._on = False
            if self.on_change is not None:
                self.on_change(VignetteChange(False, self.peak))
            self.peak = 0.0

    def remove(self) -> None:
        """Take the rings off the cameras."""
        for card in self.cards:
            card.remove_node()
        self.cards.clear()
