"""The public-speaking scenario: the contract, plus the audience a clinician relies on."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pytest
from panda3d.core import Point3, Vec3

from scenarios.public_speaking import (
    ARRIVALS_PER_FRAME,
    ATTENTIVE,
    GONE,
    MAX_AUDIENCE,
    PHONE,
    SLUMP,
    WHISPER,
    Listener,
    PublicSpeaking,
)
from tests.scenarios.contract import FRAME, ScenarioContract
from vr_server.engine import Engine
from vr_server.stage import Stage

TOP = len(PublicSpeaking.spec.rungs) - 1


class TestPublicSpeaking(ScenarioContract):
    scenario = "public_speaking"


@pytest.fixture
def stage(engine: Engine) -> Iterator[Stage]:
    stage = Stage(engine, PublicSpeaking, None, seed=5)
    stage.load()
    yield stage
    stage.unload()


def at(stage: Stage, rung: int, intensity: float = 0.0) -> PublicSpeaking:
    """The scenario shown at a level at once (as previews do), one frame later."""
    stage.set_level(rung, intensity)
    stage.runner.snap()
    stage.update(FRAME)
    scenario = stage.runner.scenario
    assert isinstance(scenario, PublicSpeaking)
    return scenario


def seated(scenario: PublicSpeaking) -> list[Listener]:
    return [who for who in scenario.listeners if not who.person.hidden]


def gaze_error(stage: Stage, who: Listener) -> float:
    """Degrees between where the listener's eyes point and the client's head."""
    eye = who.person.joints["eye_l"]
    world = stage.world
    forward = world.get_relative_vector(eye, Vec3(0, 1, 0))
    to_client = stage.client.head - eye.get_pos(world)
    forward.normalize()
    to_client.normalize()
    return math.degrees(math.acos(max(-1.0, min(1.0, forward.dot(to_client)))))


def run(stage: Stage, seconds: float) -> None:
    for _ in range(round(seconds / FRAME)):
        stage.update(FRAME)


def test_one_listener_grows_to_a_full_hall_of_seated_people(stage: Stage) -> None:
    low = at(stage, 0)
    (only,) = seated(low)
    assert only.seat.row == 1  # not in the front row: the mildest start
    # Only the seated listener's face counts as the stimulus.
    assert len(stage.targets.positions(stage.world, "stimulus")) == 1
    top = at(stage, TOP, 1.0)
    people = seated(top)
    assert len(people) == MAX_AUDIENCE
    for who in people:
        # Sitting: thighs forward, feet down on the tier the seat stands on.
        assert who.person.joints["hip_l"].get_p() > 60
        ankle = who.person.joints["ankle_l"].get_pos(stage.world)
        assert who.seat.z < ankle.z < who.seat.z + 0.2
        hip = who.person.joints["hip_l"].get_pos(stage.world)
        assert hip.z == pytest.approx(who.seat.z + 0.49, abs=0.03)
    assert len(stage.targets.positions(stage.world, "stimulus")) == MAX_AUDIENCE


def test_a_growing_audience_sits_down_a_few_a_frame_each_posed_when_seen(
        stage: Stage) -> None:
    at(stage, 0)
    stage.set_level(TOP, 1.0)  # no snap: as in a session, the hall fills over the ramp
    scenario = stage.runner.scenario
    assert isinstance(scenario, PublicSpeaking)
    before = {who.index for who in seated(scenario)}
    for _ in range(round(20 / FRAME)):
        stage.update(FRAME)
        now = {who.index for who in seated(scenario)}
        assert len(now - before) <= ARRIVALS_PER_FRAME
        for who in scenario.listeners:
            if who.index in now - before:  # seen for the first time: already in the seat
                assert who.person.joints["hip_l"].get_p() > 60 and who.state != GONE
        before = now
        if len(now) == MAX_AUDIENCE:
            break
    assert len(before) == MAX_AUDIENCE and not scenario.arriving
    assert len(stage.targets.positions(stage.world, "stimulus")) == MAX_AUDIENCE


def test_attentive_listeners_watch_the_speaker_and_follow_when_they_move(
        stage: Stage) -> None:
    scenario = at(stage, 1)
    run(stage, 2.0)
    watching = [who for who in seated(scenario) if who.state == ATTENTIVE]
    assert watching
    for who in watching:
        assert gaze_error(stage, who) < 8.0
    # The client steps to the side of the lectern: heads and eyes follow within a second.
    stage.client.head = Point3(1.2, 0.3, stage.client.head.z)
    run(stage, 1.5)
    for who in seated(scenario):
        if who.state == ATTENTIVE:
            assert gaze_error(stage, who) < 8.0


def test_distraction_and_scepticism_rise_up_the_hierarchy(stage: Stage) -> None:
    def sample(rung: int, intensity: float) -> tuple[float, float, float]:
        scenario = at(stage, rung, intensity)
        away = watching = sceptic = total = 0
        for _ in range(8):
            run(stage, 1.0)
            for who in seated(scenario):
                total += 1
                away += who.state in (PHONE, SLUMP, WHISPER)
                watching += who.state == ATTENTIVE and gaze_error(stage, who) < 10
                sceptic += who.sceptic
        return away / total, watching / total, sceptic / total

    calm = sample(1, 0.0)
    seminar = sample(3, 0.0)
    hall = sample(TOP, 1.0)
    assert calm[0] == 0.0 and calm[2] == 0.0  # friendly and attentive: no phones, no folded arms
    assert calm[1] > 0.7
    assert calm[0] < seminar[0] < hall[0]
    assert hall[0] > 0.5  # most of a full, distracted hall is on phones, slumped or whispering
    assert hall[1] < 0.25
    assert calm[2] < seminar[2] < hall[2]


def test_live_events(stage: Stage) -> None:
    scenario = at(stage, 4)
    stage.sound.log.clear()
    scenario.event("question")
    (asker,) = scenario.actors
    run(stage, 1.5)
    wrist = asker.person.joints["wrist_r"].get_pos(stage.world)
    assert wrist.z > asker.person.head_position(stage.world).z  # the hand is up
    run(stage, 8.0)
    assert asker not in scenario.actors  # and down again after a while

    scenario.event("phone")
    (owner,) = scenario.actors
    assert ("play", "phone-ring") in stage.sound.log
    run(stage, 2.0)
    assert not owner.phone.is_hidden()
    # Neighbours turn to see whose phone it is.
    turned = [who for who in seated(scenario) if who.look_at == owner.eyes]
    assert turned
    run(stage, 6.0)

    scenario.event("walk_out")
    (leaver,) = scenario.actors
    start = leaver.person.root.get_pos(stage.world)
    opened = 0.0
    for _ in range(round(16 / FRAME)):
        stage.update(FRAME)
        opened = max(opened, max(scenario.door_open))
    assert leaver.state == GONE and leaver.person.hidden
    assert opened == 1.0
    assert ("play", "exit-door") in stage.sound.log
    assert math.dist(start, leaver.seated_pos) < 1e-6
    # A new rung, and everyone is back in their seats.
    stage.set_level(3, 0.0)
    stage.update(FRAME)
    if leaver.index < scenario.count:
        assert leaver.state != GONE and not leaver.person.hidden
        back = leaver.person.root.get_pos(stage.world)
        assert math.dist(back, leaver.seated_pos) < 1e-6
        hip = leaver.person.joints["hip_l"].get_hpr()
        assert tuple(hip) == pytest.approx(leaver.legs["hip_l"], abs=1e-3)  # seated again
    else:
        assert leaver.state != GONE and leaver.person.hidden


def test_the_drawn_bodies_follow_their_joints_and_hide_with_the_person(
        stage: Stage, engine: Engine) -> None:
    """Each body is drawn as combined meshes: moving a joint must still move the pixels."""
    scenario = at(stage, 1)
    who = seated(scenario)[0]
    engine.step()
    before = engine.screenshot().astype(np.int16)
    shoulder = who.person.joints["shoulder_r"]
    rest = shoulder.get_hpr()
    shoulder.set_hpr(0, 150, 0)  # the arm straight up
    engine.step()
    raised = engine.screenshot().astype(np.int16)
    assert (np.abs(raised - before).max(axis=2) > 40).sum() > 30
    shoulder.set_hpr(rest)
    engine.step()
    assert np.abs(engine.screenshot().astype(np.int16) - before).mean() < 0.05
    who.person.hide()
    engine.step()
    assert (np.abs(engine.screenshot().astype(np.int16) - before).max(axis=2) > 40).sum() > 100
    who.person.show()


def test_room_sound_and_lights_follow_the_level(stage: Stage) -> None:
    low = at(stage, 0)
    assert low.murmur_volume == 0.0
    assert low.spot.node().get_color()[0] == 0.0
    assert low.glare.is_hidden()
    house = low.ambient.node().get_color()[0]
    assert ("loop", "audience-murmur") in stage.sound.log
    high = at(stage, TOP, 1.0)
    assert high.murmur_volume > 0.5
    assert high.spot.node().get_color()[0] > 5.0
    assert not high.glare.is_hidden()
    assert high.ambient.node().get_color()[0] < 0.5 * house
    # Coughs come now and then in a full, noisy hall.
    stage.sound.log.clear()
    run(stage, 20.0)
    assert stage.sound.log.count(("play", "cough")) >= 1
