"""The procedural body: joints, proportions, face controls, and a person on screen."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest
from panda3d.core import NodePath, Point3

from avatar.appearance import HAIR_STYLES, THERAPIST_DEFAULT, Appearance
from avatar.body import EYE_RADIUS, JOINTS, HumanoidBody
from scenarios import procedural as p
from vr_server.engine import Engine


@pytest.fixture
def body(engine: Engine) -> Iterator[HumanoidBody]:
    made = HumanoidBody(engine.shared, THERAPIST_DEFAULT, name="therapist")
    yield made
    made.remove()


def z_range(node: NodePath, other: NodePath) -> tuple[float, float]:
    bounds = node.get_tight_bounds(other)
    assert bounds is not None
    low, high = bounds
    return low.z, high.z


def test_every_named_joint_is_built_under_the_root(body: HumanoidBody) -> None:
    for name in JOINTS:
        joint = body.joint(name)
        assert not joint.is_empty()
        assert joint.get_name() == name
        assert body.root.find(f"**/{name}") == joint  # findable by name, as crowds do
    assert body.joint_names == JOINTS


@pytest.mark.parametrize("height", [1.5, 1.72, 2.0])
def test_proportions_follow_the_height(engine: Engine, height: float) -> None:
    body = HumanoidBody(engine.shared, Appearance(height_m=height, hair_style="bald"))
    try:
        root = body.root
        low, top = z_range(root, root)
        assert low == pytest.approx(0.0, abs=0.005)           # soles on the floor
        assert top == pytest.approx(height, rel=0.02)         # crown at the height
        chin, crown = z_range(body.joint("head"), root)
        # A head is about an eighth of an adult's height (7.5 heads tall).
        assert (crown - chin) == pytest.approx(height / 7.5, rel=0.08)
        eyes = body.head_position(root)
        assert eyes.z == pytest.approx(height * 0.933, rel=0.015)  # eyes mid-head
        assert eyes.y > 0.04 * height                          # in front: faces +Y
        for side in "lr":
            shoulder = body.joint(f"shoulder_{side}").get_pos(root)
            wrist = body.joint(f"wrist_{side}").get_pos(root)
            knee = body.joint(f"knee_{side}").get_pos(root)
            assert knee.z < wrist.z < shoulder.z               # hands hang below shoulders
            assert wrist.z == pytest.approx(0.5 * height, rel=0.06)
            assert (shoulder.x < 0) == (side == "l")           # left is -X facing +Y
    finally:
        body.remove()


def _vertices(root: NodePath) -> int:
    return sum(g.node().get_geom(i).get_vertex_data().get_num_rows()
               for g in root.find_all_matches("**/+GeomNode")
               for i in range(g.node().get_num_geoms()))


def test_a_lower_detail_body_has_fewer_vertices_and_the_same_shape(engine: Engine) -> None:
    full = HumanoidBody(engine.shared, THERAPIST_DEFAULT, name="full")
    far = HumanoidBody(engine.shared, THERAPIST_DEFAULT, name="far", detail=0.4)
    try:
        assert _vertices(far.root) < 0.45 * _vertices(full.root)
        for name in JOINTS:  # the same skeleton, so the same poses
            assert far.joint(name).get_pos(far.root) == full.joint(name).get_pos(full.root)
        for part in ("head", "chest", "wrist_l", "knee_r"):
            low_a, high_a = far.joint(part).get_tight_bounds(far.root)
            low_b, high_b = full.joint(part).get_tight_bounds(full.root)
            assert (low_a - low_b).length() < 0.015 and (high_a - high_b).length() < 0.015
    finally:
        full.remove()
        far.remove()


def test_set_pose_turns_joints_relative_to_rest(body: HumanoidBody) -> None:
    root = body.root
    rest = body.head_position(root)
    body.set_pose({"head": (30.0, 0.0, 0.0)})
    turned = body.head_position(root)
    assert turned.x < rest.x - 0.02                            # +heading looks left (-X)
    assert tuple(body.joint("head").get_hpr()) == pytest.approx((30.0, 0.0, 0.0))
    hand = body.joint("wrist_r").get_pos(root)
    body.set_pose({"shoulder_r": (0.0, 90.0, 0.0), "elbow_r": (0.0, 0.0, 0.0)})
    raised = body.joint("wrist_r").get_pos(root)
    assert raised.y > hand.y + 0.4                             # the arm swings forward
    body.reset_pose()
    assert tuple(body.head_position(root)) == pytest.approx(tuple(rest))


def test_an_unknown_joint_is_named_and_nothing_moves(body: HumanoidBody) -> None:
    with pytest.raises(KeyError, match="tail"):
        body.set_pose({"head": (20.0, 0.0, 0.0), "tail": (1.0, 0.0, 0.0)})
    assert body.joint("head").get_h() == 0.0
    with pytest.raises(KeyError, match="antenna"):
        body.joint("antenna")


def test_eyelids_close_and_mouth_opens(body: HumanoidBody) -> None:
    head = body.joint("head")
    lid = body.joint("lid_l")
    eye = body.joint("eye_l").get_pos(head)

    def lid_edge() -> float:
        """Height of the upper lid's front edge over the eye's centre (model metres)."""
        return head.get_relative_point(lid, (0.0, EYE_RADIUS, 0.0)).z - eye.z

    open_edge = lid_edge()
    assert open_edge > 0.004                                    # above the pupil: open
    body.set_eyelids(1.0)
    assert body.eyelids == 1.0
    assert lid_edge() < -0.002                                  # over the eye: shut
    jaw = body.joint("jaw")
    lip_closed, _ = z_range(jaw, head)
    body.set_mouth(1.0)
    lip_open, _ = z_range(jaw, head)
    assert lip_open < lip_closed - 0.008                        # the lower lip dropped
    body.set_mouth(0.0)
    body.set_eyelids(0.0)
    assert lid_edge() == pytest.approx(open_edge, abs=1e-5)
    assert z_range(jaw, head)[0] == pytest.approx(lip_closed, abs=1e-4)


def test_breathing_scales_the_chest_only(body: HumanoidBody) -> None:
    root = body.root
    eyes = body.head_position(root)
    chest = body.root.find("**/therapist-chest")
    before = chest.get_tight_bounds(root)
    body.set_chest_scale(1.04)
    after = chest.get_tight_bounds(root)
    assert before is not None and after is not None
    assert (after[1].y - after[0].y) > (before[1].y - before[0].y) * 1.02
    assert tuple(body.head_position(root)) == pytest.approx(tuple(eyes))  # the head stays


def test_appearances_build_for_every_hair_style(engine: Engine) -> None:
    rng = np.random.default_rng(3)
    looks = [Appearance.random(rng) for _ in range(12)]
    assert len({a.skin for a in looks}) > 6                     # a varied crowd
    styles = {a.hair_style for a in looks} | set(HAIR_STYLES)
    for look in looks + [Appearance(hair_style=s) for s in styles]:
        made = HumanoidBody(engine.shared, look)
        made.remove()
    assert Appearance.random(np.random.default_rng(9)) == Appearance.random(
        np.random.default_rng(9))


def test_appearance_rejects_impossible_values() -> None:
    with pytest.raises(ValueError, match="height_m"):
        Appearance(height_m=2.4)
    with pytest.raises(ValueError, match="build"):
        Appearance(build=1.5)
    with pytest.raises(ValueError, match="hair_style"):
        Appearance(hair_style="mohawk")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="skin"):
        Appearance(skin=(1.2, 0.5, 0.5))


def test_build_and_pose_costs(engine: Engine, record_property: pytest.RecordProperty) -> None:
    """Report what a body costs (no timing is asserted: the machines vary)."""
    HumanoidBody(engine.shared, THERAPIST_DEFAULT).remove()  # shared shapes are made once
    rng = np.random.default_rng(0)
    looks = [Appearance.random(rng) for _ in range(5)]
    start = time.perf_counter()
    bodies = [HumanoidBody(engine.shared, look) for look in looks]
    build_ms = (time.perf_counter() - start) / len(looks) * 1e3
    pose = {name: (1.0, 2.0, 3.0) for name in JOINTS}
    start = time.perf_counter()
    for _ in range(200):
        bodies[0].set_pose(pose)
    pose_us = (time.perf_counter() - start) / 200 * 1e6
    for made in bodies:
        made.remove()
    record_property("body_build_ms", round(build_ms, 1))
    record_property("set_pose_us", round(pose_us, 1))
    print(f"\nbody build {build_ms:.1f} ms, full set_pose {pose_us:.1f} us")


def test_a_person_sized_figure_shows_on_screen(engine: Engine, body: HumanoidBody) -> None:
    """Rendered offscreen from 2.5 m, the body covers a person's outline: tall, narrow,
    standing on the floor line, with skin-coloured pixels at the top (the face)."""
    lit = engine.world.attach_new_node("avatar-test-lights")
    p.sun(lit, (160, -35, 0), (1.0, 0.97, 0.92), 2.5)
    p.ambient(lit, (0.9, 0.92, 1.0), 0.7)
    engine.world.set_light(lit.find("**/sun"))
    engine.world.set_light(lit.find("**/ambient"))
    saved = engine.head.get_transform()
    clear = engine.output.get_clear_color()
    try:
        engine.set_background((0.0, 0.0, 0.0))
        engine.head.set_pos_hpr(0.0, 2.5, 1.0, 180.0, 0.0, 0.0)   # in front, looking at it
        body.root.hide()
        for _ in range(2):
            engine.step()
        empty = engine.screenshot().astype(int)
        body.root.show()
        for _ in range(2):
            engine.step()
        shot = engine.screenshot().astype(int)
    finally:
        engine.world.clear_light(lit.find("**/sun"))
        engine.world.clear_light(lit.find("**/ambient"))
        lit.remove_node()
        engine.head.set_transform(saved)
        engine.set_background((clear[0], clear[1], clear[2]))
    mask = np.abs(shot - empty).sum(axis=2) > 30
    rows = np.nonzero(mask.any(axis=1))[0]
    cols = np.nonzero(mask.any(axis=0))[0]
    h, w = mask.shape
    # 1.70 m at 2.5 m with a 90-degree lens: about 60 % of the image height, a fifth as wide.
    tall = (rows[-1] - rows[0]) / h
    wide = (cols[-1] - cols[0]) / w
    assert 0.5 < tall < 0.72, tall
    assert 0.06 < wide < 0.2, wide
    assert abs((cols[0] + cols[-1]) / 2 - w / 2) < 0.03 * w    # centred: it faces the camera
    head = shot[rows[0] + int(0.04 * h):rows[0] + int(0.08 * h), cols[0]:cols[-1] + 1]
    head_mask = mask[rows[0] + int(0.04 * h):rows[0] + int(0.08 * h), cols[0]:cols[-1] + 1]
    r, g, b = (head[..., i][head_mask].mean() for i in range(3))
    assert r > g > b, (r, g, b)                                 # warm skin tones in the face
    assert float(mask.mean()) > 0.03                            # a body, not a stick figure


def test_head_position_follows_the_root(body: HumanoidBody, engine: Engine) -> None:
    body.root.set_pos(2.0, -1.0, 0.5)
    body.root.set_h(90.0)
    eyes = body.head_position(engine.world)
    assert eyes.x < 2.0 - 0.05                                  # facing -X now
    assert eyes.z == pytest.approx(0.5 + THERAPIST_DEFAULT.height_m * 0.933, rel=0.02)
    assert isinstance(eyes, Point3)
