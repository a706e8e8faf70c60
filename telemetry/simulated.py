"""A simulated sensor rig: the standard streams, generated in real time from a seeded model.

Used by the demo and the telemetry benchmark wherever no headset or sensor is attached. The
model is deliberately simple (the full virtual client, with gaze behaviour and habituation,
lives in ``vr_server``): arousal follows the exposure intensity with a lag, heart rate and skin
conductance follow arousal, the ECG is a synthetic PQRST train at the current heart rate, and
the head sways gently.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from telemetry.schemas import SampleBatch, StreamDescriptor
from telemetry.streams import STANDARD_STREAMS


@dataclass
class StreamClock:
    """The sample clock of one stream: sample times are exact multiples of its period."""

    descriptor: StreamDescriptor
    period_ns: int
    next_ns: int = 0

    def due(self, t_now_ns: int) -> np.ndarray | None:
        """The int64 times of every sample due up to ``t_now_ns`` (None when none is), and
        the clock moves past them."""
        if self.next_ns > t_now_ns:
            return None
        n = (t_now_ns - self.next_ns) // self.period_ns + 1
        ts = self.next_ns + self.period_ns * np.arange(n, dtype=np.int64)
        self.next_ns = int(ts[-1]) + self.period_ns
        return ts


@dataclass
class SimulatedSensors:
    """Produces batches of the standard streams for a span of session time.

    Call :meth:`advance` with the current session time; it returns one batch per stream that has
    samples due (sample times are exact multiples of the stream's period, so rates are exact
    and nothing drifts whatever the caller's timing).
    """

    seed: int = 0
    streams: tuple[StreamDescriptor, ...] = STANDARD_STREAMS
    arousal: float = 0.1
    intensity: float = 0.0
    _clocks: list[StreamClock] = field(init=False)
    _rng: np.random.Generator = field(init=False)
    _ecg_phase: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        self._rng = np.random.default_rng(self.seed)
        self._clocks = [
            StreamClock(d, round(1e9 / d.nominal_rate)) for d in self.streams
            if d.nominal_rate > 0
        ]

    def set_exposure(self, exposure: float) -> None:
        """The normalised exposure level shown now (the input of the arousal model)."""
        self.intensity = exposure

    @property
    def heart_rate(self) -> float:
        """Current heart rate in beats per minute."""
        return 68.0 + 42.0 * self.arousal

    def advance(self, t_now_ns: int) -> list[SampleBatch]:
        """Batches of every sample due up to ``t_now_ns`` (session clock)."""
        dt = 0.02
        target = 0.1 + 0.8 * self.intensity
        self.arousal += (target - self.arousal) * min(1.0, dt / 8.0)
        batches = []
        for clock in self._clocks:
            ts = clock.due(t_now_ns)
            if ts is None:
                continue
            values = self._values(clock.descriptor, ts)
            batches.append(SampleBatch(stream=clock.descriptor.name, timestamps_ns=ts,
                                       values=values.astype(clock.descriptor.dtype, copy=False)))
        return batches

    def _values(self, descriptor: StreamDescriptor, ts: np.ndarray) -> np.ndarray:
        n = len(ts)
        t = ts.astype(np.float64) * 1e-9
        rng = self._rng
        if descriptor.kind == "head_pose":
            yaw = 0.05 * np.sin(0.3 * t) + 0.01 * rng.standard_normal(n)
            out = np.zeros((n, 7))
            out[:, 1] = 1.65 + 0.005 * np.sin(0.25 * t)
            out[:, 3] = np.cos(yaw / 2)
            out[:, 5] = np.sin(yaw / 2)
            return out
        if descriptor.kind == "gaze":
            out = np.zeros((n, 6))
            out[:, 1] = 1.65
            out[:, 3] = 0.1 * np.sin(0.7 * t) + 0.02 * rng.standard_normal(n)
            out[:, 5] = -1.0
            return out
        if descriptor.kind == "ecg":
            step = self.heart_rate / 60.0 / descriptor.nominal_rate
            phase = self._ecg_phase + step * np.arange(1, n + 1)
            self._ecg_phase = float(phase[-1] % 1.0)
            frac = phase % 1.0
            qrs = 1.2 * np.exp(-(((frac - 0.3) / 0.012) ** 2))
            p_wave = 0.15 * np.exp(-(((frac - 0.15) / 0.03) ** 2))
            t_wave = 0.3 * np.exp(-(((frac - 0.55) / 0.05) ** 2))
            ecg: np.ndarray = (qrs + p_wave + t_wave + 0.02 * rng.standard_normal(n))[:, None]
            return ecg
        if descriptor.kind == "eda":
            level = 2.0 + 6.0 * self.arousal
            return (level + 0.05 * rng.standard_normal(n))[:, None]
        if descriptor.kind == "heart_rate":
            return np.full((n, 1), round(self.heart_rate + rng.normal(0, 1.0), 1))
        return np.zeros((n, len(descriptor.channels)))
