"""Write a small skinned glTF humanoid (``.glb``) from scratch, to check a glTF pipeline.

The figure has the proportions of :mod:`avatar.body`'s reference person (1.75 m, crown to
soles), a skeleton named in one of the conventions :class:`avatar.gltf_body.GltfBody` knows,
and one rounded shape (an ellipsoid) per bone: every vertex is weighted fully to one bone.
It is made with numpy, ``json`` and ``struct`` only, and is plain glTF 2.0: Y up, the person
facing +Z (or -Z, as VRM 0.x models do, with ``forward="-z"``), accessors with ``min``/``max``
where the specification requires them, inverse bind matrices for the skin.

Conventions (:data:`CONVENTIONS`):

* ``vret``: bones named as :data:`avatar.body.JOINTS`, arms hanging (5 degrees out, like the
  procedural body), every bone's axes aligned with the model's;
* ``mixamo``: ``mixamorig:Hips`` ... with ``Spine1`` and the clavicles (``LeftShoulder``) in
  between, in T-pose, in centimetres under an ``Armature`` node scaled by 0.01, every bone's
  +Y axis along the bone (as Blender exports them);
* ``vrm``: VRM humanoid bone names (``hips``, ``leftUpperArm`` ...) in T-pose (VRM requires
  it), bones along +Y as well.

Options add a jaw bone, eye bones, a ``blink`` and a ``jawOpen`` morph target. Run it as
``python -m avatar.gltf_export OUT.glb [--convention mixamo]``.
"""

from __future__ import annotations

import argparse
import json
import math
import struct
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

Convention = Literal["vret", "mixamo", "vrm"]
CONVENTIONS: tuple[Convention, ...] = ("vret", "mixamo", "vrm")
MIXAMO_PREFIX = "mixamorig:"

# Our joint names (avatar.body.JOINTS, plus the in-between bones some rigs have) -> the name in
# each convention. "spine1" and "clavicle_*" are not ours: a GltfBody leaves them at rest.
BONE_NAMES: dict[Convention, dict[str, str]] = {
    "vret": {},  # identical names
    "mixamo": {
        "pelvis": "Hips", "spine": "Spine", "spine1": "Spine1", "chest": "Spine2",
        "neck": "Neck", "head": "Head", "eye_l": "LeftEye", "eye_r": "RightEye", "jaw": "Jaw",
        "clavicle_l": "LeftShoulder", "shoulder_l": "LeftArm", "elbow_l": "LeftForeArm",
        "wrist_l": "LeftHand", "clavicle_r": "RightShoulder", "shoulder_r": "RightArm",
        "elbow_r": "RightForeArm", "wrist_r": "RightHand", "hip_l": "LeftUpLeg",
        "knee_l": "LeftLeg", "ankle_l": "LeftFoot", "toe_l": "LeftToeBase",
        "hip_r": "RightUpLeg", "knee_r": "RightLeg", "ankle_r": "RightFoot",
        "toe_r": "RightToeBase",
    },
    "vrm": {
        "pelvis": "hips", "spine": "spine", "chest": "chest", "neck": "neck", "head": "head",
        "eye_l": "leftEye", "eye_r": "rightEye", "jaw": "jaw", "clavicle_l": "leftShoulder",
        "shoulder_l": "leftUpperArm", "elbow_l": "leftLowerArm", "wrist_l": "leftHand",
        "clavicle_r": "rightShoulder", "shoulder_r": "rightUpperArm",
        "elbow_r": "rightLowerArm", "wrist_r": "rightHand", "hip_l": "leftUpperLeg",
        "knee_l": "leftLowerLeg", "ankle_l": "leftFoot", "toe_l": "leftToes",
        "hip_r": "rightUpperLeg", "knee_r": "rightLowerLeg", "ankle_r": "rightFoot",
        "toe_r": "rightToes",
    },
}

SKIN = (0.86, 0.66, 0.54)
TOP = (0.45, 0.62, 0.82)
TROUSERS = (0.22, 0.24, 0.30)
SHOES = (0.12, 0.10, 0.09)
EYE_WHITE = (0.92, 0.9, 0.87)

# glTF constants.
_FLOAT, _UBYTE, _UINT = 5126, 5121, 5125
_ARRAY_BUFFER, _ELEMENT_ARRAY_BUFFER = 34962, 34963


@dataclass(frozen=True)
class Options:
    """What :func:`humanoid_glb` builds."""

    convention: Convention = "vret"
    arm_drop_deg: float | None = None
    """How far the arms point below horizontal at rest: 0 is a T-pose, 45 an A-pose, 85 hanging.
    By default 0 for ``mixamo`` and ``vrm``, 85 for ``vret``."""
    jaw: bool = False
    """Add a jaw bone carrying the chin."""
    eyes: bool = False
    """Add eye bones carrying the eyeballs."""
    blink: bool = False
    """Add a ``blink`` morph target (the eyes squash shut)."""
    mouth_morph: bool = False
    """Add a ``jawOpen`` morph target (the chin drops)."""
    forward: Literal["+z", "-z"] = "+z"
    """Which way the person faces: glTF's +Z, or -Z as VRM 0.x models do."""
    prefix: str = MIXAMO_PREFIX
    """The bone name prefix of the ``mixamo`` convention (some exporters write ``mixamorig_``
    or none)."""
    omit: tuple[str, ...] = ()
    """Our names of bones to leave out (to make a model with a missing joint)."""


@dataclass(frozen=True)
class _Bone:
    role: str
    parent: str | None
    pos: np.ndarray      # head of the bone, body frame (x right, y forward, z up), metres
    tail: np.ndarray     # direction the bone points (its +Y axis in the "along" convention)


def _unit(v: Sequence[float] | np.ndarray) -> np.ndarray:
    a = np.asarray(v, float)
    return np.asarray(a / np.linalg.norm(a))


def _skeleton(o: Options) -> list[_Bone]:
    """The bones, parents first, in the body frame of a 1.75 m person."""
    from avatar import body as b  # the procedural body's proportions

    drop = o.arm_drop_deg
    if drop is None:
        drop = 85.0 if o.convention == "vret" else 0.0
    extra = o.convention != "vret"    # Spine1, clavicles and toes, as real rigs have
    parents: dict[str, str] = {
        "spine": "pelvis", "spine1": "spine", "chest": "spine1" if extra else "spine",
        "neck": "chest", "head": "neck", "eye_l": "head", "eye_r": "head", "jaw": "head"}
    for side in "lr":
        parents.update({f"clavicle_{side}": "chest",
                        f"shoulder_{side}": f"clavicle_{side}" if extra else "chest",
                        f"elbow_{side}": f"shoulder_{side}", f"wrist_{side}": f"elbow_{side}",
                        f"hip_{side}": "pelvis", f"knee_{side}": f"hip_{side}",
                        f"ankle_{side}": f"knee_{side}", f"toe_{side}": f"ankle_{side}"})
    bones: list[_Bone] = []

    def add(role: str, pos: Sequence[float] | np.ndarray,
            tail: Sequence[float] | np.ndarray) -> None:
        if role in o.omit:
            return
        present = {x.role for x in bones}
        parent: str | None = parents.get(role)
        while parent is not None and parent not in present:   # skip a left-out bone
            parent = parents.get(parent)
        bones.append(_Bone(role, parent, np.asarray(pos, float), _unit(tail)))

    up = (0.0, 0.0, 1.0)
    add("pelvis", (0, 0, b.PELVIS_Z), up)
    add("spine", (0, 0, b.SPINE_Z), up)
    if extra and o.convention == "mixamo":
        add("spine1", (0, 0, 0.5 * (b.SPINE_Z + b.CHEST_Z)), up)
    add("chest", (0, 0, b.CHEST_Z), up)
    add("neck", (0, -0.012, b.NECK_Z), up)
    add("head", (0, 0, b.HEAD_Z), up)
    ex, ey, ez = b.EYE
    if o.eyes:
        for side, sx in (("l", -1.0), ("r", 1.0)):
            add(f"eye_{side}", (sx * ex, ey, b.HEAD_Z + ez), (0, 1, 0))
    if o.jaw:
        add("jaw", (0, 0.0, b.HEAD_Z + b.JAW[2]), (0, 1, -0.6))
    a = math.radians(drop)
    for side, sx in (("l", -1.0), ("r", 1.0)):
        arm = np.array([sx * math.cos(a), 0.0, -math.sin(a)])
        sh = np.array([sx * b.SHOULDER[0], b.SHOULDER[1], b.SHOULDER[2]])
        if extra:
            add(f"clavicle_{side}", (sx * 0.03, -0.005, b.SHOULDER[2] - 0.02), (sx, 0, 0))
        add(f"shoulder_{side}", sh, arm)
        add(f"elbow_{side}", sh + arm * b.UPPER_ARM, arm)
        add(f"wrist_{side}", sh + arm * (b.UPPER_ARM + b.FOREARM), arm)
        hx = sx * b.HIP[0]
        add(f"hip_{side}", (hx, 0, b.HIP[2]), (0, 0, -1))
        add(f"knee_{side}", (hx, 0, b.HIP[2] - b.THIGH), (0, 0, -1))
        add(f"ankle_{side}", (hx, 0, b.ANKLE_Z), (0, 1, -0.5))
        if extra:
            add(f"toe_{side}", (hx, 0.13, 0.02), (0, 1, 0))
    return bones


# ------------------------------------------------------------------ shapes


def _ellipsoid(center: Sequence[float], axes: np.ndarray, radii: Sequence[float],
               segments: int = 10, rings: int = 7) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points, unit normals and triangles (counter-clockwise seen from outside) of an
    ellipsoid with principal ``axes`` (rows, orthonormal) and ``radii``; poles are single
    vertices, so no triangle is degenerate."""
    r = np.asarray(radii, float)
    theta = np.linspace(0.0, math.pi, rings + 1)[1:-1]
    phi = np.linspace(0.0, 2 * math.pi, segments, endpoint=False)
    t, p = np.meshgrid(theta, phi, indexing="ij")
    unit = np.stack([np.sin(t) * np.cos(p), np.sin(t) * np.sin(p), np.cos(t)], -1).reshape(-1, 3)
    unit = np.concatenate([[[0.0, 0.0, 1.0]], unit, [[0.0, 0.0, -1.0]]])
    local = unit * r
    normal_local = unit / r
    normal_local /= np.linalg.norm(normal_local, axis=1, keepdims=True)
    pts = np.asarray(center, float) + local @ axes
    normals = normal_local @ axes
    tris: list[tuple[int, int, int]] = []
    last = len(unit) - 1
    for j in range(segments):
        k = (j + 1) % segments
        tris.append((0, 1 + j, 1 + k))
        base = 1 + (rings - 2) * segments
        tris.append((last, base + k, base + j))
    for i in range(rings - 2):
        for j in range(segments):
            k = (j + 1) % segments
            a, b_ = 1 + i * segments + j, 1 + i * segments + k
            c, d = a + segments, b_ + segments
            tris += [(a, c, d), (a, d, b_)]
    tri = np.asarray(tris, np.int64)
    # Make every triangle face outward, whatever the handedness of ``axes``.
    e = np.cross(pts[tri[:, 1]] - pts[tri[:, 0]], pts[tri[:, 2]] - pts[tri[:, 0]])
    out = pts[tri].mean(axis=1) - np.asarray(center, float)
    flip = np.einsum("ij,ij->i", e, out) < 0
    tri[flip] = tri[flip][:, ::-1]
    return pts, normals, tri


def _frame(direction: Sequence[float]) -> np.ndarray:
    """Orthonormal rows (across, across, along) with the last along ``direction``."""
    z = _unit(direction)
    ref = np.array([0.0, 1.0, 0.0]) if abs(z[1]) < 0.9 else np.array([1.0, 0.0, 0.0])
    x = _unit(np.cross(ref, z))
    return np.stack([x, np.cross(z, x), z])


def _segment(a: np.ndarray, b: np.ndarray, radius: float, rx: float | None = None,
             ) -> tuple[Sequence[float], np.ndarray, tuple[float, float, float]]:
    """Centre, axes and radii of a capsule-like ellipsoid from ``a`` to ``b``."""
    axes = _frame(b - a)
    half = float(np.linalg.norm(b - a)) / 2 + radius * 0.6
    return (a + b) / 2, axes, (rx if rx is not None else radius, radius, half)


@dataclass
class _Part:
    role: str        # the bone it is weighted to
    pts: np.ndarray
    normals: np.ndarray
    tris: np.ndarray
    color: tuple[float, float, float]
    tag: str = ""    # "eye", "chin": what morph targets move


def _parts(bones: list[_Bone], o: Options) -> list[_Part]:
    from avatar import body as b

    at = {x.role: x.pos for x in bones}
    have = set(at)
    parts: list[_Part] = []

    def owner(role: str, fallback: str) -> str:
        return role if role in have else fallback

    def add(role: str, shape: tuple[Sequence[float], np.ndarray, Sequence[float]],
            color: tuple[float, float, float], tag: str = "", segments: int = 10,
            rings: int = 7) -> None:
        pts, normals, tris = _ellipsoid(*shape, segments=segments, rings=rings)
        parts.append(_Part(role, pts, normals, tris, color, tag))

    eye3 = np.eye(3)
    torso = owner("pelvis", next(iter(have)))
    add(torso, ((0, -0.01, 0.92), eye3, (0.16, 0.1, 0.11)), TROUSERS)
    add(owner("spine", torso), ((0, 0, 1.10), eye3, (0.15, 0.1, 0.1)), TOP)
    add(owner("chest", torso), ((0, -0.005, 1.31), eye3, (0.17, 0.11, 0.14)), TOP)
    neck = owner("neck", torso)
    add(neck, _segment(np.array([0, -0.01, 1.42]), np.array([0, 0, 1.55]), 0.05), SKIN)
    head = owner("head", neck)
    # Head: crown at exactly 1.75 m, so the model's height is the reference height.
    add(head, ((0, 0.01, 1.64), eye3, (0.08, 0.1, 0.11)), SKIN, segments=14, rings=10)
    add(head, ((0, 0.1, 1.62), eye3, (0.012, 0.03, 0.02)), SKIN)   # the nose: shows facing
    ex, ey, ez = b.EYE
    for side, sx in (("l", -1.0), ("r", 1.0)):
        add(owner(f"eye_{side}", head), ((sx * ex, ey + 0.006, b.HEAD_Z + ez), eye3,
                                         (0.013, 0.013, 0.013)), EYE_WHITE, "eye")
    add(owner("jaw", head), ((0, 0.05, 1.56), eye3, (0.045, 0.04, 0.022)), SKIN, "chin")
    for side in "lr":
        sh, el, wr = (at.get(f"{j}_{side}") for j in ("shoulder", "elbow", "wrist"))
        if sh is not None and el is not None:
            add(f"shoulder_{side}", _segment(sh, el, 0.048), TOP)
        if el is not None and wr is not None:
            add(f"elbow_{side}", _segment(el, wr, 0.038), TOP)
        if wr is not None and el is not None:
            add(f"wrist_{side}", _segment(wr, wr + _unit(wr - el) * 0.16, 0.028, 0.02), SKIN)
        hip, knee, ankle = (at.get(f"{j}_{side}") for j in ("hip", "knee", "ankle"))
        if hip is not None and knee is not None:
            add(f"hip_{side}", _segment(hip, knee, 0.075), TROUSERS)
        if knee is not None and ankle is not None:
            add(f"knee_{side}", _segment(knee, ankle, 0.055), TROUSERS)
        if ankle is not None:
            # The shoe: its sole on the floor (z = 0), toes forward.
            add(f"ankle_{side}", ((ankle[0], 0.05, 0.045), eye3, (0.05, 0.13, 0.045)), SHOES)
    return parts


# ------------------------------------------------------------------ transforms


def _to_gltf(o: Options, scale: float) -> np.ndarray:
    """Body frame (x right, y forward, z up) -> glTF (Y up, facing +Z or -Z), times scale."""
    if o.forward == "+z":   # facing +Z with Y up puts the person's right at -X
        m = np.array([[-1.0, 0, 0], [0, 0, 1.0], [0, 1.0, 0]])
    else:
        m = np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]])
    return m * scale


def _quat_xyzw(r: np.ndarray) -> list[float]:
    """The unit quaternion (x, y, z, w) of a rotation matrix (column vectors)."""
    w = math.sqrt(max(0.0, 1.0 + r[0, 0] + r[1, 1] + r[2, 2])) / 2
    x = math.sqrt(max(0.0, 1.0 + r[0, 0] - r[1, 1] - r[2, 2])) / 2
    y = math.sqrt(max(0.0, 1.0 - r[0, 0] + r[1, 1] - r[2, 2])) / 2
    z = math.sqrt(max(0.0, 1.0 - r[0, 0] - r[1, 1] + r[2, 2])) / 2
    x = math.copysign(x, r[2, 1] - r[1, 2])
    y = math.copysign(y, r[0, 2] - r[2, 0])
    z = math.copysign(z, r[1, 0] - r[0, 1])
    n = math.sqrt(w * w + x * x + y * y + z * z)
    return [x / n, y / n, z / n, w / n]


def _bone_rotation(bone: _Bone, o: Options, cs: np.ndarray) -> np.ndarray:
    """A bone's global rotation (glTF frame, column vectors)."""
    if o.convention == "vret":
        return np.eye(3)
    # As Blender exports: the bone's +Y along the bone, +Z toward the model's front or up.
    y = _unit(cs @ bone.tail)
    fwd = _unit(cs @ np.array([0.0, 1.0, 0.0]))
    ref = fwd if abs(float(y @ fwd)) < 0.9 else _unit(cs @ np.array([0.0, 0.0, 1.0]))
    x = _unit(np.cross(y, ref))
    return np.stack([x, y, np.cross(x, y)], axis=1)


# ------------------------------------------------------------------ the file


class _Buffer:
    """Binary chunk, buffer views and accessors, each view aligned to 4 bytes."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.views: list[dict[str, Any]] = []
        self.accessors: list[dict[str, Any]] = []

    def add(self, array: np.ndarray, component: int, kind: str,
            target: int | None = None, bounds: bool = False) -> int:
        raw = np.ascontiguousarray(array).tobytes()
        view: dict[str, Any] = {"buffer": 0, "byteOffset": len(self.data),
                                "byteLength": len(raw)}
        if target is not None:
            view["target"] = target
        self.data += raw + b"\0" * (-len(raw) % 4)
        self.views.append(view)
        acc: dict[str, Any] = {"bufferView": len(self.views) - 1, "componentType": component,
                               "count": int(array.shape[0]), "type": kind}
        if bounds:
            flat = np.asarray(array, float).reshape(array.shape[0], -1)
            acc["min"] = [float(v) for v in flat.min(axis=0)]
            acc["max"] = [float(v) for v in flat.max(axis=0)]
        self.accessors.append(acc)
        return len(self.accessors) - 1


def bone_name(role: str, o: Options) -> str:
    """The name of our bone ``role`` in the model's convention."""
    if o.convention == "vret":
        return role
    name = BONE_NAMES[o.convention].get(role, role)
    return o.prefix + name if o.convention == "mixamo" else name


def humanoid_gltf(options: Options | None = None) -> tuple[dict[str, Any], bytes]:
    """The glTF JSON document and its binary buffer for ``options``."""
    o = options or Options()
    if o.convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {', '.join(CONVENTIONS)}, "
                         f"got {o.convention!r}")
    # Mixamo rigs are in centimetres under an Armature node scaled by 0.01.
    unit = 100.0 if o.convention == "mixamo" else 1.0
    cs = _to_gltf(o, unit)
    rot_only = cs / unit
    bones = _skeleton(o)
    index = {x.role: i for i, x in enumerate(bones)}
    glob_r = [_bone_rotation(x, o, rot_only) for x in bones]
    glob = []
    for x, r in zip(bones, glob_r, strict=True):
        m = np.eye(4)
        m[:3, :3] = r
        m[:3, 3] = cs @ x.pos
        glob.append(m)

    buf = _Buffer()
    # Skeleton and mesh share a parent, as exporters write them (panda3d-gltf 1.3 needs one to
    # build a Character from them).
    first_bone = 1
    armature: dict[str, Any] = {"name": "Armature", "children": []}
    if unit != 1.0:
        armature["scale"] = [1 / unit] * 3
    nodes: list[dict[str, Any]] = [armature]
    for i, x in enumerate(bones):
        parent = index[x.parent] if x.parent is not None else None
        local = glob[i] if parent is None else np.linalg.inv(glob[parent]) @ glob[i]
        node: dict[str, Any] = {"name": bone_name(x.role, o),
                                "translation": [float(v) for v in local[:3, 3]]}
        rot = _quat_xyzw(local[:3, :3])
        if abs(rot[3]) < 1.0 - 1e-9:
            node["rotation"] = rot
        children = [first_bone + j for j, c in enumerate(bones) if c.parent == x.role]
        if children:
            node["children"] = children
        nodes.append(node)

    # The mesh: all parts in one primitive, each vertex weighted to its part's bone.
    parts = _parts(bones, o)
    pts, normals, colors, joints, tris, tags = [], [], [], [], [], []
    count = 0
    for part in parts:
        n = len(part.pts)
        pts.append(part.pts @ cs.T)
        normals.append(part.normals @ rot_only.T)
        # COLOR_0 is linear; the palette is sRGB, as a person picks colours.
        colors.append(np.tile([*(c ** 2.2 for c in part.color), 1.0], (n, 1)))
        joints.append(np.full(n, index[part.role]))
        tris.append(part.tris + count)
        tags.append(np.array([(part.tag, *part.pts.mean(axis=0))] * n, dtype=object))
        count += n
    p = np.concatenate(pts).astype(np.float32)
    nrm = np.concatenate(normals).astype(np.float32)
    nrm /= np.linalg.norm(nrm, axis=1, keepdims=True)
    col = np.concatenate(colors).astype(np.float32)
    jnt = np.zeros((len(p), 4), np.uint8)
    jnt[:, 0] = np.concatenate(joints)
    wgt = np.zeros((len(p), 4), np.float32)
    wgt[:, 0] = 1.0
    idx = np.concatenate(tris).astype(np.uint32).reshape(-1)
    tag_rows = np.concatenate(tags)

    attributes = {
        "POSITION": buf.add(p, _FLOAT, "VEC3", _ARRAY_BUFFER, bounds=True),
        "NORMAL": buf.add(nrm, _FLOAT, "VEC3", _ARRAY_BUFFER),
        "COLOR_0": buf.add(col, _FLOAT, "VEC4", _ARRAY_BUFFER),
        "JOINTS_0": buf.add(jnt, _UBYTE, "VEC4", _ARRAY_BUFFER),
        "WEIGHTS_0": buf.add(wgt, _FLOAT, "VEC4", _ARRAY_BUFFER),
    }
    primitive: dict[str, Any] = {"attributes": attributes, "mode": 4, "material": 0,
                                 "indices": buf.add(idx, _UINT, "SCALAR",
                                                    _ELEMENT_ARRAY_BUFFER)}
    targets, names = [], []
    kinds = tag_rows[:, 0]
    part_centre = np.asarray(tag_rows[:, 1:], float) @ cs.T
    if o.blink:   # the eyes squash to a line at their centre height
        delta = np.zeros_like(p)
        eye = kinds == "eye"
        up = 1  # glTF Y
        delta[eye, up] = (part_centre[eye, up] - p[eye, up]) * 0.9
        targets.append(delta)
        names.append("blink")
    if o.mouth_morph:   # the chin drops
        delta = np.zeros_like(p)
        delta[kinds == "chin", 1] = -0.025 * unit
        targets.append(delta)
        names.append("jawOpen")
    mesh: dict[str, Any] = {"name": "body", "primitives": [primitive]}
    if targets:
        primitive["targets"] = [
            {"POSITION": buf.add(t.astype(np.float32), _FLOAT, "VEC3", _ARRAY_BUFFER,
                                 bounds=True)} for t in targets]
        mesh["weights"] = [0.0] * len(targets)
        mesh["extras"] = {"targetNames": names}

    ibm = np.stack([np.linalg.inv(m).T.reshape(16) for m in glob]).astype(np.float32)
    skin = {"name": "skeleton", "joints": [first_bone + i for i in range(len(bones))],
            "inverseBindMatrices": buf.add(ibm, _FLOAT, "MAT4"),
            "skeleton": first_bone + index[bones[0].role]}
    mesh_node = len(nodes)
    nodes.append({"name": "body", "mesh": 0, "skin": 0})
    armature["children"] = [first_bone + index[bones[0].role], mesh_node]
    doc: dict[str, Any] = {
        "asset": {"version": "2.0", "generator": "vret avatar.gltf_export"},
        "scene": 0,
        "scenes": [{"name": "humanoid", "nodes": [0]}],
        "nodes": nodes,
        "meshes": [mesh],
        "skins": [skin],
        "materials": [{"name": "body", "pbrMetallicRoughness": {
            "baseColorFactor": [1.0, 1.0, 1.0, 1.0], "metallicFactor": 0.0,
            "roughnessFactor": 0.8}}],
        "accessors": buf.accessors,
        "bufferViews": buf.views,
        "buffers": [{"byteLength": len(buf.data)}],
    }
    return doc, bytes(buf.data)


def glb_bytes(doc: dict[str, Any], binary: bytes) -> bytes:
    """A glTF document and its buffer as one binary glTF (GLB) file."""
    text = json.dumps(doc, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 4)                 # the JSON chunk pads with spaces
    binary = binary + b"\0" * (-len(binary) % 4)    # the BIN chunk with zeros
    total = 12 + 8 + len(text) + 8 + len(binary)
    return (struct.pack("<4sII", b"glTF", 2, total)
            + struct.pack("<I4s", len(text), b"JSON") + text
            + struct.pack("<I4s", len(binary), b"BIN\0") + binary)


def write_glb(path: str | Path, options: Options | None = None) -> Path:
    """Write the humanoid for ``options`` to ``path`` (a ``.glb``); returns the path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(glb_bytes(*humanoid_gltf(options)))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m avatar.gltf_export OUT.glb [--convention mixamo] [--jaw] ...``"""
    parser = argparse.ArgumentParser(prog="python -m avatar.gltf_export",
                                     description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("out", type=Path, help="the .glb file to write")
    parser.add_argument("--convention", choices=CONVENTIONS, default="vret")
    parser.add_argument("--arm-drop", type=float, default=None,
                        help="degrees the arms point below horizontal (0: T-pose)")
    parser.add_argument("--jaw", action="store_true", help="add a jaw bone")
    parser.add_argument("--eyes", action="store_true", help="add eye bones")
    parser.add_argument("--blink", action="store_true", help="add a 'blink' morph target")
    parser.add_argument("--mouth-morph", action="store_true",
                        help="add a 'jawOpen' morph target")
    args = parser.parse_args(argv)
    path = write_glb(args.out, Options(args.convention, args.arm_drop, args.jaw, args.eyes,
                                       args.blink, args.mouth_morph))
    print(f"wrote {path} ({path.stat().st_size} bytes, {args.convention} convention)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
