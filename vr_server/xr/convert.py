"""OpenXR's axes and projections as Panda3D's.

OpenXR is right-handed with +Y up and -Z forward; Panda3D is right-handed with +Z up and +Y
forward. Both have +X to the right, so a point ``(x, y, z)`` in OpenXR is ``(x, -z, y)`` in
Panda3D, and a rotation keeps its angle about the same physical axis: the quaternion
``(x, y, z, w)`` becomes ``Quat(w, x, -z, y)``.

An eye's field of view in OpenXR is four angles, usually asymmetric (each eye sees further
outward than inward). A Panda3D :class:`~panda3d.core.PerspectiveLens` with a focal length of 1
has a film as wide as ``tan(right) - tan(left)`` and offset by the middle of the two, which is
exactly that frustum.
"""

from __future__ import annotations

import math

from panda3d.core import LQuaternionf, PerspectiveLens, Point3, Quat

from vr_server.xr.types import XrFov, XrPose


def position(p: tuple[float, float, float]) -> Point3:
    """An OpenXR position as a Panda3D point."""
    return Point3(p[0], -p[2], p[1])


def orientation(q: tuple[float, float, float, float]) -> Quat:
    """An OpenXR ``(x, y, z, w)`` quaternion as a Panda3D quaternion."""
    return Quat(q[3], q[0], -q[2], q[1])


def pose(p: XrPose) -> tuple[Point3, Quat]:
    """An OpenXR pose as a Panda3D point and quaternion."""
    return position(p.position), orientation(p.orientation)


def to_xr(pos: Point3, quat: LQuaternionf) -> XrPose:
    """A Panda3D point and quaternion as an OpenXR pose (the inverse of :func:`pose`)."""
    return XrPose((pos[0], pos[2], -pos[1]),
                  (quat.get_i(), quat.get_k(), -quat.get_j(), quat.get_r()))


def xr_pose_from_hpr(pos: tuple[float, float, float], heading: float = 0.0,
                     pitch: float = 0.0, roll: float = 0.0) -> XrPose:
    """An OpenXR pose from a Panda3D position and heading / pitch / roll in degrees (for
    scripting the fake backend in the terms the scenarios use)."""
    quat = Quat()
    quat.set_hpr((heading, pitch, roll))
    return to_xr(Point3(*pos), quat)


def set_lens_fov(lens: PerspectiveLens, fov: XrFov, near: float, far: float) -> None:
    """Make ``lens`` see exactly the (possibly asymmetric) frustum ``fov``."""
    left, right = math.tan(fov.angle_left), math.tan(fov.angle_right)
    down, up = math.tan(fov.angle_down), math.tan(fov.angle_up)
    lens.set_focal_length(1.0)
    lens.set_film_size(right - left, up - down)
    lens.set_film_offset((right + left) / 2, (up + down) / 2)
    lens.set_near_far(near, far)


def symmetric_fov(horizontal_deg: float, aspect: float) -> XrFov:
    """A symmetric field of view (what a desktop lens shows), as OpenXR angles."""
    half_w = math.radians(horizontal_deg) / 2
    half_h = math.atan(math.tan(half_w) / aspect)
    return XrFov(-half_w, half_w, half_h, -half_h)
