"""Target spheres: moving targets follow their nodes; settled ones are placed once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from panda3d.core import NodePath, Point3, Vec3

from scenarios.targets import TargetRegistry, gaze_hit
from vr_server.engine import Engine


@pytest.fixture
def scene(engine: Engine) -> Iterator[NodePath]:
    root = engine.shared.attach_new_node("targets-test")
    yield root
    root.remove_node()


def test_a_moving_target_follows_its_node(engine: Engine, scene: NodePath) -> None:
    targets = TargetRegistry()
    node = scene.attach_new_node("spider")
    targets.tag(node, "stimulus", radius=0.2)
    node.set_pos(1, 2, 3)
    (sphere,) = targets.snapshot(engine.shared)
    assert (sphere.x, sphere.y, sphere.z) == pytest.approx((1, 2, 3))
    node.set_pos(4, 5, 6)
    (sphere,) = targets.snapshot(engine.shared)
    assert (sphere.x, sphere.y, sphere.z) == pytest.approx((4, 5, 6))


def test_a_settled_target_is_placed_once_and_again_after_a_refresh(
        engine: Engine, scene: NodePath) -> None:
    targets = TargetRegistry()
    face = scene.attach_new_node("face")
    face.set_pos(0, 5, 1.2)
    targets.tag(face, "stimulus", radius=0.16, moves=False)
    assert targets.snapshot(engine.shared)[0].y == pytest.approx(5)
    face.set_pos(0, 7, 1.2)
    assert targets.snapshot(engine.shared)[0].y == pytest.approx(5)  # not looked at again
    targets.refresh(face)
    assert targets.snapshot(engine.shared)[0].y == pytest.approx(7)
    # Hidden and shown again: the scene says so with a refresh.
    face.hide()
    targets.refresh(face)
    assert targets.snapshot(engine.shared) == []
    face.show()
    targets.refresh(face)
    assert len(targets.snapshot(engine.shared)) == 1


def test_settled_targets_vanish_with_their_scope_without_a_refresh(
        engine: Engine, scene: NodePath) -> None:
    """The stage hides the whole exposure for the safe place: settled faces go with it."""
    targets = TargetRegistry(scope=scene)
    faces = [scene.attach_new_node(f"face-{i}") for i in range(3)]
    for i, face in enumerate(faces):
        face.set_pos(i, 4, 1.2)
        targets.tag(face, "stimulus", radius=0.16, moves=False)
    scene.hide()
    assert targets.snapshot(engine.shared) == []
    scene.show()
    assert len(targets.snapshot(engine.shared)) == 3
    hit = gaze_hit(targets.snapshot(engine.shared), Point3(1, 0, 1.2), Vec3(0, 1, 0))
    assert hit.looking_at == "stimulus"
    assert hit.distance_m == pytest.approx(4 - 0.16)


def test_a_settled_target_first_seen_while_its_scope_is_hidden_appears_with_it(
        engine: Engine, scene: NodePath) -> None:
    targets = TargetRegistry(scope=scene)
    face = scene.attach_new_node("face")
    targets.tag(face, "stimulus", radius=0.2, moves=False)
    scene.hide()  # loaded behind the safe place
    assert targets.snapshot(engine.shared) == []
    scene.show()
    assert len(targets.snapshot(engine.shared)) == 1


def test_untagging_and_unknown_refreshes(engine: Engine, scene: NodePath) -> None:
    targets = TargetRegistry()
    node = scene.attach_new_node("thing")
    targets.tag(node, "stimulus", radius=0.2, moves=False)
    targets.refresh(scene)  # not a target: ignored
    targets.untag(node)
    assert targets.snapshot(engine.shared) == []
    assert len(targets) == 0
