"""A procedural humanoid body: rounded shapes on a skeleton of joints driven in code.

The body is modelled once, in metres, for a reference person :data:`REF_HEIGHT` tall, and a
``skeleton`` node scales it to the appearance's height (about 7.5 heads tall at any height).
Each rigid part (a forearm, the head, an eyelid) is one mesh hanging under its joint, so a
frame only sets the rotations of about two dozen joints: no skinning, no per-frame geometry.

Shapes are made with numpy (:class:`Mesh`), not vertex by vertex: the head and the hands are
smooth unions of ellipsoids (distance fields sampled along rays from a centre), the torso is
lofted through measured cross-sections, and limbs, lips and eyebrows are swept along curves.
That keeps one body's build to a few tens of milliseconds and gives shapes without seams.

Every joint is two nodes: ``<name>_rest`` carries the rest position and rotation, and the joint
node ``<name>`` under it carries the pose. A pose is therefore plain hpr degrees relative to the
rest pose (all zeros is standing relaxed, arms hanging, looking ahead) and setting one costs one
``set_hpr`` per joint.

Axes: the root is at the feet, +Y is forward (the way the person faces), +Z up, +X to the
person's right. Joint angles follow Panda3D: heading turns toward the person's left (+h turns
the head left), pitch tilts forward parts up (+p raises the chin; on a hanging arm or leg +p
swings it forward; on a knee, -p bends it), roll tilts about the forward axis (+r swings a
hanging limb toward -X, so the left arm lifts sideways with +r and the right arm with -r).
``_l`` is the person's left.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache

import numpy as np
from panda3d.core import (
    Geom,
    GeomNode,
    GeomTriangles,
    GeomVertexArrayFormat,
    GeomVertexData,
    GeomVertexFormat,
    InternalName,
    NodePath,
    Point3,
)

from avatar.appearance import RGB, Appearance
from scenarios import procedural as p

REF_HEIGHT = 1.75
"""The height the model is built for; the skeleton node scales it to the appearance."""
HEAD_HEIGHT = REF_HEIGHT / 7.5
"""Chin to crown of the reference body (adults are about 7.5 heads tall)."""

JOINTS: tuple[str, ...] = (
    "pelvis", "spine", "chest", "neck", "head", "eye_l", "eye_r", "lid_l", "lid_r", "jaw",
    "shoulder_l", "elbow_l", "wrist_l", "shoulder_r", "elbow_r", "wrist_r",
    "hip_l", "knee_l", "ankle_l", "hip_r", "knee_r", "ankle_r",
)
"""Every joint :meth:`HumanoidBody.set_pose` accepts, parents before children."""

POSE_EPSILON_DEG = 0.04
"""A joint is re-set only when an angle moved more than this since it was last set (0.04 deg
is 0.7 mm at a hand's reach: invisible, while most joints of a standing person hold still)."""

Pose = Mapping[str, tuple[float, float, float]]
"""Joint name -> (heading, pitch, roll) in degrees, relative to the rest pose."""

# Reference skeleton (metres, in the skeleton's frame: feet at z = 0). Heights follow the
# figure canon for a 7.5-head adult: crown 1.75, eyes 1.633, chin 1.517, shoulders 1.43,
# elbows 1.12, hip joints 0.90, wrists 0.87, knees 0.49, ankles 0.08.
PELVIS_Z = 0.95
SPINE_Z = 1.02
CHEST_Z = 1.18
NECK_Z = 1.43
HEAD_Z = 1.535
"""The head's pivot (top of the neck, about level with the chin line)."""
SHOULDER = (0.16, -0.012, 1.40)
HIP = (0.088, 0.0, 0.90)
UPPER_ARM = 0.29
FOREARM = 0.25
THIGH = 0.41
SHIN = 0.41
ANKLE_Z = HIP[2] - THIGH - SHIN
EYE = (0.031, 0.077, 0.098)
"""Left-right offset, forward and height of the eye centres from the head pivot."""
EYE_RADIUS = 0.0122
LID_OPEN_DEG = 24.0
"""The upper lid's rest tilt: it covers the top of the iris, as relaxed eyes do."""
LID_TRAVEL_DEG = 54.0
"""How far the upper lid turns down to meet the lower lid."""
JAW = (0.0, 0.0, 0.045)
"""The jaw's pivot, behind the mouth near the ears: opening swings the lower lip down."""
MOUTH = (0.0, 0.0915, 0.0215)
"""Middle of the line where the lips meet."""
JAW_OPEN_DEG = 7.0
SMILE = 0.0032
"""How far the mouth corners turn up: a friendly, resting near-smile."""

Color = tuple[float, float, float, float]
Vec = tuple[float, float, float]
Blob = Sequence[tuple[Vec, Vec]]
"""Ellipsoids (centre, radii) to be smoothly joined into one shape."""


def linear(rgb: RGB, scale: float = 1.0) -> Color:
    """An sRGB colour as the linear RGBA the physically based shader multiplies by light."""
    r, g, b = (min(1.0, max(0.0, c * scale)) ** 2.2 for c in rgb)
    return (r, g, b, 1.0)


def mix(a: RGB, b: RGB, t: float) -> RGB:
    """``a`` blended toward ``b`` by ``t`` (sRGB)."""
    return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t)


# ------------------------------------------------------------------ meshes with numpy


@lru_cache(maxsize=1)
def _vertex_format() -> GeomVertexFormat:
    """Position, normal and a float colour, interleaved: ten float32 a vertex."""
    array = GeomVertexArrayFormat()
    array.add_column(InternalName.get_vertex(), 3, Geom.NT_float32, Geom.C_point)
    array.add_column(InternalName.get_normal(), 3, Geom.NT_float32, Geom.C_normal)
    array.add_column(InternalName.get_color(), 4, Geom.NT_float32, Geom.C_color)
    return GeomVertexFormat.register_format(GeomVertexFormat(array))


@lru_cache(maxsize=32)
def _grid_triangles(rows: int, cols: int) -> np.ndarray:
    """Triangles of a (rows, cols) vertex grid, counter-clockwise seen from outside when rows
    run along the shape's axis and columns turn counter-clockwise about it."""
    r, c = np.meshgrid(np.arange(rows - 1), np.arange(cols - 1), indexing="ij")
    a = (r * cols + c).ravel()
    b, cc, d = a + 1, a + cols + 1, a + cols
    return np.stack([np.stack([a, b, cc], 1), np.stack([a, cc, d], 1)], 1).reshape(-1, 3)


def grid_normals(pts: np.ndarray) -> np.ndarray:
    """Outward normals of a closed-around grid (the last column repeats the first) from its
    own shape; a collapsed row (the tip of a closed end) points away from its neighbour."""
    ring = pts[:, :-1]
    tu = np.roll(ring, -1, axis=1) - np.roll(ring, 1, axis=1)
    tv = np.empty_like(ring)
    tv[1:-1] = ring[2:] - ring[:-2]
    tv[0] = ring[1] - ring[0]
    tv[-1] = ring[-1] - ring[-2]
    n = np.cross(tu, tv)
    length = np.linalg.norm(n, axis=-1, keepdims=True)
    flat = length[..., 0] < 1e-10
    if flat.any():
        for i in np.nonzero(flat.any(axis=1))[0]:
            j = i + 1 if i + 1 < len(ring) else i - 1
            away = ring[i] - ring[j].mean(axis=0)
            away /= max(float(np.linalg.norm(away, axis=-1).max()), 1e-12)
            n[i][flat[i]] = away[flat[i]]
        length = np.linalg.norm(n, axis=-1, keepdims=True)
    n = n / np.maximum(length, 1e-12)
    return np.concatenate([n, n[:, :1]], axis=1)


@lru_cache(maxsize=32)
def _sphere_dirs(segments: int, rings: int) -> np.ndarray:
    """Unit directions of a UV sphere grid, rows from the bottom pole to the top."""
    theta = np.linspace(math.pi, 0.0, rings + 1)[:, None]
    phi = np.linspace(0.0, 2 * math.pi, segments + 1)[None, :]
    d = np.stack(np.broadcast_arrays(np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi),
                                     np.cos(theta)), -1)
    d[0, :] = (0.0, 0.0, -1.0)
    d[-1, :] = (0.0, 0.0, 1.0)
    d.setflags(write=False)
    return d


def _ellipsoid_sdf(q: np.ndarray, center: Vec, radii: Vec) -> np.ndarray:
    """An ellipsoid's (approximate, well-behaved) signed distance at points ``q``."""
    r = np.asarray(radii)
    a = (q - np.asarray(center)) / r
    b = a / r
    k0 = np.sqrt(np.einsum("...i,...i", a, a))
    k1 = np.sqrt(np.einsum("...i,...i", b, b))
    return np.asarray(k0 * (k0 - 1.0) / np.maximum(k1, 1e-9))


def blob_sdf(q: np.ndarray, parts: Blob, smooth: float) -> np.ndarray:
    """Smooth union (polynomial smooth minimum, blend width ``smooth`` metres) of ellipsoids."""
    d = _ellipsoid_sdf(q, *parts[0])
    for center, radii in parts[1:]:
        e = _ellipsoid_sdf(q, center, radii)
        h = np.clip(0.5 + 0.5 * (e - d) / smooth, 0.0, 1.0)
        d = e + (d - e) * h - smooth * h * (1.0 - h)
    return d


class Mesh:
    """Collects numpy grids and triangles and makes one ``GeomNode`` (one rigid part).

    Colours are linear RGBA, per shape or per vertex. Every shape is a grid whose rows run
    along its axis and whose columns turn counter-clockwise about it.
    """

    def __init__(self, name: str, detail: float = 1.0) -> None:
        self.name = name
        self.detail = detail
        """Scales every shape's segments and rings (1: as asked; an audience far away needs
        fewer: vertices, not pixels, are what a software renderer pays for)."""
        self._verts: list[np.ndarray] = []
        self._tris: list[np.ndarray] = []
        self._count = 0

    def _n(self, count: int, least: int = 6) -> int:
        """``count`` scaled by :attr:`detail` (never below ``least``, nor above ``count``)."""
        if self.detail >= 1.0:
            return count
        return max(min(least, count), round(count * self.detail))

    def grid(self, pts: np.ndarray, normals: np.ndarray, color: Color | np.ndarray,
             keep: np.ndarray | None = None) -> None:
        """Add a (rows, cols) grid of points; ``keep`` (rows-1, cols-1) drops quads."""
        rows, cols = pts.shape[:2]
        colors = np.broadcast_to(np.asarray(color, np.float32), (rows, cols, 4))
        block = np.concatenate([pts.reshape(-1, 3), normals.reshape(-1, 3),
                                colors.reshape(-1, 4)], axis=1).astype(np.float32)
        tris = _grid_triangles(rows, cols)
        if keep is not None:
            tris = tris.reshape(-1, 2, 3)[keep.ravel()].reshape(-1, 3)
        self._verts.append(block)
        self._tris.append(tris + self._count)
        self._count += rows * cols

    def ellipsoid(self, center: Sequence[float], radii: Sequence[float],
                  color: Color | np.ndarray, segments: int = 16, rings: int = 10,
                  keep: Callable[[np.ndarray], np.ndarray] | None = None,
                  z_floor: float | None = None) -> None:
        """An ellipsoid. ``keep(directions)`` -> bool per quad keeps part of it (an eyelid);
        ``z_floor`` flattens everything below that height into a flat bottom (a sole)."""
        d = _sphere_dirs(self._n(segments), self._n(rings, 4))
        r = np.asarray(radii, float)
        pts = np.asarray(center, float) + d * r
        n = d / r
        n /= np.linalg.norm(n, axis=-1, keepdims=True)
        if z_floor is not None:
            below = pts[..., 2] < z_floor
            pts[..., 2][below] = z_floor
            n[below] = (0.0, 0.0, -1.0)
        mask = None
        if keep is not None:
            mid = (d[:-1, :-1] + d[1:, 1:]) * 0.5
            mask = keep(mid)
        self.grid(pts, n, color, mask)

    def tube(self, a: Sequence[float], b: Sequence[float], r0: float, r1: float,
             color: Color, segments: int = 12) -> None:
        """An open tapered tube from ``a`` (radius ``r0``) to ``b`` (radius ``r1``)."""
        pts = np.array([a, b], float)
        self.sweep(pts, np.array([[r0, r0], [r1, r1]]), color, segments)

    def sweep(self, points: np.ndarray, radii: np.ndarray, color: Color | np.ndarray,
              segments: int = 12, ref: Sequence[float] = (0.0, 1.0, 0.0)) -> None:
        """Elliptical cross-sections swept along a polyline: ``radii[i]`` is (along ``ref``,
        across it) at ``points[i]``; a zero radius closes the end (limbs, lips, brows)."""
        pts = np.asarray(points, float)
        tang = np.gradient(pts, axis=0)
        tang /= np.linalg.norm(tang, axis=-1, keepdims=True)
        refv = np.asarray(ref, float)
        a = refv - (tang @ refv)[:, None] * tang
        a /= np.linalg.norm(a, axis=-1, keepdims=True)
        b = np.cross(tang, a)
        t = np.linspace(0.0, 2 * math.pi, self._n(segments) + 1)
        ca, sb = np.cos(t)[None, :, None], np.sin(t)[None, :, None]
        rad = np.asarray(radii, float)
        grid = (pts[:, None, :] + ca * rad[:, 0, None, None] * a[:, None, :]
                + sb * rad[:, 1, None, None] * b[:, None, :])
        self.grid(grid, grid_normals(grid), color)

    def loft(self, sections: Sequence[tuple[float, float, float, float]],
             color: Color | np.ndarray, segments: int = 24, power: float = 2.0,
             steps: int = 3, before: Sequence[float] | None = None,
             after: Sequence[float] | None = None) -> None:
        """A body of rounded cross-sections (height, forward offset, half width, half depth)
        stacked along Z, interpolated by a Catmull-Rom spline; ``power`` > 2 squares the
        sections (a chest is flatter than a tube). Both ends are closed by flat caps.

        ``before`` and ``after`` are the neighbouring sections of a loft that continues
        in another part: they shape the spline's ends without being drawn, so two lofts
        sharing a boundary section meet without a crease."""
        s = np.asarray(sections, float)
        n = len(s)
        first = np.asarray(before, float) if before is not None else s[0]
        last = np.asarray(after, float) if after is not None else s[-1]
        steps = self._n(steps, 1)
        rows = []
        for i in range(n - 1):
            s0 = s[i - 1] if i > 0 else first
            s3 = s[i + 2] if i + 2 < n else last
            s1, s2 = s[i], s[i + 1]
            for j in range(steps):
                t = j / steps
                rows.append(0.5 * (2 * s1 + (s2 - s0) * t
                                   + (2 * s0 - 5 * s1 + 4 * s2 - s3) * t * t
                                   + (3 * s1 - s0 - 3 * s2 + s3) * t ** 3))
        rows.append(s[-1])
        r = np.asarray(rows)
        ang = np.linspace(0.0, 2 * math.pi, self._n(segments) + 1)
        e = 2.0 / power
        cx = np.sign(np.cos(ang)) * np.abs(np.cos(ang)) ** e
        cy = np.sign(np.sin(ang)) * np.abs(np.sin(ang)) ** e
        pts = np.stack(np.broadcast_arrays(r[:, 2:3] * cx[None, :],
                                           r[:, 1:2] + r[:, 3:4] * cy[None, :],
                                           r[:, 0:1] + 0.0 * cx[None, :]), -1)
        normals = grid_normals(pts)
        # Flat caps: the end ring again with normals along the axis, and its centre. They are
        # separate rows so the side's normals stay those of the side (no dark rim).
        bottom, top = pts[:1], pts[-1:]
        down = np.broadcast_to((0.0, 0.0, -1.0), bottom.shape)
        up = np.broadcast_to((0.0, 0.0, 1.0), top.shape)
        centre_b = np.broadcast_to(bottom.mean(axis=1, keepdims=True), bottom.shape)
        centre_t = np.broadcast_to(top.mean(axis=1, keepdims=True), top.shape)
        self.grid(np.concatenate([centre_b, bottom, pts, top, centre_t]),
                  np.concatenate([down, down, normals, up, up]), color)

    def blob(self, origin: Sequence[float], parts: Blob, color: Color | np.ndarray,
             smooth: float = 0.012, segments: int = 32, rings: int = 24,
             reach: float = 0.3, shade: Callable[[np.ndarray, np.ndarray], np.ndarray]
             | None = None) -> None:
        """The smooth union of ellipsoids, found along rays from ``origin`` (which must be
        inside, and the shape star-shaped about it). ``shade(points, normals)`` may return
        per-vertex colours (a blush on the cheeks)."""
        pts, normals = blob_surface(origin, parts, smooth, self._n(segments),
                                    self._n(rings, 4), reach)
        self.grid(pts, normals, shade(pts, normals) if shade is not None else color)

    def node(self) -> GeomNode:
        """The finished ``GeomNode`` (the whole part in one vertex buffer and one draw)."""
        verts = np.concatenate(self._verts) if self._verts else np.zeros((0, 10), np.float32)
        tris = (np.concatenate(self._tris) if self._tris else np.zeros((0, 3), np.int64))
        data = GeomVertexData(self.name, _vertex_format(), Geom.UH_static)
        data.unclean_set_num_rows(len(verts))
        memoryview(data.modify_array(0)).cast("B")[:] = np.ascontiguousarray(
            verts, np.float32).tobytes()
        prim = GeomTriangles(Geom.UH_static)
        prim.set_index_type(Geom.NT_uint32)
        handle = prim.modify_vertices()
        handle.unclean_set_num_rows(tris.size)
        memoryview(handle).cast("B")[:] = np.ascontiguousarray(tris, np.uint32).tobytes()
        geom = Geom(data)
        geom.add_primitive(prim)
        node = GeomNode(self.name)
        node.add_geom(geom)
        return node

    def attach(self, parent: NodePath) -> NodePath:
        """Attach the finished mesh under ``parent``."""
        return parent.attach_new_node(self.node())


def blob_surface(origin: Sequence[float], parts: Blob, smooth: float, segments: int,
                 rings: int, reach: float,
                 radius_fn: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Points and normals of a smooth union of ellipsoids along rays from ``origin``.

    ``radius_fn(directions, radii)`` may reshape the found radii (a hairline); the normals
    then come from the reshaped grid rather than from the field.
    """
    key = (tuple(float(v) for v in origin),
           tuple((tuple(map(float, c)), tuple(map(float, r))) for c, r in parts))
    radius, grad = _blob_rays(key[0], key[1], float(smooth), segments, rings, float(reach))
    d = _sphere_dirs(segments, rings)
    o = np.asarray(origin, float)
    if radius_fn is not None:
        pts = o + d * radius_fn(d, radius)[..., None]
        return pts, grid_normals(pts)
    return o + d * radius[..., None], grad


@lru_cache(maxsize=64)
def _blob_rays(origin: Vec, parts: tuple[tuple[Vec, Vec], ...], smooth: float,
               segments: int, rings: int, reach: float) -> tuple[np.ndarray, np.ndarray]:
    """Radius along each ray and the field's normals there (cached: a crowd shares heads
    and hands, so only the first body of a kind pays for them)."""
    o = np.asarray(origin, float)
    d = _sphere_dirs(segments, rings)
    # Where each ray leaves the plain union of the ellipsoids: the smooth union lies a little
    # outside it, so a short bisection from there finds it.
    hard = np.zeros(d.shape[:2])
    for center, radii in parts:
        r = np.asarray(radii)
        rel = (o - np.asarray(center)) / r
        dr = d / r
        qa = np.einsum("...i,...i", dr, dr)
        qb = dr @ rel
        qc = float(rel @ rel) - 1.0
        disc = qb * qb - qa * qc
        far = (-qb + np.sqrt(np.maximum(disc, 0.0))) / qa
        hard = np.maximum(hard, np.where(disc >= 0.0, far, 0.0))
    lo = np.maximum(hard - 1e-4, 0.0)
    hi = np.minimum(hard + smooth + 2e-3, reach)
    for _ in range(12):  # about a centimetre / 2**12: micrometres
        mid = (lo + hi) * 0.5
        inside = blob_sdf(o + d * mid[..., None], parts, smooth) < 0.0
        lo = np.where(inside, mid, lo)
        hi = np.where(inside, hi, mid)
    radius = (lo + hi) * 0.5
    pts = o + d * radius[..., None]
    # Normals from the field's gradient: smooth, and right at the poles too.
    eps = 1e-4
    grad = np.stack([blob_sdf(pts + off, parts, smooth) - blob_sdf(pts - off, parts, smooth)
                     for off in np.eye(3) * eps], -1)
    grad /= np.maximum(np.sqrt(np.einsum("...i,...i", grad, grad))[..., None], 1e-12)
    radius.setflags(write=False)
    grad.setflags(write=False)
    return radius, grad


def _smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return np.asarray(t * t * (3 - 2 * t))


# ------------------------------------------------------------------ the body


class HumanoidBody:
    """A jointed, clothed person built from rounded shapes under ``root``.

    ``root`` stands at the feet, facing +Y; move and turn ``root`` to place the person. The
    joints in :data:`JOINTS` pose the body (:meth:`set_pose`); :meth:`set_mouth`,
    :meth:`set_eyelids` and :meth:`set_chest_scale` drive the face and breathing.
    """

    def __init__(self, parent: NodePath, appearance: Appearance, name: str = "person",
                 detail: float = 1.0) -> None:
        self.appearance = appearance
        self.name = name
        self.detail = detail
        """Mesh detail (1 full; lower for people seen from afar: see :class:`Mesh`)."""
        self.root: NodePath = parent.attach_new_node(name)
        self.scale = appearance.height_m / REF_HEIGHT
        """Model-to-metres factor of the skeleton (1 at :data:`REF_HEIGHT`)."""
        self._joints: dict[str, NodePath] = {}
        self._applied: dict[str, tuple[float, float, float]] = {}
        self._rest: dict[str, NodePath] = {}
        self._mouth: NodePath | None = None
        self._chest_mesh: NodePath | None = None
        self._eyes_mid: NodePath | None = None
        self._mouth_open = 0.0
        self._lids_closed = 0.0
        self._chest = 1.0
        self.build()

    # -------------------------------------------------------------- public API

    @property
    def joint_names(self) -> tuple[str, ...]:
        """The joints this body has (:data:`JOINTS`)."""
        return JOINTS

    def joint(self, name: str) -> NodePath:
        """The node of joint ``name`` (set its hpr to pose it; the rest pose is all zeros)."""
        try:
            return self._joints[name]
        except KeyError:
            raise KeyError(f"unknown joint {name!r}; joints: {', '.join(JOINTS)}") from None

    def set_pose(self, angles: Pose) -> None:
        """Set hpr degrees on the named joints, relative to the rest pose.

        Joints not named keep their current angles (call :meth:`reset_pose` first for a pose
        from scratch). An unknown name raises ``KeyError`` naming it, before anything moves.
        """
        joints = self._joints
        if not angles.keys() <= joints.keys():
            unknown = next(name for name in angles if name not in joints)
            raise KeyError(f"unknown joint {unknown!r}; joints: {', '.join(JOINTS)}")
        applied = self._applied
        e = POSE_EPSILON_DEG
        for name, hpr in angles.items():
            # A joint is only set when it has moved visibly since it was last set: each set
            # marks the joint's branch for the next cull, which costs more than the test.
            h, p_, r = hpr
            last = applied.get(name)
            if last is not None:
                dh, dp, dr = h - last[0], p_ - last[1], r - last[2]
                if -e <= dh <= e and -e <= dp <= e and -e <= dr <= e:
                    continue
            applied[name] = (h, p_, r)
            joints[name].set_hpr(h, p_, r)

    def reset_pose(self) -> None:
        """Every joint back to its rest angles (standing relaxed, looking ahead)."""
        for node in self._joints.values():
            node.set_hpr(0, 0, 0)
        self._applied.clear()
        self.set_mouth(0.0)
        self.set_eyelids(0.0)
        self.set_chest_scale(1.0)

    def head_position(self, world: NodePath) -> Point3:
        """The point between the eyes, in ``world``'s coordinates."""
        assert self._eyes_mid is not None, "the body was removed"
        return self._eyes_mid.get_pos(world)

    def set_mouth(self, open_0_1: float) -> None:
        """Open the mouth: 0 closed (lips together), 1 wide open as in a loud vowel."""
        v = min(1.0, max(0.0, float(open_0_1)))
        if v == self._mouth_open or self._mouth is None:
            return
        self._mouth_open = v
        self._joints["jaw"].set_p(-JAW_OPEN_DEG * v)
        self._mouth.set_sz(1.0 + 4.5 * v)

    @property
    def mouth(self) -> float:
        """How open the mouth is (0..1)."""
        return self._mouth_open

    def set_eyelids(self, closed_0_1: float) -> None:
        """Close the upper eyelids: 0 relaxed open, 1 shut (a blink goes 0 -> 1 -> 0)."""
        v = min(1.0, max(0.0, float(closed_0_1)))
        if v == self._lids_closed or not self._joints:
            return
        self._lids_closed = v
        pitch = -LID_TRAVEL_DEG * v
        self._joints["lid_l"].set_p(pitch)
        self._joints["lid_r"].set_p(pitch)

    @property
    def eyelids(self) -> float:
        """How closed the eyelids are (0..1)."""
        return self._lids_closed

    def set_chest_scale(self, s: float) -> None:
        """Breathing: scale the chest's depth by ``s`` (about 1.0-1.04), its width by half as
        much; the shoulders, arms and head stay where they are."""
        if s == self._chest or self._chest_mesh is None:
            return
        self._chest = s
        self._chest_mesh.set_scale(1.0 + (s - 1.0) * 0.5, s, 1.0 + (s - 1.0) * 0.3)

    @property
    def chest_scale(self) -> float:
        """The breathing scale last set (1 at rest)."""
        return self._chest

    def remove(self) -> None:
        """Take the body out of the scene (the object is unusable afterwards)."""
        if not self.root.is_empty():
            self.root.remove_node()
        self._joints.clear()
        self._rest.clear()
        self._mouth = self._chest_mesh = self._eyes_mid = None

    # -------------------------------------------------------------- building

    def _add_joint(self, name: str, parent: NodePath, pos: Sequence[float],
                   hpr: Sequence[float] = (0.0, 0.0, 0.0)) -> NodePath:
        rest = parent.attach_new_node(f"{name}_rest")
        rest.set_pos_hpr(pos[0], pos[1], pos[2], hpr[0], hpr[1], hpr[2])
        joint = rest.attach_new_node(name)
        self._rest[name] = rest
        self._joints[name] = joint
        return joint

    def build(self) -> None:
        """Build the skeleton and every mesh (called once by the constructor)."""
        a = self.appearance
        w = 0.9 + 0.22 * a.build       # widths of torso and hips
        lw = 0.92 + 0.16 * a.build     # thickness of limbs
        skin = linear(a.skin)
        top = linear(a.top_colour)
        top_dark = linear(a.top_colour, 0.84)
        trousers = linear(a.trousers_colour)
        shoes = linear(a.shoe_colour)

        skeleton = self.root.attach_new_node("skeleton")
        skeleton.set_scale(self.scale)
        # Vertex colours carry every colour; one material gives the whole body its sheen.
        p.material(skeleton, (1, 1, 1, 1), roughness=0.8)

        pelvis = self._add_joint("pelvis", skeleton, (0, 0, PELVIS_Z))
        spine = self._add_joint("spine", pelvis, (0, 0, SPINE_Z - PELVIS_Z))
        chest = self._add_joint("chest", spine, (0, 0, CHEST_Z - SPINE_Z))
        neck = self._add_joint("neck", chest, (0, -0.012, NECK_Z - CHEST_Z))
        head = self._add_joint("head", neck, (0, 0.012, HEAD_Z - NECK_Z))

        def sections(joint_z: float, rows: Sequence[tuple[float, float, float, float]],
                     ) -> list[tuple[float, float, float, float]]:
            # Heights given in the skeleton's frame, moved into the joint's; widened by build.
            return [(z - joint_z, y, rx * w, ry * (0.94 + 0.06 * w)) for z, y, rx, ry in rows]

        # The torso is three lofts. The hips (trousers) reach up under the top's hem; the waist
        # and chest share one spline through the same sections and meet at the chest joint,
        # so at rest they join without a crease and a small bend opens no visible gap.
        # Sections: height, forward offset, half width, half depth.
        m = Mesh(f"{self.name}-pelvis", self.detail)
        m.loft(sections(PELVIS_Z, (
            (0.805, -0.014, 0.075, 0.05), (0.83, -0.015, 0.125, 0.085),
            (0.87, -0.016, 0.152, 0.099), (0.91, -0.012, 0.161, 0.103),
            (0.96, 0.0, 0.148, 0.094), (1.0, 0.0, 0.136, 0.088))),
            trousers, 24, power=2.2)
        m.attach(pelvis)

        m = Mesh(f"{self.name}-spine", self.detail)
        torso = sections(0.0, (
            (0.93, 0.0, 0.168, 0.109), (0.96, 0.0, 0.163, 0.106),
            (1.02, 0.002, 0.150, 0.099), (1.08, 0.004, 0.146, 0.099),
            (1.13, 0.006, 0.149, 0.102), (CHEST_Z, 0.008, 0.154, 0.105),
            (1.25, 0.011, 0.162, 0.109), (1.31, 0.012, 0.165, 0.108),
            (1.36, 0.002, 0.168, 0.099), (1.40, -0.008, 0.165, 0.087),
            (1.435, -0.013, 0.138, 0.073), (1.46, -0.014, 0.094, 0.063),
            (1.478, -0.012, 0.064, 0.056)))
        split = 5  # the waist loft ends, and the chest loft starts, at the chest joint

        def shifted(rows: Sequence[tuple[float, float, float, float]], z: float,
                    ) -> list[tuple[float, float, float, float]]:
            return [(r[0] - z, r[1], r[2], r[3]) for r in rows]

        m.loft(shifted(torso[:split + 1], SPINE_Z), top, 28, power=2.4,
               after=shifted(torso[split + 1:split + 2], SPINE_Z)[0])
        m.attach(spine)

        # Chest to shoulders: what breathes. The top narrows over the shoulders to the neck
        # (the slope of the trapezius), so the neck does not stand on a flat shelf.
        m = Mesh(f"{self.name}-chest", self.detail)
        m.loft(shifted(torso[split:], CHEST_Z), top, 28, power=2.4,
               before=shifted(torso[split - 1:split], CHEST_Z)[0])
        self._chest_mesh = m.attach(chest)

        m = Mesh(f"{self.name}-neck", self.detail)
        # The neck leans forward a little and flares into the shoulders at its base.
        zs = np.array([-0.03, 0.0, 0.03, 0.07, HEAD_Z - NECK_Z + 0.035])
        rs = np.array([0.068, 0.06, 0.054, 0.051, 0.05]) * lw
        m.sweep(np.stack([0 * zs, -0.006 + 0.16 * (zs + 0.03), zs], -1),
                np.stack([rs * 0.95, rs], -1), skin, 18)
        m.attach(neck)

        self._build_head(head, a)
        for side, sx in (("l", -1.0), ("r", 1.0)):
            self._build_arm(chest, side, sx, w, lw, skin, top, top_dark)
            self._build_leg(pelvis, side, sx, lw, trousers, shoes)

    def _build_head(self, head: NodePath, a: Appearance) -> None:
        """Head and face, in the head pivot's frame (the pivot sits at the top of the neck)."""
        skin_rgb = a.skin
        skin = linear(skin_rgb)
        shade = linear(mix(skin_rgb, (0.6, 0.3, 0.26), 0.12), 0.95)   # lids, ear hollows
        lips = linear(mix(skin_rgb, (0.66, 0.26, 0.28), 0.33), 0.92)
        hair = linear(a.hair_colour)
        brow = linear(mix(a.hair_colour, (0.1, 0.07, 0.05), 0.3))
        blush = np.asarray(linear(mix(skin_rgb, (0.85, 0.42, 0.40), 0.22)), np.float32)
        skin_a = np.asarray(skin, np.float32)

        cranium = ((0.0, -0.006, 0.105), (0.076, 0.097, 0.108))
        face: list[tuple[Vec, Vec]] = [
            cranium,
            ((0.0, 0.02, 0.048), (0.062, 0.072, 0.066)),          # jaw and cheeks
            ((0.0, 0.067, 0.0), (0.026, 0.02, 0.021)),             # chin
            ((-0.039, 0.054, 0.07), (0.028, 0.03, 0.024)),         # cheekbones
            ((0.039, 0.054, 0.07), (0.028, 0.03, 0.024)),
            ((0.0, 0.072, 0.124), (0.052, 0.02, 0.018)),           # brow ridge
        ]
        ex, ey, ez = EYE

        def cheeks(pts: np.ndarray, _n: np.ndarray) -> np.ndarray:
            # A faint warmth on the cheeks: faces are not one flat colour.
            x, y, z = pts[..., 0], pts[..., 1], pts[..., 2]
            k = np.exp(-(((np.abs(x) - 0.04) / 0.02) ** 2 + ((z - 0.058) / 0.02) ** 2))
            k = k * (y > 0.03)
            return np.asarray(skin_a + (blush - skin_a) * k[..., None])

        m = Mesh(f"{self.name}-head", self.detail)
        m.blob((0.0, 0.01, 0.085), face, skin, smooth=0.014, segments=40, rings=30,
               shade=cheeks)
        # Nose: bridge, tip and wings, smoothly joined, sitting on the face.
        nose = [((0.0, 0.086, 0.094), (0.0062, 0.007, 0.016)),
                ((0.0, 0.093, 0.072), (0.0075, 0.009, 0.017)),
                ((0.0, 0.0985, 0.056), (0.0092, 0.0095, 0.0088)),
                ((-0.0095, 0.0925, 0.0535), (0.0068, 0.0068, 0.0058)),
                ((0.0095, 0.0925, 0.0535), (0.0068, 0.0068, 0.0058))]
        m.blob((0.0, 0.088, 0.065), nose, skin, smooth=0.006, segments=18, rings=14,
               reach=0.06)
        # Ears: an outer rim and a darker hollow.
        for sx in (-1.0, 1.0):
            m.ellipsoid((sx * 0.073, -0.006, 0.088), (0.012, 0.021, 0.029), skin, 14, 10)
            m.ellipsoid((sx * 0.079, -0.003, 0.086), (0.006, 0.014, 0.02), shade, 12, 8)
        # Lower lids: fixed, hugging the bottom of each eyeball.
        for sx in (-1.0, 1.0):
            m.ellipsoid((sx * ex, ey, ez), (EYE_RADIUS * 1.07,) * 3, shade, 18, 14,
                        keep=lambda d: (d[..., 2] < -0.38) & (d[..., 1] > -0.2))
        # Eyebrows: peaking two thirds of the way out and ending level: relaxed, not worried.
        t = np.linspace(0.0, 1.0, 9)
        for sx in (-1.0, 1.0):
            pts = np.stack([sx * (0.012 + 0.038 * t), 0.0915 - 0.016 * t * t,
                            0.1225 + 0.0052 * np.sin(math.pi * 0.85 * t)], -1)
            thick = 0.0031 * (1.0 - 0.45 * t) * np.sqrt(np.clip(np.sin(math.pi * (
                0.04 + 0.96 * t)), 0, 1)) + 0.0005
            m.sweep(pts, np.stack([thick, thick * 0.6], -1), brow, 8, ref=(0, 0, 1))
        # Upper lip (fixed); the lower lip rides on the jaw.
        mx, my, mz = MOUTH
        self._lip(m, (mx, my - 0.001, mz + 0.0036), 0.0215, 0.0038, SMILE, lips)
        # Upper teeth, behind the lips: they show at the top of the opening as the jaw drops,
        # which reads as a friendly, talking mouth rather than a dark hole.
        m.ellipsoid((mx, my - 0.0038, mz - 0.0014), (0.012, 0.0042, 0.0028),
                    linear((0.93, 0.91, 0.86)), 14, 8)
        self._build_hair(m, a, hair, cranium)
        m.attach(head)

        # The point between the eyes: what head_position reports.
        self._eyes_mid = head.attach_new_node("eyes-mid")
        self._eyes_mid.set_pos(0, ey + EYE_RADIUS * 0.8, ez)

        iris = linear(a.eye_colour)
        for side, sx in (("l", -1.0), ("r", 1.0)):
            eye = self._add_joint(f"eye_{side}", head, (sx * ex, ey, ez))
            m = Mesh(f"{self.name}-eye-{side}", self.detail)
            m.ellipsoid((0, 0, 0), (EYE_RADIUS,) * 3, linear((0.92, 0.9, 0.87)), 18, 14)
            m.ellipsoid((0, EYE_RADIUS * 0.8, 0), (0.0062, 0.0032, 0.0062), iris, 18, 8)
            m.ellipsoid((0, EYE_RADIUS * 0.9, 0), (0.0029, 0.0025, 0.0029),
                        (0.01, 0.01, 0.01, 1), 12, 6)
            eye_np = m.attach(eye)
            p.material(eye_np, (1, 1, 1, 1), roughness=0.22)  # wet: catches a highlight
            lid = self._add_joint(f"lid_{side}", head, (sx * ex, ey, ez), (0, LID_OPEN_DEG, 0))
            m = Mesh(f"{self.name}-lid-{side}", self.detail)
            # The upper half of a shell round the eyeball; tilted back it uncovers the eye.
            m.ellipsoid((0, 0, 0), (EYE_RADIUS * 1.08,) * 3, shade, 18, 14,
                        keep=lambda d: d[..., 2] > -0.03)
            m.attach(lid)

        jaw = self._add_joint("jaw", head, JAW)
        m = Mesh(f"{self.name}-jaw", self.detail)
        self._lip(m, (mx - JAW[0], my - 0.0015 - JAW[1], mz - 0.0042 - JAW[2]), 0.0195,
                  0.0047, SMILE * 0.75, lips)
        m.attach(jaw)
        # The dark inside of the mouth hangs from the lip line and stretches down as it opens.
        m = Mesh(f"{self.name}-mouth", self.detail)
        m.ellipsoid((0, 0, -0.0014), (0.0185, 0.0058, 0.0016), linear((0.2, 0.07, 0.07)), 16, 8)
        self._mouth = m.attach(head)
        self._mouth.set_pos(mx, my - 0.0062, mz + 0.0008)

    @staticmethod
    def _lip(m: Mesh, center: Vec, half_width: float, thickness: float, smile: float,
             color: Color) -> None:
        """A lip swept along a curve that wraps round the face (the corners sit back) and
        turns up at the corners by ``smile``; fullest in the middle, closed at the ends."""
        cx, cy, cz = center
        t = np.linspace(-1.0, 1.0, 13)
        pts = np.stack([cx + half_width * t, cy - 0.0025 - 0.0075 * t * t,
                        cz + smile * t * t], -1)
        taper = np.sqrt(np.clip(1.0 - t * t, 0.0, 1.0)) * (1.0 - 0.25 * t * t)
        radii = np.stack([thickness * taper, 0.0055 * taper + 0.0005], -1)
        radii[0] = radii[-1] = 0.0
        m.sweep(pts, radii, color, 12, ref=(0, 0, 1))

    def _build_hair(self, m: Mesh, a: Appearance, hair: Color,
                    cranium: tuple[Vec, Vec]) -> None:
        """Hair: a shell over the cranium that sinks under the skin below the hairline (so its
        edge fades in smoothly rather than ending in a step), plus volumes by style."""
        if a.hair_style == "bald":
            return
        (cx, cy, cz), (rx, ry, rz) = cranium
        origin = (cx, cy, cz)
        parts: list[tuple[Vec, Vec]] = [
            ((cx, cy - 0.004, cz + 0.002), (rx * 1.1, ry * 1.07, rz * 1.05)),
            # A soft side parting: a little more volume swept over one side of the crown.
            ((0.015, 0.012, 0.176), (0.06, 0.07, 0.037))]
        if a.hair_style == "short":
            parts.append(((0.0, 0.004, 0.172), (0.066, 0.085, 0.05)))      # volume on top
        elif a.hair_style == "bun":
            parts.append(((0.0, -0.098, 0.158), (0.04, 0.036, 0.038)))     # the bun
        else:  # long: falling behind the neck to the shoulder blades, and down the sides
            parts.append(((0.0, -0.05, 0.02), (0.086, 0.065, 0.15)))
            parts.append(((-0.06, -0.01, 0.03), (0.035, 0.055, 0.11)))
            parts.append(((0.06, -0.01, 0.03), (0.035, 0.055, 0.11)))
        inner = np.asarray((rx, ry, rz)) * 0.97
        long = a.hair_style == "long"

        def hairline(d: np.ndarray, radius: np.ndarray) -> np.ndarray:
            # Where the ray leaves the cranium (scaled inside the skin): where hair sinks to.
            r_in = 1.0 / np.linalg.norm(d / inner, axis=-1)
            x, y, z = d[..., 0], d[..., 1], d[..., 2]
            # Forehead line in front, down past the temples to above the ears, the nape behind.
            line = 0.3 * np.clip(y, 0, 1) ** 0.8 + 0.0 - 0.6 * np.clip(-y, 0, 1)
            if long:  # long hair falls down the sides and back, leaving the face open
                face = (y > 0.35) | (np.abs(x) < 0.45 * y + 0.1) & (y > 0.0)
                line = np.where(face, line, -0.95)
            k = _smoothstep(-0.06, 0.05, z - line)
            return np.asarray(r_in + (radius - r_in) * k)

        pts, normals = blob_surface(origin, parts, 0.02, 40, 28, 0.35, radius_fn=hairline)
        # Slightly lighter on top, where light catches it, darker underneath.
        light = np.clip(0.85 + 0.25 * normals[..., 2:3], 0.6, 1.1)
        colors = np.asarray(hair, np.float32)[None, None, :] * np.concatenate(
            [np.repeat(light, 3, -1), np.ones_like(light)], -1)
        m.grid(pts, normals, colors)

    def _build_arm(self, chest: NodePath, side: str, sx: float, w: float, lw: float,
                   skin: Color, top: Color, top_dark: Color) -> None:
        """Shoulder -> upper arm -> elbow -> forearm -> wrist -> hand, hanging along -Z."""
        x, y, z = SHOULDER
        # Arms hang a few degrees out from the body and slightly bent, as relaxed arms do.
        abduct = 5.0 if sx < 0 else -5.0
        shoulder = self._add_joint(f"shoulder_{side}", chest,
                                   (sx * x * w, y, z - CHEST_Z), (0, 0, abduct))
        m = Mesh(f"{self.name}-upper-arm-{side}", self.detail)
        # The sleeve from a rounded shoulder cap down past the elbow.
        zs = np.array([0.028, 0.024, 0.012, -0.015, -0.05, -0.12, -0.2, -UPPER_ARM + 0.01,
                       -UPPER_ARM - 0.012, -UPPER_ARM - 0.02])
        rs = np.array([0.0, 0.024, 0.04, 0.046, 0.047, 0.045, 0.042, 0.04, 0.032,
                       0.0]) * lw
        m.sweep(np.stack([sx * -0.004 + 0 * zs, 0 * zs, zs], -1), np.stack([rs, rs], -1),
                top, 16)
        m.attach(shoulder)

        elbow = self._add_joint(f"elbow_{side}", shoulder, (0, 0, -UPPER_ARM), (0, 8.0, 0))
        m = Mesh(f"{self.name}-forearm-{side}", self.detail)
        zs = np.array([0.025, 0.02, 0.0, -0.06, -0.13, -0.175])
        rs = np.array([0.0, 0.028, 0.04, 0.041, 0.037, 0.035]) * lw
        m.sweep(np.stack([0 * zs, 0 * zs, zs], -1), np.stack([rs, rs], -1), top, 16)
        m.tube((0, 0, -0.165), (0, 0, -0.19), 0.037 * lw, 0.036 * lw, top_dark, 16)  # cuff
        zs = np.array([-0.17, -0.2, -0.235, -FOREARM - 0.01, -FOREARM - 0.012])
        rs = np.array([0.032, 0.029, 0.026, 0.024, 0.0]) * lw
        m.sweep(np.stack([0 * zs, 0 * zs, zs], -1), np.stack([rs, rs * 0.8], -1), skin, 12)
        m.attach(elbow)

        wrist = self._add_joint(f"wrist_{side}", elbow, (0, 0, -FOREARM))
        m = Mesh(f"{self.name}-hand-{side}", self.detail)
        inward = -sx  # the palm faces the thigh; the thumb is in front (+Y)
        hand = [((0.0, 0.003, -0.045), (0.015, 0.039, 0.048)),            # palm
                ((inward * 0.005, 0.0, -0.105), (0.012, 0.035, 0.042)),   # fingers, curled in
                ((inward * 0.008, 0.03, -0.035), (0.011, 0.012, 0.024))]  # thumb's ball
        m.blob((0.0, 0.005, -0.05), hand, skin, smooth=0.008, segments=22, rings=18,
               reach=0.12)
        # The thumb: a tapered, round-tipped tube along the front of the palm.
        thumb = np.array([(inward * 0.008, 0.03, -0.03), (inward * 0.012, 0.04, -0.048),
                          (inward * 0.015, 0.046, -0.066), (inward * 0.016, 0.048, -0.074),
                          (inward * 0.016, 0.048, -0.0765)])
        width = np.array([0.0105, 0.0095, 0.0085, 0.006, 0.0])
        m.sweep(thumb, np.stack([width, width], -1), skin, 10)
        m.attach(wrist)

    def _build_leg(self, pelvis: NodePath, side: str, sx: float, lw: float, trousers: Color,
                   shoes: Color) -> None:
        """Hip -> thigh -> knee -> shin -> ankle -> foot, standing along -Z."""
        x, y, z = HIP
        hip = self._add_joint(f"hip_{side}", pelvis, (sx * x * (0.9 + 0.1 * lw), y, z - PELVIS_Z))
        m = Mesh(f"{self.name}-thigh-{side}", self.detail)
        zs = np.array([0.05, 0.04, 0.0, -0.12, -0.27, -THIGH + 0.01])
        rs = np.array([0.0, 0.07, 0.083, 0.076, 0.064, 0.057]) * lw
        m.sweep(np.stack([0 * zs, 0 * zs, zs], -1), np.stack([rs, rs], -1), trousers, 18)
        m.attach(hip)

        knee = self._add_joint(f"knee_{side}", hip, (0, 0, -THIGH))
        m = Mesh(f"{self.name}-shin-{side}", self.detail)
        zs = np.array([0.04, 0.03, 0.0, -0.12, -0.3, -SHIN + 0.03, -SHIN + 0.025])
        rs = np.array([0.0, 0.045, 0.057, 0.056, 0.052, 0.05, 0.0]) * lw
        m.sweep(np.stack([0 * zs, 0 * zs, zs], -1), np.stack([rs, rs], -1), trousers, 18)
        m.attach(knee)

        ankle = self._add_joint(f"ankle_{side}", knee, (0, 0, -SHIN))
        m = Mesh(f"{self.name}-foot-{side}", self.detail)
        # A shoe: a rounded upper with a flat sole on the floor, toes turned out a little.
        m.ellipsoid((sx * 0.005, 0.058, 0.036 - ANKLE_Z), (0.047, 0.125, 0.048), shoes, 20, 12,
                    z_floor=-ANKLE_Z)
        m.ellipsoid((0, -0.008, 0.05 - ANKLE_Z), (0.042, 0.05, 0.055), shoes, 16, 10,
                    z_floor=-ANKLE_Z)
        m.attach(ankle)
