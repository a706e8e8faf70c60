"""Enclosed space (claustrophobia): a windowless storeroom that closes in around the client.

The client stands near the back of a plain room with painted block walls, a tiled suspended
ceiling with one round ceiling lamp, a ceiling vent and a steel door ahead that opens onto a
corridor with a daylight window at its end. The hierarchy closes the door, bolts it (a barrel
bolt slides into its keeper, the indicator beside the door turns from green to red), moves the
walls in from 6 x 6 m to a closet of 1.4 x 1.6 m, lowers the ceiling from 3 m to just above the
head and dims the lamp to a steady glow. The ventilation hum grows as the room shrinks.

Geometry is built once; ``update`` only moves the walls, ceiling, door and bolt and sets light
colours, visibility and sound volumes. Each wall is a slab longer than the largest room, so
walls simply slide through one another at the corners and the room stays closed at any size.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from panda3d.core import AmbientLight, NodePath, PointLight

from scenarios import procedural as p
from scenarios import sound
from scenarios.base import Scenario
from scenarios.spec import LiveEvent, Parameter, Rung, ScenarioSpec

EYE = 1.65
"""Eye height of the standing client (the spec's ``eye_height``)."""
MAX_SIZE = 6.0
"""Largest room width and depth (m)."""
MIN_SIZE = 1.4
"""Smallest room width and depth (m): 0.7 m from the head to each wall, beyond arm's reach."""
MAX_CEILING = 3.0
MIN_CEILING = 1.9
WALL_T = 0.15
"""Wall thickness (m)."""
WALL_H = 3.3
"""Wall height (m): above the highest ceiling, so the ceiling always meets the walls."""
BACK_MAX = 1.5
"""Most the back wall stands behind the client (m): the client stands in the back quarter of
the room (never nearer the back wall than ``MIN_SIZE / 2``), facing the door across it, so the
side walls are in view too."""
WALL_L = 2 * (MAX_SIZE - BACK_MAX + WALL_T + 0.3)
"""Wall length (m): longer than the largest room, so the walls overlap at every corner."""
DADO = 1.2
"""Height of the darker lower band of paint (m; six block courses)."""
BOLT_Z = 1.42
"""Height of the barrel bolt on the door (m), above the handle and in the client's view."""
TRUNKING_Z = 2.45
"""Height of the cable trunking along the walls (m): hidden above a low ceiling."""
DOOR_W, DOOR_H = 0.9, 2.0
"""The door opening (m); the leaf is a little smaller."""
GAZE_R = 6.0
"""Radius of the gaze/proximity sphere standing in for each flat surface (m). The sphere sits
behind the surface and touches it at the point facing the client, so its distance is the
distance to the surface and its outline covers most of the surface from the client's place."""
CLEARANCE = 0.5
"""Nearest a wall or the ceiling may come to the tracked head (m), wherever the client stands."""
LAMP_POS = (0.0, 0.35)
"""Where the ceiling lamp hangs (x, y), inside even the smallest room."""
VENT_POS = (0.0, -0.4)
WHITE_LAMP = (1.0, 0.93, 0.82)
"""The lamp's colour at full brightness (a warm-white bulb)."""
DIM_LAMP = (1.0, 0.62, 0.34)
"""Its colour as a dim glow: dimmed filaments run orange."""
LAMP_STRENGTH = 2.6
FLICKER_S = 1.6
"""How long the 'lights flicker' event lasts (s)."""
VENT_OFF_S = 12.0
"""How long the ventilation stays off after 'ventilation stops' (s)."""

BLOCK_M = 1.6
"""Metres covered by one repeat of the block-wall texture (4 blocks x 8 courses)."""
FLOOR_M = 2.4
"""Metres covered by one repeat of the floor texture (8 x 8 vinyl tiles of 30 cm)."""
CEILING_M = 1.2
"""Metres covered by one repeat of the ceiling texture (2 x 2 tiles of 60 cm)."""


def _rung(label: str, description: str, width: float, depth: float, ceiling: float,
          door: float, lock: float, light: float) -> Rung:
    return Rung(label=label, description=description,
                values={"width": width, "depth": depth, "ceiling": ceiling, "door": door,
                        "lock": lock, "light": light})


# ------------------------------------------------------------------ textures and sounds


def block_wall_rgb(rng: np.random.Generator, size: int = 512) -> np.ndarray:
    """Painted concrete blocks (40 x 20 cm, stretcher bond) with recessed mortar joints."""
    px_per_m = size / BLOCK_M
    joint = max(2, round(0.01 * px_per_m))
    bw, bh = size // 4, size // 8
    paint = np.array((0.80, 0.79, 0.74))
    out = np.empty((size, size, 3))
    for row in range(8):
        offset = bw // 2 if row % 2 else 0  # stretcher bond: every other course shifted
        for col in range(5):
            shade = 1 + 0.025 * rng.standard_normal()
            x0 = col * bw - offset
            xs = slice(max(0, x0), min(size, x0 + bw))
            out[row * bh:(row + 1) * bh, xs] = paint * shade
        # The joints are shadowed a little below each course line (light comes from above).
        out[row * bh:row * bh + joint] = paint * 0.62
        out[row * bh + joint:row * bh + 2 * joint] *= 0.9
        for col in range(5):
            x0 = (col * bw - offset) % size
            out[row * bh:(row + 1) * bh, x0:x0 + joint] = paint * 0.66
    # Pitted block face under the paint: fine noise that tiles.
    grain = p.noise_rgb(rng, size, (1.0, 1.0, 1.0), 0.08, blur=1).astype(float) / 255
    return (np.clip(out * grain, 0, 1) * 255).astype(np.uint8)


def ceiling_rgb(rng: np.random.Generator, size: int = 256) -> np.ndarray:
    """Two by two mineral-fibre ceiling tiles in a white metal grid."""
    out = p.noise_rgb(rng, size, (0.86, 0.86, 0.84), 0.07, blur=1).astype(float) / 255
    speck = rng.random((size, size)) < 0.04  # the fissures of mineral-fibre tiles
    out[speck] *= 0.8
    grid = max(2, size // 48)
    for k in (0, size // 2):
        out[k:k + grid, :] = (0.93, 0.93, 0.92)
        out[:, k:k + grid] = (0.93, 0.93, 0.92)
        out[k + grid:k + grid + 1, :] *= 0.75  # the tile edge sits a little above the grid
        out[:, k + grid:k + grid + 1] *= 0.75
    return (np.clip(out, 0, 1) * 255).astype(np.uint8)


def floor_rgb(rng: np.random.Generator, size: int = 512) -> np.ndarray:
    """Worn grey vinyl floor tiles, each a slightly different shade, with a little speckle."""
    tiles = p.tiles_rgb(rng, size, 8, (0.52, 0.52, 0.49), (0.36, 0.36, 0.34), spread=0.04,
                        grout_px=1).astype(float) / 255
    grain = p.noise_rgb(rng, size, (1.0, 1.0, 1.0), 0.1, blur=1).astype(float) / 255
    return (np.clip(tiles * grain, 0, 1) * 255).astype(np.uint8)


def lock_click(rng: np.random.Generator) -> np.ndarray:
    """A bolt shooting home: a metallic scrape ending in a sharp click with a short ring."""
    n = int(0.35 * sound.RATE)
    t = np.arange(n) / sound.RATE
    scrape = np.diff(rng.standard_normal(n), prepend=0.0) * np.clip(
        (0.12 - t) / 0.12, 0, 1) * 0.25
    hit = t - 0.12
    on = hit >= 0
    click = np.zeros(n)
    click[on] = (rng.standard_normal(int(on.sum())) * np.exp(-hit[on] * 400)
                 + 0.6 * np.sin(2 * np.pi * 2400 * hit[on]) * np.exp(-hit[on] * 35)
                 + 0.4 * np.sin(2 * np.pi * 3700 * hit[on]) * np.exp(-hit[on] * 50))
    out = scrape + click
    return sound._fade(out / (np.max(np.abs(out)) + 1e-9) * 0.8, 0.003)


def knocks(rng: np.random.Generator, count: int = 3) -> np.ndarray:
    """Knuckles on a block wall: dull low thuds a quarter second apart."""
    gap = int(0.28 * sound.RATE)
    m = int(0.25 * sound.RATE)
    out = np.zeros(gap * (count - 1) + m)
    t = np.arange(m) / sound.RATE
    for k in range(count):
        body = np.sin(2 * np.pi * rng.uniform(120, 150) * t) * np.exp(-t * 30)
        tap = np.convolve(rng.standard_normal(m), np.ones(8) / 8, mode="same") * np.exp(-t * 90)
        out[k * gap:k * gap + m] += (0.8 * body + 0.6 * tap) * rng.uniform(0.8, 1.0)
    return sound._fade(out / (np.max(np.abs(out)) + 1e-9) * 0.9, 0.003)


# ------------------------------------------------------------------ the scenario


class EnclosedSpace(Scenario):
    """A storeroom whose door closes and locks, whose walls and ceiling close in and whose
    light dims."""

    spec = ScenarioSpec(
        name="enclosed",
        title="Enclosed space",
        description="A windowless storeroom: from a large, bright room with the door open to a "
                    "dim closet with the door bolted, the ceiling just above the head.",
        parameters=(
            Parameter(name="width", label="Room width", unit="m", minimum=MIN_SIZE,
                      maximum=MAX_SIZE, rate=0.3,
                      description="Wall to wall, left to right; the client stands in the "
                                  "middle."),
            Parameter(name="depth", label="Room depth", unit="m", minimum=MIN_SIZE,
                      maximum=MAX_SIZE, rate=0.3,
                      description="Back wall to the door wall."),
            Parameter(name="ceiling", label="Ceiling height", unit="m", minimum=MIN_CEILING,
                      maximum=MAX_CEILING, rate=0.08,
                      description="Floor to ceiling; 1.9 m is a hand's width above the head."),
            Parameter(name="door", label="Door closed", unit="", minimum=0.0, maximum=1.0,
                      rate=0.2,
                      description="0: wide open onto the corridor; 1: shut."),
            Parameter(name="lock", label="Bolt", unit="", minimum=0.0, maximum=1.0, rate=0.8,
                      description="0: unbolted (green light); 1: bolted (red light)."),
            Parameter(name="light", label="Light level", unit="", minimum=0.1, maximum=1.0,
                      rate=0.1,
                      description="Ceiling lamp brightness: 1 bright, 0.1 a dim steady glow."),
        ),
        rungs=(
            _rung("Large room, door open", "A large, brightly lit storeroom (6 x 6 m, 3 m "
                  "ceiling); the door ahead stands wide open onto a corridor with daylight at "
                  "its end.", 6.0, 6.0, 3.0, 0.0, 0.0, 1.0),
            _rung("Door half closed", "The same large, bright room; the door swings half shut "
                  "and the corridor is partly hidden.", 6.0, 6.0, 3.0, 0.5, 0.0, 1.0),
            _rung("Door closed", "The door shuts with a thud. Unlocked: the light beside it "
                  "stays green.", 6.0, 6.0, 3.0, 1.0, 0.0, 1.0),
            _rung("Smaller room, door closed", "The walls move in to 3.5 x 3.5 m and the "
                  "ceiling comes down to 2.6 m; the door is closed but not locked.",
                  3.5, 3.5, 2.6, 1.0, 0.0, 0.9),
            _rung("Small room, lower ceiling, locked", "2.4 x 2.4 m with a 2.25 m ceiling; the "
                  "bolt slides home with a click and the light by the door turns red.",
                  2.4, 2.4, 2.25, 1.0, 1.0, 0.75),
            _rung("Small dim room, locked", "2 x 2 m, ceiling 2.1 m, door bolted; the lamp "
                  "dims to a low light and the ventilation hum is louder.",
                  2.0, 2.0, 2.1, 1.0, 1.0, 0.4),
            _rung("Closet, dim, locked", "A closet-sized space (1.4 x 1.6 m: the walls 70 cm "
                  "from the client, the door 90 cm ahead): the ceiling just above the head, a "
                  "dim steady glow, the door bolted.", MIN_SIZE, 1.6, MIN_CEILING, 1.0, 1.0,
                  0.12),
        ),
        live_events=(
            LiveEvent(name="lights_flicker", label="Lights flicker",
                      description="The lamp flickers for a moment (never brighter than now)."),
            LiveEvent(name="knock", label="Knock on the wall",
                      description="Three knocks on one of the walls, from the other side."),
            LiveEvent(name="vent_stops", label="Ventilation stops",
                      description=f"The ventilation hum stops for {VENT_OFF_S:g} s, then "
                                  "starts again."),
        ),
        viewpoint=(0.0, 0.0, 0.0),
        eye_height=EYE,
    )

    # -------------------------------------------------------------- building

    def load(self) -> None:
        """Floor, four walls, ceiling with lamp and vent, door with bolt, corridor, lights,
        sounds; tags the walls, ceiling and door."""
        root, rng = self.root, self.rng
        self.room: tuple[float, float, float, float] | None = None
        self._wall_tex = p.texture("block-wall", block_wall_rgb(rng))
        self._build_floor()
        walls = root.attach_new_node("walls")
        self.walls: dict[str, NodePath] = {}
        self._knock_at: dict[str, NodePath] = {}
        for name, heading in (("front", 0.0), ("back", 180.0), ("left", 90.0),
                              ("right", -90.0)):
            self.walls[name] = self._build_wall(walls, name, heading, door=name == "front")
        self._build_ceiling()
        self._build_door(self._front_geometry)
        self._build_corridor(self._front_geometry)

        # Light: the ceiling lamp, plus a low fill standing in for light bounced off the walls
        # (it dims with the lamp, since the lamp is its only source).
        self.lamp = p.lamp(self._lamp_anchor, (0, 0, 0), WHITE_LAMP, LAMP_STRENGTH, 0.2)
        root.set_light(self.lamp)
        self.fill = p.ambient(root, (0.85, 0.88, 0.95), 0.3)
        self._lamp_light: PointLight = self.lamp.node()
        self._fill_light: AmbientLight = self.fill.node()
        self._corridor.set_light_off(self.lamp)  # the corridor has its own lights

        for node in (*self.walls.values(), self.ceiling):
            self.context.targets.tag(node, "stimulus", radius=GAZE_R)
        # The leaf's half width: a sphere over the middle of the door, so looking at the door
        # counts and its distance is not much under the real one.
        self.context.targets.tag(self.door, "stimulus", radius=0.45)

        player = self.context.sound
        self._hum = player.add("vent-hum", sound.hum(rng, 6.0, hz=50.0))
        self._slam = player.add("door-slam", sound.door_slam(rng))
        self._click = player.add("lock-click", lock_click(rng))
        self._knock = player.add("knock", knocks(rng))
        # A fixed on/off pattern for the flicker, drawn once: levels at or below 1 (never
        # brighter than the level), the lamp back to normal at the end.
        steps = []
        t = 0.0
        while t < FLICKER_S:
            length = float(rng.uniform(0.04, 0.16))
            steps.append((t + length, float(rng.choice((0.15, 0.35, 0.6, 1.0)))))
            t += length
        self._flicker_steps = steps
        self._flicker_t: float | None = None
        self._vent_off_t: float | None = None
        self._door_prev: float | None = None
        self._lock_prev: float | None = None
        self._last: tuple[float, ...] | None = None
        self.hum_volume = 0.0
        """The hum's current volume (0-1), for tests and the console."""

    def _build_floor(self) -> None:
        floor = p.MeshBuilder("floor")
        size = WALL_L + 0.4
        floor.box((0, 0, -0.05), (size, size, 0.1), (1, 1, 1, 1), uv_per_m=1 / FLOOR_M)
        node = floor.attach(self.root)
        p.material(node, roughness=0.55)
        p.apply_texture(node, p.texture("floor", floor_rgb(self.rng)))

    def _surface(self, parent: NodePath, name: str) -> tuple[NodePath, NodePath]:
        """A tagged surface node and the child its geometry goes under.

        The tagged node's origin is the centre of its gaze sphere, ``GAZE_R`` behind the face;
        the geometry child puts the face back at its place. Tagging the surface itself (not a
        helper) keeps the geometry in the tagged subtree.
        """
        surface = parent.attach_new_node(f"wall_{name}" if name != "ceiling" else name)
        geometry = surface.attach_new_node(f"{name}-geometry")
        return surface, geometry

    def _build_wall(self, parent: NodePath, name: str, heading: float,
                    door: bool) -> NodePath:
        """One wall in its own frame: the inner face is the plane y = 0, the room at y < 0."""
        surface, geometry = self._surface(parent, name)
        surface.set_pos_hpr(0, 0, EYE, heading, 0, 0)
        geometry.set_pos(0, -GAZE_R, -EYE)
        half = WALL_L / 2
        slab = p.MeshBuilder(f"{name}-blocks")
        trim = p.MeshBuilder(f"{name}-trim")
        skirting = (0.17, 0.17, 0.18, 1.0)
        if door:
            # Left and right of the opening; the lintel belongs to the door (see _build_door).
            side = half - DOOR_W / 2
            for sign in (-1, 1):
                cx = sign * (DOOR_W / 2 + side / 2)
                self._painted_slab(slab, cx, side)
                run = half - DOOR_W / 2 - 0.07
                trim.box((sign * (DOOR_W / 2 + 0.07 + run / 2), -0.008, 0.05),
                         (run, 0.016, 0.1), skirting)
                trim.box((sign * (DOOR_W / 2 + 0.07 + run / 2), -0.03, TRUNKING_Z),
                         (run, 0.06, 0.1), (0.9, 0.9, 0.88, 1))
            trim.box((0, -0.03, TRUNKING_Z), (DOOR_W + 0.14, 0.06, 0.1), (0.9, 0.9, 0.88, 1))
            # A light switch left of the door and the lock panel right of it (the LEDs are
            # separate nodes, switched in update).
            trim.box((-0.63, -0.006, 1.1), (0.08, 0.012, 0.08), (0.9, 0.9, 0.88, 1))
            trim.box((-0.63, -0.014, 1.1), (0.015, 0.006, 0.03), (0.82, 0.82, 0.8, 1))
            trim.box((0.62, -0.008, 1.42), (0.08, 0.016, 0.14), (0.22, 0.23, 0.25, 1))
            trim.box((0.62, -0.017, 1.39), (0.05, 0.004, 0.05), (0.08, 0.08, 0.09, 1))
            self._front_geometry = geometry
        else:
            self._painted_slab(slab, 0.0, WALL_L)
            trim.box((0, -0.008, 0.05), (WALL_L, 0.016, 0.1), skirting)
            # White plastic cable trunking: it vanishes above the ceiling as the ceiling
            # comes down, one more sign of the room closing in.
            trim.box((0, -0.03, TRUNKING_Z), (WALL_L, 0.06, 0.1), (0.9, 0.9, 0.88, 1))
        # Where knocks come from: on the wall's face, at shoulder height.
        self._knock_at[name] = geometry.attach_new_node(f"{name}-knock")
        self._knock_at[name].set_pos(0.3, 0.0, 1.3)
        blocks = slab.attach(geometry)
        p.material(blocks, roughness=0.9)
        p.apply_texture(blocks, self._wall_tex)
        p.material(trim.attach(geometry), roughness=0.5)
        if name == "back":
            # A faded safety notice: something to read, and a scale cue on the plain wall.
            notice = p.MeshBuilder("notice")
            notice.box((0.4, -0.003, 1.55), (0.3, 0.006, 0.42), (0.93, 0.93, 0.9, 1))
            notice.box((0.4, -0.007, 1.69), (0.26, 0.002, 0.08), (0.12, 0.45, 0.2, 1))
            for k in range(5):
                notice.box((0.4, -0.007, 1.58 - 0.05 * k), (0.22 - 0.03 * (k % 2), 0.002, 0.015),
                         (0.35, 0.35, 0.35, 1))
            p.material(notice.attach(geometry), roughness=0.6)
        return surface

    @staticmethod
    def _painted_slab(mesh: p.MeshBuilder, cx: float, length: float) -> None:
        """A stretch of block wall, painted grey-green below the dado height, cream above
        (the vertex colour tints the texture); the courses line up across the two."""
        mesh.box((cx, WALL_T / 2, DADO / 2), (length, WALL_T, DADO), (0.72, 0.8, 0.76, 1),
                 uv_per_m=1 / BLOCK_M)
        mesh.box((cx, WALL_T / 2, (DADO + WALL_H) / 2), (length, WALL_T, WALL_H - DADO),
                 (1, 1, 1, 1), uv_per_m=1 / BLOCK_M)

    def _build_ceiling(self) -> None:
        """Tiled ceiling slab (inner face at z = 0 of its geometry), the lamp and the vent."""
        surface, geometry = self._surface(self.root, "ceiling")
        geometry.set_pos(0, 0, -GAZE_R)
        size = WALL_L + 0.4
        tiles = p.MeshBuilder("ceiling-tiles")
        tiles.box((0, 0, 0.05), (size, size, 0.1), (1, 1, 1, 1), uv_per_m=1 / CEILING_M)
        node = tiles.attach(geometry)
        p.material(node, roughness=0.95)
        p.apply_texture(node, p.texture("ceiling", ceiling_rgb(self.rng)))
        # A round flush lamp: a white diffuser in a metal rim. It is lit by its own bulb just
        # below it, so it glows as bright or as dim as the lamp without a changing material.
        lx, ly = LAMP_POS
        fixture = p.MeshBuilder("lamp-fixture")
        fixture.cylinder((lx, ly, -0.025), 0.19, 0.025, (0.75, 0.75, 0.74, 1), segments=24)
        fixture.cylinder((lx, ly, -0.075), 0.16, 0.05, (1, 1, 1, 1), segments=24)
        p.material(fixture.attach(geometry), roughness=0.4)
        self._lamp_anchor = geometry.attach_new_node("lamp")
        self._lamp_anchor.set_pos(lx, ly, -0.16)
        # The vent: a square grille of parallel slats over a dark duct.
        vx, vy = VENT_POS
        vent = p.MeshBuilder("vent")
        metal = (0.85, 0.86, 0.86, 1.0)
        for dx, dy, sx, sy in ((0, 1, 0.36, 0.03), (0, -1, 0.36, 0.03),
                               (1, 0, 0.03, 0.36), (-1, 0, 0.03, 0.36)):
            vent.box((vx + dx * 0.165, vy + dy * 0.165, -0.01), (sx, sy, 0.02), metal)
        for k in range(7):
            vent.box((vx, vy - 0.12 + 0.04 * k, -0.012), (0.30, 0.008, 0.024), metal)
        vent.box((vx, vy, -0.001), (0.32, 0.32, 0.002), (0.05, 0.05, 0.05, 1))
        self.vent = vent.attach(geometry)
        p.material(self.vent, roughness=0.5, metallic=0.3)
        self.ceiling = surface

    def _build_door(self, wall: NodePath) -> None:
        """Frame, lintel, leaf (hinged left, opening outward), lever handles, barrel bolt,
        and the lock panel's two LEDs. Built for a 2 m opening; scaled down under a low
        ceiling so the door always fits under it."""
        assembly = wall.attach_new_node("doorway")
        frame = p.MeshBuilder("door-frame")
        white = (0.88, 0.88, 0.85, 1.0)
        frame.box((-(DOOR_W / 2 + 0.035), -0.009, (DOOR_H + 0.07) / 2),
                  (0.07, 0.018, DOOR_H + 0.07), white)
        frame.box((DOOR_W / 2 + 0.035, -0.009, (DOOR_H + 0.07) / 2),
                  (0.07, 0.018, DOOR_H + 0.07), white)
        frame.box((0, -0.009, DOOR_H + 0.035), (DOOR_W + 0.14, 0.018, 0.07), white)
        # Jamb linings on the reveals and the stop the leaf closes against.
        for sign in (-1, 1):
            frame.box((sign * (DOOR_W / 2 - 0.01), WALL_T / 2, DOOR_H / 2),
                      (0.02, WALL_T, DOOR_H), white)
        frame.box((0, WALL_T / 2, DOOR_H - 0.01), (DOOR_W, WALL_T, 0.02), white)
        # The keeper the bolt shoots into, on the latch-side reveal.
        frame.box((DOOR_W / 2 - 0.03, WALL_T - 0.092, BOLT_Z), (0.04, 0.035, 0.07),
                  (0.5, 0.5, 0.52, 1))
        p.material(frame.attach(assembly), roughness=0.5)
        lintel = p.MeshBuilder("lintel")
        lintel.box((0, WALL_T / 2, (DOOR_H + WALL_H) / 2), (DOOR_W, WALL_T, WALL_H - DOOR_H),
                   (1, 1, 1, 1), uv_per_m=1 / BLOCK_M)
        lintel_node = lintel.attach(assembly)
        p.material(lintel_node, roughness=0.9)
        p.apply_texture(lintel_node, self._wall_tex)

        leaf_w, leaf_t = DOOR_W - 0.04, 0.045
        self.hinge = assembly.attach_new_node("hinge")
        self.hinge.set_pos(-leaf_w / 2, WALL_T - 0.01, 0)
        # The tagged door node's origin is the middle of the leaf: the centre of its sphere.
        self.door = self.hinge.attach_new_node("door")
        self.door.set_pos(leaf_w / 2, -leaf_t / 2, DOOR_H / 2)
        leaf_geometry = self.door.attach_new_node("door-geometry")
        leaf_geometry.set_pos(-leaf_w / 2, leaf_t / 2, -DOOR_H / 2)
        leaf = p.MeshBuilder("door-leaf")
        paint = (0.2, 0.26, 0.33, 1.0)
        leaf.box((leaf_w / 2, -leaf_t / 2, DOOR_H / 2), (leaf_w, leaf_t, DOOR_H - 0.02), paint)
        leaf.box((leaf_w / 2, -leaf_t - 0.001, 0.16), (leaf_w - 0.06, 0.002, 0.25),
                 (0.55, 0.56, 0.58, 1))  # kick plate
        p.material(leaf.attach(leaf_geometry), roughness=0.45)
        metal = p.MeshBuilder("door-metal")
        hx = leaf_w - 0.08
        for side, face in ((-1, -leaf_t), (1, 0.0)):
            # Lever handles on both faces: rose, neck, lever toward the hinge.
            metal.box((hx, face + side * 0.006, 1.02), (0.06, 0.012, 0.06), (0.7, 0.7, 0.72, 1))
            metal.box((hx, face + side * 0.03, 1.02), (0.022, 0.04, 0.022), (0.7, 0.7, 0.72, 1))
            metal.box((hx - 0.06, face + side * 0.055, 1.02), (0.14, 0.022, 0.022),
                      (0.7, 0.7, 0.72, 1))
        # Barrel bolt housing on the inner face, above the handle.
        metal.box((leaf_w - 0.15, -leaf_t - 0.004, BOLT_Z), (0.2, 0.008, 0.09),
                  (0.45, 0.45, 0.47, 1))
        metal.box((leaf_w - 0.14, -leaf_t - 0.02, BOLT_Z), (0.16, 0.024, 0.045),
                  (0.5, 0.5, 0.52, 1))
        p.material(metal.attach(leaf_geometry), roughness=0.3, metallic=1.0)
        bolt = p.MeshBuilder("bolt")
        bolt.box((leaf_w - 0.12, -leaf_t - 0.022, BOLT_Z), (0.2, 0.022, 0.024),
                 (0.75, 0.75, 0.77, 1))
        bolt.box((leaf_w - 0.16, -leaf_t - 0.06, BOLT_Z), (0.02, 0.06, 0.02),
                 (0.75, 0.75, 0.77, 1))  # the knob the bolt is thrown by
        self.bolt = bolt.attach(leaf_geometry)
        p.material(self.bolt, roughness=0.25, metallic=1.0)
        self.doorway = assembly

        # The lock panel's indicator: two LEDs, one shown at a time. Their own emission keeps
        # them visible in the dim room.
        leds = {}
        for state, color in (("green", (0.1, 1.0, 0.25)), ("red", (1.0, 0.08, 0.05))):
            led = p.MeshBuilder(f"led-{state}")
            led.sphere((0.62, -0.02, 1.46), 0.012, (*color, 1.0), segments=10, rings=6)
            node = led.attach(wall)
            p.material(node, (0.05, 0.05, 0.05, 1), roughness=0.3,
                       emission=(color[0] * 2, color[1] * 2, color[2] * 2, 1))
            leds[state] = node
        self.led_green, self.led_red = leds["green"], leds["red"]

    def _build_corridor(self, wall: NodePath) -> None:
        """A short corridor beyond the door, ending in a daylight window: the way out."""
        corridor = wall.attach_new_node("corridor")
        corridor.set_y(WALL_T)
        length, half, height = 5.0, 0.8, 2.5
        shell = p.MeshBuilder("corridor-walls")
        for sign in (-1, 1):
            shell.box((sign * (half + 0.05), length / 2, height / 2), (0.1, length, height),
                      (1, 1, 1, 1), uv_per_m=1 / BLOCK_M)
        shell.box((0, length + 0.05, height / 2), (2 * half + 0.2, 0.1, height), (1, 1, 1, 1),
                  uv_per_m=1 / BLOCK_M)
        walls = shell.attach(corridor)
        p.material(walls, roughness=0.9)
        p.apply_texture(walls, self._wall_tex)
        rest = p.MeshBuilder("corridor-floor-ceiling")
        rest.box((0, length / 2, -0.045), (2 * half, length, 0.1), (0.45, 0.44, 0.4, 1))
        rest.box((0, length / 2, height + 0.05), (2 * half, length, 0.1), (0.9, 0.9, 0.88, 1))
        p.material(rest.attach(corridor), roughness=0.7)
        window = p.MeshBuilder("corridor-window")
        window.box((0, length - 0.002, 1.45), (1.0, 0.004, 1.2), (1, 1, 1, 1))
        pane = window.attach(corridor)
        p.material(pane, (0, 0, 0, 1), roughness=1.0, emission=(2.2, 2.4, 2.6, 1))
        frame = p.MeshBuilder("corridor-window-frame")
        for dz in (-0.62, 0.0, 0.62):
            frame.box((0, length - 0.01, 1.45 + dz), (1.08, 0.02, 0.05), (0.9, 0.9, 0.9, 1))
        for dx in (-0.52, 0.52):
            frame.box((dx, length - 0.01, 1.45), (0.05, 0.02, 1.28), (0.9, 0.9, 0.9, 1))
        p.material(frame.attach(corridor), roughness=0.5)
        p.lamp(corridor, (0, length * 0.55, height - 0.15), (1.0, 0.97, 0.92), 3.0, 0.25)
        p.ambient(corridor, (0.9, 0.93, 1.0), 0.35)
        self._corridor = corridor

    # -------------------------------------------------------------- running

    def rung_start(self, rung: int) -> None:
        """Keep the ventilation running (it is stopped with every sound on a stop)."""
        self._ensure_hum()

    def _ensure_hum(self) -> None:
        if self._vent_off_t is None and not self._hum.looping:
            self.context.sound.play(self._hum, at=self.vent, loop=True, volume=self.hum_volume)

    def floor_area(self) -> tuple[float, float, float, float] | None:
        """Inside the four walls, where they stand now."""
        return self.room

    def update(self, values: Mapping[str, float], dt: float) -> None:
        """Place walls, ceiling, door and bolt; set the lamp, the indicator and the hum."""
        width, depth, ceiling = values["width"], values["depth"], values["ceiling"]
        door, lock, light = values["door"], values["lock"], values["light"]
        self._timers(dt)
        flicker = self._flicker_level()
        head = self.context.client.head
        state = (width, depth, ceiling, door, lock, light, flicker, head.x, head.y, head.z)
        if state == self._last and self._hum.looping == (self._vent_off_t is None):
            return  # nothing moved this frame (the usual case once a level is reached)
        self._last = state

        # Walls and ceiling, never closer to the tracked head than CLEARANCE: wherever the
        # client stands, a moving wall stops short of them rather than passing through.
        half_max = MAX_SIZE / 2
        behind = min(BACK_MAX, max(MIN_SIZE / 2, depth / 4), depth / 2)
        right = min(half_max, max(width / 2, head.x + CLEARANCE))
        left = max(-half_max, min(-width / 2, head.x - CLEARANCE))
        front = min(MAX_SIZE - BACK_MAX, max(depth - behind, head.y + CLEARANCE))
        back = max(-half_max, min(-behind, head.y - CLEARANCE))
        top = min(MAX_CEILING, max(ceiling, head.z + CLEARANCE * 0.4))
        self.room = (left, back, right, front)
        self.walls["front"].set_y(front + GAZE_R)
        self.walls["back"].set_y(back - GAZE_R)
        self.walls["left"].set_x(left - GAZE_R)
        self.walls["right"].set_x(right + GAZE_R)
        self.ceiling.set_z(top + GAZE_R)
        # The door keeps clear of a low ceiling (a 1.9 m ceiling takes a 1.8 m door).
        self.doorway.set_sz(min(1.0, (top - 0.1) / DOOR_H))

        # The door opens outward into the corridor (never into the client's space).
        self.hinge.set_h(95.0 * (1.0 - door))
        self.bolt.set_x(0.07 * lock)
        locked = lock >= 0.5
        if locked:
            self.led_red.show()
            self.led_green.hide()
        else:
            self.led_green.show()
            self.led_red.hide()
        self._door_sounds(door, lock)

        # Lamp: dimmer and warmer; the fill light is bounce from it, so it dims too.
        level = light * flicker
        k = (1.0 - light) / 0.9
        r, g, b = (w + (d - w) * k for w, d in zip(WHITE_LAMP, DIM_LAMP, strict=True))
        s = LAMP_STRENGTH * level
        self._lamp_light.set_color((r * s, g * s, b * s, 1))
        a = 0.03 + 0.15 * level
        self._fill_light.set_color((0.85 * a, 0.88 * a, 0.95 * a, 1))

        # Ventilation: louder as the air space shrinks (log of the volume, 108 m3 to 3.7 m3).
        volume = (right - left) * (front - back) * top
        most = MAX_SIZE * MAX_SIZE * MAX_CEILING
        least = MIN_SIZE * MIN_SIZE * MIN_CEILING
        closeness = min(1.0, max(0.0, math.log(most / volume) / math.log(most / least)))
        self.hum_volume = 0.15 + 0.65 * closeness
        self._ensure_hum()
        self.context.sound.set_volume(self._hum, self.hum_volume)

    def _door_sounds(self, door: float, lock: float) -> None:
        """The slam when the door reaches shut; the click when the bolt reaches either end."""
        player = self.context.sound
        if self._door_prev is not None and self._door_prev < 0.995 <= door:
            player.play(self._slam, at=self.door)
        if self._lock_prev is not None and (self._lock_prev < 0.995 <= lock
                                            or self._lock_prev > 0.005 >= lock):
            player.play(self._click, at=self.door)
        self._door_prev, self._lock_prev = door, lock

    def _timers(self, dt: float) -> None:
        if self._flicker_t is not None:
            self._flicker_t += dt
            if self._flicker_t >= FLICKER_S:
                self._flicker_t = None
        if self._vent_off_t is not None:
            self._vent_off_t += dt
            if self._vent_off_t >= VENT_OFF_S:
                self._vent_off_t = None  # update restarts the hum

    def _flicker_level(self) -> float:
        if self._flicker_t is None:
            return 1.0
        for end, level in self._flicker_steps:
            if self._flicker_t < end:
                return level
        return 1.0

    def event(self, name: str) -> None:
        """Flicker the lamp, knock on a wall, or stop the ventilation for a while."""
        if name == "lights_flicker":
            self._flicker_t = 0.0
        elif name == "knock":
            wall = ("left", "right", "back")[int(self.rng.integers(3))]
            self.context.sound.play(self._knock, at=self._knock_at[wall])
        elif name == "vent_stops":
            self._vent_off_t = 0.0
            self.context.sound.stop(self._hum)
