"""The spiders scenario: the contract, plus the behaviour a clinician relies on."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest

from scenarios.spiders import HAND_REACH, HIDDEN, POOL, Spider, Spiders, leg_angles
from tests.scenarios.contract import FRAME, ScenarioContract
from vr_server.engine import Engine
from vr_server.stage import Stage

TOP = len(Spiders.spec.rungs) - 1


class TestSpiders(ScenarioContract):
    scenario = "spiders"


@pytest.fixture
def stage(engine: Engine) -> Iterator[Stage]:
    stage = Stage(engine, Spiders, None, seed=5)
    stage.load()
    yield stage
    stage.unload()


def at(stage: Stage, rung: int, intensity: float = 0.0) -> Spiders:
    """The scenario shown at a level at once (as previews do), one frame later."""
    stage.set_level(rung, intensity)
    stage.runner.snap()
    stage.update(FRAME)
    scenario = stage.runner.scenario
    assert isinstance(scenario, Spiders)
    return scenario


def visible(scenario: Spiders) -> list[Spider]:
    return [s for s in scenario.spiders if s.mode != HIDDEN and not s.root.is_hidden()]


def hand_distance(scenario: Spiders, spider: Spider) -> float:
    hx, hy = scenario.hand_xy
    return math.hypot(spider.x - hx, spider.y - hy)


def allowed(stage: Stage, spider: Spider) -> float:
    """The nearest a spider may come to the hand's centre at the current values."""
    values = stage.runner.values
    return values["approach"] + HAND_REACH + 0.5 * values["size"] / 100 * spider.scale_factor


def test_the_hierarchy_runs_from_a_picture_to_a_swarm_at_the_hand(stage: Stage) -> None:
    low = at(stage, 0)
    assert visible(low) == []
    # Only the drawing is there to look at, and it is tagged as the stimulus.
    assert len(stage.targets.positions(stage.world, "stimulus")) == 1
    assert low.picture.get_tag("vret-target") == "stimulus"
    toy = at(stage, 1)
    assert len(visible(toy)) == 1
    assert toy.spiders[0].root.get_material().get_name() == "spider-0"  # the purple toy
    top = at(stage, TOP, 1.0)
    assert len(visible(top)) == POOL
    assert top.spiders[0].root.get_material().get_name() == top.materials[-1].get_name()
    assert all(not hair.is_hidden() for steps in top.gait.hair for hair in steps)
    # The largest spider waits at the closest approach, right at the fingers.
    lead = top.spiders[0]
    assert hand_distance(top, lead) == pytest.approx(allowed(stage, lead), abs=0.01)
    assert lead.root.get_scale(stage.world).x > top.spiders[1].root.get_scale(stage.world).x
    # The hand drawn on the worktop is where the client's hand rests.
    hand = top.hand_node.get_pos(stage.world)
    assert (hand.x, hand.y) == pytest.approx((stage.client.hand.x, stage.client.hand.y))


def test_tetrapod_gait_alternates_and_lifts_the_swinging_legs() -> None:
    group_a, group_b = (0, 5, 2, 7), (4, 1, 6, 3)  # L1 R2 L3 R4 / R1 L2 R3 L4
    lifts = [leg_angles(leg, 0.0)[1] for leg in range(8)]
    assert all(lifts[leg] > 10 for leg in group_a)
    assert all(lifts[leg] == 0 for leg in group_b)
    half = [leg_angles(leg, math.pi)[1] for leg in range(8)]
    assert all(half[leg] > 10 for leg in group_b) and all(half[leg] == 0 for leg in group_a)
    # Left and right legs mirror each other about the body's axis.
    for phase in (0.3, 1.7, 4.0):
        l1 = leg_angles(0, phase)[0]
        r1_mirror = leg_angles(4, phase + math.pi)[0]
        assert l1 == pytest.approx(-r1_mirror)


def test_legs_walk_only_when_the_spider_moves(stage: Stage) -> None:
    still = at(stage, 2)  # a real spider, keeping still
    spider = still.spiders[0]
    start = (spider.x, spider.y, spider.legs.node().get_visible_child())
    for _ in range(180):
        stage.update(FRAME)
    assert (spider.x, spider.y, spider.legs.node().get_visible_child()) == start
    walking = at(stage, 3)  # the same spider walking about at 4 cm/s
    poses, path = set(), 0.0
    last = (spider.x, spider.y)
    for _ in range(6 * 90):
        stage.update(FRAME)
        poses.add(spider.legs.node().get_visible_child())
        step = math.hypot(spider.x - last[0], spider.y - last[1])
        assert step <= stage.runner.values["speed"] / 100 * FRAME + 1e-9
        path += step
        last = (spider.x, spider.y)
    assert path > 0.05
    assert len(poses) > 16  # the legs went through the gait cycle, not one frozen pose
    assert walking is still


def test_no_spider_or_event_comes_closer_than_the_level_allows(stage: Stage) -> None:
    scenario = at(stage, 4)
    for name in ("walk_toward", "drop_from_ceiling", "walk_toward"):
        scenario.event(name)
        nearest_before = min(hand_distance(scenario, s) for s in visible(scenario))
        for _ in range(3 * 90):
            stage.update(FRAME)
            for spider in visible(scenario):
                assert hand_distance(scenario, spider) >= allowed(stage, spider) - 0.02
        if name == "walk_toward":  # the nearest spider did come closer
            assert min(hand_distance(scenario, s) for s in visible(scenario)) < nearest_before
    # At a still level a drop is refused: nothing moves up to the ceiling.
    still = at(stage, 2)
    still.event("drop_from_ceiling")
    stage.update(FRAME)
    assert all(s.z == 0 for s in still.spiders)


def test_scuttling_gets_louder_with_more_and_faster_spiders(stage: Stage) -> None:
    def mean_volume(rung: int) -> float:
        scenario = at(stage, rung)
        total = 0.0
        for _ in range(4 * 90):
            stage.update(FRAME)
            total += scenario.scuttle_volume
        return total / (4 * 90)

    silent, one, many = mean_volume(2), mean_volume(3), mean_volume(TOP)
    assert silent == 0.0
    assert 0.0 < one < many
    assert ("loop", "scuttle") in stage.sound.log
