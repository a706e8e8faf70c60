"""The rating panel: the open check-in's question and scale, in the scene before the client.

When a check-in opens, a panel appears 1.1 m in front of the client, a little below the eyes,
facing them: the question, the scale as a row of cells (eleven for SUDS and the other 0-100
ratings, one per 2 points for the 0-20 motion-sickness scale, Yes and No for consent) with the
anchors' words at the ends, and a red STOP cell to the side, so that the client's stop stays
within reach while the panel is open. It is placed when it opens and stays put (a panel that
follows the head cannot be looked at).

It is answered by whatever the client has: the number keys at a window, the virtual client,
a headset's controller (point and let go of the trigger, or a thumbstick and its click), or by
**gaze dwell**: looking at a cell for
:data:`DWELL_S` seconds chooses it (:data:`STOP_DWELL_S` for STOP). The cell under the gaze is
highlighted and fills as the dwell runs, and the chosen cell shows for a moment after the
answer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from panda3d.core import CardMaker, NodePath, Point3, TextNode, Vec3

from instruments.definition import ResponseScale

DISTANCE_M = 1.1
BELOW_DEG = 8.0
"""How far below the line of sight the panel's centre is (people read slightly downward)."""
PITCH_RANGE = (-40.0, 10.0)
"""The panel is placed along the client's line of sight, but never further up or down."""
WIDTH_M = 0.9
CELL_H_M = 0.1
DWELL_S = 1.5
STOP_DWELL_S = 1.0
SHOW_ANSWER_S = 0.6
def linear(rgba: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """An sRGB colour as the renderer's linear colour (the output converts back)."""
    return (rgba[0] ** 2.2, rgba[1] ** 2.2, rgba[2] ** 2.2, rgba[3])


COLOURS = {name: linear(rgba) for name, rgba in {
    "cell": (0.93, 0.94, 0.96, 1), "hover": (0.70, 0.83, 1.0, 1),
    "chosen": (0.30, 0.68, 0.35, 1), "stop": (0.86, 0.12, 0.10, 1),
    "panel": (0.13, 0.15, 0.19, 1)}.items()}


@dataclass(frozen=True)
class Cell:
    """One choice on the panel: its value (None for STOP) and its rectangle in panel units."""

    value: float | None
    label: str
    x0: float
    x1: float
    z0: float
    z1: float

    def contains(self, x: float, z: float) -> bool:
        """Whether the panel point (x, z) is inside the cell."""
        return self.x0 <= x <= self.x1 and self.z0 <= z <= self.z1


def choices(scale: ResponseScale, yes_no: bool) -> list[tuple[float, str]]:
    """The values offered as cells: yes/no, or at most eleven evenly spaced values."""
    if yes_no:
        return [(scale.high, "Yes"), (scale.low, "No")]
    steps = round((scale.high - scale.low) / scale.step)
    every = max(1, math.ceil(steps / 10))
    values = [scale.low + i * scale.step for i in range(0, steps + 1, every)]
    if values[-1] != scale.high:
        values.append(scale.high)
    return [(v, f"{v:g}") for v in values]


class RatingPanel:
    """The panel of one open check-in at a time."""

    def __init__(self, world: NodePath) -> None:
        self.world = world
        self.root = world.attach_new_node("rating-panel")
        self.root.set_light_off(1)
        self.root.set_shader_off(1)
        self.root.set_bin("fixed", 30)  # in front of the scene, as a caption is
        self.root.set_depth_test(False)
        self.root.set_depth_write(False)
        self.root.hide()
        self.checkin_id: str | None = None
        self.cells: list[Cell] = []
        self._cards: list[NodePath] = []
        self._hover: int | None = None
        self._pointed: int | None = None
        """The cell a controller's ray was on last frame."""
        self._dwell = 0.0
        self._closing_in: float | None = None
        self._held: int | None = -1
        """The cell under the gaze when the panel opened (-1: not looked yet): it is not
        chosen by dwelling on until the gaze has left it, so a client who keeps looking at
        the cell they just chose does not answer the next question the same way."""
        self.chosen: Cell | None = None

    @property
    def is_open(self) -> bool:
        """Whether a question is on the panel."""
        return self.checkin_id is not None

    @property
    def closing(self) -> bool:
        """Whether the panel is showing an answer before it closes."""
        return self._closing_in is not None

    # ------------------------------------------------------------------ building

    def open(self, checkin_id: str, question: str, scale: ResponseScale, yes_no: bool,
             low_label: str, high_label: str, head: Point3, heading_deg: float,
             pitch_deg: float = 0.0) -> None:
        """Show ``question`` with its scale before the client, where they look (heading and
        pitch of the head, in degrees)."""
        self._clear()
        self.checkin_id = checkin_id
        self.chosen = None
        self._closing_in = None
        self._held = -1
        offered = choices(scale, yes_no)
        half = WIDTH_M / 2
        # Top down: the question (as many lines as it takes), the cells, the anchors' words;
        # STOP beside the cells, on the left.
        title = TextNode("rating-question")
        title.set_text(question)
        title.set_align(TextNode.A_center)
        title.set_wordwrap(24)
        title.set_text_color(1, 1, 1, 1)
        size = 0.034
        line = title.get_line_height() * size
        rows = max(1, title.get_num_rows())
        top = 0.2
        node = self.root.attach_new_node(title)
        node.set_scale(size)
        node.set_pos(0, -0.002, top - line)
        self._cards.append(node)
        z1 = top - line * rows - 0.04
        z0 = z1 - CELL_H_M
        bottom = z0 - (0.07 if not yes_no else 0.03)
        self._card("panel", -half - 0.2, half + 0.05, bottom, top + 0.02, COLOURS["panel"])
        node.reparent_to(self.root)  # drawn after (over) the panel's card
        gap = 0.012
        width = (WIDTH_M - gap * (len(offered) - 1)) / len(offered)
        for i, (value, label) in enumerate(offered):
            x0 = -half + i * (width + gap)
            cell = Cell(value, label, x0, x0 + width, z0, z1)
            self.cells.append(cell)
            self._card(f"cell-{label}", x0, x0 + width, z0, z1, COLOURS["cell"])
            self._text(label, (x0 + x0 + width) / 2, z0 + 0.03, 0.035, (0.1, 0.1, 0.12, 1))
        if not yes_no:
            self._text(low_label, -half, z0 - 0.05, 0.026, (0.85, 0.88, 0.95, 1),
                       TextNode.A_left)
            self._text(high_label, half, z0 - 0.05, 0.026, (0.85, 0.88, 0.95, 1),
                       TextNode.A_right)
        stop = Cell(None, "STOP", -half - 0.18, -half - 0.06, z0, z1)  # apart from "0"
        self.cells.append(stop)
        self._card("cell-stop", stop.x0, stop.x1, stop.z0, stop.z1, COLOURS["stop"])
        self._text("STOP", (stop.x0 + stop.x1) / 2, stop.z0 + 0.035, 0.03, (1, 1, 1, 1))
        # Placed once, where the client looks (a little below), facing them.
        pitch = math.radians(min(max(pitch_deg - BELOW_DEG, PITCH_RANGE[0]), PITCH_RANGE[1]))
        rad = math.radians(heading_deg)
        forward = Vec3(-math.sin(rad) * math.cos(pitch), math.cos(rad) * math.cos(pitch),
                       math.sin(pitch))
        centre = head + forward * DISTANCE_M
        self.root.set_pos(self.world, centre)
        # Text and cards face -Y: point +Y away from the client so their front faces them.
        self.root.look_at(self.world, centre * 2 - head, Vec3(0, 0, 1))
        self.root.show()

    def _card(self, name: str, x0: float, x1: float, z0: float, z1: float,
              colour: tuple[float, float, float, float]) -> None:
        maker = CardMaker(name)
        maker.set_frame(x0, x1, z0, z1)
        card = self.root.attach_new_node(maker.generate())
        card.set_color(colour)
        card.set_two_sided(True)
        self._cards.append(card)

    def _text(self, text: str, x: float, z: float, size: float,
              colour: tuple[float, float, float, float], align: int = TextNode.A_center) -> None:
        node = TextNode("rating-label")
        node.set_text(text)
        node.set_align(align)
        node.set_text_color(*colour)
        np_ = self.root.attach_new_node(node)
        np_.set_scale(size)
        np_.set_pos(x, -0.003, z)
        self._cards.append(np_)

    def _clear(self) -> None:
        for card in self._cards:
            card.remove_node()
        self._cards.clear()
        self.cells.clear()
        self._hover = None
        self._pointed = None
        self._dwell = 0.0

    # ------------------------------------------------------------------ each frame

    def cell_at(self, origin: Point3, direction: Vec3) -> int | None:
        """Which cell the gaze ray from ``origin`` along ``direction`` (world) meets."""
        if not self.is_open:
            return None
        o = self.root.get_relative_point(self.world, origin)
        d = self.root.get_relative_vector(self.world, direction)
        if abs(d.y) < 1e-6:
            return None
        t = -o.y / d.y  # the panel is the plane y = 0 in its own frame
        if t <= 0:
            return None
        x, z = o.x + d.x * t, o.z + d.z * t
        return next((i for i, c in enumerate(self.cells) if c.contains(x, z)), None)

    def tick(self, dt: float) -> bool:
        """Count down the answer shown before the panel closes; True while it is shown."""
        if self._closing_in is None:
            return False
        self._closing_in -= dt
        if self._closing_in <= 0:
            self.close()
        return True

    def point(self, origin: Point3, direction: Vec3) -> Cell | None:
        """Highlight the cell a controller points at (its trigger answers it, no dwell); the
        highlight stays when the ray leaves the panel. Returns the highlighted cell."""
        if not self.is_open or self._closing_in is not None:
            return None
        index = self.cell_at(origin, direction)
        # Only a ray that moves onto another cell moves the highlight, so a thumbstick can
        # move it on from where the controller rests.
        if index != self._pointed:
            self._pointed = index
            if index is not None:
                self._paint(self._hover, "cell")
                self._hover = index
                self._paint(index, "hover", 1.0)
        return self.highlighted()

    def step(self, delta: int) -> Cell | None:
        """Move the highlight ``delta`` choices right (a thumbstick); STOP is not among them
        (it is pointed at, or chosen by the stop chord)."""
        if not self.is_open or self._closing_in is not None:
            return None
        last = len(self.cells) - 2  # the scale's cells; STOP is the last cell
        if last < 0:
            return None
        current = self._hover if self._hover is not None and self._hover <= last else None
        index = last // 2 if current is None else min(max(current + delta, 0), last)
        self._paint(self._hover, "cell")
        self._hover = index
        self._paint(index, "hover", 1.0)
        return self.highlighted()

    def highlighted(self) -> Cell | None:
        """The cell highlighted now (None: none)."""
        if self._hover is None or self._hover >= len(self.cells):
            return None
        return self.cells[self._hover]

    def hit_distance(self, origin: Point3, direction: Vec3) -> float | None:
        """How far along the ray (world) it meets the panel (None: it misses the panel)."""
        if not self.is_open:
            return None
        o = self.root.get_relative_point(self.world, origin)
        d = self.root.get_relative_vector(self.world, direction)
        if abs(d.y) < 1e-6:
            return None
        t = -o.y / d.y
        if t <= 0:
            return None
        x, z = o.x + d.x * t, o.z + d.z * t
        left, right = -WIDTH_M / 2 - 0.2, WIDTH_M / 2 + 0.05
        bottom = min((c.z0 for c in self.cells), default=0.0) - 0.1
        if not (left <= x <= right and bottom <= z <= 0.25):
            return None
        return float(t * direction.length() / max(d.length(), 1e-9))

    def update(self, dt: float, origin: Point3, direction: Vec3) -> Cell | None:
        """Follow the gaze: returns a cell once it has been looked at long enough."""
        if self.tick(dt):
            return None
        index = self.cell_at(origin, direction)
        if self._held == -1:
            self._held = index
        if self._held is not None:
            if index == self._held:
                return None
            self._held = None  # the gaze moved on: dwelling counts from now
        if index != self._hover:
            self._paint(self._hover, "cell")
            self._hover, self._dwell = index, 0.0
        if index is None:
            return None
        self._dwell += dt
        cell = self.cells[index]
        needed = STOP_DWELL_S if cell.value is None else DWELL_S
        self._paint(index, "hover", self._dwell / needed)
        if self._dwell >= needed:
            self._dwell = 0.0
            return cell
        return None

    def _paint(self, index: int | None, kind: str, filled: float = 0.0) -> None:
        if index is None or index >= len(self.cells):
            return
        cell = self.cells[index]
        card = self.root.find(f"cell-{'stop' if cell.value is None else cell.label}")
        if card.is_empty():
            return
        if cell.value is None:
            base = COLOURS["stop"]
            glow = 1.0 + 0.6 * min(1.0, filled) if kind == "hover" else 1.0
            card.set_color(min(1, base[0] * glow), base[1], base[2], 1)
            return
        a, b = COLOURS["cell"], COLOURS[kind]
        f = 1.0 if kind != "hover" else 0.4 + 0.6 * min(1.0, filled)
        card.set_color(tuple(a[i] + (b[i] - a[i]) * f for i in range(4)))

    def answered(self, value: float | None) -> None:
        """The check-in was answered (by any means): show the choice for a moment, then
        close."""
        chosen = next((i for i, c in enumerate(self.cells)
                       if c.value is not None and value is not None
                       and abs(c.value - value) < 1e-9), None)
        if chosen is not None:
            self._paint(chosen, "chosen")
            self.chosen = self.cells[chosen]
        self._closing_in = SHOW_ANSWER_S

    def close(self) -> None:
        """Take the panel away."""
        self._clear()
        self.root.hide()
        self.checkin_id = None
        self._closing_in = None

    def remove(self) -> None:
        """Take the panel out of the scene for good."""
        self.close()
        self.root.remove_node()

    def cell_centre(self, value: float | None) -> Point3:
        """Where a cell's centre is in the world (to aim at it)."""
        cell = next(c for c in self.cells if c.value == value)
        return self.world.get_relative_point(self.root, Point3((cell.x0 + cell.x1) / 2, 0,
                                                               (cell.z0 + cell.z1) / 2))
