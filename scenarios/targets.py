"""Tagged nodes (stimulus, avatar) and what a gaze ray hits among them.

Scenarios tag the nodes that carry the feared thing; the avatar tags itself. Each frame the
server casts the client's gaze ray against bounding spheres of the visible tagged nodes. Spheres
rather than triangles keep it well under a millisecond with dozens of spiders; occlusion by
untagged geometry is not considered (a wall between the client and a spider does not hide it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

from panda3d.core import NodePath, Point3, Vec3

TargetKind = Literal["stimulus", "avatar"]
LOOK_CODES: dict[str, int] = {"elsewhere": 0, "stimulus": 1, "avatar": 2}
"""How the ``looking_at`` channel encodes its answer on the wire."""
TAG = "vret-target"


@dataclass
class _Target:
    node: NodePath
    kind: TargetKind
    center: Point3
    radius: float
    moves: bool = True
    cached: Sphere | None = None
    """A settled target's sphere (``moves=False``), None until placed or after a refresh."""
    shown: bool = True
    """A settled target's visibility when it was placed."""


@dataclass(frozen=True)
class GazeHit:
    """What the gaze ray found: its kind (or ``elsewhere``) and the distance along the ray."""

    looking_at: str
    distance_m: float


class TargetRegistry:
    """The tagged nodes of the scene, with bounding spheres for gaze and proximity tests."""

    def __init__(self, scope: NodePath | None = None) -> None:
        self._targets: list[_Target] = []
        self._by_key: dict[int, _Target] = {}
        self.scope = scope
        """The scene's root, where given: when it is hidden (the safe place is showing), its
        settled targets are too, at the cost of one check a frame instead of one each."""

    def tag(self, node: NodePath, kind: TargetKind, radius: float | None = None,
            center: tuple[float, float, float] | None = None, moves: bool = True) -> None:
        """Tag ``node`` (and its subtree) as a ``kind``; its sphere follows the node as it moves.

        ``radius`` defaults to half the diagonal of the subtree's tight bounds, centred on
        them; pass one (and a ``center`` in the node's own coordinates, default its origin)
        when the geometry is built later or the sphere should be tighter.

        ``moves=False`` is for the many targets that stay in place (an audience's faces): the
        sphere is placed once, when first needed, and again only after :meth:`refresh`, which
        saves a matrix per target per frame. Whether it is hidden is still checked each frame.
        """
        center_point = Point3(*(center or (0.0, 0.0, 0.0)))
        if radius is None:
            bounds = node.get_tight_bounds(node)
            if bounds is None:
                raise ValueError(f"cannot tag {node.get_name()!r}: it has no geometry yet; "
                                 "pass a radius")
            low, high = bounds
            center_point = Point3((low + high) * 0.5)
            radius = (high - low).length() * 0.5
        node.set_tag(TAG, kind)
        target = _Target(node, kind, center_point, max(radius, 1e-3), moves)
        self._targets.append(target)
        self._by_key[node.get_key()] = target

    def refresh(self, node: NodePath) -> None:
        """Place a settled target (``moves=False``) afresh at the next snapshot: call it when
        the node has moved, or been shown or hidden (unknown nodes are ignored)."""
        target = self._by_key.get(node.get_key())
        if target is not None:
            target.cached = None

    def untag(self, node: NodePath) -> None:
        """Forget ``node`` (removing it from the scene does too, at the next query)."""
        self._targets = [t for t in self._targets if t.node != node]
        self._by_key.pop(node.get_key(), None)
        if not node.is_empty():
            node.clear_tag(TAG)

    def clear(self) -> None:
        """Forget every target (on unload)."""
        self._targets.clear()
        self._by_key.clear()

    def __len__(self) -> int:
        return len(self._targets)

    def snapshot(self, world: NodePath) -> list[Sphere]:
        """The visible targets' spheres in world coordinates, now (compute once a frame)."""
        live: list[Sphere] = []
        scope_hidden = self.scope is not None and self.scope.is_hidden()
        for target in self._targets:
            node = target.node
            sphere = target.cached
            if sphere is not None:  # settled: no engine call at all
                if target.shown and not scope_hidden:
                    live.append(sphere)
                continue
            if node.is_empty():  # removed from the scene: forget it
                self._targets = [t for t in self._targets if not t.node.is_empty()]
                self._by_key = {t.node.get_key(): t for t in self._targets}
                return self.snapshot(world)
            if node.is_hidden():  # hidden by itself or by an ancestor (the scene swapped out)
                if not target.moves and not scope_hidden:  # the scope's own state is live
                    target.shown = False
                    target.cached = Sphere(target.kind, 0.0, 0.0, 0.0, 0.0)
                continue
            target.shown = True
            if sphere is None:
                # One matrix per target: its centre and its largest scale come from the same
                # call.
                mat = node.get_mat(world)
                center = mat.xform_point(target.center)
                scale = max(mat.get_row3(0).length_squared(), mat.get_row3(1).length_squared(),
                            mat.get_row3(2).length_squared()) ** 0.5
                sphere = Sphere(target.kind, center[0], center[1], center[2],
                                target.radius * scale)
                if not target.moves:
                    target.cached = sphere
            live.append(sphere)
        return live

    def positions(self, world: NodePath, kind: TargetKind) -> list[Point3]:
        """World positions of the visible targets of one kind."""
        return [Point3(s.x, s.y, s.z) for s in self.snapshot(world) if s.kind == kind]

    def nearest_distance(self, world: NodePath, point: Point3,
                         kind: TargetKind = "stimulus") -> float | None:
        """Distance from ``point`` to the surface of the nearest visible target sphere."""
        return nearest_distance(self.snapshot(world), point, kind)

    def gaze(self, world: NodePath, origin: Point3, direction: Vec3) -> GazeHit:
        """The nearest visible target the ray from ``origin`` along ``direction`` enters."""
        return gaze_hit(self.snapshot(world), origin, direction)


class Sphere(NamedTuple):
    """A visible target's bounding sphere in world coordinates (plain floats: the per-frame
    tests below are a few float operations per target, not engine calls)."""

    kind: TargetKind
    x: float
    y: float
    z: float
    radius: float


def nearest_distance(spheres: list[Sphere], point: Sequence[float],
                     kind: TargetKind = "stimulus") -> float | None:
    """Distance from ``point`` to the surface of the nearest sphere of ``kind``."""
    px, py, pz = point[0], point[1], point[2]
    best: float | None = None
    for s in spheres:
        if s.kind == kind:
            d = max(0.0, math.sqrt((s.x - px) ** 2 + (s.y - py) ** 2 + (s.z - pz) ** 2)
                    - s.radius)
            best = d if best is None or d < best else best
    return best


def gaze_hit(spheres: list[Sphere], origin: Sequence[float],
             direction: Sequence[float]) -> GazeHit:
    """The nearest sphere the ray from ``origin`` along ``direction`` enters."""
    dx, dy, dz = direction[0], direction[1], direction[2]
    length = math.sqrt(dx * dx + dy * dy + dz * dz)
    if length == 0:
        return GazeHit("elsewhere", math.inf)
    dx, dy, dz = dx / length, dy / length, dz / length
    ox, oy, oz = origin[0], origin[1], origin[2]
    best_kind, best = "elsewhere", math.inf
    for s in spheres:
        cx, cy, cz = s.x - ox, s.y - oy, s.z - oz
        along = cx * dx + cy * dy + cz * dz
        if along < 0:
            continue
        miss2 = cx * cx + cy * cy + cz * cz - along * along
        r2 = s.radius * s.radius
        if miss2 > r2:
            continue
        hit = max(0.0, along - math.sqrt(r2 - miss2))
        if hit < best:
            best_kind, best = s.kind, hit
    return GazeHit(best_kind, best)
