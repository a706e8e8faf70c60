"""The virtual client: a seeded, simulated headset wearer for tests, demos and benchmarks.

It stands where the scene puts it, looks at the feared stimulus, the therapist avatar or
elsewhere, gets aroused by what it sees (and used to it over minutes), produces ECG, skin
conductance and heart rate, answers check-ins and, if its panic threshold allows, asks to
stop. Pure numpy and Python: no renderer, no sockets. It is a simple model for testing
controllers and detectors, not a validated physiological simulator
(``docs/virtual-client.md``).

Frame loop::

    client = VirtualClient(VirtualClientParams(seed=7))
    pose = client.update(t_s, dt, observation)   # every frame
    batches = client.advance(clock.now_ns())     # every batch interval (20 ms)
    if client.wants_stop(): ...

All times are on the session clock (``update`` and ``answer_checkin`` in seconds,
``advance`` in nanoseconds) and must not go backwards from one call to the next.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from telemetry.schemas import SampleBatch, StreamDescriptor
from vr_server.virtual_client.behaviour import Behaviour, ClientPose, SceneObservation, nearest
from vr_server.virtual_client.params import PlantedRupture, VirtualClientParams
from vr_server.virtual_client.physiology import Physiology

INSTRUMENTS: tuple[str, ...] = ("suds", "expectancy", "fms", "consent")
"""The check-in instruments the client can answer."""

CONSENT_BELOW = 0.6
"""The virtual client agrees to a step up while its relative arousal is below this."""
WITHDRAWN_EXTRA_DELAY_S = 9.0
"""How much later a withdrawing client answers (a planted rupture)."""
_LATENCY_SIGMA = 0.35
"""Log-normal shape of answer delays (right-skewed, as response times are)."""


@dataclass(frozen=True, slots=True)
class CheckInAnswer:
    """A check-in answer: the rating and how long after the question it is given."""

    value: int
    """The rating, 0-100 (SUDS in steps of 5)."""
    delay_s: float
    """Seconds between the question and the answer."""


class VirtualClient:
    """A simulated headset wearer; deterministic for a seed and an input sequence."""

    def __init__(self, params: VirtualClientParams | None = None) -> None:
        self.params = params if params is not None else VirtualClientParams()
        # Independent sub-streams per concern: adding a check-in or changing how often
        # samples are fetched must not change the gaze or the physiology.
        physiology_seq, behaviour_seq, answer_seq = np.random.SeedSequence(
            self.params.seed).spawn(3)
        self._physiology = Physiology(self.params, physiology_seq)
        self._behaviour = Behaviour(self.params, behaviour_seq)
        self._answer_rng = np.random.default_rng(answer_seq)
        self._scale = self.params.proximity_scale_m
        self._unattended = self.params.unattended_weight
        self._panic = self.params.panic_threshold
        self._refractory_ns = round(self.params.panic_refractory_s * 1e9)
        self._stop_pending = False
        self._next_stop_ns = -(2**62)
        self._acted: set[int] = set()  # planted ruptures begun (a confrontation stops once)
        self._last_suds: int | None = None

    @property
    def streams(self) -> tuple[StreamDescriptor, ...]:
        """Descriptors of the streams :meth:`advance` produces (ecg, eda, heart_rate)."""
        return self._physiology.streams

    @property
    def arousal(self) -> float:
        """Current arousal, 0 (calm) to 1 (as afraid as this client gets)."""
        return self._physiology.arousal

    @property
    def heart_rate(self) -> float:
        """Current heart rate, beats per minute."""
        return self._physiology.heart_rate

    @property
    def habituation(self) -> float:
        """Current habituation, 0-1: the share of the fear response that has faded."""
        return self._physiology.habituation

    @property
    def threat(self) -> float:
        """The threat input of the latest frame (0-1), before habituation."""
        return self._physiology.threat

    def update(self, t_s: float, dt: float, obs: SceneObservation) -> ClientPose:
        """One frame: perceive ``obs`` at session time ``t_s`` and return the pose.

        ``dt`` is the time since the previous frame (it smooths the motion); the physiology
        runs on ``t_s``. What ``obs`` shows acts from ``t_s`` until the next update.
        """
        t_ns = round(t_s * 1e9)
        physiology = self._physiology
        physiology.integrate_to(t_ns)
        arousal = physiology.arousal
        episode = self.rupture_at(t_s)
        pose = self._behaviour.update(t_s, dt, obs, arousal,
                                      withdrawn=episode is not None
                                      and episode.marker == "withdrawal")
        if episode is not None and id(episode) not in self._acted:
            self._acted.add(id(episode))
            if episode.marker == "confrontation":
                self._stop_pending = True  # it begins with the stop button

        exposure = obs.exposure
        proximity = 1.0
        if exposure > 0.0:
            distance = obs.stimulus_distance_m
            if distance is None and obs.stimulus_positions:
                distance = nearest(pose.head_pos, obs.stimulus_positions)[1]
            # No position and no distance (a height, an audience): exposure says it all.
            if distance is not None:
                proximity = self._scale / (self._scale + max(0.0, distance))
        attention = 1.0 if obs.looking_at == "stimulus" else self._unattended
        physiology.set_input(t_ns, exposure, proximity, attention)

        if arousal > self._panic and t_ns >= self._next_stop_ns:
            self._stop_pending = True
            self._next_stop_ns = t_ns + self._refractory_ns
        return pose

    def advance(self, t_now_ns: int) -> list[SampleBatch]:
        """Sample batches (ecg, eda, heart_rate; those with samples due) up to ``t_now_ns``.

        Call it as often as convenient (every 20 ms in the host): the samples are the same
        whatever the cadence, provided the times do not go backwards.
        """
        return self._physiology.advance(t_now_ns)

    def answer_item(self, symptom: bool, low: float, high: float, step: float,
                    t_s: float) -> tuple[float, float]:
        """``(value, delay_s)``: the client's answer to one questionnaire item on the scale
        ``low``-``high`` (steps of ``step``), asked at ``t_s``.

        A stand-in, not a model of any instrument: on a ``symptom`` item (sickness, mood) the
        answer sits at ``0.1 + 0.3 * relative arousal`` of the way up the scale, on any other
        (how the session went, how the therapist or the guide was) at 0.8, each plus normal
        noise of sd 0.08 of the scale, rounded to the scale; a yes/no item (0-1) is a no. The
        delay is that of a check-in.
        """
        self._physiology.integrate_to(round(t_s * 1e9))
        p = self.params
        base = p.baseline_arousal
        relative = min(1.0, max(0.0, (self.arousal - base) / (1.0 - base)))
        rng = self._answer_rng
        if high - low <= 1:
            value = low
        else:
            share = (0.1 + 0.3 * relative) if symptom else 0.8
            share += float(rng.normal(0.0, 0.08))
            steps = round((high - low) * min(1.0, max(0.0, share)) / step)
            value = low + steps * step
        mean_delay = p.answer_latency_s * (1.0 + 0.5 * relative)
        mu = math.log(mean_delay) - _LATENCY_SIGMA**2 / 2
        return value, float(rng.lognormal(mu, _LATENCY_SIGMA))

    def answer_checkin(self, instrument: str, t_s: float) -> CheckInAnswer | None:
        """The client's answer to a check-in asked at ``t_s``, or None for an unknown one.

        'suds' (Subjective Units of Distress): ``100 * (a - baseline) / (1 - baseline)`` plus
        noise (``suds_noise``), in steps of 5. 'expectancy' (how likely the feared outcome
        feels): ``100 * (0.6 * min(1, sensitivity) * (1 - h) + 0.4 * relative arousal)`` plus
        the same noise, in steps of 1. 'fms' (motion sickness, 0-20): ``4 * relative arousal``
        plus a fifth of the noise (the simulated client has no vection model: a little
        sickness that follows its arousal). 'consent' (to a step up): 100 (yes) while the relative
        arousal is below ``CONSENT_BELOW``, else 0 (no). The delay is log-normal with mean
        ``answer_latency_s * (1 + 0.5 * relative arousal)``.
        """
        kind = instrument.strip().lower()
        if kind not in INSTRUMENTS:
            return None
        # Rated from the state at t_s (a no-op when the frame loop is already there).
        self._physiology.integrate_to(round(t_s * 1e9))
        p = self.params
        base = p.baseline_arousal
        relative = min(1.0, max(0.0, (self.arousal - base) / (1.0 - base)))
        rng = self._answer_rng
        noise = float(rng.normal(0.0, p.suds_noise)) if p.suds_noise > 0 else 0.0
        episode = self.rupture_at(t_s)
        if kind == "suds":
            value = 5 * round((100.0 * relative + noise) / 5.0)
            if episode is not None and episode.marker == "withdrawal" and \
                    self._last_suds is not None:
                value = self._last_suds  # a minimal answer: the same as last time
        elif kind == "consent":
            value = 100 if relative < CONSENT_BELOW and episode is None else 0
        elif kind == "fms":
            value = min(20, max(0, round(4.0 * relative + 0.2 * noise)))
        else:
            belief = min(1.0, p.sensitivity) * (1.0 - self.habituation)
            value = round(100.0 * (0.6 * belief + 0.4 * relative) + noise)
        mean_delay = p.answer_latency_s * (1.0 + 0.5 * relative)
        mu = math.log(mean_delay) - _LATENCY_SIGMA**2 / 2  # so that the mean is mean_delay
        delay = float(rng.lognormal(mu, _LATENCY_SIGMA))
        if episode is not None and episode.marker == "withdrawal":
            delay += WITHDRAWN_EXTRA_DELAY_S
        answer = CheckInAnswer(value=min(100, max(0, int(value))), delay_s=delay)
        if kind == "suds":
            self._last_suds = answer.value
        return answer

    def rupture_at(self, t_s: float) -> PlantedRupture | None:
        """The planted rupture being acted out at ``t_s``, if any."""
        return next((r for r in self.params.ruptures if r.covers(t_s)), None)

    def wants_stop(self) -> bool:
        """Whether the client asks to stop (presses the stop button) now.

        Arousal above ``panic_threshold`` raises a request; the first call after that returns
        True and clears it. For ``panic_refractory_s`` from the moment it was raised no new
        request is raised, however high arousal stays; after that, arousal still (or again)
        above the threshold raises the next one. Poll it once a frame.
        """
        pending = self._stop_pending
        self._stop_pending = False
        return pending
