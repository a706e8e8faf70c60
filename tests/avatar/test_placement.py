"""Where the avatar stands: beside the client, never between the client and the stimulus."""

from __future__ import annotations

import math

import numpy as np
import pytest

from avatar import placement


def test_never_between_the_client_and_a_stimulus_over_a_sweep() -> None:
    rng = np.random.default_rng(3)
    for _ in range(400):
        client = (float(rng.uniform(-5, 5)), float(rng.uniform(-5, 5)))
        heading = float(rng.uniform(-180, 180))
        stimuli = [(client[0] + float(rng.uniform(-6, 6)), client[1] + float(rng.uniform(-6, 6)))
                   for _ in range(int(rng.integers(1, 4)))]
        spot = placement.choose(client, heading, stimuli)
        assert not placement.in_the_way((spot.x, spot.y), client, stimuli)
        assert math.isclose(math.dist((spot.x, spot.y), client), placement.COMFORT_M)


def test_it_prefers_the_clients_side_and_faces_the_client() -> None:
    spot = placement.choose((0.0, 0.0), 0.0, [(0.0, 5.0)])  # stimulus straight ahead
    assert spot.x < 0  # on the left, out of the line of sight
    to_client = math.degrees(math.atan2(-(0 - spot.x), 0 - spot.y))
    assert math.isclose(spot.heading, to_client, abs_tol=1e-6)


def test_it_steps_back_on_stop() -> None:
    near = placement.choose((0.0, 0.0), 0.0, [(0.0, 5.0)])
    back = placement.choose((0.0, 0.0), 0.0, [(0.0, 5.0)], stepped_back=True)
    assert math.dist((back.x, back.y), (0, 0)) > math.dist((near.x, near.y), (0, 0))


def test_walking_to_a_new_spot_never_crosses_a_line_of_sight() -> None:
    client, stimulus = (0.0, 0.0), [(0.0, 4.0)]
    spot = (-1.2, 0.0)
    goal = (1.2, 0.0)  # on the other side: the straight path crosses the line of sight
    for _ in range(2000):
        spot = placement.walk(spot, goal, client, stimulus, 1 / 90)
        assert not placement.in_the_way(spot, client, stimulus)
    assert math.dist(spot, goal) < 0.05  # it got there, around the client's back


def test_within_walls_it_stands_inside_them_and_comes_closer_in_a_small_room() -> None:
    rng = np.random.default_rng(8)
    for _ in range(300):
        w, d = float(rng.uniform(2.2, 6.0)), float(rng.uniform(2.2, 6.0))
        area = (-w / 2, -1.0, w / 2, d - 1.0)
        client = (float(rng.uniform(area[0] + 0.5, area[2] - 0.5)),
                  float(rng.uniform(area[1] + 0.5, area[3] - 0.5)))
        heading = float(rng.uniform(-180, 180))
        stimuli = [(float(rng.uniform(area[0], area[2])), area[3] - 0.1)]  # on the far wall
        spot = placement.choose(client, heading, stimuli, area=area)
        if spot is None:  # nowhere fits: the avatar waits outside (checked below)
            continue
        assert placement.inside((spot.x, spot.y), area)
        assert not placement.in_the_way((spot.x, spot.y), client, stimuli)
        assert math.dist((spot.x, spot.y), client) >= placement.NEAREST_M - 1e-9


def test_a_closet_has_no_room_for_the_avatar_and_a_storeroom_has() -> None:
    # The enclosed scenario's smallest room: 1.4 x 1.6 m, the client 0.7 m from each wall.
    closet = (-0.7, -0.7, 0.7, 0.9)
    assert placement.choose((0.0, 0.0), 0.0, [(0.0, 0.9)], area=closet) is None
    storeroom = (-1.75, -0.9, 1.75, 2.6)
    spot = placement.choose((0.0, 0.0), 0.0, [(0.0, 2.6)], area=storeroom)
    assert spot is not None and placement.inside((spot.x, spot.y), storeroom)


def test_walking_within_walls_never_leaves_them() -> None:
    area = (-1.5, -1.0, 1.5, 3.0)
    spot = (-1.0, 0.5)
    for _ in range(200):
        spot = placement.walk(spot, (-4.0, 0.5), (0.0, 0.0), [(0.0, 3.0)], 1 / 90, area=area)
        assert placement.inside(spot, area)
    assert spot[0] == pytest.approx(area[0] + placement.BODY_RADIUS_M)


def test_an_audience_as_an_array_gives_the_same_answers_as_pairs() -> None:
    rng = np.random.default_rng(11)
    faces = [(float(x), float(y)) for x, y in rng.uniform((-4, 3), (4, 9), size=(60, 2))]
    array = np.asarray(faces)
    client = (0.0, 0.0)
    spot = placement.choose(client, 0.0, faces)
    assert spot is not None
    assert placement.choose(client, 0.0, array) == spot
    for probe in ((-1.2, 0.0), (0.0, 1.0), (1.5, 0.5)):
        assert placement.in_the_way(probe, client, array) == \
            placement.in_the_way(probe, client, faces)
        assert placement.walk(probe, (spot.x, spot.y), client, array, 0.1) == \
            placement.walk(probe, (spot.x, spot.y), client, faces, 0.1)
