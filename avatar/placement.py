"""Where the avatar stands: at the client's side, a comfortable distance away, never between the
client and the stimulus; it follows when the client moves and steps back on stop.

Pure geometry on the floor plane (x, y in metres; headings in degrees, 0 along +Y, as Panda3D).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

Point = tuple[float, float]
Points = Sequence[Point] | np.ndarray
"""Floor points: a sequence of pairs, or an ``(n, 2)`` array (an audience, made once)."""
Area = tuple[float, float, float, float]
"""Free floor enclosed by walls: ``(x_min, y_min, x_max, y_max)``."""

COMFORT_M = 1.2
"""Distance from the client in a session: close enough to be with them, outside personal space."""
STEP_BACK_M = 1.6
"""Distance after a stop: more room, a softer presence."""
BODY_RADIUS_M = 0.35
CLEARANCE_M = 0.5
"""How far the avatar's body stays from the line between the client and any stimulus."""
WALK_SPEED = 0.8
"""How fast the avatar moves to a new place (m/s): an unhurried walk."""
STEP_ASIDE_SPEED = 2.0
"""How fast it gets out of a line of sight the client's own movement put it in (m/s)."""
NEAREST_M = 0.7
"""In a small room the avatar comes no nearer the client than this (arm's length); where even
that does not fit it waits outside (:func:`choose` returns None)."""
PREFERRED_SIDE_DEG = 70.0
"""Preferred bearing from the client's facing direction (to the left, a little ahead): in
view when the client turns to it, out of the way when they face the stimulus."""


@dataclass(frozen=True)
class Placement:
    """Where to stand and which way to face."""

    x: float
    y: float
    heading: float


def bearing_vector(heading_deg: float) -> Point:
    """The unit floor vector of a Panda3D heading (0 along +Y, 90 along -X)."""
    rad = math.radians(heading_deg)
    return (-math.sin(rad), math.cos(rad))


def distance_to_segment(p: Point, a: Point, b: Point) -> float:
    """Distance from ``p`` to the segment ``a``-``b``."""
    ax, ay = a
    dx, dy = b[0] - ax, b[1] - ay
    length2 = dx * dx + dy * dy
    if length2 == 0:
        return math.dist(p, a)
    t = max(0.0, min(1.0, ((p[0] - ax) * dx + (p[1] - ay) * dy) / length2))
    return math.dist(p, (ax + t * dx, ay + t * dy))


def clearances(spots: np.ndarray, client: Point, stimuli: Points) -> np.ndarray:
    """For each of ``spots`` (an ``(m, 2)`` array), the distance to the nearest line from the
    client to a stimulus (infinite without stimuli). Vectorised: an audience is 60 lines."""
    if len(stimuli) == 0:
        return np.full(len(spots), np.inf)
    a = np.asarray(client, dtype=float)
    d = np.asarray(stimuli, dtype=float) - a                 # (n, 2) client -> stimulus
    length2 = np.maximum((d * d).sum(axis=1), 1e-12)         # (n,)
    rel = spots[:, None, :] - a                              # (m, 1, 2)
    t = np.clip((rel * d).sum(axis=2) / length2, 0.0, 1.0)   # (m, n)
    gap = rel - t[:, :, None] * d                            # (m, n, 2)
    result: np.ndarray = np.sqrt((gap * gap).sum(axis=2)).min(axis=1)
    return result


def in_the_way(spot: Point, client: Point, stimuli: Points) -> bool:
    """Whether a body at ``spot`` would stand between the client and any stimulus."""
    if len(stimuli) <= 8:  # a few lines: plain floats beat numpy's call overhead
        return any(distance_to_segment(spot, client, s) < BODY_RADIUS_M + CLEARANCE_M
                   for s in stimuli)
    return bool(clearances(np.asarray([spot], dtype=float), client, stimuli)[0]
                < BODY_RADIUS_M + CLEARANCE_M)


def inside(spot: Point, area: Area | None) -> bool:
    """Whether a body at ``spot`` fits in ``area`` (its whole radius inside the walls)."""
    if area is None:
        return True
    r = BODY_RADIUS_M
    return area[0] + r <= spot[0] <= area[2] - r and area[1] + r <= spot[1] <= area[3] - r


def keep_inside(spot: Point, area: Area | None) -> Point:
    """``spot`` moved the least distance that puts the body inside ``area``."""
    if area is None:
        return spot
    r = BODY_RADIUS_M
    x = min(max(spot[0], area[0] + r), max(area[0] + r, area[2] - r))
    y = min(max(spot[1], area[1] + r), max(area[1] + r, area[3] - r))
    return (x, y)


def choose(client: Point, client_heading: float, stimuli: Points,
           stepped_back: bool = False, area: Area | None = None) -> Placement | None:
    """The best spot around the client: the preferred side if it is clear of every line of
    sight to a stimulus, else the nearest clear bearing (searching both ways), else behind.

    Within walls (``area``), only spots where the body fits count, and in a small room the
    avatar comes closer (down to :data:`NEAREST_M`); None if it fits nowhere near the client
    (it waits outside). In the open the answer is never None.
    """
    radius = STEP_BACK_M if stepped_back else COMFORT_M
    # Bearings in order of preference: the preferred one, then 10, 20, ... degrees either way.
    offsets = [0.0] + [sign * k for k in range(10, 180, 10) for sign in (1.0, -1.0)] + [180.0]
    rad = np.radians(client_heading + PREFERRED_SIDE_DEG + np.asarray(offsets))
    radii = [radius] if area is None else [r for r in (radius, 1.0, 0.85, NEAREST_M)
                                           if r <= radius]
    for r in radii:
        spots = np.stack([client[0] - r * np.sin(rad), client[1] + r * np.cos(rad)], 1)
        ok = clearances(spots, client, stimuli) >= BODY_RADIUS_M + CLEARANCE_M
        if area is not None:
            b = BODY_RADIUS_M
            ok &= ((spots[:, 0] >= area[0] + b) & (spots[:, 0] <= area[2] - b)
                   & (spots[:, 1] >= area[1] + b) & (spots[:, 1] <= area[3] - b))
        if ok.any():
            x, y = spots[int(np.argmax(ok))]
            spot = (float(x), float(y))
            return Placement(spot[0], spot[1], _facing(spot, client))
    vx, vy = bearing_vector(client_heading + 180)  # nowhere clear: behind the client
    spot = (client[0] + radius * vx, client[1] + radius * vy)
    if not inside(spot, area):
        return None
    return Placement(spot[0], spot[1], _facing(spot, client))


def _facing(spot: Point, target: Point) -> float:
    dx, dy = target[0] - spot[0], target[1] - spot[1]
    return math.degrees(math.atan2(-dx, dy))


def step_toward(current: Point, goal: Point, dt: float, speed: float = WALK_SPEED) -> Point:
    """Move from ``current`` toward ``goal`` by at most ``speed * dt``."""
    d = math.dist(current, goal)
    step = speed * dt
    if d <= step or d == 0:
        return goal
    k = step / d
    return (current[0] + (goal[0] - current[0]) * k, current[1] + (goal[1] - current[1]) * k)


def _escape(current: Point, client: Point, stimuli: Points, dt: float,
            speed: float) -> Point:
    """Step straight away from the nearest line of sight (never across it)."""
    nearest = min(stimuli, key=lambda s: distance_to_segment(current, client, s))
    ax, ay = client
    dx, dy = nearest[0] - ax, nearest[1] - ay
    length2 = dx * dx + dy * dy or 1.0
    t = max(0.0, min(1.0, ((current[0] - ax) * dx + (current[1] - ay) * dy) / length2))
    fx, fy = ax + t * dx, ay + t * dy  # the closest point of the line of sight
    away = (current[0] - fx, current[1] - fy)
    norm = math.hypot(*away)
    if norm < 1e-9:  # exactly on the line: to the left of it
        away, norm = (-dy, dx), math.sqrt(length2)
    step = speed * dt / norm
    return (current[0] + away[0] * step, current[1] + away[1] * step)


def walk(current: Point, goal: Point, client: Point, stimuli: Points, dt: float,
         speed: float = WALK_SPEED, area: Area | None = None) -> Point:
    """One step toward ``goal`` that never crosses a line of sight: if the straight step would
    enter one, go around the client instead (along the circle), or stay. Within walls
    (``area``) the step ends inside them."""
    return keep_inside(_step(current, goal, client, stimuli, dt, speed), area)


def _step(current: Point, goal: Point, client: Point, stimuli: Points, dt: float,
          speed: float) -> Point:
    if in_the_way(current, client, stimuli):
        return _escape(current, client, stimuli, dt, speed)
    nxt = step_toward(current, goal, dt, speed)
    if not in_the_way(nxt, client, stimuli):
        return nxt
    # Walk around the client along the circle, the way round that stays clear of every line
    # of sight (tested along the whole arc, so the avatar never turns back halfway).
    cx, cy = client
    r = max(math.dist(current, client), COMFORT_M)
    a0 = math.atan2(current[1] - cy, current[0] - cx)
    a1 = math.atan2(goal[1] - cy, goal[0] - cx)
    short = (a1 - a0 + math.pi) % (2 * math.pi) - math.pi
    for arc in (short, short - math.copysign(2 * math.pi, short)):
        steps = max(2, int(abs(arc) / math.radians(5)))
        angles = a0 + arc * np.arange(1, steps + 1) / steps
        arc_spots = np.stack([cx + r * np.cos(angles), cy + r * np.sin(angles)], 1)
        if (clearances(arc_spots, client, stimuli) >= BODY_RADIUS_M + CLEARANCE_M).all():
            a = a0 + math.copysign(min(abs(arc), speed * dt / r), arc)
            return (cx + r * math.cos(a), cy + r * math.sin(a))
    return current
