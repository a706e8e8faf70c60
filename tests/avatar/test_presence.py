"""The avatar in a scene: caption toward the client, safety lines at once, never in the way."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from panda3d.core import Point3

from avatar import placement
from avatar.lines import LineBook
from avatar.presence import Avatar
from avatar.speech_queue import Priority
from scenarios.targets import TargetRegistry
from tests.scenarios.contract import scene_state
from vr_server.engine import Engine

FRAME = 1 / 90


@pytest.fixture
def avatar(engine: Engine) -> Iterator[Avatar]:
    made = Avatar(engine.shared, TargetRegistry(), LineBook.load(), seed=4)
    made.load((0.0, 0.0, 0.0), 0.0)
    yield made
    made.unload()
    assert engine.shared.get_num_children() == 0  # nothing left behind


def test_the_caption_faces_the_client_wherever_they_stand(avatar: Avatar,
                                                          engine: Engine) -> None:
    avatar.say("How anxious do you feel right now?", Priority.SCHEDULED, 0.0)
    for head in (Point3(0, 0, 1.65), Point3(1.5, -1, 1.2), Point3(-2, 2, 1.7)):
        for k in range(30):
            avatar.update(FRAME, k * FRAME, head, 0.0, [(0.0, 4.0, 1.0)], engine.world)
        assert avatar.caption is not None and avatar.caption.text
        assert avatar.caption.facing(head, engine.world) > 0.99


def test_a_safety_line_interrupts_in_the_same_frame(avatar: Avatar, engine: Engine) -> None:
    avatar.say("Let me tell you about the view from up here, it is quite something.",
               Priority.THERAPIST, 0.0)
    avatar.update(FRAME, FRAME, Point3(0, 0, 1.65), 0.0, [], engine.world)
    said = avatar.say_line("grounding_stop", 2 * FRAME)
    assert avatar.speaking is said and said.priority == Priority.SAFETY
    assert avatar.caption is not None and avatar.caption.text == said.text


def test_never_between_the_client_and_the_stimulus_as_the_client_moves(
        avatar: Avatar, engine: Engine) -> None:
    """The client walks (1 m/s) between random places, turning; at no frame does the avatar's
    body touch the line between the client's eyes and the stimulus."""
    rng = np.random.default_rng(8)
    stimulus = (0.0, 5.0, 1.0)
    here = np.array([0.0, 0.0])
    t = 0.0
    for _ in range(10):
        there = np.array([rng.uniform(-3, 3), rng.uniform(-3, 2)])
        heading = float(rng.uniform(-90, 90))
        steps = max(1, int(np.linalg.norm(there - here) / (1.0 * FRAME)))
        for k in range(steps + 90):
            pos = here + (there - here) * min(1.0, k / steps)
            t += FRAME
            avatar.update(FRAME, t, Point3(pos[0], pos[1], 1.65), heading, [stimulus],
                          engine.world)
            gap = placement.distance_to_segment(avatar.spot, (pos[0], pos[1]), stimulus[:2])
            assert gap > placement.BODY_RADIUS_M, f"in the way at t={t:.2f}"
        here = there


def test_unknown_gestures_are_named(avatar: Avatar) -> None:
    with pytest.raises(KeyError, match=r"unknown gesture 'wave'; known: .*nod"):
        avatar.gesture("wave")


def test_the_same_seed_and_calls_give_the_same_avatar(engine: Engine) -> None:
    states = []
    for _ in range(2):
        made = Avatar(engine.shared, TargetRegistry(), LineBook.load(), seed=9)
        made.load((0.0, 0.0, 0.0), 0.0)
        made.say_line("praise_step", 0.0)
        made.gesture("nod")
        for k in range(120):
            made.update(FRAME, k * FRAME, Point3(0, 0, 1.65), 0.0, [(0.0, 4.0, 1.0)],
                        engine.world)
        assert made.body is not None
        states.append(scene_state(made.body.root))
        made.unload()
    assert states[0] == states[1]


def test_in_a_room_too_small_it_waits_outside_and_comes_back(avatar: Avatar,
                                                            engine: Engine) -> None:
    head = Point3(0.0, 0.0, 1.6)
    stimuli = [(0.0, 0.9, 1.2)]
    avatar.area = (-0.7, -0.7, 0.7, 0.9)  # a closet
    avatar.say("I'm right outside.", Priority.THERAPIST, 0.0)
    avatar.update(FRAME, FRAME, head, 0.0, stimuli, engine.shared)
    assert avatar.body is not None and avatar.caption is not None
    assert not avatar.present and avatar.body.root.is_hidden()
    # Its words are still in front of the client, readable.
    assert avatar.caption.facing(head, engine.shared) > 0.95
    assert (avatar.caption.node.get_pos(engine.shared) - head).length() < 1.2
    avatar.area = (-1.75, -0.9, 1.75, 2.6)  # the walls move back out
    avatar.update(FRAME, 2 * FRAME, head, 0.0, stimuli, engine.shared)
    assert avatar.present and not avatar.body.root.is_hidden()
    assert placement.inside(avatar.spot, avatar.area)
