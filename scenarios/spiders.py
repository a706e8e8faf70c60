"""Spiders in a kitchen: from a cartoon on the wall to a large hairy spider at the client's hand.

The client stands at a long kitchen island, one hand resting on the worktop (drawn where
:attr:`ClientView.hand` says it is), and looks down the island toward the far wall. The
hierarchy moves along the dimensions that matter in spider phobia: how many spiders, how big,
how far from the hand, how fast they move, and how real they look (a glossy purple toy to a
dark, banded, hairy spider).

Every spider is built once in :meth:`Spiders.load` (a pool of :data:`POOL` spiders sharing
instanced geometry); the ``count`` parameter shows and hides them. A spider is a root node
(position, heading, scale) with a body (cephalothorax and abdomen) and eight legs of three
segments each. A leg's joint angles come from :func:`leg_angles`: its heading swings it about
the hip and its pitch lifts it, in an alternating tetrapod gait (L1, R2, L3, R4 against R1,
L2, R3, L4). The legs of all eight are posed for :data:`GAIT_STEPS` steps of the gait cycle
in load() and a switch shows the current step, so a walking spider costs one call a frame.
The gait phase advances with the ground the spider actually covers, so the leg cadence always
matches its speed and a still spider has still legs.

Behaviour is deterministic for a seed: every random choice (where to walk next, how long to
pause) comes from the scenario's ``rng``, in the order the frames call for it.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from panda3d.core import Material, NodePath, SwitchNode, TransparencyAttrib, Vec3

from scenarios import procedural as p
from scenarios import sound as synth
from scenarios.base import Scenario
from scenarios.spec import LiveEvent, Parameter, Rung, ScenarioSpec

log = logging.getLogger(__name__)

POOL = 16
"""Spiders built in load(): the ``count`` parameter's maximum."""

# The room (metres; Z up, the client looks along +Y).
ISLAND_X = (-0.55, 0.55)
ISLAND_Y = (0.2, 2.4)
BACK_WALL_Y = 3.8
SIDE_WALL_X = 2.2
CEILING_Z = 2.5
HOMING_GAP = 0.15
"""Closest approach (m) under which the largest spider walks up to the hand and waits there."""
HAND_REACH = 0.10
"""From the hand's centre to its fingertips: gaps are measured from the hand's outline."""

# Behaviour.
MIN_SPEED = 0.005
"""Below this walking speed (m/s) spiders keep still (wandering and events alike)."""
RELOCATE_SPEED = 0.03
"""How fast a spider walks back into its area when the level moves the area away from it."""
TURN_RATE = 300.0
"""Degrees per second a walking spider turns."""
SWING_DEG = 16.0
"""Gait: how far each leg swings forward and back about its base angle."""
LIFT_DEG = 14.0
"""Gait: how far a leg lifts while it swings forward."""
ZONE_HALF = (0.2, 0.18)
"""Half width and half depth of the area one spider wanders in; it grows with the count."""
ZONE_GROWTH = (0.013, 0.011)
"""How much the area's half width and half depth grow per spider."""
ZONE_X = (-0.2, 0.47)
"""Where across the island spiders may walk (the bowl and the mug stand left of it)."""

# Leg layout per pair (front to back): base angle from forward, length scale.
LEG_ANGLES = (38.0, 72.0, 108.0, 142.0)
LEG_SCALES = (1.18, 1.0, 0.93, 1.12)
LEG_HAIR_AT = (0.35, 0.45, 0.55, 0.65)
"""Realism at which each leg pair's hair and banding appear (staggered: no single pop)."""
BODY_HAIR_AT = 0.5

TOY = ((0.26, 0.05, 0.52), 0.28)
"""A glossy purple plastic toy: base colour (linear, as the PBR shader takes it) and roughness."""
REAL = ((0.04, 0.022, 0.011), 0.85)
"""A dark brown, matt, real spider."""
MATERIAL_STEPS = 32

DEG = math.pi / 180.0
TAU = 2 * math.pi

Zone = tuple[float, float, float, float]
"""The spiders' area: centre x, centre y, half width, half depth (metres, on the worktop)."""

# Spider modes.
HIDDEN, PAUSE, WALK, HOME, LEAVE, DROP, EVENT = range(7)


def _rung(label: str, description: str, count: float, size: float, distance: float,
          approach: float, speed: float, realism: float,
          peak: dict[str, float] | None = None) -> Rung:
    return Rung(label=label, description=description, peak=peak,
                values={"count": count, "size": size, "distance": distance,
                        "approach": approach, "speed": speed, "realism": realism})


# ------------------------------------------------------------------ geometry helpers


def rod(mesh: p.MeshBuilder, a: Sequence[float], b: Sequence[float], r0: float, r1: float,
        color: p.Color, segments: int = 8, cap: bool = False) -> None:
    """A tapered tube from ``a`` (radius ``r0``) to ``b`` (radius ``r1``) in any direction.

    MeshBuilder's cylinder only stands upright; legs, hairs and fingers point every way.
    """
    ax = Vec3(b[0] - a[0], b[1] - a[1], b[2] - a[2])
    length = ax.length()
    if length <= 0:
        return
    ax /= length
    helper = Vec3(0, 0, 1) if abs(ax.z) < 0.9 else Vec3(1, 0, 0)
    u = ax.cross(helper)
    u.normalize()
    v = ax.cross(u)
    slope = (r0 - r1) / length
    rows = []
    for k in range(segments + 1):
        t = 2 * math.pi * k / segments
        radial = u * math.cos(t) + v * math.sin(t)
        n = radial + ax * slope
        n.normalize()
        lo = mesh.vertex((a[0] + radial.x * r0, a[1] + radial.y * r0, a[2] + radial.z * r0),
                         n, color, (k / segments, 0.0))
        hi = mesh.vertex((b[0] + radial.x * r1, b[1] + radial.y * r1, b[2] + radial.z * r1),
                         n, color, (k / segments, 1.0))
        rows.append((lo, hi))
    for (a0, a1), (b0, b1) in itertools.pairwise(rows):
        mesh.triangle(a0, b0, b1)
        mesh.triangle(a0, b1, a1)
    if cap and r1 > 0:
        c = mesh.vertex(tuple(b), ax, color)
        rim = [mesh.vertex((b[0] + (u.x * math.cos(t) + v.x * math.sin(t)) * r1,
                            b[1] + (u.y * math.cos(t) + v.y * math.sin(t)) * r1,
                            b[2] + (u.z * math.cos(t) + v.z * math.sin(t)) * r1), ax, color)
               for t in (2 * math.pi * k / segments for k in range(segments + 1))]
        for i in range(segments):
            mesh.triangle(c, rim[i], rim[i + 1])


def blob(mesh: p.MeshBuilder, center: Sequence[float], rx: float, ry: float, alpha: float,
         segments: int = 20) -> None:
    """A flat soft disc, dark in the middle and clear at the rim: a contact shadow.

    Three rings (centre, half radius, rim) give a rounded falloff rather than a cone.
    """
    cx, cy, cz = center
    mid = mesh.vertex((cx, cy, cz), (0, 0, 1), (0, 0, 0, alpha), (0.5, 0.5))
    rings = []
    for k, fade in ((0.55, 0.75), (1.0, 0.0)):
        rings.append([mesh.vertex((cx + k * rx * math.cos(2 * math.pi * i / segments),
                                   cy + k * ry * math.sin(2 * math.pi * i / segments), cz),
                                  (0, 0, 1), (0, 0, 0, alpha * fade))
                      for i in range(segments + 1)])
    inner, outer = rings
    for i in range(segments):
        mesh.triangle(mid, inner[i], inner[i + 1])
        mesh.triangle(inner[i], outer[i], outer[i + 1])
        mesh.triangle(inner[i], outer[i + 1], inner[i + 1])


def _segment_distance(xx: np.ndarray, yy: np.ndarray, a: tuple[float, float],
                      b: tuple[float, float]) -> np.ndarray:
    abx, aby = b[0] - a[0], b[1] - a[1]
    t = np.clip(((xx - a[0]) * abx + (yy - a[1]) * aby) / (abx * abx + aby * aby), 0, 1)
    return np.asarray(np.hypot(xx - (a[0] + t * abx), yy - (a[1] + t * aby)))


def drawing_rgb(rng: np.random.Generator, width: int = 256, height: int = 320) -> np.ndarray:
    """A child's crayon drawing of a friendly spider on a thread, with a sun and grass."""
    yy, xx = np.mgrid[0:height, 0:width].astype(float)
    paper = np.array((0.97, 0.94, 0.85))
    img = paper[None, None, :] * (1 + 0.03 * rng.standard_normal((height, width, 1)))

    def paint(mask: np.ndarray, color: tuple[float, float, float]) -> None:
        m = np.clip(mask, 0, 1)[..., None]
        img[:] = img * (1 - m) + np.array(color)[None, None, :] * m

    def disc(cx: float, cy: float, r: float) -> np.ndarray:
        return r - np.hypot(xx - cx, yy - cy) + 0.5  # type: ignore[no-any-return]

    def line(a: tuple[float, float], b: tuple[float, float], w: float) -> np.ndarray:
        return w - _segment_distance(xx, yy, a, b) + 0.5

    paint(disc(40, 40, 26), (0.98, 0.8, 0.15))                           # the sun
    for k in range(8):
        t = 2 * math.pi * k / 8
        paint(line((40 + 32 * math.cos(t), 40 + 32 * math.sin(t)),
                   (40 + 44 * math.cos(t), 40 + 44 * math.sin(t)), 2.5), (0.98, 0.75, 0.1))
    grass = height - 38 + 6 * np.sin(xx / 9)
    paint((yy - grass) * 0.8, (0.35, 0.7, 0.3))
    cx, cy = width / 2 + 10, height * 0.56
    paint(line((cx, 0), (cx, cy - 40), 1.5), (0.45, 0.45, 0.5))           # the thread
    ink = (0.18, 0.13, 0.2)
    for side in (-1, 1):
        for k in range(4):
            root = (cx + side * 26, cy - 12 + k * 13)
            knee = (cx + side * (62 + 4 * k), cy - 42 + k * 22)
            foot = (cx + side * (86 + 2 * k), cy - 4 + k * 26)
            paint(line(root, knee, 4), ink)
            paint(line(knee, foot, 4), ink)
    paint(disc(cx, cy + 14, 38), ink)                                      # abdomen
    paint(disc(cx, cy - 28, 25), (0.25, 0.18, 0.28))                       # head
    for ex in (-10, 10):
        paint(disc(cx + ex, cy - 33, 8), (1, 1, 1))
        paint(disc(cx + ex + 2, cy - 31, 3.5), (0.05, 0.05, 0.05))
    smile = np.abs(np.hypot(xx - cx, yy - (cy - 30)) - 13) < 2.2
    paint((smile & (yy > cy - 22)).astype(float), (0.95, 0.45, 0.5))
    paint(disc(cx - 14, cy + 4, 6) * 0.5, (0.9, 0.4, 0.6))                  # a pink spot
    paint(disc(cx + 16, cy + 22, 5) * 0.5, (0.9, 0.4, 0.6))
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


def wood_rgb(rng: np.random.Generator, size: int = 256, planks: int = 4) -> np.ndarray:
    """Oak boards running along the texture's v axis: grain, knots of tone, thin joints.

    Tileable both ways, so a long worktop repeats it without seams.
    """
    yy, xx = np.mgrid[0:size, 0:size] / size
    index = np.floor(xx * planks).astype(int)
    tone = (1 + 0.07 * rng.standard_normal(planks))[index]
    phase = rng.uniform(0, 1, planks)[index]
    # Grain lines: stripes across each board that wander a little along it.
    warp = 0.12 * np.sin(2 * np.pi * (yy + phase)) + 0.05 * np.sin(2 * np.pi * (3 * yy
                                                                                 + 2 * phase))
    grain = np.sin(2 * np.pi * (xx * planks * 5 + warp + 3 * phase))
    streaks = rng.standard_normal((size, size))
    for _ in range(12):  # blurred along the grain only: fibres, not blotches
        streaks = (streaks + np.roll(streaks, 1, 0) + np.roll(streaks, -1, 0)) / 3
    streaks /= np.abs(streaks).max() + 1e-9
    shade = tone * (1 + 0.035 * grain + 0.12 * streaks)
    joint = (xx * planks) % 1.0
    shade = np.where((joint < 0.012) | (joint > 0.994), shade * 0.62, shade)
    base = np.array((0.7, 0.52, 0.33))
    rgb = base[None, None, :] * shade[..., None]
    return np.asarray(np.clip(rgb, 0, 1) * 255, dtype=np.uint8)


# ------------------------------------------------------------------ the spider model


@dataclass
class LegShape:
    """One leg pair's mesh, modelled along +Y from its hip, foot on the table (z = 0)."""

    base_deg: float
    points: list[tuple[float, float, float]]
    reach: float


@dataclass
class SpiderModel:
    """The shared meshes every pooled spider instances, and their dimensions."""

    body: NodePath
    body_hair: NodePath
    shadow: NodePath
    legs: list[NodePath]
    leg_hair: list[NodePath]
    hips: list[tuple[float, float, float]]
    shapes: list[LegShape]
    span: float


BODY_Z = 0.011
"""Height of the hips above the table for the reference spider."""
CEPH = ((0.0, 0.005, 0.0125), (0.0062, 0.0078, 0.0043))
ABDOMEN = ((0.0, -0.0135, 0.0138), (0.0083, 0.0118, 0.0074))


def _leg_points(scale: float) -> list[tuple[float, float, float]]:
    """Hip, knee, ankle and foot of one leg in its own frame (outward = +Y)."""
    femur, tibia = 0.023 * scale, 0.021 * scale
    up, down, tarsus_deg = math.radians(44), math.radians(46), math.radians(66)
    hip = (0.0, 0.0, BODY_Z)
    knee = (0.0, femur * math.cos(up), BODY_Z + femur * math.sin(up))
    ankle = (0.0, knee[1] + tibia * math.cos(down), knee[2] - tibia * math.sin(down))
    # The last segment is as long as it must be to put the foot on the table.
    tarsus = ankle[2] / math.sin(tarsus_deg)
    foot = (0.0, ankle[1] + tarsus * math.cos(tarsus_deg), 0.0008)
    return [hip, knee, ankle, foot]


def build_spider_model(parent: NodePath, rng: np.random.Generator) -> SpiderModel:
    """Build one spider's meshes (body, eight legs, hair, shadow) under a stashed holder.

    White vertex colours let one material per realism step colour the whole spider; hair and
    bands are separate meshes with their own colours, shown as realism rises.
    """
    holder = parent.attach_new_node("spider-model")
    holder.stash()
    white = (1.0, 1.0, 1.0, 1.0)
    dark = (0.35, 0.35, 0.35, 1.0)
    black = (0.02, 0.02, 0.02, 1.0)
    body = p.MeshBuilder("spider-body")
    (cx, cy, cz), radii = CEPH
    body.sphere((cx, cy, cz), radii, white, segments=14, rings=8)
    (ax, ay, az), aradii = ABDOMEN
    body.sphere((ax, ay, az), aradii, white, segments=16, rings=10)
    rod(body, (0, -0.0005, 0.0118), (0, -0.0035, 0.0125), 0.0022, 0.0026, dark, 8)  # pedicel
    for sx in (-1, 1):
        body.sphere((sx * 0.0016, 0.0128, 0.0098), (0.0014, 0.0015, 0.0026), dark, 8, 5)
        rod(body, (sx * 0.0028, 0.0118, 0.0105), (sx * 0.0052, 0.0168, 0.0082), 0.0009,
            0.0008, white, 6)
        rod(body, (sx * 0.0052, 0.0168, 0.0082), (sx * 0.0058, 0.0192, 0.0035), 0.0008,
            0.0006, white, 6, cap=True)
        body.sphere((sx * 0.0017, 0.0118, 0.0158), 0.001, black, 8, 5)      # main eyes
        body.sphere((sx * 0.0036, 0.0108, 0.0152), 0.0007, black, 8, 5)
        body.sphere((sx * 0.0026, 0.0096, 0.0162), 0.0006, black, 8, 5)
    body_np = body.attach(holder)

    # Linear colours (the PBR shader's space): greyish-brown hair, pale tan bands.
    hair_color = (0.1, 0.065, 0.035, 1.0)
    band = (0.26, 0.17, 0.09, 1.0)
    fur = p.MeshBuilder("spider-body-hair")
    for _ in range(150):
        # Hairs over the abdomen and the back of the cephalothorax, pointing out and back.
        on_abdomen = rng.random() < 0.75
        (ox, oy, oz), (rx, ry, rz) = ABDOMEN if on_abdomen else CEPH
        theta = math.acos(rng.uniform(-0.35, 1.0))
        phi = rng.uniform(0, 2 * math.pi)
        n = (math.sin(theta) * math.cos(phi), math.sin(theta) * math.sin(phi), math.cos(theta))
        base = (ox + rx * n[0] * 0.9, oy + ry * n[1] * 0.9, oz + rz * n[2] * 0.9)
        length = rng.uniform(0.0018, 0.0034)
        tip = (base[0] + n[0] * length, base[1] + (n[1] - 0.6) * length,
               base[2] + n[2] * length)
        rod(fur, base, tip, 0.00022, 0.00005, hair_color, 3)
    # A paler leaf pattern (folium) on the abdomen's back.
    for k in range(4):
        y = ay + 0.006 - k * 0.0042
        for sx in (-1, 1):
            fur.sphere((ax + sx * (0.0022 + 0.0006 * k), y, az + aradii[2] * 0.93 - k * 0.0008),
                       (0.0016, 0.0011, 0.0006), band, 8, 4)
    fur.sphere((ax, ay + 0.008, az + aradii[2] * 0.9), (0.0012, 0.003, 0.0006), band, 8, 4)
    body_hair = fur.attach(holder)

    shadow_mesh = p.MeshBuilder("spider-shadow")
    blob(shadow_mesh, (0, -0.003, 0.0012), 0.048, 0.054, 0.65)
    shadow = shadow_mesh.attach(holder)

    legs: list[NodePath] = []
    leg_hair: list[NodePath] = []
    shapes: list[LegShape] = []
    for pair, (angle, scale) in enumerate(zip(LEG_ANGLES, LEG_SCALES, strict=True)):
        pts = _leg_points(scale)
        radii_along = (0.0021, 0.0018, 0.0015, 0.0006)
        leg = p.MeshBuilder(f"spider-leg-{pair}")
        for k in range(3):
            rod(leg, pts[k], pts[k + 1], radii_along[k], radii_along[k + 1] * 1.05, white, 7)
            leg.sphere(pts[k + 1], radii_along[k + 1] * 1.2, dark if k < 2 else white, 7, 4)
        legs.append(leg.attach(holder))
        hair = p.MeshBuilder(f"spider-leg-hair-{pair}")
        for k in range(3):
            a, b = pts[k], pts[k + 1]
            # Pale bands at the end of each segment: the banded legs of a house spider.
            t0 = 0.78
            ba = tuple(a[i] + (b[i] - a[i]) * t0 for i in range(3))
            rod(hair, ba, b, radii_along[k + 1] * 1.25, radii_along[k + 1] * 1.3, band, 8)
            seg = Vec3(b[0] - a[0], b[1] - a[1], b[2] - a[2])
            for _ in range(18 if k < 2 else 10):
                t = rng.uniform(0.05, 0.95)
                r = radii_along[k] + (radii_along[k + 1] - radii_along[k]) * t
                at = [a[i] + (b[i] - a[i]) * t for i in range(3)]
                phi = rng.uniform(0, 2 * math.pi)
                # Spines stand out sideways and up, leaning toward the foot.
                side = Vec3(math.cos(phi), 0, abs(math.sin(phi)) + 0.2)
                side.normalize()
                length = rng.uniform(0.0016, 0.0032) * scale
                lean = seg / seg.length() * 0.6
                end = [at[0] + (side.x + lean.x) * length, at[1] + (side.y + lean.y) * length,
                       at[2] + (side.z + lean.z) * length]
                spot = [at[0] + side.x * r * 0.8, at[1] + side.y * r * 0.8,
                        at[2] + side.z * r * 0.8]
                rod(hair, spot, end, 0.00018, 0.00004, hair_color, 3)
        leg_hair.append(hair.attach(holder))
        shapes.append(LegShape(angle, pts, pts[-1][1]))

    hips = []
    for angle in LEG_ANGLES:
        rad = math.radians(angle)
        hips.append((math.sin(rad) * 0.0052, CEPH[0][1] + math.cos(rad) * 0.0048, 0.0))
    span = 2 * max(math.hypot(h[0] + math.sin(math.radians(s.base_deg)) * s.reach,
                              h[1] + math.cos(math.radians(s.base_deg)) * s.reach)
                   for h, s in zip(hips, shapes, strict=True))
    for node in (body_np, *legs):
        node.set_two_sided(False)
    for node in (body_hair, *leg_hair):
        # Own colours (vertex colours under a white material), whatever the spider's tint.
        p.material(node, (1, 1, 1, 1), roughness=0.95)
    shadow.set_transparency(TransparencyAttrib.M_alpha)
    shadow.set_depth_write(False)
    shadow.set_bin("transparent", 5)
    p.material(shadow, (0, 0, 0, 1), roughness=1.0)
    shadow.set_light_off(1)
    return SpiderModel(body_np, body_hair, shadow, legs, leg_hair, hips, shapes, span)


GAIT_STEPS = 32
"""Leg poses per gait cycle, made once in load() (32 steps: a new pose about every frame at
the fastest cadence any level walks)."""


def leg_angles(leg: int, phase: float) -> tuple[float, float]:
    """Heading and lift (degrees) of leg ``leg`` (0-3: L1-L4, 4-7: R1-R4) at gait ``phase``.

    Alternating tetrapod gait: group A (L1, R2, L3, R4) and group B (R1, L2, R3, L4) swing in
    antiphase; a leg lifts while it swings forward and pushes back on the ground otherwise.
    """
    right = leg >= 4
    pair = leg % 4
    group_a = (pair % 2 == 0) != right
    shifted = phase if group_a else phase + math.pi
    swing = SWING_DEG * math.sin(shifted)
    lift = LIFT_DEG * max(0.0, math.cos(shifted))
    base = LEG_ANGLES[pair]
    # Heading turns +Y toward -X: left legs sit at +base, right legs at -base, and "forward" is
    # toward 0 on both sides.
    return (base - swing if not right else -base + swing), lift


@dataclass
class GaitPoses:
    """The legs in every gait step, built once: a spider's legs move by showing one of these."""

    poses: list[NodePath]
    """Step k: all eight legs posed for phase 2*pi*k/GAIT_STEPS, merged into few meshes."""
    hair: list[list[NodePath]]
    """hair[pair][k]: the hair and bands of leg pair ``pair`` in step k (shown with realism)."""


def build_gait_poses(model: SpiderModel, parent: NodePath) -> GaitPoses:
    """Pose copies of the leg meshes for each gait step and merge each step's legs.

    A walking spider then changes one switch per step instead of eight leg transforms, which
    keeps a frame with eight walking spiders cheap.
    """
    holder = parent.attach_new_node("gait-poses")
    holder.stash()
    hips = [(side * hip[0], hip[1], hip[2]) for side in (-1, 1) for hip in model.hips]
    poses: list[NodePath] = []
    hair: list[list[NodePath]] = [[] for _ in LEG_ANGLES]
    for k in range(GAIT_STEPS):
        phase = 2 * math.pi * k / GAIT_STEPS
        pose = holder.attach_new_node(f"legs-{k}")
        legs = pose.attach_new_node("legs")
        pair_hair = [pose.attach_new_node(f"hair-{pair}") for pair in range(len(LEG_ANGLES))]
        for leg in range(8):
            pair = leg % 4
            h, lift = leg_angles(leg, phase)
            for mesh, under in ((model.legs[pair], legs), (model.leg_hair[pair],
                                                           pair_hair[pair])):
                copy = mesh.copy_to(under)
                copy.set_pos_hpr(*hips[leg], h, lift, 0)
        legs.flatten_strong()
        for pair, node in enumerate(pair_hair):
            node.flatten_strong()
            hair[pair].append(node)
        poses.append(pose)
    return GaitPoses(poses, hair)


@dataclass(slots=True)
class Spider:
    """One pooled spider: its nodes and where it is and what it is doing."""

    root: NodePath
    legs: NodePath
    """A switch over the gait poses: the visible child is the current step."""
    shadow: NodePath
    thread: NodePath
    scale_factor: float
    """This spider's size against the ``size`` parameter (the lead spider is 1)."""
    home: tuple[float, float]
    """Where in its area it settles (-1..1 across the area's width and depth)."""
    home_heading: float
    x: float = 0.0
    y: float = 0.0
    z: float = 0.0
    """Height above the worktop (only while dropping on its thread)."""
    heading: float = 0.0
    phase: float = 0.0
    posed_step: int = -1
    placed: tuple[float, ...] = ()
    mode: int = HIDDEN
    goal: tuple[float, float] = (0.0, 0.0)
    timer: float = 0.0
    hold: float = 0.0
    """Seconds it stays where an event left it before it wanders back into its area."""
    relocating: bool = False
    speed_now: float = 0.0
    scale: float = 1.0


# ------------------------------------------------------------------ the scenario


class Spiders(Scenario):
    """A kitchen island where spiders grow in number, size, nearness, speed and realism."""

    spec = ScenarioSpec(
        name="spiders",
        title="Spiders in the kitchen",
        description=(
            "The client stands at a long kitchen island, one hand resting on the worktop. "
            "The hierarchy runs from a cartoon drawing across the room, through a toy spider "
            "and a real one sitting still, to several spiders walking about and a large hairy "
            "spider that walks up to the client's hand."),
        parameters=(
            Parameter(name="count", label="Spiders", unit="", minimum=0, maximum=POOL,
                      rate=0.5, description="How many spiders are on the worktop (a new one "
                      "comes in over the far end once the value passes the half)."),
            Parameter(name="size", label="Leg span", unit="cm", minimum=2, maximum=25,
                      rate=1.5, description="Leg span of the largest spider; the others are "
                      "70-92 % of it."),
            Parameter(name="distance", label="Distance from hand", unit="m", minimum=0.3,
                      maximum=2.2, rate=0.15, description="From the client's hand to the "
                      "middle of the area the spiders stay in."),
            Parameter(name="approach", label="Closest approach", unit="m", minimum=0.02,
                      maximum=2.0, rate=0.15, description="The smallest gap any spider leaves "
                      "between its legs and the hand. Under 15 cm the largest spider walks "
                      "up to the hand and stops at this gap."),
            Parameter(name="speed", label="Walking speed", unit="cm/s", minimum=0, maximum=20,
                      rate=2.0, description="How fast the spiders walk (0: they keep still). "
                      "They walk in bursts with pauses, as real spiders do."),
            Parameter(name="realism", label="Realism", unit="", minimum=0, maximum=1, rate=0.1,
                      description="0: a smooth, glossy purple toy; 1: a dark, matt spider with "
                      "banded, hairy legs."),
        ),
        rungs=(
            _rung("A drawing across the room",
                  "A framed, friendly crayon drawing of a spider stands on the far kitchen "
                  "counter, about four metres away. There is no spider on the worktop.",
                  0, 10, 1.3, 1.1, 0, 0),
            _rung("Toy spider, still",
                  "A glossy purple plastic toy spider, 10 cm across, sits still on the "
                  "island about 1.1 m from the client's hand.",
                  1, 10, 1.2, 1.0, 0, 0),
            _rung("Real spider, still",
                  "A realistic dark brown house spider, 7 cm across, sits motionless on the "
                  "worktop about a metre from the hand.",
                  1, 7, 1.0, 0.8, 0, 1),
            _rung("Real spider, walking",
                  "An 8 cm house spider with hairy, banded legs walks about in short bursts "
                  "and pauses, 60-100 cm from the hand.",
                  1, 8, 0.85, 0.6, 4, 1),
            _rung("Three spiders",
                  "Three house spiders up to 8 cm walk about on the worktop, never nearer "
                  "than about 40 cm to the hand.",
                  3, 8, 0.7, 0.42, 7, 1),
            _rung("Many spiders near the hand",
                  "Six spiders up to 10 cm scurry about, 30 to 70 cm from the hand.",
                  6, 10, 0.55, 0.28, 10, 1),
            _rung("Large hairy spider at the hand",
                  "A large hairy spider (18 cm) walks straight up to the client's hand and "
                  "stops a few centimetres from the fingers, while nine more scurry about "
                  "nearby. At full intensity: sixteen spiders, the largest 24 cm across, "
                  "2 cm from the fingers.",
                  10, 18, 0.45, 0.06, 12, 1,
                  peak={"count": 16, "size": 24, "distance": 0.3, "approach": 0.02,
                        "speed": 16, "realism": 1}),
        ),
        live_events=(
            LiveEvent(name="walk_toward", label="Spider walks toward you",
                      description="The spider nearest the hand walks toward it, at the "
                      "level's walking speed and no closer than its closest approach; it "
                      "waits there a moment, then wanders back. A still spider only turns to "
                      "face the hand."),
            LiveEvent(name="drop_from_ceiling", label="Spider drops from the ceiling",
                      description="The farthest visible spider lowers itself on a thread from "
                      "the ceiling onto the worktop, within the spiders' area. Only at levels "
                      "where the spiders move."),
        ),
        viewpoint=(0.0, -0.1, 0.0),
        eye_height=1.65,  # standing at the island
        view_pitch=-30.0,
    )

    # -------------------------------------------------------------- building

    def load(self) -> None:
        """The kitchen, the hand on the worktop, the picture, and the pool of spiders."""
        rng = self.rng
        hand = self.context.client.hand
        # The worktop is where the resting hand lies: the hand sets its height.
        self.top = min(1.1, max(0.75, float(hand.z) - 0.03))
        self._build_room(rng)
        self._build_picture(rng)
        self.hand_node = self._build_hand()
        self._hand_seen: tuple[float, float, float] | None = None
        self.hand_xy = (0.0, 0.0)
        self._place_hand()

        self.model = build_spider_model(self.root, rng)
        self.materials: list[Material] = []
        for k in range(MATERIAL_STEPS):
            t = k / (MATERIAL_STEPS - 1)
            color = tuple(a + (b - a) * t for a, b in zip(TOY[0], REAL[0], strict=True))
            mat = Material(f"spider-{k}")
            mat.set_base_color((*color, 1.0))
            mat.set_roughness(TOY[1] + (REAL[1] - TOY[1]) * t)
            mat.set_metallic(0.0)
            self.materials.append(mat)
        self._material_step = -1

        self.gait = build_gait_poses(self.model, self.root)
        # Gait geometry in model units: how far a foot sits from the body, and how much gait
        # phase a metre of ground is worth (a stride is twice the swing arc of a foot).
        self._foot = sum(shape.reach for shape in self.model.shapes) / len(self.model.shapes)
        stride = 2 * 2 * self._foot * math.sin(SWING_DEG * DEG)
        self._phase_per_m = TAU / stride
        thread_mesh = p.MeshBuilder("thread")
        thread_mesh.cylinder((0, 0, 0), 0.0006, 1.0, (0.9, 0.9, 0.92, 1), segments=4,
                             caps=False)
        thread_geom = thread_mesh.node()
        p.material(NodePath(thread_geom), (0.9, 0.9, 0.92, 1), roughness=0.3,
                   emission=(0.25, 0.25, 0.25, 1))
        self.spiders: list[Spider] = []
        for i in range(POOL):
            root = self.root.attach_new_node(f"spider-{i}")
            body = root.attach_new_node("body")
            body.attach_new_node(self.model.body.node())
            body.attach_new_node(self.model.body_hair.node())
            if i == 0:
                # The lead is the tarantula-like one: a heavier body on the same legs.
                body.set_pos(0, -0.002, -0.0035)
                body.set_scale(1.35)
            shadow = root.attach_new_node(self.model.shadow.node())
            legs = root.attach_new_node(SwitchNode("legs"))
            for pose in self.gait.poses:
                legs.attach_new_node(pose.node())
            thread = self.root.attach_new_node(f"thread-{i}")
            thread.attach_new_node(thread_geom)
            thread.hide()
            factor = 1.0 if i == 0 else float(rng.uniform(0.7, 0.92))
            home = (0.0, -0.6)  # the lead settles nearest the hand; _spread_homes the rest
            spider = Spider(root, legs, shadow, thread, factor, home,
                            float(rng.uniform(140, 220)), phase=float(rng.uniform(0, 6.28)))
            root.hide()
            self.context.targets.tag(root, "stimulus", radius=0.4 * self.model.span)
            self.spiders.append(spider)
        self._spread_homes()

        self.scuttle_anchor = self.root.attach_new_node("scuttle")
        self.scuttle = self.context.sound.add("scuttle", synth.scuttle(rng, 3.0))
        self.scuttle_volume = 0.0
        self._last_values: dict[str, float] | None = None
        self._zone_seen: tuple[float, ...] = ()
        self._rates = {prm.name: prm.rate for prm in self.spec.parameters}

    def _spread_homes(self) -> None:
        """Give the spiders settling places spread over the area: a jittered 4 x 4 grid whose
        cells are handed out farthest-first, so any count of spiders stands apart."""
        rng = self.rng
        cells = [(-0.75 + 0.5 * i, -0.75 + 0.5 * j) for i in range(4) for j in range(4)]
        tie = {cell: float(rng.uniform(0, 0.01)) for cell in cells}
        taken = [self.spiders[0].home]
        for spider in self.spiders[1:]:
            cell = max(cells, key=lambda c: min(math.hypot(c[0] - t[0], c[1] - t[1])
                                                for t in taken) + tie[c])
            cells.remove(cell)
            spider.home = (cell[0] + float(rng.uniform(-0.14, 0.14)),
                           cell[1] + float(rng.uniform(-0.14, 0.14)))
            taken.append(cell)

    def _build_room(self, rng: np.random.Generator) -> None:
        """Floor, walls, the island, the back counter with cabinets, a window and lights."""
        root, top = self.root, self.top
        x0, x1 = ISLAND_X
        y0, y1 = ISLAND_Y
        floor = p.MeshBuilder("floor")
        floor.box((0, 1.5, -0.05), (2 * SIDE_WALL_X, 6.0, 0.1), (1, 1, 1, 1), uv_per_m=0.5)
        floor_np = floor.attach(root)
        p.material(floor_np, roughness=0.55)
        p.apply_texture(floor_np, p.texture("floor", p.tiles_rgb(
            rng, 256, 4, (0.62, 0.6, 0.57), (0.45, 0.43, 0.41), spread=0.05)))

        walls = p.MeshBuilder("walls")
        wall_c = (1, 1, 1, 1)
        walls.box((0, BACK_WALL_Y + 0.05, CEILING_Z / 2), (2 * SIDE_WALL_X, 0.1, CEILING_Z),
                  wall_c, uv_per_m=1.0)
        # Left wall with a window opening (x = -SIDE_WALL_X, y 0.9-2.3, z 1.0-2.1).
        lx = -SIDE_WALL_X - 0.05
        walls.box((lx, -0.6, CEILING_Z / 2), (0.1, 3.0, CEILING_Z), wall_c, 1.0)
        walls.box((lx, 3.05, CEILING_Z / 2), (0.1, 1.5, CEILING_Z), wall_c, 1.0)
        walls.box((lx, 1.6, 0.5), (0.1, 1.4, 1.0), wall_c, 1.0)
        walls.box((lx, 1.6, 2.3), (0.1, 1.4, 0.4), wall_c, 1.0)
        walls.box((SIDE_WALL_X + 0.05, 1.5, CEILING_Z / 2), (0.1, 6.0, CEILING_Z), wall_c, 1.0)
        walls.box((0, 1.5, CEILING_Z + 0.05), (2 * SIDE_WALL_X, 6.0, 0.1), wall_c, 1.0)
        walls.box((0, -1.5, CEILING_Z / 2), (2 * SIDE_WALL_X, 0.1, CEILING_Z), wall_c, 1.0)
        walls_np = walls.attach(root)
        p.material(walls_np, roughness=0.9)
        p.apply_texture(walls_np, p.texture("plaster", p.noise_rgb(
            rng, 128, (0.9, 0.86, 0.78), 0.05)))

        wood = p.MeshBuilder("worktop")
        wood.box((0, (y0 + y1) / 2, top - 0.02), (x1 - x0, y1 - y0, 0.04), (1, 1, 1, 1),
                 uv_per_m=1.2)
        # Back counter top along the far wall.
        wood.box((0, BACK_WALL_Y - 0.3, 0.94), (2 * SIDE_WALL_X, 0.62, 0.04), (1, 1, 1, 1),
                 uv_per_m=1.2)
        wood_np = wood.attach(root)
        p.material(wood_np, roughness=0.45)
        p.apply_texture(wood_np, p.texture("oak", wood_rgb(rng)))

        cab = p.MeshBuilder("cabinets")
        sage = (0.47, 0.55, 0.47, 1)
        sage_dark = (0.36, 0.43, 0.36, 1)
        plinth = (0.2, 0.2, 0.2, 1)
        # Island carcass, inset under the worktop, with door panels on its sides.
        cab.box((0, (y0 + y1) / 2, (top - 0.04) / 2 + 0.05),
                (x1 - x0 - 0.06, y1 - y0 - 0.06, top - 0.14), sage)
        cab.box((0, (y0 + y1) / 2, 0.05), (x1 - x0 - 0.14, y1 - y0 - 0.14, 0.1), plinth)
        n_doors = 4
        door_h = top - 0.2
        for side in (-1, 1):
            for k in range(n_doors):
                yc = y0 + 0.03 + (k + 0.5) * (y1 - y0 - 0.06) / n_doors
                cab.box((side * ((x1 - x0) / 2 - 0.025), yc, 0.1 + door_h / 2 + 0.02),
                        (0.012, (y1 - y0 - 0.06) / n_doors - 0.012, door_h), sage_dark)
        cab.box((0, y0 + 0.02, 0.1 + door_h / 2 + 0.02), (x1 - x0 - 0.08, 0.012, door_h),
                sage_dark)
        # Back run: base cabinets, and wall cabinets either side of the picture.
        cab.box((0, BACK_WALL_Y - 0.3, 0.46), (2 * SIDE_WALL_X, 0.58, 0.86), sage)
        for k in range(8):
            xc = -SIDE_WALL_X + (k + 0.5) * (2 * SIDE_WALL_X / 8)
            cab.box((xc, BACK_WALL_Y - 0.6, 0.5), (2 * SIDE_WALL_X / 8 - 0.012, 0.012, 0.7),
                    sage_dark)
        for side in (-1, 1):
            cab.box((side * 1.45, BACK_WALL_Y - 0.17, 1.85), (1.4, 0.34, 0.7), sage)
            for k in range(3):
                xc = side * (0.75 + 0.2333 + k * 0.4667)
                cab.box((xc, BACK_WALL_Y - 0.345, 1.85), (0.455, 0.012, 0.68), sage_dark)
        cab_np = cab.attach(root)
        p.material(cab_np, roughness=0.6)

        metal = p.MeshBuilder("handles")
        for side in (-1, 1):
            for k in range(n_doors):
                yc = y0 + 0.03 + (k + 0.5) * (y1 - y0 - 0.06) / n_doors
                metal.box((side * ((x1 - x0) / 2 - 0.015), yc, top - 0.12), (0.012, 0.14, 0.012),
                          (0.8, 0.8, 0.8, 1))
        for k in range(8):
            xc = -SIDE_WALL_X + (k + 0.5) * (2 * SIDE_WALL_X / 8)
            metal.box((xc, BACK_WALL_Y - 0.615, 0.8), (0.14, 0.012, 0.012), (0.8, 0.8, 0.8, 1))
        # The tap at the back counter.
        metal.cylinder((0.9, BACK_WALL_Y - 0.4, 0.94), 0.015, 0.3, (0.85, 0.85, 0.85, 1))
        metal_np = metal.attach(root)
        p.material(metal_np, roughness=0.25, metallic=1.0)

        decor = p.MeshBuilder("decor")
        # A fruit bowl and a mug on the island's left side, jars at the back.
        decor.cylinder((-0.38, 1.55, top), 0.06, 0.012, (0.95, 0.95, 0.93, 1), 20)
        decor.cylinder((-0.38, 1.55, top + 0.012), 0.07, 0.07, (0.95, 0.95, 0.93, 1), 20,
                       caps=False, top_radius=0.13)
        for k, (dx, dy, dz) in enumerate(((0.0, 0.0, 0.07), (0.05, 0.03, 0.065),
                                          (-0.045, 0.035, 0.066), (0.01, -0.05, 0.064))):
            color = ((0.72, 0.1, 0.08, 1), (0.85, 0.55, 0.1, 1), (0.55, 0.72, 0.2, 1),
                     (0.75, 0.15, 0.1, 1))[k]
            decor.sphere((-0.38 + dx, 1.55 + dy, top + dz), 0.038, color, 14, 8)
        decor.cylinder((-0.42, 0.62, top), 0.042, 0.095, (0.2, 0.35, 0.55, 1), 20)
        decor.cylinder((-0.42, 0.62, top + 0.09), 0.036, 0.006, (0.12, 0.08, 0.05, 1), 20)
        for k in range(3):
            decor.cylinder((-1.3 + 0.16 * k, BACK_WALL_Y - 0.25, 0.94), 0.055, 0.18 + 0.03 * k,
                           (0.85, 0.82, 0.75, 1), 16)
        decor.box((-0.3, 2.15, top + 0.012), (0.3, 0.22, 0.024), (0.6, 0.42, 0.26, 1))
        decor_np = decor.attach(root)
        p.material(decor_np, roughness=0.4)

        window = p.MeshBuilder("window")
        window.quad([(-SIDE_WALL_X + 0.01, 2.3, 1.0), (-SIDE_WALL_X + 0.01, 0.9, 1.0),
                     (-SIDE_WALL_X + 0.01, 0.9, 2.1), (-SIDE_WALL_X + 0.01, 2.3, 2.1)],
                    (1, 0, 0), (0.85, 0.92, 1.0, 1))
        window_np = window.attach(root)
        p.glow(window_np, (0.85, 0.92, 1.0), 1.0)
        frame = p.MeshBuilder("window-frame")
        for z in (1.0, 1.55, 2.1):
            frame.box((-SIDE_WALL_X + 0.03, 1.6, z), (0.05, 1.44, 0.05), (0.95, 0.95, 0.95, 1))
        for y in (0.9, 1.6, 2.3):
            frame.box((-SIDE_WALL_X + 0.03, y, 1.55), (0.05, 0.05, 1.14), (0.95, 0.95, 0.95, 1))
        p.material(frame.attach(root), roughness=0.5)

        p.sun(root, (-62, -32, 0), (1.0, 0.96, 0.88), 1.7)
        p.ambient(root, (0.85, 0.88, 0.95), 0.26)
        p.lamp(root, (0.0, 1.3, 2.2), (1.0, 0.9, 0.75), 1.6, falloff=0.25)

    def _build_picture(self, rng: np.random.Generator) -> None:
        """The framed crayon drawing on the far wall, above the back counter."""
        # Standing on the back counter, leaning on the wall: in view above the island's end.
        w, h = 0.4, 0.5
        zc = 0.96 + 0.04 + h / 2
        y = BACK_WALL_Y - 0.06
        picture = self.root.attach_new_node("picture")
        art = p.MeshBuilder("drawing")
        art.quad([(-w / 2, y, zc - h / 2), (w / 2, y, zc - h / 2), (w / 2, y, zc + h / 2),
                  (-w / 2, y, zc + h / 2)], (0, -1, 0), (1, 1, 1, 1))
        art_np = art.attach(picture)
        p.material(art_np, roughness=0.9)
        p.apply_texture(art_np, p.texture("drawing", drawing_rgb(rng)))
        frame = p.MeshBuilder("picture-frame")
        b, d = 0.04, 0.03
        color = (0.3, 0.2, 0.12, 1)
        frame.box((0, y + 0.01, zc + h / 2 + b / 2), (w + 2 * b, d, b), color)
        frame.box((0, y + 0.01, zc - h / 2 - b / 2), (w + 2 * b, d, b), color)
        frame.box((-w / 2 - b / 2, y + 0.01, zc), (b, d, h), color)
        frame.box((w / 2 + b / 2, y + 0.01, zc), (b, d, h), color)
        p.material(frame.attach(picture), roughness=0.5)
        self.picture = picture
        # The drawing is a spider too: looking at it counts as looking at the stimulus.
        self.context.targets.tag(picture, "stimulus")

    def _build_hand(self) -> NodePath:
        """A right hand (mirrored for a left one) resting palm-down, its forearm toward the body.

        Modelled with the fingers along +Y from the palm's centre at the origin.
        """
        skin = (0.57, 0.3, 0.19, 1)  # linear
        mesh = p.MeshBuilder("hand")
        mesh.sphere((0, 0.0, 0.017), (0.043, 0.052, 0.016), skin, 16, 8)
        for k, (dx, length) in enumerate(((-0.025, 0.066), (-0.0085, 0.076), (0.0085, 0.072),
                                          (0.024, 0.058))):
            base = (dx, 0.038, 0.017)
            mid = (dx * 1.02, 0.038 + length * 0.55, 0.012)
            tip = (dx * 1.03, 0.038 + length, 0.007)
            r = 0.0088 - 0.0006 * k
            rod(mesh, base, mid, r, r * 0.95, skin, 10)
            rod(mesh, mid, tip, r * 0.95, r * 0.8, skin, 10)
            mesh.sphere(mid, r * 0.97, skin, 10, 6)
            mesh.sphere(tip, r * 0.8, skin, 10, 6)
        thumb = [(-0.035, -0.015, 0.014), (-0.06, 0.015, 0.012), (-0.072, 0.045, 0.01)]
        rod(mesh, thumb[0], thumb[1], 0.012, 0.011, skin, 10)
        rod(mesh, thumb[1], thumb[2], 0.011, 0.009, skin, 10)
        mesh.sphere(thumb[1], 0.011, skin, 10, 6)
        mesh.sphere(thumb[2], 0.009, skin, 10, 6)
        # Wrist and forearm, rising off the worktop's edge toward the elbow.
        rod(mesh, (0, -0.04, 0.018), (0, -0.09, 0.022), 0.03, 0.029, skin, 14)
        rod(mesh, (0, -0.09, 0.022), (0.01, -0.33, 0.07), 0.029, 0.04, skin, 14)
        sleeve = (0.05, 0.09, 0.2, 1)
        rod(mesh, (0.01, -0.3, 0.064), (0.02, -0.5, 0.11), 0.046, 0.052, sleeve, 14, cap=True)
        hand = mesh.attach(self.root)
        p.material(hand, roughness=0.6)
        return hand

    def _place_hand(self) -> None:
        """Put the drawn hand where the client's hand rests (only when that changed)."""
        hand = self.context.client.hand
        key = (float(hand.x), float(hand.y), float(hand.z))
        if key == self._hand_seen:
            return
        self._hand_seen = key
        x0, x1 = ISLAND_X
        y0, y1 = ISLAND_Y
        hx = min(x1 - 0.06, max(x0 + 0.06, key[0]))
        hy = min(y1 - 0.1, max(y0 + 0.05, key[1]))
        self.hand_xy = (hx, hy)
        # The forearm points back toward the shoulder on the hand's side.
        sx = 0.18 if hx >= 0 else -0.18
        heading = math.degrees(math.atan2(-(hx - sx), hy + 0.35))
        self.hand_node.set_pos_hpr(hx, hy, self.top, heading, 0, 0)
        self.hand_node.set_scale(1 if hx >= 0 else -1, 1, 1)

    # -------------------------------------------------------------- per frame

    def rung_start(self, rung: int) -> None:
        """Keep the scuttle loop running (it stops while the safe place is shown)."""
        if not self.scuttle.looping:
            self.context.sound.play(self.scuttle, at=self.scuttle_anchor, loop=True,
                                    volume=self.scuttle_volume)

    def _jumped(self, values: Mapping[str, float], dt: float) -> bool:
        """Whether the values moved faster than their rates: a load, a preview snap, or the
        restart from the mildest level after a stop. The scene then settles at once."""
        last = self._last_values
        self._last_values = dict(values)
        if last is None:
            return True
        return any(abs(values[n] - last[n]) > rate * dt + 1e-6 for n, rate in self._rates.items())

    def update(self, values: Mapping[str, float], dt: float) -> None:
        """Walk, show and colour the spiders for this frame's values."""
        settle = self._jumped(values, dt)
        self._place_hand()
        count = values["count"]
        size = values["size"] / 100.0
        speed = values["speed"] / 100.0
        realism = values["realism"]
        self._apply_realism(realism)
        # The spiders' area: ahead of the hand along the island, inside the worktop.
        zone = self._zone(values)
        # Spiders check they are still inside their area only when the level moved it.
        seen = (*zone, values["approach"], values["size"])
        recheck = seen != self._zone_seen
        self._zone_seen = seen
        moving_speed = 0.0
        moving_x = moving_y = 0.0
        moving = 0
        span = self.model.span
        keep_off = values["approach"] + HAND_REACH  # see _near
        lead_homing = values["approach"] < HOMING_GAP
        for i, spider in enumerate(self.spiders):
            spider.scale = size * spider.scale_factor / span
            near = keep_off + 0.5 * size * spider.scale_factor
            homing = i == 0 and lead_homing
            wanted = count >= i + 0.5
            if settle:
                if i == 0:  # settle afresh: nobody is placed yet
                    for other in self.spiders:
                        other.mode = HIDDEN
                self._settle(spider, wanted, zone, near, homing)
            else:
                self._step(spider, wanted, zone, near, homing, speed, dt, recheck)
            if spider.mode == HIDDEN:
                continue
            self._pose(spider)
            if spider.speed_now > 0:
                moving += 1
                moving_speed += spider.speed_now
                moving_x += spider.x
                moving_y += spider.y
        if moving:
            self.scuttle_anchor.set_pos(moving_x / moving, moving_y / moving, self.top)
        # Louder with more spiders walking faster: a 16 cm/s spider alone is about a third.
        volume = min(1.0, moving_speed / 0.5)
        if abs(volume - self.scuttle_volume) > 0.005 or (volume == 0) != (self.scuttle_volume
                                                                         == 0):
            self.scuttle_volume = volume
            self.context.sound.set_volume(self.scuttle, volume)

    def _apply_realism(self, realism: float) -> None:
        step = round(realism * (MATERIAL_STEPS - 1))
        if step == self._material_step:
            return
        self._material_step = step
        material = self.materials[step]
        for spider in self.spiders:
            spider.root.set_material(material, 1)
        for threshold, steps in zip(LEG_HAIR_AT, self.gait.hair, strict=True):
            for hair in steps:
                self._show(hair, realism >= threshold)
        self._show(self.model.body_hair, realism >= BODY_HAIR_AT)

    @staticmethod
    def _show(node: NodePath, visible: bool) -> None:
        # Hair meshes are instanced into every spider; hiding the shared node hides them all.
        if visible:
            node.node().set_overall_hidden(False)
        else:
            node.node().set_overall_hidden(True)

    # -------------------------------------------------------------- behaviour

    @staticmethod
    def _near(spider: Spider, values: Mapping[str, float]) -> float:
        """How near a spider's centre may come to the hand's: the level's closest approach
        (a gap between fingertips and leg tips) plus the hand's reach and the spider's."""
        return (values["approach"] + HAND_REACH
                + 0.5 * values["size"] / 100.0 * spider.scale_factor)

    def _zone(self, values: Mapping[str, float]) -> Zone:
        """The area the spiders keep to: ahead of the hand along the island by ``distance``,
        larger with more spiders, always on the worktop."""
        hx, hy = self.hand_xy
        crowd = max(1.0, values["count"])
        half_x = ZONE_HALF[0] + ZONE_GROWTH[0] * crowd
        half_y = ZONE_HALF[1] + ZONE_GROWTH[1] * crowd
        # Across the island, the area keeps clear of the fruit bowl and the mug on the left.
        lo, hi = ZONE_X
        half_x = min(half_x, (hi - lo) / 2)
        zx = min(hi - half_x, max(lo + half_x, hx * 0.6))
        zy = min(ISLAND_Y[1] - 0.06 - half_y, max(hy, hy + values["distance"]))
        return zx, zy, half_x, half_y

    def _in_zone(self, x: float, y: float, zone: Zone, near: float,
                 margin: float) -> bool:
        hx, hy = self.hand_xy
        return (abs(x - zone[0]) <= zone[2] + margin
                and abs(y - zone[1]) <= zone[3] + margin
                and math.hypot(x - hx, y - hy) >= near - margin)

    def _clamp_to_top(self, x: float, y: float, reach: float) -> tuple[float, float]:
        x0, x1 = ISLAND_X
        y0, y1 = ISLAND_Y
        return (min(x1 - reach, max(x0 + reach, x)), min(y1 - reach, max(y0 + reach, y)))

    def _near_point(self, x: float, y: float, near: float) -> tuple[float, float]:
        """The point ``near`` from the hand on the way from (x, y) to the hand, never from
        behind the hand (a spider does not come up the forearm)."""
        hx, hy = self.hand_xy
        dx, dy = x - hx, y - hy
        if dy < 0.3 * abs(dx) or math.hypot(dx, dy) < 1e-6:
            dy = max(dy, 0.3 * abs(dx), 0.05)
        length = math.hypot(dx, dy)
        return self._clamp_to_top(hx + dx / length * near, hy + dy / length * near, 0.05)

    def _home_point(self, spider: Spider, zone: Zone, near: float) -> tuple[float, float]:
        """Where a spider settles: its own spot in the area (kept off the hand), or, when that
        spot is taken by another visible spider, the free-est of a few others."""
        hx, hy = self.hand_xy
        others = [o for o in self.spiders if o is not spider and o.mode != HIDDEN]
        best, best_clear = (0.0, 0.0), -math.inf
        for k in range(13):
            if k == 0:
                x, y = zone[0] + spider.home[0] * zone[2], zone[1] + spider.home[1] * zone[3]
            else:
                x = zone[0] + float(self.rng.uniform(-1, 1)) * zone[2]
                y = zone[1] + float(self.rng.uniform(-1, 1)) * zone[3]
            if math.hypot(x - hx, y - hy) < near:
                x, y = self._near_point(x, y, near)
            # Legs may interleave a little; bodies may not overlap.
            clear = min((math.hypot(x - o.x, y - o.y)
                         - 0.42 * (o.scale + spider.scale) * self.model.span for o in others),
                        default=math.inf)
            if clear >= 0.0:
                return x, y
            if clear > best_clear:
                best, best_clear = (x, y), clear
        return best

    def _waypoint(self, spider: Spider, zone: Zone,
                  near: float) -> tuple[float, float]:
        """A random spot in the area, not too near the hand or another spider's goal."""
        hx, hy = self.hand_xy
        x = y = 0.0
        for _ in range(12):
            x = zone[0] + float(self.rng.uniform(-1, 1)) * zone[2]
            y = zone[1] + float(self.rng.uniform(-1, 1)) * zone[3]
            if math.hypot(x - hx, y - hy) < near:
                continue
            # Apart from where the others are and where they are going: no pile-ups.
            if all(math.hypot(x - o.goal[0], y - o.goal[1]) > 0.08
                   and math.hypot(x - o.x, y - o.y) > 0.06 for o in self.spiders
                   if o is not spider and o.mode != HIDDEN):
                break
        if math.hypot(x - hx, y - hy) < near:
            x, y = self._near_point(x, y, near)
        return x, y

    def _start_walk(self, spider: Spider, zone: Zone, near: float, speed: float,
                    relocating: bool) -> None:
        """Set off for a new spot in the area, with time enough to get there (a spider whose
        way is blocked gives up and picks another)."""
        spider.goal = self._waypoint(spider, zone, near)
        spider.mode, spider.relocating = WALK, relocating
        distance = math.hypot(spider.goal[0] - spider.x, spider.goal[1] - spider.y)
        spider.timer = 1.5 + 3.0 * distance / max(speed, 0.01)

    def _settle(self, spider: Spider, wanted: bool, zone: Zone, near: float,
                homing: bool) -> None:
        """Put a spider where the level would have it after a while (load, snap, restart)."""
        spider.thread.hide()
        spider.z = 0.0
        spider.hold = 0.0
        spider.speed_now = 0.0
        spider.relocating = False
        if not wanted:
            spider.mode = HIDDEN
            spider.root.hide()
            return
        if homing:
            spider.x, spider.y = self._near_point(zone[0], zone[1], near)
            hx, hy = self.hand_xy
            spider.heading = math.degrees(math.atan2(-(hx - spider.x), hy - spider.y))
            spider.mode = HOME
        else:
            spider.x, spider.y = self._home_point(spider, zone, near)
            spider.heading = spider.home_heading
            spider.mode = PAUSE
            spider.timer = 0.5 + spider.home[0] + 1.0
        spider.goal = (spider.x, spider.y)
        spider.root.show()
        self._place(spider)

    def _walk(self, spider: Spider, gx: float, gy: float, speed: float, dt: float,
              face: tuple[float, float] | None = None, keep: float = 0.0) -> bool:
        """Turn toward (gx, gy) and walk there at ``speed``; True once there (and, with
        ``face``, turned toward that point). No step takes it nearer than ``keep`` to the hand:
        a path that would cut inside that circle slides around it.

        The gait phase advances with the ground the feet cover (walking, or turning on the
        spot), so the leg cadence always matches the body's speed.
        """
        x, y = spider.x, spider.y
        dx, dy = gx - x, gy - y
        dist = math.hypot(dx, dy)
        arrived = dist < 0.004
        if arrived:
            if face is None:
                spider.speed_now = 0.0
                return True
            dx, dy = face[0] - x, face[1] - y
        err = (math.degrees(math.atan2(-dx, dy)) - spider.heading + 180.0) % 360.0 - 180.0
        max_turn = TURN_RATE * dt
        turn = max_turn if err > max_turn else (-max_turn if err < -max_turn else err)
        heading = spider.heading + turn
        spider.heading = heading
        covered = abs(turn) * DEG * self._foot * spider.scale
        if not arrived:
            # Slow while turning: a spider pivots before it runs off in a new direction.
            ahead = math.cos(err * DEG)
            if ahead > 0.0:
                move = min(dist, speed * dt * ahead)
                rad = heading * DEG
                nx, ny = x - math.sin(rad) * move, y + math.cos(rad) * move
                hx, hy = self.hand_xy
                was = math.hypot(x - hx, y - hy)
                if was - move < keep:  # this step could cut inside the hand's circle
                    reach = math.hypot(nx - hx, ny - hy)
                    floor = min(keep, was)
                    if 1e-9 < reach < floor:
                        nx, ny = hx + (nx - hx) * floor / reach, hy + (ny - hy) * floor / reach
                covered += math.hypot(nx - x, ny - y)
                spider.x, spider.y = nx, ny
        if covered > 0.0:
            spider.phase = (spider.phase + covered * self._phase_per_m / spider.scale) % TAU
        spider.speed_now = covered / dt if dt > 0 else 0.0
        return arrived and -2.0 < err < 2.0

    def _step(self, spider: Spider, wanted: bool, zone: Zone, near: float,
              homing: bool, speed: float, dt: float, recheck: bool) -> None:
        """One frame of a spider's behaviour (``recheck``: the area moved this frame)."""
        can_walk = speed >= MIN_SPEED
        hx, hy = self.hand_xy
        if spider.mode == HIDDEN:
            if not wanted:
                return
            spider.root.show()
            spider.z = 0.0
            if can_walk:
                # A newcomer climbs over the island's far end and walks into the area.
                spider.x, spider.y = self._clamp_to_top(
                    zone[0] + float(self.rng.uniform(-1, 1)) * zone[2], ISLAND_Y[1], 0.02)
                spider.heading = 180.0
                self._start_walk(spider, zone, near, speed, False)
            else:
                spider.x, spider.y = self._home_point(spider, zone, near)
                spider.heading = spider.home_heading
                spider.mode = PAUSE
                spider.timer = 1.0
        elif not wanted and spider.mode != LEAVE:
            if can_walk and spider.mode != DROP:
                spider.mode = LEAVE
                spider.goal = (spider.x, ISLAND_Y[1] + 0.01)
            else:
                spider.mode = HIDDEN
                spider.thread.hide()
                spider.speed_now = 0.0
                spider.root.hide()
                return
        elif wanted and spider.mode == LEAVE:
            self._start_walk(spider, zone, near, max(speed, RELOCATE_SPEED), False)

        spider.speed_now = 0.0
        if spider.hold > 0.0:
            spider.hold = max(0.0, spider.hold - dt)
            recheck = recheck or spider.hold == 0.0  # released: back into the area
        mode = spider.mode
        if mode == LEAVE:
            if self._walk(spider, *spider.goal, max(speed, RELOCATE_SPEED), dt,
                          keep=near) or spider.y >= ISLAND_Y[1]:
                spider.mode = HIDDEN
                spider.speed_now = 0.0
                spider.root.hide()
                return
        elif mode == DROP:
            # Lowering itself on its thread: 10 cm/s, quicker at livelier levels.
            spider.z = max(0.0, spider.z - (0.1 + 1.5 * speed) * dt)
            spider.heading = (spider.heading + 25.0 * dt) % 360.0  # turning on the thread
            spider.thread.set_pos(spider.x, spider.y, self.top + spider.z + 0.01)
            spider.thread.set_sz(max(0.001, CEILING_Z - self.top - spider.z - 0.01))
            if spider.z <= 0.0:
                spider.thread.hide()
                spider.mode = PAUSE
                spider.hold = 2.0
                spider.timer = 2.0
        elif mode == EVENT:
            target = spider.goal
            if can_walk:
                arrived = self._walk(spider, *target, speed, dt, face=(hx, hy), keep=near)
            else:  # a still spider only turns to face the hand
                arrived = self._walk(spider, spider.x, spider.y, 0.0, dt, face=(hx, hy))
            if arrived:
                spider.mode = PAUSE
                spider.hold = spider.timer = 3.0
        elif homing and spider.mode in (PAUSE, WALK, HOME):
            spider.mode = HOME
            goal = self._near_point(spider.x, spider.y, near)
            self._walk(spider, *goal, max(speed, RELOCATE_SPEED), dt, face=(hx, hy), keep=near)
        else:
            if mode == HOME:
                spider.mode = mode = PAUSE
                spider.timer = 0.0
            if mode == PAUSE:
                spider.timer -= dt
                if recheck and spider.hold <= 0.0 and not self._in_zone(
                        spider.x, spider.y, zone, near, 0.03):
                    self._start_walk(spider, zone, near, max(speed, RELOCATE_SPEED), True)
                elif spider.timer <= 0.0 and can_walk:
                    self._start_walk(spider, zone, near, speed, False)
            if spider.mode == WALK:
                v = max(speed, RELOCATE_SPEED) if spider.relocating else speed
                if recheck and not self._in_zone(*spider.goal, zone, near, 0.05):
                    self._start_walk(spider, zone, near, v, spider.relocating)
                spider.timer -= dt
                if v <= 0.0 or spider.timer <= 0.0:  # stopped, or blocked by the hand's circle
                    spider.mode = PAUSE
                    spider.timer = 0.5
                elif self._walk(spider, *spider.goal, v, dt, keep=near):
                    spider.mode = PAUSE
                    # Real spiders dash and freeze; faster levels pause for less.
                    spider.timer = float(self.rng.uniform(0.4, 2.8)) / (1 + 6 * speed)
        self._place(spider)

    def _place(self, spider: Spider) -> None:
        placed = (spider.x, spider.y, spider.z, spider.heading, spider.scale)
        if placed == spider.placed:
            return
        spider.placed = placed
        spider.root.set_pos_hpr_scale(spider.x, spider.y, self.top + spider.z,
                                      spider.heading, 0, 0,
                                      spider.scale, spider.scale, spider.scale)
        if spider.mode == DROP:
            spider.shadow.set_z(-spider.z / spider.scale)
        elif spider.shadow.get_z() != 0.0:
            spider.shadow.set_z(0.0)

    def _pose(self, spider: Spider) -> None:
        """Show the legs for the spider's gait phase (only when the step changed)."""
        step = int(spider.phase * GAIT_STEPS / (2 * math.pi)) % GAIT_STEPS
        if step != spider.posed_step:
            spider.posed_step = step
            spider.legs.node().set_visible_child(step)

    # -------------------------------------------------------------- live events

    def _visible(self) -> list[Spider]:
        return [s for s in self.spiders if s.mode not in (HIDDEN, LEAVE, DROP)]

    def event(self, name: str) -> None:
        """``walk_toward``: the spider nearest the hand walks toward it; ``drop_from_ceiling``:
        the farthest visible spider lowers itself onto the worktop on a thread.

        Both only move a spider that is already visible, and stay within the level: the walk is
        at the level's speed and stops at its closest approach; a drop lands in the area.
        """
        values = self._last_values
        spiders = self._visible()
        if values is None or not spiders:
            log.info("spiders: %s ignored: no spider is visible", name)
            return
        hx, hy = self.hand_xy

        def gap(s: Spider) -> float:
            return math.hypot(s.x - hx, s.y - hy)

        if name == "walk_toward":
            spider = min(spiders, key=gap)
            near = self._near(spider, values)
            spider.goal = self._near_point(spider.x, spider.y, near)
            spider.mode = EVENT
        elif name == "drop_from_ceiling":
            if values["speed"] / 100.0 < MIN_SPEED:
                log.info("spiders: drop ignored: the spiders keep still at this level")
                return
            spider = max(spiders, key=gap)
            near = self._near(spider, values)
            spider.x, spider.y = self._waypoint(spider, self._zone(values), near)
            spider.goal = (spider.x, spider.y)
            spider.z = CEILING_Z - self.top - 0.08
            spider.mode = DROP
            spider.thread.show()
            self._place(spider)
