"""Behaviours as functions of time: deterministic, natural in rhythm, within a body's range."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from panda3d.core import NodePath, Point3

from avatar.appearance import THERAPIST_DEFAULT
from avatar.behaviours import (
    EYE_PITCH_DEG,
    EYE_YAW_DEG,
    GESTURES,
    NECK_PITCH_DEG,
    NECK_YAW_DEG,
    Animator,
    GazeController,
    blink,
    gesture_pose,
    idle,
    mouth_open,
    point_angles,
    sitting_drop,
)
from avatar.body import JOINTS, HumanoidBody

FRAME = 1 / 60
HEAD = (0.0, 0.0, 1.6)


def sample(fn: object, start: float, stop: float, step: float = 0.01) -> np.ndarray:
    assert callable(fn)
    return np.array([fn(t) for t in np.arange(start, stop, step)])


def transforms(body: HumanoidBody) -> list[tuple[float, ...]]:
    out = [tuple(body.joint(name).get_hpr()) for name in JOINTS]
    return [*out, (body.mouth, body.eyelids, body.chest_scale)]


# ------------------------------------------------------------------ idle


def test_idle_is_a_function_of_time_and_seed() -> None:
    for t in (0.0, 1.3, 7.77, 42.0):
        assert idle(t, 5) == idle(t, 5)
    # Asked out of order, the same moments give the same answers (no hidden state in time).
    later = idle(30.0, 11)
    assert idle(3.0, 11) == idle(3.0, 11) and idle(30.0, 11) == later
    assert idle(4.2, 5).pose != idle(4.2, 6).pose


def test_blinks_come_every_two_to_six_seconds_and_last_150_ms() -> None:
    closed = sample(lambda t: blink(t, 3), 0.0, 60.0, 0.005) > 0.5
    starts = np.nonzero(closed[1:] & ~closed[:-1])[0] * 0.005
    assert 10 <= len(starts) <= 30
    gaps = np.diff(starts)
    assert gaps.min() >= 2.0 - 0.02 and gaps.max() <= 6.0 + 0.02
    lids = sample(lambda t: blink(t, 3), 0.0, 60.0, 0.005)
    assert lids.max() == pytest.approx(1.0, abs=0.05)           # fully shut at the middle
    shut_frames = (lids > 0.0).sum() / len(starts)
    assert 0.12 <= shut_frames * 0.005 <= 0.16                  # 150 ms each
    assert idle(starts[0] + 0.05, 3).eyelids > 0.5


def test_breathing_is_slow_and_shifts_weight_now_and_then() -> None:
    chest = sample(lambda t: idle(t, 8).chest_scale, 0.0, 40.0, 0.05)
    assert 1.0 <= chest.min() < chest.max() <= 1.03
    centred = chest - chest.mean()
    rises = np.nonzero((centred[1:] > 0) & (centred[:-1] <= 0))[0]
    period = float(np.diff(rises).mean()) * 0.05
    assert 1 / 0.3 < period < 1 / 0.2                          # about 0.25 Hz
    sway = sample(lambda t: idle(t, 8).pose["pelvis"][2], 0.0, 60.0, 0.1)
    assert sway.max() - sway.min() > 1.0                        # the weight moves...
    assert np.abs(np.diff(sway)).max() < 0.5                    # ...smoothly


# ------------------------------------------------------------------ gaze


def run_gaze(gaze: GazeController, seconds: float, targets: dict[str, tuple[float, ...]],
             ) -> list[tuple[float, float, float, float, str]]:
    return [tuple(gaze.update(FRAME, HEAD, targets))  # type: ignore[misc]
            for _ in range(round(seconds / FRAME))]


@pytest.mark.parametrize("side", [1.0, -1.0])
def test_gaze_turns_the_head_toward_a_client_left_or_right(side: float) -> None:
    gaze = GazeController(np.random.default_rng(1))
    # The client stands 45 degrees to the left (side 1: -X) or right of the body's facing.
    client = (-side * 2.0, 2.0, 1.6)
    frames = run_gaze(gaze, 1.2, {"client": client})
    head_yaw, head_pitch, eye_yaw, eye_pitch, looking = frames[-1]
    assert looking == "client"
    assert side * head_yaw > 25.0                               # the head turned that way
    assert head_yaw + eye_yaw == pytest.approx(side * 45.0, abs=1.5)  # eyes make up the rest
    assert head_pitch + eye_pitch == pytest.approx(0.0, abs=1.5)


def test_eyes_lead_and_the_head_follows() -> None:
    gaze = GazeController(np.random.default_rng(2))
    run_gaze(gaze, 0.5, {"client": (0.0, 2.0, 1.6)})
    frames = run_gaze(gaze, 0.6, {"client": (-2.0, 1.2, 1.6)})  # the client steps aside
    early = frames[round(0.1 / FRAME)]
    assert early[2] > 20.0 and early[0] < early[2]              # eyes there first, head lagging
    assert frames[-1][0] > 25.0 and frames[-1][2] < early[2]    # then the head catches up


def test_neck_and_eyes_stay_within_their_range() -> None:
    gaze = GazeController(np.random.default_rng(3))
    for target in ((-1.0, -2.0, 1.6), (2.0, -1.0, 1.6), (0.0, 0.5, 4.0), (0.0, 0.4, -1.0)):
        for yaw, pitch, eye_yaw, eye_pitch, _ in run_gaze(gaze, 1.5, {"client": target}):
            assert abs(yaw) <= NECK_YAW_DEG + 1e-6 and abs(pitch) <= NECK_PITCH_DEG + 1e-6
            assert abs(eye_yaw) <= EYE_YAW_DEG + 1e-6 and abs(eye_pitch) <= EYE_PITCH_DEG + 1e-6
    # Behind the left shoulder: as far round as neck and eyes go, no further.
    yaw, _, eye_yaw, _, _ = run_gaze(gaze, 2.0, {"client": (-1.0, -2.0, 1.6)})[-1]
    assert yaw == pytest.approx(NECK_YAW_DEG, abs=1.0) and eye_yaw > 20.0


def test_gaze_breaks_look_away_briefly_and_come_back() -> None:
    gaze = GazeController(np.random.default_rng(4))
    frames = run_gaze(gaze, 40.0, {"client": (0.0, 2.0, 1.6)})
    away = np.array([f[4] == "away" for f in frames])
    breaks = np.nonzero(away[1:] & ~away[:-1])[0]
    assert 3 <= len(breaks) <= 12                               # every few seconds
    assert 0.05 < away.mean() < 0.35                            # mostly on the client


def test_glance_at_the_stimulus_then_back() -> None:
    gaze = GazeController(np.random.default_rng(5))
    targets = {"client": (-1.0, 2.0, 1.6), "stimulus": (1.5, 2.0, 0.8)}
    run_gaze(gaze, 0.5, targets)
    gaze.look("stimulus", 1.0)
    mid = run_gaze(gaze, 0.8, targets)[-1]
    assert mid[4] == "stimulus" and mid[0] + mid[2] < -20.0     # looking right and down
    assert mid[1] + mid[3] < -5.0
    back = run_gaze(gaze, 1.0, targets)[-1]
    assert back[0] + back[2] > 10.0                             # the client again (left)
    with pytest.raises(ValueError, match="client"):
        gaze.look("ceiling")


# ------------------------------------------------------------------ speech


def test_the_mouth_moves_with_the_syllables_and_stops_after_the_line() -> None:
    text = "Hello. You are doing really well, take your time."
    opening = sample(lambda t: mouth_open(t, 3.0, text), 0.0, 3.5, 0.005)
    assert opening.min() >= 0.0 and opening.max() <= 1.0
    assert (opening[round(3.0 / 0.005):] == 0.0).all()          # silent after the line
    peaks = np.nonzero((opening[1:-1] > opening[:-2]) & (opening[1:-1] >= opening[2:])
                       & (opening[1:-1] > 0.3))[0]
    assert 10 <= len(peaks) <= 16                               # about 13 syllables
    closed = opening < 0.02
    assert closed[round(0.4 / 0.005):round(0.9 / 0.005)].any()  # a pause after "Hello."
    assert mouth_open(-0.1, 3.0, text) == 0.0
    assert mouth_open(1.0, 3.0, text) == mouth_open(1.0, 3.0, text)


# ------------------------------------------------------------------ gestures


@pytest.mark.parametrize("name", sorted(GESTURES))
def test_gestures_start_and_end_at_rest(name: str) -> None:
    duration = GESTURES[name]
    assert gesture_pose(name, 0.0) == {} and gesture_pose(name, duration) == {}
    for t in (0.01, duration - 0.01):
        for h, p, r in gesture_pose(name, t, (1.0, 1.0, 0.0)).values():
            assert abs(h) < 1.0 and abs(p) < 1.0 and abs(r) < 1.0
    during = [gesture_pose(name, duration * k / 20, (1.0, 1.0, 0.0)) for k in range(1, 20)]
    assert max(abs(v) for pose in during for hpr in pose.values() for v in hpr) > 8.0


def test_an_unknown_gesture_lists_the_known_ones() -> None:
    with pytest.raises(KeyError, match="nod, open_hands, point"):
        gesture_pose("wave", 0.5)


def test_pointing_raises_the_arm_on_the_target_side(engine: object) -> None:
    world = NodePath("world")
    body = HumanoidBody(world, THERAPIST_DEFAULT)
    root = body.root
    for direction in ((1.0, 1.0, 0.0), (-1.0, 0.5, 0.3), (0.2, 1.0, -0.5)):
        side, pose = point_angles(direction)
        assert side == ("r" if direction[0] > 0 else "l")
        body.reset_pose()
        body.set_pose(pose)
        shoulder = body.joint(f"shoulder_{side}").get_pos(root)
        hand = body.joint(f"wrist_{side}").get_pos(root)
        arm = hand - shoulder
        arm.normalize()
        want = np.array(direction) / np.linalg.norm(direction)
        assert float(np.dot([arm.x, arm.y, arm.z], want)) > 0.95  # within ~18 degrees
    body.remove()


def test_open_hands_bring_the_forearms_forward_palms_up() -> None:
    body = HumanoidBody(NodePath("world"), THERAPIST_DEFAULT)
    root = body.root
    body.set_pose(gesture_pose("open_hands", 1.0))
    for side in "lr":
        elbow = body.joint(f"elbow_{side}").get_pos(root)
        wrist = body.joint(f"wrist_{side}").get_pos(root)
        assert wrist.y > elbow.y + 0.15                         # forearm points forward
        # The palm's normal: the hand's inward axis (palms face the thighs at rest) now up.
        inward = root.get_relative_vector(body.joint(f"wrist_{side}"),
                                          (1.0 if side == "l" else -1.0, 0.0, 0.0))
        assert inward.z > 0.8
    body.remove()


# ------------------------------------------------------------------ the animator


def animate(seed: int, frames: int = 240) -> list[list[tuple[float, ...]]]:
    world = NodePath("world")
    body = HumanoidBody(world, THERAPIST_DEFAULT)
    animator = Animator(body, seed)
    client, stimulus = Point3(-1.0, 2.0, 1.6), Point3(1.5, 2.5, 0.9)
    out = []
    for k in range(frames):
        if k == 10:
            animator.say(2.0, "Let us look at the spider together.")
        if k == 60:
            animator.gesture("point")
        if k == 150:
            animator.gesture("nod")
        animator.update(FRAME, client, stimulus, world)
        out.append(transforms(body))
    body.remove()
    return out


def test_the_animator_is_deterministic_for_a_seed() -> None:
    assert animate(12) == animate(12)
    assert animate(12, 60) != animate(13, 60)


def test_the_animator_speaks_gestures_and_looks_at_the_client() -> None:
    world = NodePath("world")
    body = HumanoidBody(world, THERAPIST_DEFAULT)
    body.root.set_pos(1.0, 0.0, 0.0)
    body.root.set_h(30.0)
    animator = Animator(body, 4)
    client = Point3(-1.0, 2.5, 1.6)
    mouths = []
    animator.say(1.5, "Well done, that was brave.")
    assert animator.speaking
    for _ in range(round(1.0 / FRAME)):
        animator.update(FRAME, client, None, world)
        mouths.append(body.mouth)
    assert max(mouths) > 0.4 and min(mouths) < 0.1
    steady = 0
    while steady < round(0.6 / FRAME):                          # settled, not in a gaze break
        animator.update(FRAME, client, None, world)
        steady = steady + 1 if animator.gaze.looking_at == "client" else 0
    # The head and eyes together aim at the client's head (seen from between the eyes).
    eye = body.joint("eye_l")
    ahead = world.get_relative_vector(eye, (0.0, 1.0, 0.0))
    ahead.normalize()                                           # (the skeleton is scaled)
    to_client = client - body.head_position(world)
    to_client.normalize()
    assert ahead.dot(to_client) > math.cos(math.radians(6.0))
    for _ in range(round(0.7 / FRAME)):
        animator.update(FRAME, client, None, world)
    assert not animator.speaking and body.mouth == 0.0
    animator.gesture("open_hands")
    for _ in range(round(1.0 / FRAME)):
        animator.update(FRAME, client, None, world)
    assert body.joint("elbow_l").get_p() > 40.0                 # gesture blended over idle
    for _ in range(round(1.2 / FRAME)):
        animator.update(FRAME, client, None, world)
    assert body.joint("elbow_l").get_p() < 10.0                 # and back to rest
    with pytest.raises(KeyError, match="breathe"):
        animator.gesture("juggle")
    body.remove()


def test_pointing_at_a_place_raises_the_near_arm_and_looks_there() -> None:
    world = NodePath("world")
    body = HumanoidBody(world, THERAPIST_DEFAULT)
    body.root.set_h(180.0)                                      # facing -Y in the world
    animator = Animator(body, 9)
    spot = Point3(-2.0, -2.0, 1.0)                              # ahead and to its right
    animator.gesture("point", spot)
    for _ in range(round(1.2 / FRAME)):
        animator.update(FRAME, Point3(0.0, -2.0, 1.6), None, world)
    assert animator.gaze.looking_at == "gesture"
    hand = body.joint("wrist_r").get_pos(world) - body.joint("shoulder_r").get_pos(world)
    aim = spot - body.joint("shoulder_r").get_pos(world)
    hand.normalize()
    aim.normalize()
    assert hand.dot(aim) > 0.9
    for _ in range(round(1.5 / FRAME)):
        animator.update(FRAME, Point3(0.0, -2.0, 1.6), None, world)
    assert abs(body.joint("shoulder_r").get_p()) < 5.0          # lowered again
    body.remove()


def test_soften_slows_breathing_and_lowers_the_hands() -> None:
    world = NodePath("world")
    body = HumanoidBody(world, THERAPIST_DEFAULT)
    animator = Animator(body, 6)
    client = Point3(0.0, 2.0, 1.6)
    animator.gesture("open_hands")
    for _ in range(round(0.8 / FRAME)):
        animator.update(FRAME, client, None, world)
    raised = body.joint("elbow_r").get_p()
    animator.soften()
    for _ in range(round(1.0 / FRAME)):
        animator.update(FRAME, client, None, world)
    assert body.joint("elbow_r").get_p() < raised - 30.0       # hands came down
    chest = []
    for _ in range(round(30.0 / FRAME)):
        animator.update(FRAME, client, None, world)
        chest.append(body.chest_scale)
    centred = np.array(chest) - np.mean(chest)
    rises = np.nonzero((centred[1:] > 0) & (centred[:-1] <= 0))[0]
    assert float(np.diff(rises).mean()) * FRAME > 5.0           # slower than 4 s a breath
    body.remove()


def test_the_legs_walk_when_the_body_is_moved_and_rest_when_it_stops() -> None:
    world = NodePath("world")
    body = HumanoidBody(world, THERAPIST_DEFAULT)
    animator = Animator(body, 2)
    hips = []
    for k in range(round(2.0 / FRAME)):
        body.root.set_y(0.7 * k * FRAME)                        # walking at 0.7 m/s
        animator.update(FRAME, None, None, world)
        hips.append(body.joint("hip_l").get_p())
    assert max(hips) - min(hips) > 20.0
    for _ in range(round(1.5 / FRAME)):
        animator.update(FRAME, None, None, world)
    assert abs(body.joint("hip_l").get_p()) < 3.0
    assert sitting_drop(body) == pytest.approx(0.41 * body.scale)
    body.remove()


def test_animator_frame_cost(record_property: pytest.RecordProperty) -> None:
    """Report the per-frame cost of a talking, gesturing body (nothing timing is asserted)."""
    world = NodePath("world")
    body = HumanoidBody(world, THERAPIST_DEFAULT)
    animator = Animator(body, 1)
    client, stimulus = Point3(-1.0, 2.0, 1.6), Point3(1.5, 2.5, 0.9)
    animator.say(10.0, "Notice your breathing, and let your shoulders drop a little.")
    animator.gesture("breathe")
    for _ in range(30):
        animator.update(FRAME, client, stimulus, world)
    frames = 600
    start = time.perf_counter()
    for _ in range(frames):
        animator.update(FRAME, client, stimulus, world)
    cost_us = (time.perf_counter() - start) / frames * 1e6
    record_property("animator_update_us", round(cost_us, 1))
    print(f"\nanimator update {cost_us:.1f} us a frame")
    body.remove()
