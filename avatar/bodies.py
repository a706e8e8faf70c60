"""What the avatar's behaviours need from a body, and the choice between the two kinds.

:class:`avatar.body.HumanoidBody` is built in code; :class:`avatar.gltf_body.GltfBody` loads a
site's rigged glTF character. Both satisfy :class:`Body`, so the animator, placement and speech
drive either without knowing which.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from panda3d.core import NodePath, Point3

from avatar.appearance import Appearance
from avatar.body import HumanoidBody, Pose


class Body(Protocol):
    """A person under ``root`` (feet at its origin, facing +Y), posed by joint angles."""

    appearance: Appearance
    name: str
    root: NodePath
    scale: float
    """Model-to-metres factor relative to the reference body (:data:`avatar.body.REF_HEIGHT`)."""

    @property
    def joint_names(self) -> tuple[str, ...]: ...

    def joint(self, name: str) -> NodePath: ...

    def set_pose(self, angles: Pose) -> None: ...

    def reset_pose(self) -> None: ...

    def head_position(self, world: NodePath) -> Point3: ...

    def set_mouth(self, open_0_1: float) -> None: ...

    def set_eyelids(self, closed_0_1: float) -> None: ...

    def set_chest_scale(self, s: float) -> None: ...

    def remove(self) -> None: ...


@dataclass(frozen=True)
class BodyModel:
    """A site's own character: a rigged glTF humanoid and how its bones are named."""

    path: Path
    joint_map: str | Mapping[str, str] = "auto"
    """``auto`` (the built-in map that matches most bones, or a VRM file's own table),
    ``vret``, ``mixamo``, ``vrm``, or a mapping of our joint names to bone names."""


def build_body(parent: NodePath, appearance: Appearance, name: str,
               model: BodyModel | None = None) -> Body:
    """The procedural body, or ``model`` loaded as a :class:`~avatar.gltf_body.GltfBody`
    (a missing file raises ``FileNotFoundError``; a bad one a ``ValueError`` naming it)."""
    if model is None:
        return HumanoidBody(parent, appearance, name=name)
    from avatar.gltf_body import GltfBody  # loads panda3d-gltf only where a site uses it

    return GltfBody(parent, appearance, model.path, model.joint_map, name=name)
