"""Arousal, habituation and the physiological signals they drive (ECG, EDA, heart rate).

The model, in short (``docs/virtual-client.md`` has it in full):

* threat ``x = min(1, sensitivity * exposure * proximity * attention)``, set by the client at
  each frame and held until the next;
* habituation ``h`` grows while ``x > 0`` (``dh/dt = rate * x * (1 - h)``) and decays slowly
  towards 0 while there is no stimulus (``dh/dt = -h / recovery``);
* arousal ``a`` follows ``target = baseline + (1 - baseline) * x * (1 - h)`` with a first-order
  lag, ``rise_time_s`` upwards and ``fall_time_s`` downwards;
* heart rate is linear in arousal plus respiratory and slow (Mayer-wave) oscillations and a
  small random walk; the ECG is a PQRST train whose phase advances at that heart rate;
* skin conductance is a tonic level linear in arousal plus phasic responses (Bateman-shaped),
  spontaneous at a Poisson rate proportional to arousal and evoked by sudden rises in the
  stimulus drive (a level step, a spider coming closer).

Why a fixed internal step: the state is integrated on a 10 ms grid of the session clock, and
every sample is computed from the grid state at or before its time, so the samples depend only
on the inputs and their times, never on how often :meth:`Physiology.advance` is called. Each
random source has its own generator, drawn in an order fixed by the grid and the sample clocks,
for the same reason.
"""

from __future__ import annotations

import math

import numpy as np

from telemetry.schemas import SampleBatch, StreamDescriptor
from telemetry.simulated import StreamClock
from telemetry.streams import ECG, EDA, HEART_RATE
from vr_server.virtual_client.params import VirtualClientParams

STEP_NS = 10_000_000
"""The internal integration step (10 ms), on the session clock."""
STEP_S = STEP_NS * 1e-9

MAX_HISTORY_STEPS = 30_000
"""Grid states kept for samples not yet requested (5 minutes). A caller that never calls
:meth:`Physiology.advance` loses the oldest samples instead of growing memory without bound."""

STREAMS: tuple[StreamDescriptor, ...] = (ECG, EDA, HEART_RATE)
"""The streams the physiology produces, in the order of its batches."""

# Phasic skin-conductance response: a Bateman function (difference of exponentials), rising
# in about a second and decaying over about four, the textbook SCR shape.
SCR_RISE_S = 0.5
SCR_DECAY_S = 4.0
SCR_LATENCY_S = 1.0
"""Delay of an evoked response after the rise in threat that causes it (1-3 s in people)."""
SCR_SPAN_S = 40.0
"""After this long a response contributes nothing (exp(-10) of its amplitude: negligible)."""
SCR_JUMP = 0.05
"""Rise of the stimulus drive above its running reference that evokes a response."""
SCR_REF_TIME_S = 3.0
"""Time constant of the running reference: slower rises than this do not evoke responses."""
SCR_REFRACTORY_S = 2.0
"""Least time between two evoked responses (a fast ramp evokes one, not one per step)."""
_SCR_PEAK_T = math.log(SCR_DECAY_S / SCR_RISE_S) * SCR_DECAY_S * SCR_RISE_S / (
    SCR_DECAY_S - SCR_RISE_S)
_SCR_NORM = 1.0 / (math.exp(-_SCR_PEAK_T / SCR_DECAY_S) - math.exp(-_SCR_PEAK_T / SCR_RISE_S))

# Heart-rate variability: respiratory sinus arrhythmia, a 0.1 Hz Mayer wave and a slow
# Ornstein-Uhlenbeck walk. Without them the R-R intervals would be perfectly regular, which no
# detector under test should be allowed to rely on.
RSA_BPM = 1.5
MAYER_BPM = 1.0
HR_WALK_BPM = 1.5
HR_WALK_TIME_S = 5.0

ECG_NOISE_MV = 0.02
EDA_NOISE_US = 0.01
_NOISE_BLOCK = 1024


def bateman(u: np.ndarray) -> np.ndarray:
    """Unit-peak SCR shape at ``u`` seconds after onset (``u > 0``)."""
    result: np.ndarray = _SCR_NORM * (np.exp(-u / SCR_DECAY_S) - np.exp(-u / SCR_RISE_S))
    return result


def pqrst(phase: np.ndarray) -> np.ndarray:
    """One synthetic lead-II beat per unit of phase, in mV (R peak 1.2 mV at phase 0.3)."""
    frac = phase % 1.0
    p_wave = 0.15 * np.exp(-(((frac - 0.15) / 0.03) ** 2))
    q_wave = -0.1 * np.exp(-(((frac - 0.285) / 0.008) ** 2))
    r_wave = 1.2 * np.exp(-(((frac - 0.3) / 0.012) ** 2))
    s_wave = -0.25 * np.exp(-(((frac - 0.318) / 0.01) ** 2))
    t_wave = 0.3 * np.exp(-(((frac - 0.55) / 0.05) ** 2))
    result: np.ndarray = p_wave + q_wave + r_wave + s_wave + t_wave
    return result


class Physiology:
    """The physiological state of a virtual client and the sample streams it produces.

    Feed it with :meth:`set_input` (once a frame is plenty) and collect samples with
    :meth:`advance`. Times are session-clock nanoseconds and must not go backwards across
    calls (an input dated before the integrated time takes effect at the next step).
    """

    def __init__(self, params: VirtualClientParams, seed: np.random.SeedSequence) -> None:
        self.params = params
        step_seq, scr_seq, ecg_seq, eda_seq, misc_seq = seed.spawn(5)
        self._step_rng = np.random.default_rng(step_seq)
        self._scr_rng = np.random.default_rng(scr_seq)
        self._ecg_rng = np.random.default_rng(ecg_seq)
        self._eda_rng = np.random.default_rng(eda_seq)
        misc = np.random.default_rng(misc_seq)
        # Per-person rhythm: breathing 12-18 per minute, Mayer wave near 0.1 Hz.
        self._rsa_w = 2 * math.pi * float(misc.uniform(0.2, 0.3))
        self._rsa_phi = float(misc.uniform(0, 2 * math.pi))
        self._mayer_w = 2 * math.pi * float(misc.uniform(0.08, 0.12))
        self._mayer_phi = float(misc.uniform(0, 2 * math.pi))
        self._wander_phi = float(misc.uniform(0, 2 * math.pi))

        base = params.baseline_arousal
        self._alpha_rise = -math.expm1(-STEP_S / params.rise_time_s)
        self._alpha_fall = -math.expm1(-STEP_S / params.fall_time_s)
        self._alpha_ref = -math.expm1(-STEP_S / SCR_REF_TIME_S)
        self._recover = STEP_S / params.habituation_recovery_s
        self._walk_decay = math.exp(-STEP_S / HR_WALK_TIME_S)
        self._walk_sd = HR_WALK_BPM * math.sqrt(1 - self._walk_decay**2)
        self._scr_rate_s = params.scr_rate_per_min / 60.0

        # Inputs, held from one set_input to the next: the threat, and the stimulus drive
        # (threat without attention) that evokes skin-conductance responses.
        self._threat = 0.0
        self._drive = 0.0

        # State at the latest grid point.
        self._started = False
        self._k = 0
        self._a = base
        self._h = 0.0
        self._ref = 0.0
        self._last_evoked_ns = -(2**62)
        self._walk = 0.0
        self._hazard = 0.0
        self._hazard_next = float(self._scr_rng.exponential())
        # ECG phase in beats, never wrapped: float64 keeps sub-microsecond resolution for
        # years of beats, and the pqrst shape takes the fractional part itself.
        self._phase = 0.0
        self._hr = self._heart_rate(0.0)
        self._noise = self._step_rng.standard_normal(_NOISE_BLOCK)
        self._noise_i = 0

        # Grid history not yet turned into samples: index 0 is grid point _hist_k0.
        self._hist_k0 = 0
        self._hist_a: list[float] = []
        self._hist_hr: list[float] = []
        self._hist_phase: list[float] = []
        self._scr_events: list[tuple[int, float]] = []  # (onset ns, amplitude uS)
        self._clocks = [StreamClock(d, round(1e9 / d.nominal_rate), 0) for d in STREAMS]

    # ----------------------------------------------------------------------------------------
    # What the client reads

    @property
    def arousal(self) -> float:
        """Arousal (0-1) at the latest grid point."""
        return self._a

    @property
    def habituation(self) -> float:
        """Habituation (0-1): the fraction of the fear response that has faded."""
        return self._h

    @property
    def heart_rate(self) -> float:
        """Heart rate in beats per minute at the latest grid point."""
        return self._hr

    @property
    def threat(self) -> float:
        """The held threat input before habituation (0-1)."""
        return self._threat

    @property
    def effective_threat(self) -> float:
        """The held threat input after habituation: what drives arousal now."""
        return self._threat * (1.0 - self._h)

    @property
    def streams(self) -> tuple[StreamDescriptor, ...]:
        """Descriptors of the streams :meth:`advance` produces."""
        return STREAMS

    # ----------------------------------------------------------------------------------------
    # Inputs and integration

    def set_input(self, t_ns: int, exposure: float, proximity: float, attention: float) -> None:
        """Hold new inputs from ``t_ns`` on (each factor 0-1; see the module docstring)."""
        self.integrate_to(t_ns)
        drive = self.params.sensitivity * min(1.0, max(0.0, exposure)) * min(
            1.0, max(0.0, proximity))
        self._drive = min(1.0, drive)
        self._threat = min(1.0, drive * min(1.0, max(0.0, attention)))

    def integrate_to(self, t_ns: int) -> None:
        """Run every grid step that ends at or before ``t_ns``."""
        if not self._started:
            self._start(t_ns)
        target_k = t_ns // STEP_NS
        while self._k < target_k:
            self._step()
        if len(self._hist_a) > MAX_HISTORY_STEPS:
            self._forget(len(self._hist_a) - MAX_HISTORY_STEPS // 2)

    def _start(self, t_ns: int) -> None:
        # The person is at rest at the first time the model sees, and samples begin there: a
        # client created mid-session does not replay the session before it.
        self._started = True
        self._k = t_ns // STEP_NS
        self._hist_k0 = self._k
        t0 = self._k * STEP_NS
        self._hr = self._heart_rate(t0 * 1e-9)
        self._record()
        for clock in self._clocks:
            clock.next_ns = -(-t0 // clock.period_ns) * clock.period_ns

    def _heart_rate(self, t_s: float) -> float:
        p = self.params
        base = p.baseline_arousal
        hr = (p.hr_rest_bpm + p.hr_gain_bpm * (self._a - base) / (1.0 - base)
              + RSA_BPM * math.sin(self._rsa_w * t_s + self._rsa_phi)
              + MAYER_BPM * math.sin(self._mayer_w * t_s + self._mayer_phi)
              + self._walk)
        return min(220.0, max(30.0, hr))

    def _record(self) -> None:
        self._hist_a.append(self._a)
        self._hist_hr.append(self._hr)
        self._hist_phase.append(self._phase)

    def _step(self) -> None:
        """One 10 ms step from grid point k to k + 1, with the inputs held now."""
        p = self.params
        threat = self._threat
        h = self._h
        # Habituation: grows with exposure, saturating; recovers slowly only without stimulus.
        if threat > 0.0:
            h += p.habituation_rate * threat * (1.0 - h) * STEP_S
        else:
            h -= h * self._recover
        self._h = h
        target = p.baseline_arousal + (1.0 - p.baseline_arousal) * threat * (1.0 - h)
        a = self._a
        a += (target - a) * (self._alpha_rise if target > a else self._alpha_fall)
        self._a = a = min(1.0, max(0.0, a))

        end_ns = (self._k + 1) * STEP_NS
        # Evoked SCR: the stimulus drive (not attention, which flickers with every saccade)
        # jumped above its running reference. Onsets lie after the step's end, so a sample
        # already emitted can never gain a response later.
        drive = self._drive
        jump = drive - self._ref
        if jump > SCR_JUMP and end_ns - self._last_evoked_ns >= SCR_REFRACTORY_S * 1e9:
            amplitude = 0.2 + 0.8 * min(1.0, jump * (1.0 - h) / 0.4)
            self._scr_events.append((end_ns + round(SCR_LATENCY_S * 1e9), amplitude))
            self._last_evoked_ns = end_ns
            self._ref = drive
        else:
            self._ref += (drive - self._ref) * self._alpha_ref
        # Spontaneous SCRs by time rescaling: fire when the integrated hazard reaches an Exp(1)
        # draw. One draw per response instead of one per step.
        self._hazard += self._scr_rate_s * a * STEP_S
        if self._hazard >= self._hazard_next:
            self._hazard = 0.0
            self._hazard_next = float(self._scr_rng.exponential())
            amplitude = float(self._scr_rng.uniform(0.2, 0.2 + 0.8 * a))
            self._scr_events.append((end_ns, amplitude))

        # The ECG phase advances at the heart rate of the step's start, so that a sample's
        # phase follows from its grid point alone.
        self._phase += self._hr / 60.0 * STEP_S
        if self._noise_i == _NOISE_BLOCK:
            self._noise = self._step_rng.standard_normal(_NOISE_BLOCK)
            self._noise_i = 0
        self._walk = self._walk * self._walk_decay + self._walk_sd * float(
            self._noise[self._noise_i])
        self._noise_i += 1
        self._k += 1
        self._hr = self._heart_rate(end_ns * 1e-9)
        self._record()

    def _forget(self, n: int) -> None:
        """Drop the oldest ``n`` grid points; samples that needed them are skipped."""
        del self._hist_a[:n], self._hist_hr[:n], self._hist_phase[:n]
        self._hist_k0 += n
        first_ns = self._hist_k0 * STEP_NS
        for clock in self._clocks:
            if clock.next_ns < first_ns:
                clock.next_ns = -(-first_ns // clock.period_ns) * clock.period_ns
        self._trim_events()

    # ----------------------------------------------------------------------------------------
    # Samples

    def advance(self, t_now_ns: int) -> list[SampleBatch]:
        """Batches of every sample due up to ``t_now_ns``: ecg, eda, heart_rate (those due).

        Sample times are exact multiples of each stream's period, as in
        :meth:`telemetry.simulated.SimulatedSensors.advance`.
        """
        self.integrate_to(t_now_ns)
        batches = []
        for clock in self._clocks:
            ts = clock.due(t_now_ns)
            if ts is None:
                continue
            values = self._values(clock.descriptor, ts)
            batches.append(SampleBatch(
                stream=clock.descriptor.name, timestamps_ns=ts,
                values=values.astype(clock.descriptor.dtype, copy=False)))
        self._trim()
        return batches

    def _values(self, descriptor: StreamDescriptor, ts: np.ndarray) -> np.ndarray:
        k = ts // STEP_NS
        idx = k - self._hist_k0
        t_in_step = (ts - k * STEP_NS).astype(np.float64) * 1e-9
        n = ts.shape[0]
        if descriptor is ECG:
            hr = np.asarray(self._hist_hr)[idx]
            phase = np.asarray(self._hist_phase)[idx] + hr / 60.0 * t_in_step
            t = ts.astype(np.float64) * 1e-9
            wander = 0.05 * np.sin(2 * math.pi * 0.15 * t + self._wander_phi)
            ecg = pqrst(phase) + wander + ECG_NOISE_MV * self._ecg_rng.standard_normal(n)
            return ecg[:, None]
        if descriptor is EDA:
            p = self.params
            eda: np.ndarray = p.scl_base_us + p.scl_gain_us * np.asarray(self._hist_a)[idx]
            # One event at a time, in creation order: element-wise sums, so a sample's value
            # does not depend on which other samples share its batch.
            for onset_ns, amplitude in self._scr_events:
                u = (ts - onset_ns).astype(np.float64) * 1e-9
                active = (u > 0.0) & (u < SCR_SPAN_S)
                if active.any():
                    eda[active] += amplitude * bateman(u[active])
            eda += EDA_NOISE_US * self._eda_rng.standard_normal(n)
            return eda[:, None]
        rate: np.ndarray = np.round(np.asarray(self._hist_hr)[idx], 1)
        return rate[:, None]

    def _trim(self) -> None:
        # Keep the grid points and responses that a sample not yet emitted may still need.
        oldest_ns = min(clock.next_ns for clock in self._clocks)
        n = min(oldest_ns // STEP_NS - self._hist_k0, len(self._hist_a) - 1)
        if n > 0:
            del self._hist_a[:n], self._hist_hr[:n], self._hist_phase[:n]
            self._hist_k0 += n
        self._trim_events()

    def _trim_events(self) -> None:
        # A response is dropped once it can no longer reach the next EDA sample.
        eda_next = self._clocks[STREAMS.index(EDA)].next_ns
        span_ns = round(SCR_SPAN_S * 1e9)
        if self._scr_events and self._scr_events[0][0] + span_ns < eda_next:
            self._scr_events = [e for e in self._scr_events if e[0] + span_ns >= eda_next]
