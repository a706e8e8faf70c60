"""Heights: a balcony, then a glass-floored walkway, high on a tower over a city street.

The client stands on a balcony that sticks out of a tall building and looks out along an
avenue and down at the street. The hierarchy raises the floor from a terrace beside the
pavement to the 50th storey, brings the edge closer, lowers the railing from a chest-high solid
parapet to a knee-high bar to nothing, turns the concrete floor into glass the street shows
through, and adds wind (sound, a flapping flag, trees and a potted shrub that sway).

How height works: the client, the balcony and the tower's facade stay where they are and the
whole city (street, cars, trees, neighbouring buildings) sinks by the ``height`` parameter. So
a change of height is one ``set_z`` per frame, perfectly smooth, and the facade below the
balcony simply reaches further down before the street hides it. Exponential haze (fog) with
distance, neighbouring rooftops falling below the client, and the shrinking cars and people
give the scale.

Coordinates: metres, Z up, the client's feet at the origin looking along +Y (out of the
building); the facade is just behind the client's heels; the wind blows along +X.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from panda3d.core import Fog, NodePath, TextureStage, TransparencyAttrib

from scenarios import procedural as p
from scenarios.base import Scenario
from scenarios.sound import RATE, wind
from scenarios.spec import LiveEvent, Parameter, Rung, ScenarioSpec

STOREY = 3.2
"""Floor-to-floor height (m): storey bands on every facade line up with it."""
WALL_Y = -1.2
"""The tower's facade, behind the client's heels."""
HALF_W = 1.6
"""Half the balcony's width."""
RAIL_MODEL = 1.3
"""The railing is modelled this high and scaled to the ``rail_height`` parameter."""
CITY_RADIUS = 620.0
"""How far the street grid goes; the haze hides its end."""
HAZE = (0.70, 0.77, 0.86)
"""Fog colour, the same as the sky's horizon so distant blocks melt into it."""
FOG_DENSITY = 0.0009
SKY_ZENITH = (0.30, 0.48, 0.78)
ROOFS = ((0.3, 0.3, 0.32), (0.45, 0.45, 0.46), (0.52, 0.49, 0.43), (0.24, 0.24, 0.26),
         (0.36, 0.45, 0.28), (0.6, 0.59, 0.56), (0.4, 0.36, 0.33))
"""Roof finishes: membrane, tar, gravel, the odd green roof."""

Color = tuple[float, float, float, float]


def _values(height: float, edge: float, rail: float, solid: float, glass: float,
            wind_ms: float) -> dict[str, float]:
    return {"height": height, "edge_distance": edge, "rail_height": rail, "rail_solid": solid,
            "floor_glass": glass, "wind": wind_ms}


def _rung(label: str, description: str, height: float, edge: float, rail: float,
          solid: float, glass: float, wind_ms: float,
          peak: dict[str, float] | None = None) -> Rung:
    return Rung(label=label, description=description,
                values=_values(height, edge, rail, solid, glass, wind_ms), peak=peak)


# ------------------------------------------------------------------ textures


def _facade_rgb(rng: np.random.Generator, wall: tuple[float, float, float],
                glass: tuple[float, float, float], window_w: float, window_h: float,
                bays: int = 4, storeys: int = 4, px: int = 32) -> np.ndarray:
    """A block of ``bays`` x ``storeys`` windows (tileable), each window a little different.

    One bay is 3 m wide and one storey 3.2 m high, so the texture's repeat is fixed in metres
    and every building's windows are the same size as the client's own.
    """
    h, w = storeys * px, bays * px
    img = np.empty((h, w, 3))
    img[:] = wall
    # Soft vertical weathering streaks on the wall.
    streaks = 1 + 0.05 * np.convolve(rng.standard_normal(w), np.ones(5) / 5, mode="same")
    img *= streaks[None, :, None]
    ww, wh = int(px * window_w), int(px * window_h)
    x0, y0 = (px - ww) // 2, int(px * 0.18)  # windows sit above the floor slab band
    ramp = np.linspace(1.25, 0.8, wh)[:, None, None]  # sky reflected brighter at the top
    for s in range(storeys):
        for b in range(bays):
            shade = rng.uniform(0.75, 1.3)
            pane = np.array(glass) * shade * ramp
            if rng.random() < 0.18:  # a drawn blind
                pane = pane * 0 + np.array((0.78, 0.76, 0.7)) * rng.uniform(0.8, 1.0)
            top = s * px + (px - y0 - wh)
            img[top:top + wh, b * px + x0:b * px + x0 + ww] = pane
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


def _curtain_wall_rgb(rng: np.random.Generator, px: int = 64) -> np.ndarray:
    """The client's own tower: storey-high glass with mullions and a metal spandrel band."""
    bays, storeys = 2, 2
    img = np.empty((storeys * px, bays * px, 3))
    for s in range(storeys):
        for b in range(bays):
            block = np.empty((px, px, 3))
            grad = np.linspace(1.2, 0.75, px)[:, None, None]
            block[:] = np.array((0.32, 0.42, 0.5)) * rng.uniform(0.85, 1.15) * grad
            block[int(px * 0.78):] = (0.42, 0.45, 0.48)   # spandrel at the floor slab
            block[int(px * 0.78):int(px * 0.8)] = (0.25, 0.27, 0.3)
            block[:, :3] = (0.22, 0.24, 0.27)              # mullions
            block[:3] = (0.22, 0.24, 0.27)
            img[s * px:(s + 1) * px, b * px:(b + 1) * px] = block
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


# ------------------------------------------------------------------ sounds


def _traffic(rng: np.random.Generator, seconds: float = 8.0) -> np.ndarray:
    """Distant traffic: a low rumble with cars swelling past and a far-off horn; loops."""
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    rumble = np.cumsum(rng.standard_normal(n))  # brown noise: all low end
    rumble -= np.convolve(rumble, np.ones(2000) / 2000, mode="same")  # no DC drift
    rumble /= np.max(np.abs(rumble)) + 1e-9
    hiss = np.convolve(rng.standard_normal(n), np.ones(8) / 8, mode="same")
    passes = np.zeros(n)
    for centre in rng.uniform(0.5, seconds - 0.5, size=5):
        passes += np.exp(-((t - centre) / 0.7) ** 2)
    horn = np.zeros(n)
    start = int(rng.uniform(1, seconds - 2) * RATE)
    m = int(0.35 * RATE)
    th = np.arange(m) / RATE
    horn[start:start + m] = (np.sign(np.sin(2 * np.pi * 415 * th)) * 0.5
                             + np.sin(2 * np.pi * 520 * th)) * np.sin(np.pi * th / th[-1])
    out = 0.6 * rumble + hiss * (0.15 + 0.35 * passes) + 0.08 * horn
    out /= np.max(np.abs(out)) + 1e-9
    # Cross-fade the ends into each other so the loop has no click.
    k = int(0.3 * RATE)
    ramp = np.linspace(0.0, 1.0, k)
    out[:k] = out[:k] * ramp + out[-k:] * (1 - ramp)
    return 0.7 * out[:-k]


def _gust(rng: np.random.Generator, seconds: float = 4.0) -> np.ndarray:
    """One gust: wind noise rising fast, whistling a little, and dying away."""
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    noise = np.convolve(rng.standard_normal(n), np.ones(10) / 10, mode="same")
    envelope = np.minimum(t / 0.5, 1.0) * np.exp(-np.maximum(t - 0.5, 0) / 1.1)
    whistle = np.sin(2 * np.pi * (620 + 80 * np.sin(2 * np.pi * 0.7 * t)) * t) * 0.15
    out: np.ndarray = (noise / (np.max(np.abs(noise)) + 1e-9) + whistle) * envelope
    out *= 0.9 / (np.max(np.abs(out)) + 1e-9)
    return out


def _flutter(rng: np.random.Generator, seconds: float = 3.0) -> np.ndarray:
    """Cloth flapping: fast irregular slaps of noise (the flags in a strong wind); loops."""
    n = int(seconds * RATE)
    out = np.zeros(n)
    slap = rng.standard_normal(400) * np.exp(-np.arange(400) / 70)
    pos = 0
    while pos < n - 400:
        out[pos:pos + 400] += slap * rng.uniform(0.3, 1.0)
        pos += int(rng.uniform(0.06, 0.16) * RATE)
    out = np.convolve(out, np.ones(4) / 4, mode="same")
    out /= np.max(np.abs(out)) + 1e-9
    k = int(0.1 * RATE)
    out[:k] *= np.linspace(0, 1, k)
    out[-k:] *= np.linspace(1, 0, k)
    return 0.6 * out


# ------------------------------------------------------------------ geometry helpers


def _wall(mesh: p.MeshBuilder, a: tuple[float, float], b: tuple[float, float], z0: float,
          z1: float, color: Color, u0: float, bay: float, storey: float,
          uv_scale: float = 1.0) -> float:
    """One vertical wall from ``a`` to ``b`` (counter-clockwise seen from outside, i.e. the
    outside is on the right of a->b). UVs in bays/storeys from ``u0``; returns the next u."""
    dx, dy = b[0] - a[0], b[1] - a[1]
    length = math.hypot(dx, dy)
    normal = (dy / length, -dx / length, 0.0)
    u1 = u0 + length / bay * uv_scale
    v0, v1 = z0 / storey * uv_scale, z1 / storey * uv_scale
    i = [mesh.vertex((a[0], a[1], z0), normal, color, (u0, v0)),
         mesh.vertex((b[0], b[1], z0), normal, color, (u1, v0)),
         mesh.vertex((b[0], b[1], z1), normal, color, (u1, v1)),
         mesh.vertex((a[0], a[1], z1), normal, color, (u0, v1))]
    mesh.triangle(i[0], i[1], i[2])
    mesh.triangle(i[0], i[2], i[3])
    return u1


def _block(walls: p.MeshBuilder, roofs: p.MeshBuilder, x0: float, y0: float, x1: float,
           y1: float, z0: float, z1: float, wall_color: Color, roof_color: Color,
           u0: float, uv_scale: float) -> None:
    """A building: four textured walls (windows 3 m x 3.2 m) and a flat roof."""
    u = u0
    for a, b in (((x0, y0), (x1, y0)), ((x1, y0), (x1, y1)), ((x1, y1), (x0, y1)),
                 ((x0, y1), (x0, y0))):
        u = _wall(walls, a, b, z0, z1, wall_color, u, 3.0 * 4, STOREY * 4, uv_scale)
    roofs.quad([(x0, y0, z1), (x1, y0, z1), (x1, y1, z1), (x0, y1, z1)], (0, 0, 1),
               roof_color)


def _flat(mesh: p.MeshBuilder, x0: float, y0: float, x1: float, y1: float, color: Color,
          z: float = 0.0, uv_per_m: float = 0.0) -> None:
    """A horizontal rectangle facing up (ground, road, marking)."""
    su = (x1 - x0) * uv_per_m if uv_per_m else 1.0
    sv = (y1 - y0) * uv_per_m if uv_per_m else 1.0
    i = [mesh.vertex((x0, y0, z), (0, 0, 1), color, (x0 * uv_per_m, y0 * uv_per_m)),
         mesh.vertex((x1, y0, z), (0, 0, 1), color, (x0 * uv_per_m + su, y0 * uv_per_m)),
         mesh.vertex((x1, y1, z), (0, 0, 1), color, (x0 * uv_per_m + su,
                                                      y0 * uv_per_m + sv)),
         mesh.vertex((x0, y1, z), (0, 0, 1), color, (x0 * uv_per_m, y0 * uv_per_m + sv))]
    mesh.triangle(i[0], i[1], i[2])
    mesh.triangle(i[0], i[2], i[3])


def _car(color: Color, detailed: bool = True) -> NodePath:
    """A car 4.4 m long facing +Y at the origin (a template to copy): body, glass cabin and,
    when ``detailed`` (the moving cars close below), wheels and lights."""
    mesh = p.MeshBuilder("car")
    mesh.box((0, 0, 0.62), (1.78, 4.4, 0.62), color)                       # body
    mesh.box((0, -0.25, 1.16), (1.6, 2.3, 0.48), (0.12, 0.15, 0.18, 1))    # glass cabin
    if detailed:
        mesh.box((0, -0.25, 1.41), (1.5, 2.0, 0.04), color)                # roof
        for wx in (-0.82, 0.82):
            for wy in (-1.35, 1.35):
                mesh.box((wx, wy, 0.33), (0.24, 0.66, 0.66), (0.08, 0.09, 0.1, 1))
        mesh.box((0, 2.2, 0.72), (1.5, 0.03, 0.16), (0.95, 0.93, 0.8, 1))  # headlights
        mesh.box((0, -2.2, 0.72), (1.5, 0.03, 0.14), (0.7, 0.08, 0.06, 1))  # tail lights
    return NodePath(mesh.node())


def _tree(rng: np.random.Generator) -> NodePath:
    """A street tree at the origin (a template): trunk and a lumpy crown of two spheres."""
    mesh = p.MeshBuilder("tree")
    h = rng.uniform(6.0, 8.5)
    mesh.cylinder((0, 0, 0), 0.18, h * 0.55, (0.33, 0.25, 0.18, 1), segments=5, caps=False)
    green = (0.22 * rng.uniform(0.8, 1.2), 0.38 * rng.uniform(0.85, 1.15),
             0.16 * rng.uniform(0.8, 1.2), 1.0)
    r = rng.uniform(2.0, 2.8)
    mesh.sphere((0, 0, h * 0.7), (r, r, r * 0.85), green, segments=7, rings=4)
    mesh.sphere((rng.uniform(-0.8, 0.8), rng.uniform(-0.8, 0.8), h * 0.9), r * 0.7, green,
                segments=6, rings=3)
    return NodePath(mesh.node())


def _person(coat: tuple[float, float, float]) -> NodePath:
    """A pedestrian 1.75 m tall at the origin (a template): legs, coat, head."""
    mesh = p.MeshBuilder("person")
    mesh.box((0, 0, 0.42), (0.3, 0.2, 0.84), (0.12, 0.12, 0.15, 1))
    mesh.box((0, 0, 1.12), (0.44, 0.26, 0.6), (*coat, 1.0))
    mesh.sphere((0, 0, 1.58), 0.11, (0.8, 0.62, 0.5, 1), segments=5, rings=3)
    return NodePath(mesh.node())


def _scatter(parent: NodePath, name: str, templates: list[NodePath],
             placements: list[tuple[int, float, float, float, float]]) -> NodePath:
    """Copies of templates at ``(template, x, y, heading, scale)``, merged into one mesh.

    Copying prebuilt templates and letting Panda3D flatten them is far quicker than building
    every car or tree vertex by vertex, and leaves one node to draw.
    """
    group = parent.attach_new_node(name)
    for index, x, y, heading, scale in placements:
        copy = templates[index].copy_to(group)
        copy.set_pos_hpr_scale(x, y, 0, heading, 0, 0, scale, scale, scale)
    group.flatten_strong()
    return group


@dataclass
class _Paper:
    """The newspaper page of the ``paper`` event: where it is and how it moves."""

    x: float = 0.0
    y: float = 0.0
    z: float = 0.0
    vx: float = 0.0
    vy: float = 0.0
    age: float = 0.0
    spin: float = 0.0
    landed: bool = False
    active: bool = False


# ------------------------------------------------------------------ the scenario


class Heights(Scenario):
    """A balcony high on a tower: floor height, edge, railing, glass floor and wind."""

    spec = ScenarioSpec(
        name="heights",
        title="Heights: balcony over a city street",
        description=(
            "The client stands on a balcony on the side of a tower, looking out along an avenue "
            "and down at the street. Steps raise the floor from a terrace beside the pavement "
            "to the 50th storey, bring the edge closer, lower the railing from a solid parapet "
            "to a knee-high bar to none, turn the floor into glass and add wind."),
        parameters=(
            Parameter(name="height", label="Floor height", unit="m", minimum=0.3,
                      maximum=172.0, rate=6.0,
                      description="Balcony floor above the street (one storey is 3.2 m)."),
            Parameter(name="edge_distance", label="Distance to the edge", unit="m",
                      minimum=1.0, maximum=3.2, rate=0.15,
                      description="From the client's toes to the balcony's outer edge."),
            Parameter(name="rail_height", label="Railing height", unit="m", minimum=0.0,
                      maximum=1.3, rate=0.1,
                      description="1.3: chest-high; 0.5: knee-high bar; 0: no railing."),
            Parameter(name="rail_solid", label="Solid parapet", unit="", minimum=0.0,
                      maximum=1.0, rate=0.2,
                      description="1: a solid concrete parapet; 0: open bars to see through."),
            Parameter(name="floor_glass", label="Glass floor", unit="", minimum=0.0,
                      maximum=1.0, rate=0.15,
                      description="0: concrete floor; 1: clear glass panels over the drop."),
            Parameter(name="wind", label="Wind", unit="m/s", minimum=0.0, maximum=20.0,
                      rate=2.0,
                      description="Wind speed: its sound, the flags, trees and shrub moving."),
        ),
        rungs=(
            _rung("Ground-floor terrace",
                  "A terrace half a metre above the pavement behind a chest-high solid wall; "
                  "traffic and people at eye level. Calm.", 0.6, 3.0, 1.3, 1.0, 0.0, 1.0),
            _rung("3rd floor, solid parapet",
                  "About 10 m up, standing well back from a chest-high solid parapet; the "
                  "street is visible over it. Light breeze.", 3 * STOREY, 2.6, 1.3, 1.0, 0.0,
                  2.0),
            _rung("10th floor, open railing",
                  "About 32 m up behind an open metal railing at chest height; the street "
                  "shows between the bars. Breeze.", 10 * STOREY, 2.0, 1.1, 0.0, 0.0, 3.0),
            _rung("20th floor, lower railing",
                  "About 64 m up, closer to the edge, the railing at waist height; most "
                  "neighbouring roofs are below. Moderate wind.", 20 * STOREY, 1.7, 0.9, 0.0,
                  0.0, 5.0),
            _rung("30th floor, glass floor",
                  "About 96 m up; the balcony floor turns to clear glass, the street visible "
                  "straight down through it. Waist-high railing.", 30 * STOREY, 1.6, 0.9,
                  0.0, 1.0, 6.0),
            _rung("40th floor, glass, knee-high rail",
                  "About 128 m up on the glass floor, only a knee-high bar at the edge; "
                  "strong wind, flags snapping.", 40 * STOREY, 1.45, 0.5, 0.0, 1.0, 10.0),
            _rung("50th floor edge, no railing",
                  "About 160 m up, 1.3 m from an open edge with no railing, glass floor, "
                  "strong gusty wind. Intensity raises it to the 53rd floor and a gale.",
                  50 * STOREY, 1.3, 0.0, 0.0, 1.0, 16.0,
                  peak=_values(53 * STOREY, 1.15, 0.0, 0.0, 1.0, 20.0)),
        ),
        live_events=(
            LiveEvent(name="gust", label="Gust of wind",
                      description="A sudden gust: the wind roars, flags snap, trees and the "
                                  "shrub bend, for about five seconds."),
            LiveEvent(name="paper", label="Newspaper blows off the edge",
                      description="A newspaper page on the floor lifts, blows over the edge "
                                  "and tumbles all the way down to the street (about 3.5 m/s: "
                                  "10 s from the 10th floor, 45 s from the 50th)."),
            LiveEvent(name="birds", label="Gulls fly past",
                      description="A few gulls sweep past over the street in front of the "
                                  "balcony, below the client's feet when high up."),
        ),
        viewpoint=(0.0, 0.0, 0.0),
        view_heading=0.0,
        eye_height=1.65,
        view_pitch=-28.0,
    )

    # -------------------------------------------------------------- load

    def load(self) -> None:
        """Build the city (it sinks with height), the tower, the balcony, flags and sounds."""
        root, rng = self.root, self.rng
        sky = p.sky_dome(root, SKY_ZENITH, HAZE, (0.62, 0.64, 0.64))
        sky.set_fog_off(1)  # the dome is the haze colour already; fog would flatten it
        fog = Fog("haze")
        fog.set_color(*HAZE)
        fog.set_exp_density(FOG_DENSITY)
        root.set_fog(fog)
        p.sun(root, (-58, -48, 0), (1.0, 0.95, 0.86), 2.7)
        p.ambient(root, (0.72, 0.8, 0.95), 0.38)

        self.city = root.attach_new_node("city")
        self._build_ground(self.city, rng)
        self._build_buildings(self.city, rng)
        self._build_street_life(self.city, rng)
        self._build_tower(root, rng)
        self._build_balcony(root, rng)
        self._build_flags(self.city)
        self._build_event_props(root)

        # What the client fears: the edge (tagged on an empty marker so it stays a target
        # when the railing is hidden) and the drop to the street in front of the tower.
        self.edge_marker = root.attach_new_node("edge")
        self.edge_marker.set_z(0.3)
        self.context.targets.tag(self.edge_marker, "stimulus", radius=HALF_W)
        self.drop_marker = self.city.attach_new_node("drop")
        self.drop_marker.set_pos(0, 10, 0)
        self.context.targets.tag(self.drop_marker, "stimulus", radius=9.0)

        sound = self.context.sound
        self.wind_sound = sound.add("wind", wind(rng, 6.0))
        self.traffic_sound = sound.add("traffic", _traffic(rng))
        self.flutter_sound = sound.add("flag-flutter", _flutter(rng))
        self.gust_sound = sound.add("gust", _gust(rng))
        self.street_speaker = self.city.attach_new_node("traffic-sound")
        self.street_speaker.set_pos(0, 14, 1.0)
        self.volumes: dict[str, float] = {"wind": 0.0, "traffic": 0.0, "flutter": 0.0}
        """The loops' volumes as last set (what the client hears, device or not)."""

        # Animation state: everything below advances only with ``dt`` (deterministic).
        self.time = 0.0
        self._flag_phase = 0.0
        self._sway_phase = 0.0
        self._gust_age = math.inf
        self._birds_age = math.inf
        self._layout: tuple[float, float, float, float] | None = None
        self._height = math.nan
        self._heard: tuple[float, float] = (math.nan, math.nan)
        self.paper = _Paper()

    def _build_ground(self, city: NodePath, rng: np.random.Generator) -> None:
        """Pavement everywhere, roads on top, markings on top of those.

        The three layers are coplanar; instead of lifting them (which flickers from 150 m up
        with a 24-bit depth buffer) they are drawn first, in order, right after the sky, the
        later ones without a depth test, so each paints over the one before and everything
        else in the scene still depth-tests against them.
        """
        r = CITY_RADIUS + 200
        ground = p.MeshBuilder("pavement")
        _flat(ground, -r, -r, r, r, (1, 1, 1, 1), uv_per_m=1 / 6.0)
        paving = ground.attach(city)
        p.material(paving, roughness=0.9)
        p.apply_texture(paving, p.texture("paving", p.tiles_rgb(
            rng, 128, 8, (0.62, 0.61, 0.58), (0.48, 0.47, 0.45), spread=0.05)))

        roads = p.MeshBuilder("roads")
        marks = p.MeshBuilder("markings")
        white, yellow = (0.92, 0.92, 0.9, 1.0), (0.9, 0.72, 0.15, 1.0)
        asphalt = (1.0, 1.0, 1.0, 1.0)
        # The cross street under the balcony (along X) and the avenue straight ahead (along Y).
        self.streets_x = [(12.0, 14.0)] + [(12.0 + 90.0 * k, 12.0)
                                           for k in range(-7, 8) if k != 0]
        self.streets_y = [(100.0 * j, 12.0) for j in range(-6, 7) if j != 0]
        for yc, w in self.streets_x:
            _flat(roads, -CITY_RADIUS, yc - w / 2, CITY_RADIUS, yc + w / 2, asphalt,
                  uv_per_m=1 / 8)
            self._dashes(marks, yc, along_x=True, lanes=2 if w < 14 else 4, width=w,
                         color=white)
        for xc, w in self.streets_y:
            _flat(roads, xc - w / 2, -CITY_RADIUS, xc + w / 2, CITY_RADIUS, asphalt,
                  uv_per_m=1 / 8)
            self._dashes(marks, xc, along_x=False, lanes=2, width=w, color=white)
        # The avenue: six lanes and a planted median, from the cross street outwards.
        _flat(roads, -12.0, 19.0, 12.0, CITY_RADIUS, asphalt, uv_per_m=1 / 8)
        _flat(marks, -1.6, 21.0, 1.6, CITY_RADIUS, (0.3, 0.42, 0.22, 1))  # median lawn
        for side in (-1, 1):
            for lane_edge in (5.0, 8.5):
                x = side * lane_edge
                for y in np.arange(24.0, CITY_RADIUS, 9.0):
                    _flat(marks, x - 0.08, y, x + 0.08, y + 4.5, white)
            _flat(marks, side * 1.75 - 0.08, 21, side * 1.75 + 0.08, CITY_RADIUS, yellow)
        # Zebra crossing over the avenue's mouth and stop lines: the classic scale cue.
        for x in np.arange(-11.0, 11.5, 1.0):
            _flat(marks, x, 20.0, x + 0.5, 24.0, white)
        _flat(marks, -12, 24.6, 0, 25.0, white)
        for x in np.arange(-30.0, 31.0, 1.0):  # crossing along the tower's pavement
            if abs(x) > 13:
                _flat(marks, x, 5.6, x + 0.5, 9.0, white)
        road_np = roads.attach(city)
        p.material(road_np, roughness=0.95)
        p.apply_texture(road_np, p.texture("asphalt", p.noise_rgb(
            rng, 128, (0.23, 0.23, 0.24), 0.25, blur=1)))
        mark_np = marks.attach(city)
        p.material(mark_np, roughness=0.8)
        for order, node in enumerate((paving, road_np, mark_np), start=1):
            node.set_bin("background", order)
            if order > 1:
                node.set_depth_test(False)

    @staticmethod
    def _dashes(mesh: p.MeshBuilder, centre: float, along_x: bool, lanes: int,
                width: float, color: Color) -> None:
        """Lane dashes of a street (every lane line but the kerbs)."""
        step = width / lanes
        for k in range(1, lanes):
            c = centre - width / 2 + k * step
            solid = k == lanes // 2  # the centre line is continuous
            for s in np.arange(-CITY_RADIUS, CITY_RADIUS, 200.0 if solid else 9.0):
                length = 200.0 if solid else 4.5
                if along_x:
                    if -12.5 < s < 12.5 and not solid:
                        continue
                    _flat(mesh, s, c - 0.07, s + length, c + 0.07, color)
                else:
                    _flat(mesh, c - 0.07, s, c + 0.07, s + length, color)

    def _build_buildings(self, city: NodePath, rng: np.random.Generator) -> None:
        """The city blocks between the streets: four facade styles, one mesh each."""
        styles = (
            ("concrete", (0.72, 0.69, 0.62), (0.2, 0.25, 0.3), 0.55, 0.5),
            ("brick", (0.55, 0.32, 0.24), (0.16, 0.18, 0.22), 0.45, 0.55),
            ("glass", (0.36, 0.4, 0.44), (0.26, 0.36, 0.46), 0.9, 0.72),
            ("white", (0.86, 0.86, 0.84), (0.2, 0.24, 0.3), 0.95, 0.42),
        )
        walls = [p.MeshBuilder(f"walls-{name}") for name, *_ in styles]
        roofs = p.MeshBuilder("roofs")
        # Street edges of the gaps between streets, along X then along Y.
        x_edges = [(-CITY_RADIUS, -606.0)]
        x_edges += [(100.0 * j + (12.0 if j == 0 else 6.0),
                     100.0 * (j + 1) - (12.0 if j == -1 else 6.0)) for j in range(-6, 6)]
        x_edges.append((606.0, CITY_RADIUS))
        ys = sorted(self.streets_x)
        y_edges = [(-CITY_RADIUS, ys[0][0] - ys[0][1] / 2)]
        y_edges += [(ya + wa / 2, yb - wb / 2)
                    for (ya, wa), (yb, wb) in itertools.pairwise(ys)]
        y_edges.append((ys[-1][0] + ys[-1][1] / 2, CITY_RADIUS))
        pavement = 4.0
        for bx0, bx1 in x_edges:
            for by0, by1 in y_edges:
                if by1 <= 5.0 and bx0 == 12.0:
                    continue  # the avenue starts at the cross street: merged with the left
                right = 94.0 if by1 <= 5.0 and bx1 == -12.0 else bx1
                x0, x1, y0, y1 = bx0 + pavement, right - pavement, by0 + pavement, by1 - pavement
                if x1 - x0 < 8 or y1 - y0 < 8:
                    continue
                if x0 < 0 < x1 and by1 == 5.0:
                    # The client's own block: the tower in the middle, neighbours beside it
                    # (their fronts flush with the tower's) and one behind it.
                    self._lots(walls, roofs, rng, styles, x0, y0, -28.0, WALL_Y, 0.0)
                    self._lots(walls, roofs, rng, styles, 28.0, y0, x1, WALL_Y, 0.0)
                    self._lots(walls, roofs, rng, styles, -24.0, y0, 24.0, -38.0, 0.0)
                    continue
                distance = math.hypot((x0 + x1) / 2, (y0 + y1) / 2)
                self._lots(walls, roofs, rng, styles, x0, y0, x1, y1, distance)
        for mesh, (name, wall, glass, ww, wh) in zip(walls, styles, strict=True):
            node = mesh.attach(city)
            p.material(node, roughness=0.35 if name == "glass" else 0.75,
                       metallic=0.3 if name == "glass" else 0.0)
            p.apply_texture(node, p.texture(f"facade-{name}",
                                             _facade_rgb(rng, wall, glass, ww, wh)))
        p.material(roofs.attach(city), roughness=0.9)

    def _lots(self, walls: list[p.MeshBuilder], roofs: p.MeshBuilder,
              rng: np.random.Generator, styles: tuple[tuple[object, ...], ...], x0: float,
              y0: float, x1: float, y1: float, distance: float) -> None:
        """Fill one block with one to six buildings of random heights (whole storeys).

        Around the client's tower the district is mid-rise (so from the upper floors the
        client looks down over the roofs into the streets); towers stand further off, as a
        skyline in the haze.
        """
        near = distance < 260
        nx = int(rng.integers(1, 4)) if near else int(rng.integers(1, 3))
        ny = int(rng.integers(1, 3))
        xs = np.linspace(x0, x1, nx + 1)
        ys = np.linspace(y0, y1, ny + 1)
        for i in range(nx):
            for j in range(ny):
                gap = rng.uniform(0.0, 3.0)
                ax, bx = xs[i] + (gap if i else 0), xs[i + 1]
                ay, by = ys[j] + (gap if j else 0), ys[j + 1]
                roll = rng.random()
                if roll < 0.72 or distance < 150:
                    storeys = int(rng.integers(3, 13))
                elif roll < 0.95 or distance < 300:
                    storeys = int(rng.integers(13, 32))
                else:
                    storeys = int(rng.integers(32, 62))  # a few towers for the skyline
                top = storeys * STOREY + 1.0
                style = int(rng.integers(len(styles)))
                shade = rng.uniform(0.9, 1.1)
                base = ROOFS[int(rng.integers(len(ROOFS)))]
                roof = (base[0] * shade, base[1] * shade, base[2] * shade, 1.0)
                _block(walls[style], roofs, float(ax), float(ay), float(bx), float(by), 0.0,
                       top, (shade, shade, shade, 1.0), roof, float(rng.uniform(0, 4)), 1.0)
                # Roof plant and a lift housing: what rooftops look like from above.
                for _ in range(int(rng.integers(1, 4))):
                    w, d = rng.uniform(2, 5), rng.uniform(2, 4)
                    px = rng.uniform(ax + w / 2 + 1, max(ax + w / 2 + 1.01, bx - w / 2 - 1))
                    py = rng.uniform(ay + d / 2 + 1, max(ay + d / 2 + 1.01, by - d / 2 - 1))
                    roofs.box((float(px), float(py), top + 1.0), (w, d, 2.0),
                              (0.6, 0.6, 0.6, 1.0))

    def _build_street_life(self, city: NodePath, rng: np.random.Generator) -> None:
        """Trees (in four sway groups), parked and moving cars, people on the pavements."""
        # Trees: a shear of each group leans every tree in it from its own base, so one
        # transform per group makes a whole avenue sway.
        trees = [_tree(rng) for _ in range(8)]
        spots: list[tuple[float, float]] = []
        spots += [(0.0, y) for y in np.arange(30.0, 500.0, 11.0)]               # median
        spots += [(s * 14.5, y) for s in (-1, 1) for y in np.arange(28.0, 500.0, 10.0)]
        spots += [(x, 21.5) for x in np.arange(-150.0, 151.0, 10.0) if abs(x) > 20]
        spots += [(x, 2.5) for x in np.arange(-150.0, 151.0, 12.0) if abs(x) > 26]
        placements: list[list[tuple[int, float, float, float, float]]] = [[] for _ in range(4)]
        for k, (x, y) in enumerate(spots):
            placements[k % 4].append((int(rng.integers(len(trees))), float(x), float(y),
                                      float(rng.uniform(0, 360)), float(rng.uniform(0.85, 1.15))))
        self.tree_groups = []
        for k, group in enumerate(placements):
            node = _scatter(city, f"trees-{k}", trees, group)
            p.material(node, roughness=0.85)
            self.tree_groups.append(node)

        palette = ((0.75, 0.1, 0.08), (0.9, 0.9, 0.88), (0.1, 0.1, 0.12), (0.2, 0.3, 0.55),
                   (0.6, 0.62, 0.65), (0.95, 0.75, 0.1), (0.25, 0.4, 0.3), (0.5, 0.5, 0.52))
        colours: list[Color] = [(r, g, b, 1.0) for r, g, b in palette]
        plain = [_car(c, detailed=False) for c in colours]
        detailed = [_car(c) for c in colours]

        parked: list[tuple[int, float, float, float, float]] = []
        for xc, _ in self.streets_y:
            for y in rng.uniform(-CITY_RADIUS + 20, CITY_RADIUS - 20, size=8):
                parked.append((int(rng.integers(len(plain))), xc + 4.6, float(y), 0.0, 1.0))
        for yc, w in self.streets_x[1:]:  # none on the busy cross street below
            for x in rng.uniform(-CITY_RADIUS + 20, CITY_RADIUS - 20, size=8):
                parked.append((int(rng.integers(len(plain))), float(x), yc - w / 2 + 1.2,
                               90.0, 1.0))
        p.material(_scatter(city, "parked-cars", plain, parked), roughness=0.35, metallic=0.4)

        # Moving traffic. Each lane is one node carrying n identical cars exactly 1/n of the
        # lane's loop apart; the node moves by (speed * time) modulo that spacing, so when it
        # wraps every car lands where its twin just was and nothing visibly jumps. One
        # transform per lane per frame moves all of its cars.
        lanes: list[tuple[float, bool, float]] = [  # (lane centre, along X, direction)
            (-10.3, False, -1.0), (-6.7, False, -1.0), (-3.3, False, -1.0),
            (3.3, False, 1.0), (6.7, False, 1.0), (10.3, False, 1.0),
            (6.75, True, 1.0), (10.25, True, 1.0), (13.75, True, -1.0), (17.25, True, -1.0)]
        starts, spacings, offsets, speeds = [], [], [], []
        self.lanes: list[NodePath] = []
        self._lane_setters = []
        for centre, along_x, direction in lanes:
            lane = city.attach_new_node("lane")
            model = detailed[int(rng.integers(len(detailed)))]
            if along_x:
                start, length, count = -300.0, 600.0, 2
                lane.set_y(centre)
                self._lane_setters.append(lane.set_x)
            else:
                start, length, count = 26.0, 380.0, 3  # beyond that the haze hides them
                lane.set_x(centre)
                self._lane_setters.append(lane.set_y)
            for k in range(count):
                car = model.copy_to(lane)
                along = k * length / count
                heading = (-90 if direction > 0 else 90) if along_x else \
                    (0 if direction > 0 else 180)
                car.set_pos_hpr(along if along_x else 0, 0 if along_x else along, 0,
                                heading, 0, 0)
            p.material(lane, roughness=0.3, metallic=0.5)
            self.lanes.append(lane)
            starts.append(start)
            spacings.append(length / count)
            offsets.append(rng.uniform(0, length / count))
            speeds.append(direction * rng.uniform(8.0, 13.0))
        self._lane_start = np.array(starts)
        self._lane_spacing = np.array(spacings)
        self._lane_offset = np.array(offsets)
        self._lane_speed = np.array(speeds)

        coats = ((0.15, 0.2, 0.35), (0.5, 0.12, 0.1), (0.2, 0.2, 0.2), (0.75, 0.7, 0.6),
                 (0.3, 0.4, 0.25), (0.85, 0.6, 0.2))
        figures = [_person(c) for c in coats]
        crowd: list[tuple[int, float, float, float, float]] = []
        for _ in range(70):
            side = rng.random()
            if side < 0.35:
                x, y = rng.uniform(-60, 60), rng.uniform(0.5, 4.0)       # our pavement
            elif side < 0.6:
                x, y = rng.uniform(-80, 80), rng.uniform(19.8, 23.5)     # across the street
            else:
                x, y = rng.choice((-1, 1)) * rng.uniform(12.8, 15.5), rng.uniform(25, 220)
            if abs(x) < 1.8 and y < 5:
                continue  # nobody stands right under the client
            crowd.append((int(rng.integers(len(figures))), float(x), float(y),
                          float(rng.uniform(0, 360)), float(rng.uniform(0.92, 1.06))))
        p.material(_scatter(city, "people", figures, crowd), roughness=0.8)

    def _build_tower(self, root: NodePath, rng: np.random.Generator) -> None:
        """The client's own tower: a curtain wall reaching far below the lowest street level,
        the neighbours' balconies stacked either side, a roof five storeys up."""
        tower = root.attach_new_node("tower")
        top, bottom = 5 * STOREY, -190.0
        x0, x1, back = -22.0, 22.0, WALL_Y - 30.0
        glass = p.MeshBuilder("curtain-wall")
        u = 0.0
        for a, b in (((x0, WALL_Y), (x1, WALL_Y)), ((x1, WALL_Y), (x1, back)),
                     ((x0, back), (x0, WALL_Y))):
            # The wall runs a->b with the outside on the right: the facade faces +Y.
            u = _wall(glass, b, a, bottom, top, (1, 1, 1, 1), u, 3.0, 2 * STOREY)
        facade = glass.attach(tower)
        p.material(facade, roughness=0.25, metallic=0.35)
        p.apply_texture(facade, p.texture("curtain-wall", _curtain_wall_rgb(rng)))

        concrete = p.MeshBuilder("tower-concrete")
        grey = (0.7, 0.7, 0.68, 1.0)
        concrete.box((0, (WALL_Y + back) / 2, top + 0.6), (x1 - x0 + 0.6, 30.6, 1.2), grey)
        for side in (-1, 1):
            for k in range(-58, 5):
                z = k * STOREY
                cx = side * 8.0
                concrete.box((cx, WALL_Y + 0.75, z - 0.12), (3.2, 1.5, 0.24), grey)  # slab
                concrete.box((cx, WALL_Y + 1.45, z + 0.5), (3.2, 0.1, 1.0), grey)   # parapet
                for ex in (-1.55, 1.55):
                    concrete.box((cx + ex, WALL_Y + 0.75, z + 0.5), (0.1, 1.5, 1.0), grey)
        node = concrete.attach(tower)
        p.material(node, roughness=0.85)
        p.apply_texture(node, p.texture("tower-concrete", p.noise_rgb(
            rng, 64, (0.82, 0.81, 0.78), 0.12)))

    def _build_balcony(self, root: NodePath, rng: np.random.Generator) -> None:
        """The client's balcony: concrete slab over a glass floor on a steel frame, the
        railing (posts, bars, solid infill) and a potted shrub.

        Parts are modelled one metre deep from the facade (scaled to the edge distance) and
        the railing 1.3 m high (scaled to the railing height), so update() only moves,
        scales and fades them.
        """
        steel = (0.55, 0.57, 0.6, 1.0)
        balcony = root.attach_new_node("balcony")

        slab = p.MeshBuilder("slab")
        slab.box((0, 0.5, -0.14), (2 * HALF_W, 1.0, 0.28), (1, 1, 1, 1), uv_per_m=0.5)
        self.slab = slab.attach(balcony)
        self.slab.set_y(WALL_Y)
        p.material(self.slab, roughness=0.7)
        p.apply_texture(self.slab, p.texture("terrace-tiles", p.tiles_rgb(
            rng, 128, 4, (0.74, 0.68, 0.6), (0.5, 0.48, 0.45), spread=0.06)))

        glass = p.MeshBuilder("glass-floor")
        glass.box((0, 0.5, -0.02), (2 * HALF_W - 0.1, 1.0, 0.03), (1, 1, 1, 1))
        self.glass_floor = glass.attach(balcony)
        self.glass_floor.set_y(WALL_Y)
        p.glass(self.glass_floor, (0.7, 0.85, 0.9, 0.1))

        frame = p.MeshBuilder("frame")  # the two long beams the glass rests on
        for x in (-HALF_W + 0.06, HALF_W - 0.06):
            frame.box((x, 0.5, -0.17), (0.12, 1.0, 0.3), steel)
        self.frame = frame.attach(balcony)
        self.frame.set_y(WALL_Y)
        p.material(self.frame, roughness=0.4, metallic=0.8)
        self.cross_beams = []
        for k in range(2):
            beam = p.box(balcony, f"cross-beam-{k}", (0, 0, -0.12), (2 * HALF_W - 0.1, 0.08,
                                                                    0.18), steel)
            p.material(beam, roughness=0.4, metallic=0.8)
            self.cross_beams.append(beam)

        # The outer edge: beam, kerb and a yellow safety line, always there.
        self.front_edge = balcony.attach_new_node("front-edge")
        edge = p.MeshBuilder("edge")
        edge.box((0, -0.06, -0.17), (2 * HALF_W, 0.12, 0.3), steel)
        edge.box((0, -0.03, 0.03), (2 * HALF_W, 0.06, 0.06), steel)
        edge.box((0, -0.25, 0.002), (2 * HALF_W - 0.2, 0.1, 0.004), (0.95, 0.78, 0.1, 1))
        edge_np = edge.attach(self.front_edge)
        p.material(edge_np, roughness=0.5, metallic=0.5)

        # Railing along the front (moved to the edge) and the two sides (scaled to depth).
        self.front_rail = balcony.attach_new_node("front-rail")
        bars = p.MeshBuilder("front-bars")
        for x in np.linspace(-HALF_W + 0.05, HALF_W - 0.05, 5):
            bars.box((float(x), -0.05, RAIL_MODEL / 2), (0.06, 0.06, RAIL_MODEL), steel)
        bars.box((0, -0.05, RAIL_MODEL - 0.03), (2 * HALF_W, 0.08, 0.06), steel)
        for z in (0.4, 0.8):
            bars.box((0, -0.05, z), (2 * HALF_W, 0.03, 0.03), steel)
        rail_np = bars.attach(self.front_rail)
        p.material(rail_np, roughness=0.35, metallic=0.85)
        panel = p.MeshBuilder("front-parapet")
        panel.box((0, -0.09, (RAIL_MODEL - 0.06) / 2), (2 * HALF_W, 0.16, RAIL_MODEL - 0.06),
                  (1, 1, 1, 1), uv_per_m=1.0)
        self.front_panel = panel.attach(self.front_rail)

        self.side_rails = balcony.attach_new_node("side-rails")
        self.side_rails.set_y(WALL_Y)
        sides = p.MeshBuilder("side-bars")
        side_panels = p.MeshBuilder("side-parapets")
        for x in (-HALF_W + 0.05, HALF_W - 0.05):
            sides.box((x, 0.5, RAIL_MODEL - 0.03), (0.08, 1.0, 0.06), steel)
            for z in (0.4, 0.8):
                sides.box((x, 0.5, z), (0.03, 1.0, 0.03), steel)
            side_panels.box((x, 0.5, (RAIL_MODEL - 0.06) / 2), (0.16, 1.0, RAIL_MODEL - 0.06),
                            (1, 1, 1, 1), uv_per_m=1.0)
        side_np = sides.attach(self.side_rails)
        p.material(side_np, roughness=0.35, metallic=0.85)
        self.side_panels = side_panels.attach(self.side_rails)
        render_tex = p.texture("parapet-render", p.noise_rgb(
            rng, 128, (0.8, 0.78, 0.74), 0.06, blur=3))
        for node in (self.front_panel, self.side_panels):
            p.material(node, roughness=0.85)
            p.apply_texture(node, render_tex)

        posts = p.MeshBuilder("wall-posts")
        for x in (-HALF_W + 0.05, HALF_W - 0.05):
            posts.box((x, WALL_Y + 0.04, RAIL_MODEL / 2), (0.06, 0.06, RAIL_MODEL), steel)
        self.wall_posts = posts.attach(balcony)
        p.material(self.wall_posts, roughness=0.35, metallic=0.85)

        # A potted shrub by the front corner: the wind moves its leaves (a shear again).
        self.planter = balcony.attach_new_node("planter")
        self.planter.set_pos(-HALF_W + 0.4, WALL_Y + 0.45, 0)  # by the wall, out of the way
        pot = p.MeshBuilder("pot")
        pot.cylinder((0, 0, 0), 0.2, 0.45, (0.55, 0.3, 0.2, 1), segments=12, top_radius=0.25)
        p.material(pot.attach(self.planter), roughness=0.8)
        leaves = p.MeshBuilder("shrub")
        for _ in range(9):
            c = (0.2 * rng.uniform(0.8, 1.2), 0.42 * rng.uniform(0.8, 1.2), 0.15, 1.0)
            leaves.sphere((float(rng.uniform(-0.15, 0.15)), float(rng.uniform(-0.15, 0.15)),
                           float(rng.uniform(0.6, 1.0))), (0.16, 0.16, 0.26), c, segments=7,
                          rings=4)
        self.shrub = leaves.attach(self.planter)
        p.material(self.shrub, roughness=0.8)

    def _build_flags(self, city: NodePath) -> None:
        """Three flagpoles on the far pavement of the cross street, one flag instanced thrice.

        The flag is a chain of strips, each turned a little against the previous one, so a
        wave runs along it; the instances share the chain, so animating one moves all three.
        """
        poles = p.MeshBuilder("flagpoles")
        self.flag_tops = []
        colours = ((0.1, 0.25, 0.6, 1.0), (0.95, 0.95, 0.95, 1.0), (0.8, 0.12, 0.12, 1.0))
        for k, x in enumerate((-24.0, -20.0, -16.0)):
            poles.cylinder((x, 22.5, 0), 0.09, 12.0, (0.85, 0.86, 0.88, 1), segments=8)
            top = city.attach_new_node(f"flag-top-{k}")
            top.set_pos(x, 22.5, 11.9)
            self.flag_tops.append(top)
        p.material(poles.attach(city), roughness=0.3, metallic=0.9)
        self.flag = NodePath("flag")
        self.flag_segments = []
        parent = self.flag
        segments, seg_w, height = 6, 0.42, 1.6  # a 2.5 m x 1.6 m flag
        for i in range(segments):
            strip = p.MeshBuilder(f"flag-{i}")
            for j, colour in enumerate(colours):  # three horizontal bands
                z0, z1 = -height + j * height / 3, -height + (j + 1) * height / 3
                strip.quad([(0, 0, z0), (seg_w, 0, z0), (seg_w, 0, z1), (0, 0, z1)],
                           (0, -1, 0), colour)
                strip.quad([(seg_w, 0, z0), (0, 0, z0), (0, 0, z1), (seg_w, 0, z1)],
                           (0, 1, 0), colour)
            node = strip.attach(parent)
            if i:
                node.set_x(seg_w)
            self.flag_segments.append(node)
            parent = node
        p.material(self.flag, roughness=0.9)
        for top in self.flag_tops:
            self.flag.instance_to(top)

    def _build_event_props(self, root: NodePath) -> None:
        """The newspaper page and the gulls, hidden until their events."""
        sheet = p.MeshBuilder("paper")
        white = (0.93, 0.92, 0.88, 1.0)
        w, h = 0.2, 0.29  # half a newspaper page
        sheet.quad([(-w, -h, 0), (w, -h, 0), (w, h, 0), (-w, h, 0)], (0, 0, 1), white)
        sheet.quad([(-w, h, 0), (w, h, 0), (w, -h, 0), (-w, -h, 0)], (0, 0, -1), white)
        self.paper_node = sheet.attach(root)
        p.material(self.paper_node, roughness=0.9)
        self.paper_node.hide()

        self.birds = []
        self.bird_offsets = []
        flock = root.attach_new_node("gulls")
        white, grey, tips = (0.92, 0.92, 0.9, 1.0), (0.62, 0.64, 0.68, 1.0), (0.1, 0.1, 0.1, 1.0)
        for k in range(6):
            bird = p.MeshBuilder(f"gull-{k}")
            bird.sphere((0, 0, 0), (0.1, 0.3, 0.1), white, segments=6, rings=4)
            for side in (-1, 1):  # wings: a shallow V that flaps as the bird's z-scale swings
                for (x0, x1), colour in (((0.0, 0.5), grey), ((0.5, 0.68), tips)):
                    a, b = side * x0, side * x1
                    za, zb = 0.18 * x0 / 0.68, 0.18 * x1 / 0.68
                    quad = [(a, 0.1, za), (a, -0.1, za), (b, -0.12, zb), (b, 0.04, zb)]
                    if side < 0:
                        quad = [quad[1], quad[0], quad[3], quad[2]]
                    bird.quad(quad, (0, 0, 1), colour)
                    bird.quad(quad[::-1], (0, 0, -1), colour)
            node = bird.attach(flock)
            p.material(node, roughness=0.8)
            node.set_h(-90)  # flying along +X
            self.birds.append(node)
            self.bird_offsets.append((k * 1.6 + (k % 2) * 0.5, (k % 3) * 1.4, (k % 2) * 0.8,
                                      k * 0.9))
        self.flock = flock
        self.flock.hide()

    # -------------------------------------------------------------- lifecycle

    def rung_start(self, rung: int) -> None:
        """(Re)start the ambient loops: after load, and after a stop silenced them."""
        sound = self.context.sound
        for loop, at in ((self.wind_sound, None), (self.traffic_sound, self.street_speaker),
                         (self.flutter_sound, self.flag_tops[1])):
            if not loop.looping:
                sound.play(loop, at=at, loop=True, volume=0.0)

    def update(self, values: Mapping[str, float], dt: float) -> None:
        """Sink the city to the height, lay out balcony and railing, animate wind and events."""
        height = values["height"]
        self.time += dt
        if height != self._height:  # a settled level costs no transform change at all
            self._height = height
            self.city.set_z(-height)
        self._lay_out(values["edge_distance"], values["rail_height"], values["rail_solid"],
                      values["floor_glass"])

        # Wind: the parameter plus a gust envelope (fast rise, slow decay).
        self._gust_age += dt
        gust = self._gust_envelope(self._gust_age)
        w = values["wind"] + 9.0 * gust
        strength = min(1.0, w / 20.0)
        self._sway_phase += dt * (0.35 + 0.5 * strength) * 2 * math.pi
        for k, group in enumerate(self.tree_groups):
            lean = 0.035 * strength + 0.03 * strength * math.sin(self._sway_phase + k * 1.7)
            group.set_shear(0, lean, 0)
        self.shrub.set_shear(0, 0.25 * strength * (0.6 + 0.4 * math.sin(
            2.3 * self._sway_phase)), 0)
        # Flags: hang down in calm air, stream out as the wind rises, a wave running along.
        self._flag_phase += dt * 2 * math.pi * (0.6 + 0.18 * w)
        self.flag.set_r(80.0 * max(0.0, 1.0 - w / 7.0))
        amplitude = 4.0 + 1.6 * min(w, 18.0)
        for i, segment in enumerate(self.flag_segments):
            segment.set_h(amplitude * math.sin(self._flag_phase - 0.9 * i) * (0.4 + 0.12 * i))

        # Traffic keeps moving.
        along = self._lane_start + (self._lane_offset + self._lane_speed * self.time) \
            % self._lane_spacing
        for setter, s in zip(self._lane_setters, along.tolist(), strict=True):
            setter(s)

        self._update_sounds(height, w)
        if self.paper.active:
            self._update_paper(height, w, dt)
        if self._birds_age < 12.0:
            self._update_birds(height, dt)

    def _lay_out(self, edge: float, rail: float, solid: float, glass: float) -> None:
        """Place the edge and the railing and fade the floor, redoing only what moved.

        Settled levels cost nothing here; during a ramp only the parts whose parameter is
        moving are touched (texture matrices are the dearest calls, so hidden parts skip them).
        """
        old = self._layout or (math.nan, math.nan, math.nan, math.nan)
        if (edge, rail, solid, glass) == old:
            return
        self._layout = (edge, rail, solid, glass)
        depth = edge - WALL_Y
        scale = max(rail, 0.02) / RAIL_MODEL
        ts = TextureStage.get_default()
        if edge != old[0]:
            for node in (self.slab, self.glass_floor, self.frame):
                node.set_sy(depth)
            for k, beam in enumerate(self.cross_beams):
                beam.set_y(WALL_Y + depth * (k + 1) / 3)
            self.front_edge.set_y(edge)
            self.edge_marker.set_y(edge)
            self.front_rail.set_y(edge)
            self.side_rails.set_sy(depth)
        if rail != old[1]:
            show_rail = rail > 0.02
            for node in (self.front_rail, self.side_rails, self.wall_posts):
                if show_rail:
                    node.show()
                else:
                    node.hide()
            for node in (self.front_rail, self.side_rails, self.wall_posts):
                node.set_sz(scale)
        if solid != old[2]:
            self._fade(self.front_panel, solid)
            self._fade(self.side_panels, solid)
        if glass != old[3]:
            self._fade(self.slab, 1.0 - glass)
        # Keep the floor tiles square and the parapets' render unstretched at any size.
        if not self.slab.is_hidden() and (edge != old[0] or glass != old[3]):
            self.slab.set_tex_scale(ts, 1.0, depth)
        if not self.front_panel.is_hidden() and (
                edge != old[0] or rail != old[1] or solid != old[2]):
            self.front_panel.set_tex_scale(ts, 1.0, scale)
            self.side_panels.set_tex_scale(ts, depth, scale)

    @staticmethod
    def _fade(node: NodePath, alpha: float) -> None:
        """Opaque at 1, hidden at 0, alpha-blended (without writing depth) between."""
        if alpha <= 0.01:
            node.hide()
            return
        node.show()
        if alpha >= 0.99:
            node.clear_transparency()
            node.clear_depth_write()
            node.clear_color_scale()
        else:
            node.set_transparency(TransparencyAttrib.M_alpha)
            node.set_depth_write(False)
            node.set_alpha_scale(alpha)

    @staticmethod
    def _gust_envelope(age: float) -> float:
        if age < 0.6:
            return age / 0.6
        return math.exp(-(age - 0.6) / 1.8) if age < 9.0 else 0.0

    def _update_sounds(self, height: float, w: float) -> None:
        """Loop volumes from height and wind (recomputed only when either moves)."""
        if (height, w) == self._heard:
            return
        self._heard = (height, w)
        sound = self.context.sound
        # Wind is louder up high for the same speed: nothing shelters a tower's face.
        exposure = 0.55 + 0.45 * min(1.0, height / 60.0)
        self.volumes["wind"] = min(1.0, 0.04 + 0.9 * exposure * w / 18.0)
        # Traffic fades with distance below (and is masked a little by the wind).
        self.volumes["traffic"] = 0.75 / (1.0 + height / 25.0) * (1.0 - 0.3 * min(1, w / 20))
        self.volumes["flutter"] = min(1.0, max(0.0, (w - 4.0) / 14.0)) / (1.0 + height / 30.0)
        sound.set_volume(self.wind_sound, self.volumes["wind"])
        sound.set_volume(self.traffic_sound, self.volumes["traffic"])
        sound.set_volume(self.flutter_sound, self.volumes["flutter"])

    def _update_paper(self, height: float, w: float, dt: float) -> None:
        """Lift, blow over the edge, flutter down (a sheet sinks at a few metres a second)."""
        paper = self.paper
        paper.age += dt
        ground = -height + 0.01
        if not paper.landed:
            if paper.age < 0.8:  # lifted off the floor and pushed out over the edge
                paper.vy = 2.0
                paper.z += 0.4 * dt
            else:
                paper.vy = max(0.3, paper.vy - 0.6 * dt)
                sink = 3.5 + 0.8 * math.sin(3.1 * paper.age)  # a tumbling sheet
                paper.z -= sink * dt
                paper.x += (paper.vx + 0.08 * w * math.sin(0.7 * paper.age)) * dt
            paper.y += paper.vy * dt
            paper.spin += dt * 260.0
            if paper.z <= ground:
                paper.landed = True
        if paper.landed:
            paper.z = ground  # lies on the street, which moves with the height
            self.paper_node.set_pos_hpr(paper.x, paper.y, paper.z, paper.spin % 360, 0, 0)
        else:
            self.paper_node.set_pos_hpr(paper.x, paper.y, paper.z, paper.spin % 360,
                                        35 * math.sin(2.2 * paper.age),
                                        50 * math.sin(1.6 * paper.age))

    def _update_birds(self, height: float, dt: float) -> None:
        """Gulls on a gentle curve across the view: below the balcony when high enough."""
        self._birds_age += dt
        if self._birds_age >= 12.0:
            self.flock.hide()
            return
        level = max(-min(12.0, 0.6 * height), -height + 3.0)
        t = self._birds_age
        for bird, (lag, dy, dz, phase) in zip(self.birds, self.bird_offsets, strict=True):
            x = -45.0 + 11.0 * (t - 0.25 * lag) - lag
            y = 22.0 + dy + 3.0 * math.sin(0.35 * t)  # out over the street, clear of the floor
            z = level + dz + 1.5 * math.sin(0.5 * t + phase)
            bird.set_pos(x, y, z)
            # Wing beats between glides: the V opens and closes (a positive scale keeps the
            # faces' winding).
            beat = math.sin(t * 2 * math.pi * 2.6 + phase) if math.sin(0.8 * t + phase) > 0 \
                else 0.4
            bird.set_sz(0.55 + 0.45 * beat)

    # -------------------------------------------------------------- events

    def event(self, name: str) -> None:
        """gust: wind swells for a few seconds; paper: a sheet goes over the edge; birds."""
        if name == "gust":
            self._gust_age = 0.0
            self.context.sound.play(self.gust_sound, volume=0.9)
        elif name == "paper":
            edge = self._layout[0] if self._layout else 2.0
            self.paper = _Paper(x=0.5, y=edge - 0.35, z=0.005,
                                vx=float(self.rng.uniform(0.2, 0.6)), active=True)
            self.paper_node.show()
        elif name == "birds":
            self._birds_age = 0.0
            self.flock.show()
