"""Where the avatar stands: beside the client, never between the client and the stimulus."""

from __future__ import annotations

import math

import numpy as np

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
