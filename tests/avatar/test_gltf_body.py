"""A glTF humanoid driven like the procedural body: models written by avatar.gltf_export in
each bone naming convention (T-pose Mixamo in centimetres, VRM facing -Z, hanging and A-posed
arms), loaded through panda3d-gltf and compared with the procedural body pose by pose."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Literal

import numpy as np
import pytest
from panda3d.core import GeomVertexReader, NodePath, Point3, Thread, Vec3

from avatar.appearance import THERAPIST_DEFAULT, Appearance
from avatar.behaviours import Animator, sitting_drop
from avatar.body import JOINTS, REF_HEIGHT, HumanoidBody, Pose
from avatar.gltf_body import FACE_JOINTS, REQUIRED_JOINTS, GltfBody, GltfModelError
from avatar.gltf_export import Options, glb_bytes, humanoid_gltf, write_glb
from vr_server.engine import Engine


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One model per case, written once for the module."""
    out = tmp_path_factory.mktemp("gltf")
    cases = {
        "vret": Options("vret", jaw=True, eyes=True),
        "mixamo": Options("mixamo", blink=True, mouth_morph=True),          # T-pose, cm
        "mixamo_": Options("mixamo", prefix="mixamorig_"),
        "vrm": Options("vrm", forward="-z", eyes=True),                       # VRM 0.x facing
        "a_pose": Options("vret", arm_drop_deg=45.0),
        "plain": Options("vret"),                                            # no face at all
        "no_elbow": Options("mixamo", omit=("elbow_l", "knee_r")),
    }
    return {name: write_glb(out / f"{name}.glb", o) for name, o in cases.items()}


@pytest.fixture
def procedural(engine: Engine) -> Iterator[HumanoidBody]:
    made = HumanoidBody(engine.shared, THERAPIST_DEFAULT, name="procedural")
    yield made
    made.remove()


@pytest.fixture
def made(engine: Engine) -> Iterator[list[GltfBody]]:
    """Bodies a test builds, removed after it."""
    bodies: list[GltfBody] = []
    yield bodies
    for b in bodies:
        b.remove()


def load(engine: Engine, made: list[GltfBody], path: Path,
         appearance: Appearance = THERAPIST_DEFAULT,
         joint_map: Mapping[str, str] | str = "auto") -> GltfBody:
    body = GltfBody(engine.shared, appearance, path, joint_map)
    made.append(body)
    return body


def bounds(body: GltfBody) -> tuple[Point3, Point3]:
    body.update_skin()
    low_high = body.root.get_tight_bounds(body.root)
    assert low_high is not None
    return low_high[0], low_high[1]


def vertices(body: GltfBody) -> np.ndarray:
    """Every skinned, morphed vertex as drawn now, in the Character's frame."""
    body.update_skin()
    out: list[tuple[float, float, float]] = []
    for gn in body.root.find_all_matches("**/+GeomNode"):
        for geom in gn.node().get_geoms():
            data = geom.get_animated_vertex_data(True, Thread.get_current_thread())
            reader = GeomVertexReader(data, "vertex")
            while not reader.is_at_end():
                v = reader.get_data3()
                out.append((v.x, v.y, v.z))
    return np.asarray(out)


def where(body: HumanoidBody | GltfBody, joint: str) -> Vec3:
    return Vec3(body.joint(joint).get_pos(body.root))


CONVENTIONS = ["vret", "mixamo", "mixamo_", "vrm", "a_pose"]


@pytest.mark.parametrize("case", CONVENTIONS)
def test_joints_are_found_where_the_procedural_body_has_them(
        engine: Engine, made: list[GltfBody], models: dict[str, Path],
        procedural: HumanoidBody, case: str) -> None:
    body = load(engine, made, models[case])
    assert set(REQUIRED_JOINTS) <= set(body.joint_names)
    assert body.joint_names == tuple(j for j in JOINTS if j in body.joint_names)
    assert body.scale == pytest.approx(THERAPIST_DEFAULT.height_m / REF_HEIGHT)
    # Same proportions as the procedural body, and T/A-posed arms folded down to hang.
    for joint in ("pelvis", "head", "shoulder_l", "wrist_l", "wrist_r", "knee_r", "ankle_l"):
        assert (where(body, joint) - where(procedural, joint)).length() < 0.05, joint
    low, high = bounds(body)
    assert high.x - low.x < 0.6                     # arms at the sides, not spread
    assert tuple(body.head_position(body.root)) == pytest.approx(
        tuple(procedural.head_position(procedural.root)), abs=0.03)


@pytest.mark.parametrize(("case", "height"), [("vret", 1.5), ("mixamo", 2.0), ("vrm", 1.72)])
def test_stands_on_the_floor_facing_plus_y_at_the_height(
        engine: Engine, made: list[GltfBody], models: dict[str, Path], case: str,
        height: float) -> None:
    body = load(engine, made, models[case], Appearance(height_m=height))
    low, high = bounds(body)
    assert low.z == pytest.approx(0.0, abs=0.002)            # soles on the floor
    assert high.z == pytest.approx(height, rel=0.005)        # crown at the height
    assert body.scale == pytest.approx(height / REF_HEIGHT)
    eyes = body.head_position(body.root)
    assert eyes.z == pytest.approx(0.933 * height, rel=0.02)
    assert eyes.y > 0.04 * height                            # in front of the head: faces +Y
    assert where(body, "shoulder_l").x < 0 < where(body, "shoulder_r").x   # left is -X
    assert where(body, "ankle_l").z < where(body, "knee_l").z < where(body, "hip_l").z


POSES: list[tuple[str, Pose, str]] = [
    ("head turns left", {"head": (30.0, 0.0, 0.0)}, "eyes"),
    ("chin up", {"head": (0.0, 25.0, 0.0), "neck": (0.0, 10.0, 0.0)}, "eyes"),
    ("arm forward", {"shoulder_r": (0.0, 60.0, 0.0)}, "wrist_r"),
    ("wave", {"shoulder_r": (0.0, 0.0, -100.0), "elbow_r": (0.0, 70.0, 0.0)}, "wrist_r"),
    ("arm out", {"shoulder_l": (0.0, 0.0, 60.0)}, "wrist_l"),
    ("elbow bent", {"elbow_l": (0.0, 90.0, 0.0)}, "wrist_l"),
    ("step", {"hip_l": (0.0, 40.0, 0.0), "knee_l": (0.0, -60.0, 0.0)}, "ankle_l"),
    ("lean", {"pelvis": (20.0, 0.0, 5.0), "spine": (0.0, -10.0, 0.0)}, "eyes"),
]


@pytest.mark.parametrize("case", ["vret", "mixamo", "vrm", "a_pose"])
def test_a_pose_moves_the_model_as_it_moves_the_procedural_body(
        engine: Engine, made: list[GltfBody], models: dict[str, Path],
        procedural: HumanoidBody, case: str) -> None:
    body = load(engine, made, models[case])

    def point(b: HumanoidBody | GltfBody, what: str) -> Vec3:
        return Vec3(b.head_position(b.root)) if what == "eyes" else where(b, what)

    for label, pose, what in POSES:
        moves = []
        for b in (procedural, body):
            b.reset_pose()
            before = point(b, what)
            b.set_pose(pose)
            moves.append(point(b, what) - before)
        expected, got = moves
        assert expected.length() > 0.04, label
        # The same direction and about the same distance (the procedural elbow rests 8
        # degrees bent, so a hand lands a few centimetres apart).
        assert got.normalized().dot(expected.normalized()) > 0.9, (label, got, expected)
        assert got.length() == pytest.approx(expected.length(), rel=0.25), label
    body.reset_pose()
    procedural.reset_pose()


def test_the_skin_follows_the_bones(engine: Engine, made: list[GltfBody],
                                    models: dict[str, Path]) -> None:
    body = load(engine, made, models["mixamo"])
    _, rest_high = bounds(body)
    body.set_pose({"shoulder_r": (0.0, 90.0, 0.0)})          # arm straight ahead
    wrist = where(body, "wrist_r")
    _, high = bounds(body)
    # The hand's tip, about 18 cm (reference size) beyond the wrist, is the front of the mesh.
    assert high.y == pytest.approx(wrist.y + 0.177 * body.scale, abs=0.02)
    assert high.y > rest_high.y + 0.4


def test_reset_pose_restores_the_rest(engine: Engine, made: list[GltfBody],
                                      models: dict[str, Path]) -> None:
    body = load(engine, made, models["mixamo"])
    rest = vertices(body)
    eyes = body.head_position(body.root)
    for _, pose, _ in POSES:
        body.set_pose(pose)
    body.set_mouth(1.0)
    body.set_eyelids(1.0)
    body.set_chest_scale(1.04)
    assert np.abs(vertices(body) - rest).max() > 1.0
    body.reset_pose()
    assert (body.mouth, body.eyelids, body.chest_scale) == (0.0, 0.0, 1.0)
    assert np.abs(vertices(body) - rest).max() < 1e-3 * np.abs(rest).max()
    assert tuple(body.head_position(body.root)) == pytest.approx(tuple(eyes), abs=1e-5)
    assert tuple(body.joint("head").get_hpr()) == pytest.approx((0.0, 0.0, 0.0))


def test_face_joints_the_model_lacks_are_ignored_others_raise(
        engine: Engine, made: list[GltfBody], models: dict[str, Path]) -> None:
    body = load(engine, made, models["plain"])
    assert not FACE_JOINTS & set(body.joint_names)
    body.set_pose({j: (10.0, 5.0, 0.0) for j in FACE_JOINTS})    # the Animator sends eyes
    with pytest.raises(KeyError, match="tail"):
        body.set_pose({"head": (20.0, 0.0, 0.0), "tail": (1.0, 0.0, 0.0)})
    assert body.joint("head").get_h() == 0.0                     # nothing moved
    with pytest.raises(KeyError, match="jaw"):
        body.joint("jaw")


def test_mouth_and_eyelids_use_a_jaw_bone_or_morph_targets(
        engine: Engine, made: list[GltfBody], models: dict[str, Path]) -> None:
    jawed = load(engine, made, models["vret"])
    chin = jawed.joint("jaw")
    before = vertices(jawed)
    jawed.set_mouth(1.0)
    assert jawed.mouth == 1.0
    assert chin.get_p() < -10.0                                   # the jaw turned down
    assert np.abs(vertices(jawed) - before).max() > 0.01          # and the chin with it
    jawed.set_eyelids(1.0)                                        # no lids: remembered only
    assert jawed.eyelids == 1.0

    morphed = load(engine, made, models["mixamo"])
    for setter in (morphed.set_mouth, morphed.set_eyelids):
        before = vertices(morphed)
        setter(1.0)
        moved = np.abs(vertices(morphed) - before).max(axis=1)
        # Some vertices (the chin, the eyes) move; most stay.
        assert moved.max() > 0.5 and (moved > 1e-6).mean() < 0.1
        setter(0.0)
        assert np.abs(vertices(morphed) - before).max() < 1e-3

    plain = load(engine, made, models["plain"])
    before = vertices(plain)
    plain.set_mouth(0.7)
    plain.set_eyelids(0.4)
    assert (plain.mouth, plain.eyelids) == (0.7, 0.4)
    assert np.abs(vertices(plain) - before).max() == 0.0


def test_breathing_swells_the_chest_and_keeps_the_head(
        engine: Engine, made: list[GltfBody], models: dict[str, Path]) -> None:
    body = load(engine, made, models["mixamo"])
    eyes = body.head_position(body.root)
    wrist = where(body, "wrist_l")
    rest = vertices(body)
    tall = np.ptp(rest[:, 2])
    body.set_chest_scale(1.04)
    assert body.chest_scale == 1.04
    moved = np.linalg.norm(vertices(body) - rest, axis=1)
    # The chest's surface moves by millimetres (of a 1.7 m person); most of the body not.
    assert moved.max() > 0.002 * tall
    assert (moved > 1e-6 * tall).mean() < 0.3
    assert tuple(body.head_position(body.root)) == pytest.approx(tuple(eyes), abs=1e-6)
    assert tuple(where(body, "wrist_l")) == pytest.approx(tuple(wrist), abs=1e-6)


def test_errors_name_the_file_and_what_is_missing(
        engine: Engine, made: list[GltfBody], models: dict[str, Path], tmp_path: Path) -> None:
    missing = tmp_path / "nobody.glb"
    with pytest.raises(FileNotFoundError, match=r"nobody\.glb"):
        load(engine, made, missing)
    text = tmp_path / "notes.glb"
    text.write_text("not a model")
    with pytest.raises(ValueError, match=r"notes\.glb is not a glTF model"):
        load(engine, made, text)
    with pytest.raises(GltfModelError) as err:
        load(engine, made, models["no_elbow"])
    message = str(err.value)
    assert "no_elbow.glb" in message
    assert "elbow_l, knee_r" in message
    assert "mixamorig:LeftHand" in message                         # the bones it has
    with pytest.raises(ValueError, match="unknown joint map 'maya'"):
        load(engine, made, models["vret"], joint_map="maya")
    unskinned, _ = humanoid_gltf(Options("vret"))
    del unskinned["skins"]
    del unskinned["nodes"][-1]["skin"]
    flat = tmp_path / "statue.glb"
    flat.write_bytes(glb_bytes(unskinned, humanoid_gltf(Options("vret"))[1]))
    with pytest.raises(GltfModelError, match=r"statue\.glb has no skin"):
        load(engine, made, flat)
    assert not made


def test_joint_maps_by_name_or_from_a_vrm_file(engine: Engine, made: list[GltfBody],
                                                models: dict[str, Path],
                                                tmp_path: Path) -> None:
    body = load(engine, made, models["mixamo"], joint_map="mixamo")
    assert "wrist_r" in body.joint_names
    with pytest.raises(GltfModelError, match="the 'vrm' map"):
        load(engine, made, models["mixamo"], joint_map="vrm")
    custom = {j: f"mixamorig_{n}" for j, n in (("pelvis", "Hips"), ("spine", "Spine"),
                                                ("chest", "Spine2"), ("neck", "Neck"),
                                                ("head", "Head"))}
    custom.update({f"{a}_{s}": f"mixamorig_{side}{b}" for s, side in (("l", "Left"),
                                                                      ("r", "Right"))
                   for a, b in (("shoulder", "Arm"), ("elbow", "ForeArm"), ("wrist", "Hand"),
                                ("hip", "UpLeg"), ("knee", "Leg"), ("ankle", "Foot"))})
    assert set(load(engine, made, models["mixamo_"], joint_map=custom).joint_names) == set(
        REQUIRED_JOINTS)
    # A VRM file names its nodes as it likes; its humanoid table says which is which.
    doc, binary = humanoid_gltf(Options("vrm"))
    bones = {}
    for i, node in enumerate(doc["nodes"]):
        if "mesh" not in node and node["name"] != "Armature":
            bones[node["name"]] = {"node": i}
            node["name"] = f"J_Bip_{i}"
    doc["extensionsUsed"] = ["VRMC_vrm"]
    doc["extensions"] = {"VRMC_vrm": {"specVersion": "1.0", "humanoid": {"humanBones": bones}}}
    path = tmp_path / "vrm1.vrm"
    path.write_bytes(glb_bytes(doc, binary))
    vrm = load(engine, made, path)
    assert set(REQUIRED_JOINTS) <= set(vrm.joint_names)
    assert json.loads(json.dumps(doc))["extensions"]


def test_remove_takes_it_out_of_the_scene(engine: Engine, models: dict[str, Path]) -> None:
    body = GltfBody(engine.shared, THERAPIST_DEFAULT, models["vret"], name="gltf-removed")
    assert not engine.shared.find("gltf-removed").is_empty()
    body.remove()
    assert engine.shared.find("gltf-removed").is_empty()
    body.remove()                                                 # twice is harmless


@pytest.mark.parametrize("posture", ["standing", "sitting"])
def test_the_animator_drives_a_gltf_body_as_it_drives_the_procedural_one(
        engine: Engine, made: list[GltfBody], models: dict[str, Path],
        procedural: HumanoidBody, posture: Literal["standing", "sitting"]) -> None:
    body = load(engine, made, models["mixamo"])
    world: NodePath = engine.shared
    client = Point3(3.0, 2.0, 1.6)     # to their left: they face -Y, so their left is +X
    stimulus = Point3(2.0, 0.0, 0.2)
    animators = []
    for b in (procedural, body):
        drop = sitting_drop(b) if posture == "sitting" else 0.0
        b.root.set_pos(1.0, 2.0, -drop)
        b.root.set_h(180.0)
        animator = Animator(b, seed=5, posture=posture)
        animator.say(2.0, "Look at the spider over there, it cannot reach you.")
        animator.gesture("open_hands")
        animators.append(animator)
    heads = []
    for frame in range(90):
        for animator in animators:
            animator.update(1 / 30, client, stimulus, world)
            if frame == 45:
                animator.gesture("point")
        heads.append(tuple(body.joint("head").get_hpr()))
        if frame % 15 == 0:
            # The same pose (the eyes are where the procedural body's are, so the gaze aims
            # alike), and the head in the same place: both look the same way.
            ours, theirs = (a.pose for a in animators)
            assert ours.keys() == theirs.keys()
            for joint, hpr in ours.items():
                assert hpr == pytest.approx(theirs[joint], abs=1.5), joint
            assert (body.head_position(world) - procedural.head_position(world)).length() < 0.05
    assert len(set(heads)) > 30                                  # the head keeps moving
    assert 0.0 <= body.eyelids <= 1.0 and 0.0 <= body.mouth <= 1.0
    animators[1].soften()
    for _ in range(10):
        animators[1].update(1 / 30, client, None, world)
    engine.step()                                                 # and it draws


def test_the_exporter_runs_as_a_command(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        ) -> None:
    from avatar.gltf_export import main

    out = tmp_path / "site-check.glb"
    assert main([str(out), "--convention", "mixamo", "--jaw", "--blink"]) == 0
    assert "mixamo convention" in capsys.readouterr().out
    raw = out.read_bytes()
    assert raw[:4] == b"glTF" and len(raw) % 4 == 0
    doc = json.loads(raw[20:20 + int.from_bytes(raw[12:16], "little")])
    names = {n["name"] for n in doc["nodes"]}
    assert {"mixamorig:Hips", "mixamorig:LeftForeArm", "mixamorig:Jaw"} <= names
    assert doc["meshes"][0]["extras"]["targetNames"] == ["blink"]
    position = doc["accessors"][doc["meshes"][0]["primitives"][0]["attributes"]["POSITION"]]
    assert "min" in position and "max" in position
