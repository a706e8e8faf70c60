"""A humanoid loaded from a glTF model (``.glb``/``.gltf``), driven like :class:`HumanoidBody`.

A site may replace the procedural therapist with its own rigged, skinned character. The model
is loaded with panda3d-gltf (a Panda3D ``Character``), its bones are matched to our joint names
(:data:`avatar.body.JOINTS`) by a joint map, and :class:`GltfBody` offers the same API as
:class:`avatar.body.HumanoidBody`, so :class:`avatar.behaviours.Animator` drives either.

Normalisation. glTF is Y-up, and models face +Z (the specification) or -Z (VRM 0.x); the
loader turns Y-up into Panda3D's Z-up. Rather than trust either, the body reads the skeleton:
"up" is the axis nearest pelvis -> head and "left" the axis nearest the right hip -> the left
hip, and the model is turned so it faces +Y with +Z up, scaled so its height (the mesh's
tight bounds, soles to crown) is ``appearance.height_m``, and moved so the soles are at
z = 0 with the pelvis over the origin. :attr:`GltfBody.scale` is then
``appearance.height_m / REF_HEIGHT``, as for the procedural body. Only the height of the
:class:`~avatar.appearance.Appearance` applies: a glTF model keeps its own colours, textures,
hair and build (recolouring an arbitrary model is not possible in general).

Poses. A pose is (h, p, r) degrees per joint relative to the rest pose, in the body's axes
(see :mod:`avatar.body`: +h turns the head toward the person's left, +p raises the chin or
swings a hanging arm forward, +r swings a hanging limb toward -X). A glTF bone's local axes are
whatever the rig's author chose, so the rotation is applied in the body's axes at the joint:
with ``L`` the bone's rest transform relative to its parent and ``R`` its rest orientation in
the body's frame, the posed local transform is ``L * R^-1 * Q * R`` (Panda3D's compose order:
``R`` innermost). The same pose dictionary therefore moves a glTF head or arm the way it moves
the procedural one. Bones between mapped ones (a Mixamo ``Spine1``, the clavicles) stay at rest.

Rest pose. The procedural body's arms hang at its sides (pose zeros are standing relaxed);
many glTF humanoids are modelled in a T-pose (arms horizontal) or an A-pose. An upper arm more
than :data:`FOLD_MIN_DEG` from hanging is folded down at load, to hang 5 degrees out from the
body like the procedural arm, and that folded pose is the rest pose. Elbows stay as modelled.

Face. Eyes, eyelids and jaw are optional (:data:`FACE_JOINTS`): :meth:`GltfBody.set_pose`
ignores them when the model has no such bone. :meth:`GltfBody.set_mouth` turns a jaw bone if
there is one, else drives a morph target whose name has "jaw", "mouth" or "open" in it;
:meth:`GltfBody.set_eyelids` turns lid bones, else drives the "blink" morph targets; without
either they only remember the value. :meth:`GltfBody.set_chest_scale` scales the chest bone's
skin (breathing) and undoes the scale for the bones hanging from it, so the head and arms stay.

Joint maps (:data:`JOINT_MAPS`): ``vret`` (our names), ``mixamo`` (``mixamorig:Hips`` ...;
any ``something:`` or ``mixamorig_`` prefix is ignored) and ``vrm`` (VRM humanoid bone names).
``"auto"`` uses a VRM file's own humanoid table when it has one, else the built-in map that
matches the most bones. A site with other names passes its own mapping, our name -> bone name.
"""

from __future__ import annotations

import importlib
import json
import math
import re
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from panda3d.core import (
    Character,
    CharacterJoint,
    CharacterSlider,
    LMatrix4f,
    LQuaternionf,
    LVector3f,
    NodePath,
    PandaNode,
    PartGroup,
    Point3,
    TransformState,
)

from avatar.appearance import Appearance
from avatar.body import EYE_RADIUS, JOINTS, LID_TRAVEL_DEG, REF_HEIGHT, Pose

FACE_JOINTS: frozenset[str] = frozenset({"eye_l", "eye_r", "lid_l", "lid_r", "jaw"})
"""Joints a model may lack: poses of them are ignored when it does."""
REQUIRED_JOINTS: tuple[str, ...] = tuple(j for j in JOINTS if j not in FACE_JOINTS)
FOLD_MIN_DEG = 20.0
"""An upper arm further than this from hanging straight down is folded down at load."""
ARM_OUT_DEG = 5.0
"""How far the folded arms hang out from the body (the procedural body's arms do too)."""
JAW_OPEN_DEG = 16.0
"""How far a jaw bone turns down for a wide-open mouth (a real jaw, not the procedural lip)."""
EYE_HEIGHT = 0.933
"""Eye height as a fraction of the standing height (7.5-head canon), when no eye bones."""
EYE_FORWARD = 0.087
"""How far (metres at :data:`REF_HEIGHT`) the eyes are in front of the head bone, when there
are no eye bones."""

JOINT_MAPS: dict[str, dict[str, tuple[str, ...]]] = {
    "vret": {j: (j,) for j in JOINTS},
    "mixamo": {
        "pelvis": ("Hips",), "spine": ("Spine",), "chest": ("Spine2", "Spine1"),
        "neck": ("Neck",), "head": ("Head",), "eye_l": ("LeftEye",), "eye_r": ("RightEye",),
        "jaw": ("Jaw",),
        "shoulder_l": ("LeftArm",), "elbow_l": ("LeftForeArm",), "wrist_l": ("LeftHand",),
        "shoulder_r": ("RightArm",), "elbow_r": ("RightForeArm",), "wrist_r": ("RightHand",),
        "hip_l": ("LeftUpLeg",), "knee_l": ("LeftLeg",), "ankle_l": ("LeftFoot",),
        "hip_r": ("RightUpLeg",), "knee_r": ("RightLeg",), "ankle_r": ("RightFoot",),
    },
    "vrm": {
        "pelvis": ("hips",), "spine": ("spine",), "chest": ("chest", "upperChest"),
        "neck": ("neck",), "head": ("head",), "eye_l": ("leftEye",), "eye_r": ("rightEye",),
        "jaw": ("jaw",),
        "shoulder_l": ("leftUpperArm",), "elbow_l": ("leftLowerArm",),
        "wrist_l": ("leftHand",), "shoulder_r": ("rightUpperArm",),
        "elbow_r": ("rightLowerArm",), "wrist_r": ("rightHand",),
        "hip_l": ("leftUpperLeg",), "knee_l": ("leftLowerLeg",), "ankle_l": ("leftFoot",),
        "hip_r": ("rightUpperLeg",), "knee_r": ("rightLowerLeg",), "ankle_r": ("rightFoot",),
    },
}
"""Our joint name -> candidate bone names (the first present is used), per convention.
``_l`` is the person's left, as Mixamo's ``Left`` and VRM's ``left`` are."""

_PREFIX = re.compile(r"^(?:.*:|mixamorig\d*_)")


def _plain(bone: str) -> str:
    """A bone name without an exporter's prefix (``mixamorig:``, ``mixamorig1_``), lowered."""
    return _PREFIX.sub("", bone).lower()


class GltfModelError(ValueError):
    """The file is missing, is not a glTF model, or has no usable humanoid skeleton."""


def read_document(path: Path) -> dict[str, Any]:
    """The JSON part of a glTF file (``.gltf`` text or ``.glb`` binary), checked to be glTF 2.

    Raises :class:`FileNotFoundError` or :class:`GltfModelError`, naming the path.
    """
    if not path.is_file():
        raise FileNotFoundError(f"glTF model {path} does not exist")
    raw = path.read_bytes()
    try:
        if raw[:4] == b"glTF":
            length, kind = struct.unpack_from("<I4s", raw, 12)
            if kind != b"JSON":
                raise ValueError("the first GLB chunk is not JSON")
            doc = json.loads(raw[20:20 + length].decode("utf-8"))
        else:
            doc = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, struct.error) as exc:
        raise GltfModelError(f"{path} is not a glTF model (.glb or .gltf): {exc}") from None
    if not isinstance(doc, dict):
        raise GltfModelError(f"{path} is not a glTF model: its JSON is not an object")
    version = str(doc.get("asset", {}).get("version", ""))
    if not version.startswith("2."):
        raise GltfModelError(f"{path} is not a glTF 2 model (asset.version {version!r})")
    return dict(doc)


def vrm_joint_map(doc: Mapping[str, Any]) -> dict[str, tuple[str, ...]] | None:
    """Our joint name -> node name from a VRM file's own humanoid table (VRM 0.x ``VRM`` or
    1.0 ``VRMC_vrm`` extension), or None when the file has none."""
    ext = doc.get("extensions", {})
    nodes = doc.get("nodes", [])
    by_role: dict[str, int] = {}
    if "VRMC_vrm" in ext:
        for role, entry in ext["VRMC_vrm"].get("humanoid", {}).get("humanBones", {}).items():
            by_role[role] = int(entry["node"])
    elif "VRM" in ext:
        for entry in ext["VRM"].get("humanoid", {}).get("humanBones", []):
            by_role[entry["bone"]] = int(entry["node"])
    if not by_role:
        return None
    out: dict[str, tuple[str, ...]] = {}
    for ours, roles in JOINT_MAPS["vrm"].items():
        for role in roles:
            if role in by_role and by_role[role] < len(nodes):
                node = by_role[role]
                out[ours] = (str(nodes[node].get("name", f"bone{node}")),)
                break
    return out


class GltfBody:
    """A rigged glTF humanoid under ``root``, with :class:`HumanoidBody`'s API.

    ``root`` stands at the feet, facing +Y; move and turn ``root`` to place the person.
    ``joint_map`` is ``"auto"``, a name in :data:`JOINT_MAPS`, or a mapping of our joint
    names to the model's bone names. Raises :class:`FileNotFoundError` for a missing file and
    :class:`GltfModelError` (a ``ValueError``) for a file that is not glTF or whose skeleton
    lacks a required joint (the message names the file, the missing joints and the bones).
    """

    def __init__(self, parent: NodePath, appearance: Appearance, model: Path | str,
                 joint_map: Mapping[str, str] | str = "auto", name: str = "person") -> None:
        self.appearance = appearance
        self.name = name
        self.model_path = Path(model)
        self.scale = appearance.height_m / REF_HEIGHT
        """Model-to-metres factor relative to the reference body (1 at :data:`REF_HEIGHT`)."""
        doc = read_document(self.model_path)
        model_np = self._load(doc)
        char_np, mapping = self._match(model_np, doc, joint_map)
        self._char_np = char_np
        character: Character = char_np.node()
        self._character = character
        self.root: NodePath = parent.attach_new_node(name)
        self._align = self.root.attach_new_node("gltf-align")
        model_np.reparent_to(self._align)

        # The skeleton: every bone's rest transform relative to its parent bone.
        self._parts: dict[str, CharacterJoint] = {}
        self._parent: dict[str, str | None] = {}
        self._local: dict[str, TransformState] = {}
        sliders: list[CharacterSlider] = []
        self._walk(character.get_bundle(0), None, sliders)
        self._bone = {ours: mapping[ours] for ours in mapping}   # our name -> bone name
        self._eyes_mid: NodePath | None = None
        self._normalise(model_np)
        self._fold_arms()
        self._build_rig()
        self._sliders_mouth = self._pick_sliders(sliders, "mouth")
        self._sliders_blink = self._pick_sliders(sliders, "blink")
        self._mouth_open = 0.0
        self._lids_closed = 0.0
        self._chest = 1.0
        self._set_face()
        self._apply()

    # -------------------------------------------------------------- public API

    @property
    def joint_names(self) -> tuple[str, ...]:
        """The joints this body has, in :data:`JOINTS` order (face joints only if present)."""
        return tuple(j for j in JOINTS if j in self._joints)

    def joint(self, name: str) -> NodePath:
        """The node of joint ``name``: its hpr is the pose (relative to rest, body axes) and its
        position the bone's. Set poses with :meth:`set_pose`; an hpr set on the node directly
        reaches the skin at the next :meth:`set_pose` call."""
        try:
            return self._joints[name]
        except KeyError:
            raise KeyError(f"unknown joint {name!r}; joints: "
                           f"{', '.join(self.joint_names)}") from None

    def set_pose(self, angles: Pose) -> None:
        """Set hpr degrees on the named joints, relative to the rest pose, in the body's axes.

        Joints not named keep their angles. Face joints the model lacks are ignored; any other
        unknown name raises ``KeyError`` naming it, before anything moves.
        """
        joints = self._joints
        for name in angles:
            if name not in joints and name not in FACE_JOINTS:
                raise KeyError(f"unknown joint {name!r}; joints: {', '.join(self.joint_names)}")
        for name, (h, p_, r) in angles.items():
            node = joints.get(name)
            if node is not None:
                node.set_hpr(h, p_, r)
        self._apply()

    def reset_pose(self) -> None:
        """Every joint back to rest (standing relaxed, looking ahead), mouth shut, eyes open."""
        for node in self._joints.values():
            node.set_hpr(0, 0, 0)
        self._mouth_open = self._lids_closed = 0.0
        self._chest = 1.0
        self._set_face()
        self._apply()

    def head_position(self, world: NodePath) -> Point3:
        """The point between the eyes, in ``world``'s coordinates."""
        assert self._eyes_mid is not None, "the body was removed"
        return self._eyes_mid.get_pos(world)

    def set_mouth(self, open_0_1: float) -> None:
        """Open the mouth (0 closed .. 1 wide): a jaw bone, else a mouth morph target, else
        nothing visible."""
        v = min(1.0, max(0.0, float(open_0_1)))
        if v == self._mouth_open:
            return
        self._mouth_open = v
        self._set_face()
        if "jaw" in self._joints:
            self._apply()

    @property
    def mouth(self) -> float:
        """How open the mouth is (0..1)."""
        return self._mouth_open

    def set_eyelids(self, closed_0_1: float) -> None:
        """Close the eyelids (0 open .. 1 shut): lid bones, else blink morph targets, else
        nothing visible."""
        v = min(1.0, max(0.0, float(closed_0_1)))
        if v == self._lids_closed:
            return
        self._lids_closed = v
        self._set_face()
        if "lid_l" in self._joints or "lid_r" in self._joints:
            self._apply()

    @property
    def eyelids(self) -> float:
        """How closed the eyelids are (0..1)."""
        return self._lids_closed

    def set_chest_scale(self, s: float) -> None:
        """Breathing: scale the chest bone's skin in depth by ``s`` (about 1.0-1.04) and in
        width by half as much; the bones hanging from the chest (neck, arms) stay put."""
        if s == self._chest:
            return
        self._chest = float(s)
        self._apply()

    @property
    def chest_scale(self) -> float:
        """The breathing scale last set (1 at rest)."""
        return self._chest

    def update_skin(self) -> None:
        """Skin the mesh for the current pose now (Panda3D otherwise does it when the model is
        drawn); for measuring the posed mesh's bounds."""
        self._character.force_update()

    def remove(self) -> None:
        """Take the body out of the scene (the object is unusable afterwards)."""
        if not self.root.is_empty():
            self.root.remove_node()
        self._joints.clear()
        self._controls.clear()
        self._eyes_mid = None

    # -------------------------------------------------------------- loading

    def _load(self, doc: Mapping[str, Any]) -> NodePath:
        # panda3d-gltf, imported here so the procedural body never needs it (by name: the
        # package has no type information).
        gltf = importlib.import_module("gltf")

        if not doc.get("skins"):
            raise GltfModelError(f"{self.model_path} has no skin: a GltfBody needs a rigged, "
                                 "skinned humanoid")
        try:
            return NodePath(gltf.load_model(str(self.model_path)))
        except Exception as exc:  # the loader raises anything from KeyError to struct.error
            raise GltfModelError(f"{self.model_path}: panda3d-gltf could not load it: "
                                 f"{type(exc).__name__}: {exc}") from exc

    def _match(self, model_np: NodePath, doc: Mapping[str, Any],
               joint_map: Mapping[str, str] | str) -> tuple[NodePath, dict[str, str]]:
        """The Character and our joint -> its bone name, for the map that fits best."""
        chars = list(model_np.find_all_matches("**/+Character"))
        if not chars:
            raise GltfModelError(f"{self.model_path} has no skinned skeleton panda3d-gltf "
                                 "could build a Character from")
        if isinstance(joint_map, str):
            if joint_map == "auto":
                vrm = vrm_joint_map(doc)
                maps = [vrm] if vrm else list(JOINT_MAPS.values())
                label = "the file's VRM humanoid" if vrm else "any of " + ", ".join(JOINT_MAPS)
            elif joint_map in JOINT_MAPS:
                maps, label = [JOINT_MAPS[joint_map]], f"the {joint_map!r} map"
            else:
                raise ValueError(f"unknown joint map {joint_map!r}; known: auto, "
                                 f"{', '.join(JOINT_MAPS)}, or a mapping")
        else:
            maps, label = [{k: (v,) for k, v in joint_map.items()}], "the given map"
        best: tuple[int, NodePath, dict[str, str], list[str]] | None = None
        for char_np in chars:
            bones = _bone_names(char_np.node())
            exact = set(bones)
            plain: dict[str, str] = {}
            for b in bones:
                plain.setdefault(_plain(b), b)
            for candidates in maps:
                found: dict[str, str] = {}
                for ours, names in candidates.items():
                    for n in names:
                        hit = n if n in exact else plain.get(_plain(n))
                        if hit is not None:
                            found[ours] = hit
                            break
                if best is None or len(found) > best[0]:
                    best = (len(found), char_np, found, bones)
        assert best is not None
        _, char_np, found, bones = best
        missing = [j for j in REQUIRED_JOINTS if j not in found]
        if missing:
            raise GltfModelError(
                f"{self.model_path}: the skeleton lacks joints {', '.join(missing)} (matched "
                f"with {label}); its bones: {', '.join(bones)}. Pass a joint_map naming them.")
        return char_np, found

    def _walk(self, group: PartGroup, parent: str | None,
              sliders: list[CharacterSlider]) -> None:
        for i in range(group.get_num_children()):
            part = group.get_child(i)
            if isinstance(part, CharacterJoint):
                name = part.get_name()
                self._parts[name] = part
                self._parent[name] = parent
                self._local[name] = TransformState.make_mat(part.get_default_value())
                self._walk(part, name, sliders)
            elif isinstance(part, CharacterSlider):
                sliders.append(part)
            else:
                self._walk(part, parent, sliders)

    def _nets(self) -> dict[str, TransformState]:
        """Every bone's rest transform relative to the Character node."""
        nets: dict[str, TransformState] = {}
        for name in self._parts:       # parents come before their children
            parent = self._parent[name]
            base = nets[parent] if parent is not None else TransformState.make_identity()
            nets[name] = base.compose(self._local[name])
        return nets

    def _in_root(self, name: str, nets: Mapping[str, TransformState]) -> TransformState:
        """Bone ``name``'s rest transform relative to ``root``."""
        return self._char_np.get_transform(self.root).compose(nets[name])

    def _normalise(self, model_np: NodePath) -> None:
        """Turn, scale and move the model: soles on z = 0, facing +Y, ``height_m`` tall."""
        nets = self._nets()
        b = self._bone

        def pos(ours: str) -> LVector3f:
            return LVector3f(self._char_np.get_transform(model_np).compose(
                nets[b[ours]]).get_pos())

        up = _axis(pos("head") - pos("pelvis"))
        left = pos("hip_l") - pos("hip_r")
        left = _axis(left - up * left.dot(up))
        forward = left.cross(up)
        right = -left
        # Rows of the rotation are where the model's x, y, z axes go in the body's frame.
        rot = LMatrix4f(right.x, forward.x, up.x, 0,
                        right.y, forward.y, up.y, 0,
                        right.z, forward.z, up.z, 0,
                        0, 0, 0, 1)
        self._align.set_mat(rot)
        bounds = model_np.get_tight_bounds(self.root)
        if bounds is None:
            raise GltfModelError(f"{self.model_path} has no visible geometry")
        low, high = bounds
        tall = high.z - low.z
        if tall <= 0:
            raise GltfModelError(f"{self.model_path} has no height")
        k = self.appearance.height_m / tall
        pelvis = self._in_root(b["pelvis"], self._nets()).get_pos()
        shift = LMatrix4f.translate_mat(-pelvis.x * k, -pelvis.y * k, -low.z * k)
        self._align.set_mat(rot * LMatrix4f.scale_mat(k) * shift)

    def _fold_arms(self) -> None:
        """Fold T- or A-posed upper arms down to hang beside the body (the rest pose)."""
        for side, sx in (("l", -1.0), ("r", 1.0)):
            nets = self._nets()
            shoulder, elbow = self._bone[f"shoulder_{side}"], self._bone[f"elbow_{side}"]
            s = self._in_root(shoulder, nets)
            arm = LVector3f(self._in_root(elbow, nets).get_pos() - s.get_pos())
            arm.normalize()
            out = math.radians(ARM_OUT_DEG)
            target = LVector3f(sx * math.sin(out), 0.0, -math.cos(out))
            off = math.degrees(math.acos(max(-1.0, min(1.0, -arm.z))))
            if off <= FOLD_MIN_DEG:
                continue
            axis = arm.cross(target)
            if axis.length() < 1e-6:      # pointing straight up: fold it forward and down
                axis = LVector3f(1, 0, 0)
            axis.normalize()
            angle = math.degrees(math.acos(max(-1.0, min(1.0, arm.dot(target)))))
            fold = LQuaternionf()
            fold.set_from_axis_angle(angle, axis)
            if (fold.xform(arm) - target).length() > 1e-3:
                fold.set_from_axis_angle(-angle, axis)
            rest = TransformState.make_quat(s.get_quat())
            self._local[shoulder] = (self._local[shoulder].compose(rest.get_inverse())
                                     .compose(TransformState.make_quat(fold)).compose(rest))

    def _build_rig(self) -> None:
        """Our joint nodes (rest + pose, in body axes) under the Character, mirroring the
        mapped bones, and a control node per bone the pose drives."""
        nets = self._nets()
        self._joints: dict[str, NodePath] = {}
        self._rot: dict[str, TransformState] = {}      # bone -> rest orientation in body axes
        mapped = {bone: ours for ours, bone in self._bone.items()}
        frames: dict[str, tuple[NodePath, TransformState]] = {}   # bone -> (pose node, net)
        rig = self._char_np.attach_new_node(f"{self.name}-rig")
        for bone in self._parts:                  # parents first
            ours = mapped.get(bone)
            if ours is None:
                continue
            rot = TransformState.make_quat(self._in_root(bone, nets).get_quat())
            self._rot[bone] = rot
            up = self._parent[bone]
            while up is not None and up not in frames:
                up = self._parent[up]
            parent_np, parent_net = frames[up] if up is not None else (
                rig, TransformState.make_identity())
            virtual = nets[bone].compose(rot.get_inverse())   # body-aligned frame at the bone
            rest = parent_np.attach_new_node(f"{ours}_rest")
            rest.set_transform(parent_net.invert_compose(virtual))
            node = rest.attach_new_node(ours)
            self._joints[ours] = node
            frames[bone] = (node, virtual)
        # Breathing scales the chest bone; its child bones are controlled to undo it.
        chest = self._bone["chest"]
        self._chest_children = [b for b, p in self._parent.items() if p == chest]
        self._controls: dict[str, PandaNode] = {}
        for bone in set(mapped) | set(self._chest_children):
            node = PandaNode(f"ctl-{bone}")
            self._parts[bone].apply_control(node)
            self._controls[bone] = node
        self._mapped = mapped
        # The point between the eyes rides on the head.
        head = self._joints["head"]
        if "eye_l" in self._joints and "eye_r" in self._joints:
            mid = (self._joints["eye_l"].get_pos(self.root)
                   + self._joints["eye_r"].get_pos(self.root)) * 0.5
            mid.y += EYE_RADIUS * 0.8 * self.scale
        else:
            at = head.get_pos(self.root)
            mid = Point3(at.x, at.y + EYE_FORWARD * self.scale,
                         EYE_HEIGHT * self.appearance.height_m)
        eyes_mid = head.attach_new_node("eyes-mid")
        eyes_mid.set_pos(self.root, mid)
        self._eyes_mid = eyes_mid

    @staticmethod
    def _pick_sliders(sliders: list[CharacterSlider], kind: str) -> list[CharacterSlider]:
        """Morph targets for the mouth ("jawOpen", "mouthOpen", ...) or blinking."""
        def low(s: CharacterSlider) -> str:
            return str(s.get_name()).lower()

        if kind == "blink":
            exact = [s for s in sliders if low(s) == "blink"]
            return exact or [s for s in sliders if "blink" in low(s)]
        usable = [s for s in sliders if "close" not in low(s) and "blink" not in low(s)]
        for words in (("jaw", "open"), ("mouth", "open"), ("open",), ("jaw",), ("mouth",)):
            hit = [s for s in usable if all(w in low(s) for w in words)]
            if hit:
                names = {low(hit[0])}   # the one target (on every mesh that has it)
                return [s for s in hit if low(s) in names]
        return []

    # -------------------------------------------------------------- posing

    def _set_face(self) -> None:
        """Mouth and eyelids onto jaw / lid joints or morph targets."""
        if "jaw" in self._joints:
            self._joints["jaw"].set_p(-JAW_OPEN_DEG * self._mouth_open)
        # A morph target is held at its weight (a node-controlled slider does not follow).
        for s in self._sliders_mouth:
            s.apply_freeze_scalar(self._mouth_open)
        for side in "lr":
            lid = self._joints.get(f"lid_{side}")
            if lid is not None:
                lid.set_p(-LID_TRAVEL_DEG * self._lids_closed)
        for s in self._sliders_blink:
            s.apply_freeze_scalar(self._lids_closed)

    def _apply(self) -> None:
        """Each driven bone's local transform: ``L * R^-1 * Q * R`` (and breathing)."""
        chest = self._bone["chest"]
        s = self._chest
        breath = None
        if s != 1.0:
            breath = TransformState.make_scale((1.0 + (s - 1.0) * 0.5, s,
                                                1.0 + (s - 1.0) * 0.3))
        for bone, node in self._controls.items():
            local = self._local[bone]
            ours = self._mapped.get(bone)
            if ours is not None:
                rot = self._rot[bone]
                turn = rot.get_inverse().compose(self._joints[ours].get_transform())
                if bone == chest and breath is not None:
                    turn = turn.compose(breath)
                local = local.compose(turn).compose(rot)
            if breath is not None and self._parent[bone] == chest:
                rot = self._rot[chest]
                local = rot.get_inverse().compose(breath.get_inverse()).compose(rot).compose(
                    local)
            node.set_transform(local)


def _bone_names(character: Character) -> list[str]:
    names: list[str] = []

    def walk(group: PartGroup) -> None:
        for i in range(group.get_num_children()):
            part = group.get_child(i)
            if isinstance(part, CharacterJoint):
                names.append(str(part.get_name()))
            walk(part)

    walk(character.get_bundle(0))
    return names


def _axis(v: LVector3f) -> LVector3f:
    """The signed coordinate axis nearest ``v`` (models are authored axis-aligned)."""
    i = max(range(3), key=lambda k: abs(v[k]))
    out = LVector3f(0, 0, 0)
    out[i] = 1.0 if v[i] > 0 else -1.0
    return out

