"""The virtual client: determinism, the arousal model's known behaviour, gaze avoidance, the
signals it produces and the answers it gives, checked against numbers the model implies."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import pytest

from telemetry.schemas import SampleBatch
from telemetry.streams import ECG, EDA, HEART_RATE
from vr_server.virtual_client import (
    CheckInAnswer,
    ClientPose,
    SceneObservation,
    VirtualClient,
    VirtualClientParams,
)
from vr_server.virtual_client.behaviour import direction_to_hp, hp_to_direction, hpr_to_quat

STIMULUS = (0.0, 1.5, 1.0)
AVATAR = (1.2, 0.8, 1.6)
BASE = 0.15


@dataclass
class Run:
    """What one simulated session produced."""

    t: list[float] = field(default_factory=list)
    arousal: list[float] = field(default_factory=list)
    habituation: list[float] = field(default_factory=list)
    poses: list[ClientPose] = field(default_factory=list)
    batches: list[SampleBatch] = field(default_factory=list)

    def stream(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Timestamps (ns) and the first channel of one stream, all batches joined."""
        chosen = [b for b in self.batches if b.stream == name]
        return (np.concatenate([b.timestamps_ns for b in chosen]),
                np.concatenate([b.values[:, 0] for b in chosen]))

    def at(self, t_s: float) -> float:
        """Arousal at the first frame at or after ``t_s``."""
        return self.arousal[int(np.searchsorted(self.t, t_s - 1e-9))]


def observe(exposure: float, looking_at: str = "stimulus", distance: float | None = None,
            avatar: bool = True) -> SceneObservation:
    """The test scene: a stimulus 1.5 m ahead at 1 m height, the avatar ahead to the right."""
    return SceneObservation(
        viewpoint=(0.0, 0.0, 0.0), view_heading=0.0, stimulus_positions=(STIMULUS,),
        avatar_position=AVATAR if avatar else None, exposure=exposure, looking_at=looking_at,
        stimulus_distance_m=distance)


def constant(obs: SceneObservation) -> Callable[[float], SceneObservation]:
    """A scene that does not change."""
    return lambda t: obs


def simulate(client: VirtualClient, until_s: float, scene: Callable[[float], SceneObservation],
             fps: float = 20.0, advance_every_s: float | None = 0.1, start_s: float = 0.0,
             feedback: bool = False) -> Run:
    """Run frames from ``start_s`` to ``until_s``; with ``feedback`` the observation's
    ``looking_at`` is the previous pose's ``intends`` (a renderer that always hits)."""
    run = Run()
    dt = 1.0 / fps
    next_advance = start_s
    looking = "elsewhere"
    for i in range(round((until_s - start_s) * fps) + 1):
        t = start_s + i * dt
        obs = scene(t)
        if feedback:
            obs = replace(obs, looking_at=looking)
        pose = client.update(t, dt, obs)
        looking = pose.intends
        run.t.append(t)
        run.arousal.append(client.arousal)
        run.habituation.append(client.habituation)
        run.poses.append(pose)
        if advance_every_s is not None and t >= next_advance - 1e-9:
            run.batches += client.advance(round(t * 1e9))
            next_advance += advance_every_s
    return run


def steady(x: float, base: float = BASE) -> float:
    """Arousal the model settles at for constant threat ``x`` without habituation."""
    return base + (1.0 - base) * x


# ---------------------------------------------------------------------------------------------
# Determinism

def _exposure_steps(t: float) -> SceneObservation:
    return observe(0.0 if t < 2 else 0.4 if t < 8 else 1.0, distance=max(0.2, 3.0 - 0.2 * t))


def test_same_seed_and_inputs_give_identical_output_and_another_seed_does_not() -> None:
    runs = [simulate(VirtualClient(VirtualClientParams(seed=seed)), 15.0, _exposure_steps,
                     feedback=True) for seed in (3, 3, 4)]
    a, b, c = runs
    assert a.poses == b.poses
    assert a.arousal == b.arousal
    assert a.batches == b.batches
    assert len(a.batches) > 100
    # Another seed: other noise, other fixations, other signals (the model is the same, so
    # arousal may coincide only where the inputs do).
    assert [p.gaze_dir for p in a.poses] != [p.gaze_dir for p in c.poses]
    for name in ("ecg", "eda", "heart_rate"):
        assert not np.array_equal(a.stream(name)[1], c.stream(name)[1]), name


def test_samples_do_not_depend_on_how_often_advance_is_called() -> None:
    def run(every: float) -> Run:
        return simulate(VirtualClient(VirtualClientParams(seed=11, scr_rate_per_min=30.0)),
                        20.0, _exposure_steps, fps=90.0, advance_every_s=every, feedback=True)

    every_frame, every_100ms = run(0.0), run(0.1)
    # A single call at the end: the model is integrated on the way, the samples come at once.
    client = VirtualClient(VirtualClientParams(seed=11, scr_rate_per_min=30.0))
    once = simulate(client, 20.0, _exposure_steps, fps=90.0, advance_every_s=None,
                    feedback=True)
    once.batches = client.advance(round(once.t[-1] * 1e9))
    for name in ("ecg", "eda", "heart_rate"):
        ts_a, values_a = every_frame.stream(name)
        for other in (every_100ms, once):
            ts_b, values_b = other.stream(name)
            np.testing.assert_array_equal(ts_a, ts_b)
            np.testing.assert_array_equal(values_a, values_b)
    assert every_frame.arousal == every_100ms.arousal == once.arousal


def test_sample_clocks_are_exact_and_dtypes_follow_the_descriptors() -> None:
    client = VirtualClient(VirtualClientParams(seed=1))
    assert client.streams == (ECG, EDA, HEART_RATE)
    run = simulate(client, 10.0, constant(observe(0.5)), advance_every_s=0.07)
    for descriptor in client.streams:
        ts, _ = run.stream(descriptor.name)
        period = round(1e9 / descriptor.nominal_rate)
        np.testing.assert_array_equal(ts, period * np.arange(ts.shape[0]))
        # Everything up to the last advance (at t = 9.94 s) and nothing after it.
        assert ts[-1] <= 9.95e9 < ts[-1] + period
        for batch in run.batches:
            if batch.stream == descriptor.name:
                assert batch.values.dtype == np.dtype(descriptor.dtype)
                assert batch.values.shape[1] == len(descriptor.channels)


def test_a_client_created_mid_session_starts_at_rest_where_it_is_first_called() -> None:
    client = VirtualClient(VirtualClientParams(seed=2))
    run = simulate(client, 102.0, constant(observe(0.0)), start_s=100.0)
    ts, eda = run.stream("eda")
    assert ts[0] == 100_000_000_000
    assert run.arousal[0] == BASE
    assert abs(float(eda.mean()) - (2.0 + 6.0 * BASE)) < 0.2


# ---------------------------------------------------------------------------------------------
# Arousal, proximity, habituation, recovery

NO_HABITUATION = VirtualClientParams(habituation_rate=0.0, scr_rate_per_min=0.0)


def test_sensitivity_zero_keeps_arousal_at_baseline() -> None:
    client = VirtualClient(VirtualClientParams(sensitivity=0.0))
    run = simulate(client, 60.0, constant(observe(1.0, distance=0.0)))
    assert max(abs(a - BASE) for a in run.arousal) < 1e-12
    _, hr = run.stream("heart_rate")
    assert abs(float(hr.mean()) - 70.0) < 3.0


@pytest.mark.parametrize("exposure", [0.25, 0.5, 1.0])
def test_arousal_rises_with_exposure_to_the_steady_state_with_the_rise_time(
        exposure: float) -> None:
    # Looking at the stimulus from the proximity scale (factor 0.5): threat = exposure / 2.
    client = VirtualClient(NO_HABITUATION)
    run = simulate(client, 70.0, lambda t: observe(exposure if t >= 10.0 else 0.0,
                                                   distance=2.0))
    target = steady(0.5 * exposure)
    assert run.at(9.99) == BASE
    # First-order rise: 63 % of the way after one time constant (6 s), settled after ten.
    assert run.at(16.0) - BASE == pytest.approx((1 - math.exp(-1)) * (target - BASE), rel=0.01)
    assert run.at(70.0) == pytest.approx(target, abs=1e-3)


def test_arousal_rises_as_the_stimulus_comes_closer() -> None:
    levels = []
    for distance in (6.0, 2.0, 0.5, 0.0):
        client = VirtualClient(NO_HABITUATION)
        run = simulate(client, 60.0, constant(observe(1.0, distance=distance)))
        levels.append(run.arousal[-1])
        assert levels[-1] == pytest.approx(steady(2.0 / (2.0 + distance)), abs=2e-3)
    assert levels == sorted(levels)


def test_without_a_distance_the_eyes_to_the_nearest_stimulus_set_the_proximity() -> None:
    client = VirtualClient(NO_HABITUATION)
    run = simulate(client, 60.0, constant(observe(1.0)))
    eyes = run.poses[-1].head_pos
    distance = math.dist(eyes, STIMULUS)
    assert 1.62 < distance < 1.65  # eyes at 1.65 m, stimulus 1.5 m ahead at 1 m (+ sway)
    assert run.arousal[-1] == pytest.approx(steady(2.0 / (2.0 + distance)), abs=2e-3)


def test_looking_away_lowers_the_threat_by_the_unattended_weight() -> None:
    client = VirtualClient(NO_HABITUATION)
    run = simulate(client, 80.0, constant(observe(1.0, looking_at="avatar", distance=0.0)))
    assert run.arousal[-1] == pytest.approx(steady(0.6), abs=2e-3)


def test_habituation_lowers_arousal_over_minutes_of_constant_exposure() -> None:
    def run(rate: float) -> Run:
        params = VirtualClientParams(habituation_rate=rate, scr_rate_per_min=0.0)
        return simulate(VirtualClient(params), 600.0,
                        constant(observe(1.0, distance=0.0)), fps=5.0, advance_every_s=None)

    habituating, fixed = run(0.01), run(0.0)
    peak = max(habituating.arousal)
    assert 0.6 < peak < steady(1.0)
    # Threat 1: h = 1 - exp(-0.01 t), 95 % after 5 minutes, 99.8 % after 10.
    h_at_300 = habituating.habituation[int(np.searchsorted(habituating.t, 300.0))]
    assert h_at_300 == pytest.approx(1 - math.exp(-3.0), abs=0.005)
    assert habituating.habituation[-1] == pytest.approx(1 - math.exp(-6.0), abs=0.001)
    assert habituating.at(300.0) < BASE + 0.5 * (peak - BASE)
    assert habituating.arousal[-1] < BASE + 0.05
    assert np.all(np.diff(habituating.habituation) >= 0)
    assert fixed.arousal[-1] == pytest.approx(steady(1.0), abs=1e-3)


def test_arousal_returns_to_baseline_and_habituation_recovers_slowly_after_removal() -> None:
    params = VirtualClientParams(habituation_rate=0.01, scr_rate_per_min=0.0)
    client = VirtualClient(params)
    run = simulate(client, 260.0, lambda t: observe(1.0 if t < 60.0 else 0.0, distance=0.0),
                   fps=10.0, advance_every_s=None)
    aroused, h_removed = run.at(60.0), run.habituation[int(np.searchsorted(run.t, 60.0))]
    assert aroused > 0.5
    assert h_removed == pytest.approx(1 - math.exp(-0.6), abs=0.01)
    # Fall time 20 s: 1/e of the excess left after 20 s, nearly none after 200 s.
    excess = aroused - BASE
    assert run.at(80.0) - BASE == pytest.approx(excess * math.exp(-1), rel=0.03)
    assert abs(run.arousal[-1] - BASE) < 0.005
    # Habituation decays with a 600 s time constant: partly, slowly.
    assert run.habituation[-1] == pytest.approx(h_removed * math.exp(-200.0 / 600.0), rel=0.01)


# ---------------------------------------------------------------------------------------------
# Gaze and head

def _stimulus_fraction(params: VirtualClientParams) -> tuple[float, Run]:
    run = simulate(VirtualClient(params), 120.0, constant(observe(1.0, distance=0.3)),
                   fps=30.0, advance_every_s=None, feedback=True)
    settled = [p.intends for t, p in zip(run.t, run.poses, strict=True) if t >= 30.0]
    return settled.count("stimulus") / len(settled), run


def test_gaze_turns_away_from_the_stimulus_at_high_arousal() -> None:
    calm, calm_run = _stimulus_fraction(VirtualClientParams(seed=5, sensitivity=0.0))
    afraid, afraid_run = _stimulus_fraction(
        VirtualClientParams(seed=5, sensitivity=5.0, habituation_rate=0.0))
    assert max(calm_run.arousal) == BASE
    assert min(afraid_run.arousal[900:]) > 0.9
    assert calm > 0.55
    assert afraid < 0.15
    # Avoidance goes to the avatar and elsewhere, both used.
    late = [p.intends for p in afraid_run.poses[900:]]
    assert late.count("avatar") > 0.2 * len(late)
    assert late.count("elsewhere") > 0.2 * len(late)


def test_gaze_points_at_what_it_intends() -> None:
    run = simulate(VirtualClient(VirtualClientParams(seed=8, sensitivity=0.0)), 60.0,
                   constant(observe(1.0)), fps=60.0, advance_every_s=None, feedback=True)
    errors: dict[str, list[float]] = {"stimulus": [], "avatar": []}
    for previous, pose in zip(run.poses, run.poses[1:], strict=False):
        assert math.isclose(math.hypot(*pose.gaze_dir), 1.0, rel_tol=1e-9)
        assert pose.gaze_origin == pose.head_pos
        if pose.intends not in errors or previous.intends != pose.intends:
            continue  # not a fixation (or its first frame, mid-saccade)
        to_target = np.subtract(STIMULUS if pose.intends == "stimulus" else AVATAR,
                                pose.gaze_origin)
        cosine = np.dot(to_target, pose.gaze_dir) / np.linalg.norm(to_target)
        errors[pose.intends].append(math.degrees(math.acos(min(1.0, cosine))))
    for name, angles in errors.items():
        assert len(angles) > 100, name
        # Fixation offset (sd 1.5 deg per axis) and drift: within a few degrees. The stimulus
        # and the avatar are 40 degrees apart, so this tells the two targets apart.
        assert float(np.median(angles)) < 4.0, name
    # The eyes are where a standing person's are.
    assert all(abs(p.head_pos[2] - 1.65) < 0.01 for p in run.poses)


def test_the_head_follows_the_gaze_most_of_the_way() -> None:
    # A stimulus 60 degrees to the left (heading +60): the head turns 0.85 of that, the eyes
    # the rest, and it takes the head a few tenths of a second to get there.
    side = (-1.5 * math.sin(math.radians(60)), 1.5 * math.cos(math.radians(60)), 1.0)
    scene = replace(observe(1.0), stimulus_positions=(side,))
    run = simulate(VirtualClient(VirtualClientParams(seed=3, sensitivity=0.0)), 60.0,
                   constant(scene), fps=60.0, advance_every_s=None, feedback=True)
    settled, since = [], 0
    for pose in run.poses:
        since = since + 1 if pose.intends == "stimulus" else 0
        if since > 90:  # 1.5 s into a fixation
            settled.append(pose.head_hpr[0])
            assert abs(direction_to_hp(*pose.gaze_dir)[0] - 60.0) < 6.0
    assert len(settled) > 300
    assert float(np.median(settled)) == pytest.approx(0.85 * 60.0, abs=2.5)


def test_no_looks_at_a_hidden_stimulus_or_a_missing_avatar() -> None:
    run = simulate(VirtualClient(VirtualClientParams(seed=2)), 30.0,
                   lambda t: observe(0.0 if t < 15.0 else 1.0, avatar=False), fps=30.0,
                   advance_every_s=None, feedback=True)
    before = {p.intends for t, p in zip(run.t, run.poses, strict=True) if t < 15.0}
    after = {p.intends for t, p in zip(run.t, run.poses, strict=True) if t >= 15.0}
    assert before == {"elsewhere"}
    assert after == {"stimulus", "elsewhere"}


def test_seated_client_has_lower_eyes() -> None:
    run = simulate(VirtualClient(VirtualClientParams(seated=True)), 5.0, constant(observe(0.0)))
    heights = [p.head_pos[2] for p in run.poses]
    assert all(abs(h - 1.2) < 0.01 for h in heights)
    assert max(heights) - min(heights) > 1e-4  # it sways


def test_head_quaternion_is_that_of_its_hpr_in_panda3d_convention() -> None:
    for h, p, r in [(0, 0, 0), (90, 0, 0), (30, 20, 10), (-135, -40, 5), (179, 80, -30)]:
        w, x, y, z = hpr_to_quat(h, p, r)
        assert math.isclose(w * w + x * x + y * y + z * z, 1.0)
        # Rotate (0, 1, 0) by q: the forward vector of the heading and pitch.
        forward = np.array([2 * (x * y - w * z), 1 - 2 * (x * x + z * z), 2 * (y * z + w * x)])
        np.testing.assert_allclose(forward, hp_to_direction(h, p), atol=1e-12)
        assert direction_to_hp(*forward) == pytest.approx((h, p), abs=1e-9)
    # Heading 90 turns left (counter-clockwise about +Z): forward becomes -X.
    np.testing.assert_allclose(hp_to_direction(90.0, 0.0), (-1.0, 0.0, 0.0), atol=1e-12)
    np.testing.assert_allclose(hp_to_direction(0.0, 90.0), (0.0, 0.0, 1.0), atol=1e-12)


def test_head_quaternion_matches_panda3d() -> None:
    core = pytest.importorskip("panda3d.core")
    for hpr in [(30.0, 20.0, 10.0), (-135.0, -40.0, 5.0), (179.0, 80.0, -30.0)]:
        quat = core.Quat()
        quat.setHpr(core.VBase3(*hpr))
        expected = (quat.getR(), quat.getI(), quat.getJ(), quat.getK())
        assert hpr_to_quat(*hpr) == pytest.approx(expected, abs=1e-6)


# ---------------------------------------------------------------------------------------------
# Signals

def _r_peak_times(ts: np.ndarray, ecg: np.ndarray) -> np.ndarray:
    """R peaks: local maxima above 0.7 mV, at least 250 ms apart."""
    inner = ecg[1:-1]
    candidates = np.flatnonzero((inner > 0.7) & (inner >= ecg[:-2]) & (inner > ecg[2:])) + 1
    peaks: list[int] = []
    for i in candidates:
        if not peaks or ts[i] - ts[peaks[-1]] > 250_000_000:
            peaks.append(int(i))
    return ts[peaks].astype(np.float64) * 1e-9


@pytest.mark.parametrize("exposure", [0.0, 1.0])
def test_heart_rate_from_ecg_r_peaks_matches_the_reported_heart_rate(exposure: float) -> None:
    client = VirtualClient(VirtualClientParams(seed=6, habituation_rate=0.0))
    run = simulate(client, 90.0, constant(observe(exposure, distance=0.0)), fps=10.0,
                   advance_every_s=0.5)
    ts, ecg = run.stream("ecg")
    hr_ts, hr = run.stream("heart_rate")
    window = ts >= 60_000_000_000  # settled arousal
    peaks = _r_peak_times(ts[window], ecg[window])
    intervals = np.diff(peaks)
    from_ecg = 60.0 / intervals
    reported = np.interp(peaks[1:], hr_ts * 1e-9, hr)
    assert len(peaks) > 25
    assert abs(float(from_ecg.mean()) - float(reported.mean())) < 1.0
    assert float(np.max(np.abs(from_ecg - reported))) < 5.0
    a_rel = (run.arousal[-1] - BASE) / (1 - BASE)
    assert float(from_ecg.mean()) == pytest.approx(70.0 + 45.0 * a_rel, abs=4.0)


def _scr_count(eda: np.ndarray) -> int:
    """Rises of the smoothed skin conductance by more than 0.1 uS (one per response)."""
    smooth = np.convolve(eda, np.ones(8) / 8, mode="valid")
    rising = np.diff(smooth) > 0
    count, rise = 0, 0.0
    for up, step in zip(rising, np.diff(smooth), strict=True):
        if up:
            rise += step
        else:
            count += rise > 0.1
            rise = 0.0
    return count


def test_more_skin_conductance_responses_at_high_arousal() -> None:
    counts = {}
    for exposure in (0.0, 1.0):
        params = VirtualClientParams(seed=9, habituation_rate=0.0)
        run = simulate(VirtualClient(params), 420.0, constant(observe(exposure, distance=0)),
                       fps=5.0, advance_every_s=1.0)
        ts, eda = run.stream("eda")
        counts[exposure] = _scr_count(eda[ts >= 60_000_000_000])
    # Poisson, 8 per minute times arousal, over 6 settled minutes: 7 expected at rest
    # (arousal 0.15), 48 at arousal 1 (of which the detector merges some that overlap).
    assert counts[0.0] <= 15
    assert counts[1.0] >= 25
    assert counts[1.0] > 2.5 * counts[0.0]


def test_a_step_up_in_threat_evokes_a_phasic_response() -> None:
    # Tonic level fixed and no spontaneous responses: what remains is the evoked response.
    params = VirtualClientParams(scl_gain_us=0.0, scr_rate_per_min=0.0)
    run = simulate(VirtualClient(params), 30.0,
                   lambda t: observe(1.0 if t >= 10.0 else 0.0, distance=0.0), fps=30.0)
    ts, eda = run.stream("eda")
    t = ts * 1e-9
    assert float(np.max(np.abs(eda[t < 11.0] - 2.0))) < 0.05  # flat until the latency is over
    # Full-size response (1 uS) peaking about 1.2 s after its onset 1 s after the step.
    peak = int(np.argmax(eda))
    assert 11.8 < t[peak] < 12.8
    assert float(eda[peak]) - 2.0 == pytest.approx(1.0, abs=0.05)
    assert float(np.max(np.abs(eda[t > 29.0] - 2.0))) < 0.05  # decayed (4 s time constant)


# ---------------------------------------------------------------------------------------------
# Check-ins and stop

def test_suds_follows_arousal_in_steps_of_five() -> None:
    means = []
    for exposure in (0.0, 0.3, 0.6, 1.0):
        client = VirtualClient(replace(NO_HABITUATION, seed=4))
        run = simulate(client, 60.0, constant(observe(exposure, distance=0.0)),
                       advance_every_s=None)
        answers = [client.answer_checkin("suds", 60.0) for _ in range(40)]
        values = [a.value for a in answers if a is not None]
        assert len(values) == 40
        assert all(0 <= v <= 100 and v % 5 == 0 for v in values)
        means.append(float(np.mean(values)))
        expected = 100 * (run.arousal[-1] - BASE) / (1 - BASE)
        # Noise sd 5 and rounding to 5, clipped at 0 and 100: the mean lands near the model.
        assert means[-1] == pytest.approx(expected, abs=6.0)
    assert means == sorted(means)
    assert means[0] < 10.0 and means[-1] > 80.0


def test_expectancy_delays_and_unknown_instruments() -> None:
    calm = VirtualClient(VirtualClientParams(sensitivity=0.0, seed=1))
    fearful = VirtualClient(VirtualClientParams(sensitivity=1.0, seed=1))
    for client in (calm, fearful):
        simulate(client, 30.0, constant(observe(1.0, distance=0.0)), advance_every_s=None)
    calm_answers = [calm.answer_checkin("expectancy", 30.0) for _ in range(40)]
    fearful_answers = [fearful.answer_checkin("Expectancy", 30.0) for _ in range(40)]
    assert all(isinstance(a, CheckInAnswer) for a in calm_answers + fearful_answers)
    calm_values = [a.value for a in calm_answers if a is not None]
    fearful_values = [a.value for a in fearful_answers if a is not None]
    assert all(0 <= v <= 100 for v in calm_values + fearful_values)
    assert float(np.mean(calm_values)) < 8.0
    assert float(np.mean(fearful_values)) > 50.0
    # Delays: log-normal around answer_latency_s at rest, longer when aroused.
    calm_delays = [a.delay_s for a in calm_answers if a is not None]
    fearful_delays = [a.delay_s for a in fearful_answers if a is not None]
    assert float(np.mean(calm_delays)) == pytest.approx(3.0, rel=0.2)
    assert float(np.mean(fearful_delays)) > float(np.mean(calm_delays))
    assert calm.answer_checkin("phq9", 30.0) is None


def test_wants_stop_above_the_panic_threshold_then_waits_out_the_refractory_period() -> None:
    never = VirtualClient(VirtualClientParams(habituation_rate=0.0))
    stops: list[float] = []
    params = VirtualClientParams(habituation_rate=0.0, panic_threshold=0.5,
                                 panic_refractory_s=20.0)
    panicky = VirtualClient(params)
    dt = 0.05
    for i in range(int(60 / dt)):
        t = i * dt
        obs = observe(1.0, distance=0.0)
        never.update(t, dt, obs)
        assert not never.wants_stop()
        panicky.update(t, dt, obs)
        if panicky.wants_stop():
            assert panicky.arousal > 0.5
            stops.append(t)
    # a = 1 - 0.85 exp(-t / 6) crosses 0.5 at 6 ln(1.7) = 3.2 s and stays above: one request
    # then, and one every 20 s after it.
    assert stops[0] == pytest.approx(3.2, abs=0.1)
    assert np.diff(stops) == pytest.approx([20.0, 20.0], abs=dt)


# ---------------------------------------------------------------------------------------------
# Parameters

@pytest.mark.parametrize(("name", "value", "allowed"), [
    ("baseline_arousal", 1.2, "[0.0, 0.9]"),
    ("sensitivity", -0.1, "[0.0, 10.0]"),
    ("habituation_rate", float("nan"), "[0.0, 1.0]"),
    ("rise_time_s", 0.0, "[0.1, 600.0]"),
    ("fall_time_s", math.inf, "[0.1, 3600.0]"),
    ("proximity_scale_m", 0.0, "[0.01, 100.0]"),
    ("avoidance_threshold", 1.5, "[0.0, 1.0]"),
    ("hr_rest_bpm", 10.0, "[30.0, 120.0]"),
    ("scr_rate_per_min", -1.0, "[0.0, 60.0]"),
    ("answer_latency_s", 0.0, "[0.1, 60.0]"),
    ("eye_height_m", 3.0, "[0.3, 2.5]"),
    ("seed", -1, "[0, "),
    ("seed", 1.5, "[0, "),
    ("sensitivity", "high", "[0.0, 10.0]"),
])
def test_bad_params_name_the_field_and_its_range(name: str, value: object, allowed: str) -> None:
    with pytest.raises(ValueError, match=rf"^{name} must be .*{re.escape(allowed)}"):
        VirtualClientParams(**{name: value})  # type: ignore[arg-type]


def test_seated_must_be_a_bool_and_eye_height_defaults_follow_it() -> None:
    with pytest.raises(ValueError, match="seated must be a bool"):
        VirtualClientParams(seated=1)  # type: ignore[arg-type]
    assert VirtualClientParams().resolved_eye_height_m == 1.65
    assert VirtualClientParams(seated=True).resolved_eye_height_m == 1.2
    assert VirtualClientParams(seated=True, eye_height_m=1.1).resolved_eye_height_m == 1.1


def test_the_documented_parameter_table_matches_the_defaults() -> None:
    doc = Path(__file__).resolve().parents[2] / "docs" / "virtual-client.md"
    section = doc.read_text(encoding="utf-8").split("## Parameters", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \| ([^|]+) \|", section, re.M)
    documented = {name: default.strip() for name, default in rows}
    defaults = {f.name: repr(f.default) for f in fields(VirtualClientParams)}
    assert documented == defaults


def test_a_planted_withdrawal_and_confrontation_are_acted_out() -> None:
    from vr_server.virtual_client.params import PlantedRupture

    client = VirtualClient(VirtualClientParams(seed=4, ruptures=(
        PlantedRupture(10.0, 10.0, "withdrawal"), PlantedRupture(30.0, 5.0, "confrontation"))))
    obs = observe(0.5)
    poses = {}
    stops = []
    t = 0.0
    while t < 40.0:
        poses[round(t, 2)] = client.update(t, 1 / 90, obs)
        if client.wants_stop():
            stops.append(t)
        t += 1 / 90
    assert len(stops) == 1 and 30.0 <= stops[0] < 30.05  # the confrontation begins with stop
    before = client.answer_checkin("suds", 5.0)
    assert before is not None
    # Withdrawn: stepped back (away from the stimulus ahead), looking at neither stimulus nor
    # avatar, answering late with the same rating, declining a step up.
    late = poses[min(poses, key=lambda k: abs(k - 18.0))]
    assert late.head_pos[1] == pytest.approx(-0.6, abs=0.05)
    assert late.intends == "elsewhere"
    assert all(p.intends == "elsewhere" for k, p in poses.items() if 11 <= k < 19.9)
    same = client.answer_checkin("suds", 15.0)
    assert same is not None and same.value == before.value and same.delay_s > 9.0
    consent = client.answer_checkin("consent", 16.0)
    assert consent is not None and consent.value == 0
    assert client.answer_checkin("consent", 32.0).value == 0  # type: ignore[union-attr]
    back = poses[min(poses, key=lambda k: abs(k - 28.0))]
    assert abs(back.head_pos[1]) < 0.05  # back in place afterwards
    with pytest.raises(ValueError, match="marker must be withdrawal or confrontation"):
        PlantedRupture(1.0, 2.0, "sulk")  # type: ignore[arg-type]
