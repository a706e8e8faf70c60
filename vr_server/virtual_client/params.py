"""The parameters of a virtual client: who the simulated headset wearer is.

Every number that shapes the simulated person lives here, with its unit and its allowed range,
so that a test can state a known behaviour ("with sensitivity 0 arousal stays at baseline") by
choosing parameters rather than by patching the model. ``docs/virtual-client.md`` has the same
table with the effect of each parameter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Literal

STANDING_EYE_HEIGHT_M = 1.65
"""Eye height above the feet when ``eye_height_m`` is not given and the client stands."""
SEATED_EYE_HEIGHT_M = 1.2
"""Eye height above the floor point when ``eye_height_m`` is not given and the client sits."""

# (low, high) closed ranges per numeric field. One table, so that the error message, the docs
# and the check cannot disagree about a range.
_RANGES: dict[str, tuple[float, float]] = {
    "seed": (0, 2**63 - 1),
    "baseline_arousal": (0.0, 0.9),
    "sensitivity": (0.0, 10.0),
    "habituation_rate": (0.0, 1.0),
    "habituation_recovery_s": (1.0, 1e6),
    "rise_time_s": (0.1, 600.0),
    "fall_time_s": (0.1, 3600.0),
    "proximity_scale_m": (0.01, 100.0),
    "unattended_weight": (0.0, 1.0),
    "avoidance_threshold": (0.0, 1.0),
    "panic_threshold": (0.0, 2.0),
    "panic_refractory_s": (0.0, 3600.0),
    "hr_rest_bpm": (30.0, 120.0),
    "hr_gain_bpm": (0.0, 120.0),
    "scl_base_us": (0.0, 50.0),
    "scl_gain_us": (0.0, 50.0),
    "scr_rate_per_min": (0.0, 60.0),
    "suds_noise": (0.0, 50.0),
    "answer_latency_s": (0.1, 60.0),
    "eye_height_m": (0.3, 2.5),
}


@dataclass(frozen=True)
class PlantedRupture:
    """A rupture the virtual client acts out, from ``start_s`` (session time) for
    ``duration_s`` (tests and the rupture benchmark: the truth to detect against).

    *Withdrawal*: the client looks down and away from both the stimulus and the avatar, steps
    back about 0.6 m, answers check-ins late (9 s more) with the same SUDS as before, and
    declines steps up. *Confrontation*: the client presses stop as it begins and refuses every
    step up while it lasts.
    """

    start_s: float
    duration_s: float
    marker: Literal["withdrawal", "confrontation"]

    def __post_init__(self) -> None:
        if not (self.start_s >= 0 and self.duration_s > 0):
            raise ValueError(f"a planted rupture needs start_s >= 0 and duration_s > 0, got "
                             f"{self.start_s!r}, {self.duration_s!r}")
        if self.marker not in ("withdrawal", "confrontation"):
            raise ValueError(f"marker must be withdrawal or confrontation, got {self.marker!r}")

    def covers(self, t_s: float) -> bool:
        """Whether the rupture is being acted out at ``t_s``."""
        return self.start_s <= t_s < self.start_s + self.duration_s


@dataclass(frozen=True)
class VirtualClientParams:
    """Who the virtual client is. Immutable; validated on construction.

    Every field has a default that gives a plausible, moderately fearful adult; tests change
    the few fields whose behaviour they pin down. A bad value raises ``ValueError`` naming the
    field and its allowed range.
    """

    seed: int = 0
    """Seed of every random choice (noise, saccades, skin-conductance responses, answers).
    Same seed and same inputs give identical output."""

    baseline_arousal: float = 0.15
    """Arousal at rest, 0-1: where arousal starts and where it returns without a stimulus."""

    sensitivity: float = 1.0
    """How strongly threat raises arousal (multiplies the stimulus); 0 means no fear at all.
    Threat is capped at 1, so values above 1 saturate at lower exposure."""

    habituation_rate: float = 0.01
    """Per second of full threat: how fast the fear response to a constant stimulus fades
    (within-session habituation). 0 switches habituation off."""

    habituation_recovery_s: float = 600.0
    """Time constant in seconds of the (slow) return of habituation towards 0 while no
    stimulus is present (spontaneous recovery)."""

    rise_time_s: float = 6.0
    """Time constant in seconds of arousal rising towards a higher target."""

    fall_time_s: float = 20.0
    """Time constant in seconds of arousal falling towards a lower target (slower than the
    rise: people calm down more slowly than they get scared)."""

    proximity_scale_m: float = 2.0
    """Distance in metres to the nearest stimulus at which its threat is halved
    (proximity factor ``scale / (scale + d)``)."""

    unattended_weight: float = 0.6
    """Attention factor while the gaze is not on the stimulus (1.0 while it is): a stimulus in
    the corner of the eye is less threatening than one looked at."""

    avoidance_threshold: float = 0.6
    """Arousal above which the gaze turns away from the stimulus, more and more as arousal
    approaches 1."""

    panic_threshold: float = 1.01
    """Arousal above which the client presses stop. Arousal never exceeds 1, so the default
    never stops."""

    panic_refractory_s: float = 30.0
    """Seconds after a stop request during which the client does not ask again."""

    hr_rest_bpm: float = 70.0
    """Heart rate at baseline arousal, beats per minute."""

    hr_gain_bpm: float = 45.0
    """Heart-rate increase from baseline arousal to full arousal, beats per minute."""

    scl_base_us: float = 2.0
    """Tonic skin-conductance level at zero arousal, microsiemens."""

    scl_gain_us: float = 6.0
    """Tonic skin-conductance increase from zero to full arousal, microsiemens."""

    scr_rate_per_min: float = 8.0
    """Spontaneous skin-conductance responses per minute at full arousal (the rate is
    proportional to arousal)."""

    suds_noise: float = 5.0
    """Standard deviation of a SUDS answer around the value arousal implies, SUDS points."""

    answer_latency_s: float = 3.0
    """Mean delay in seconds between a check-in question and the answer (longer when
    aroused)."""

    seated: bool = False
    """Seated rather than standing: lower eyes and less postural sway."""

    eye_height_m: float | None = None
    """Eye height above the viewpoint in metres; ``None`` means 1.65 standing, 1.2 seated."""

    ruptures: tuple[PlantedRupture, ...] = ()
    """Ruptures to act out (none: the client's collaboration never breaks)."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "ruptures":
                continue  # each checks itself
            if f.name == "seated":
                if not isinstance(value, bool):
                    raise ValueError(f"seated must be a bool, got {value!r}")
                continue
            if f.name == "eye_height_m" and value is None:
                continue
            low, high = _RANGES[f.name]
            if f.name == "seed":
                # bool is an int subclass; a seed of True is a bug, not a seed.
                if not isinstance(value, int) or isinstance(value, bool):
                    raise ValueError(f"seed must be an int in [{low}, {high}], got {value!r}")
            elif not isinstance(value, int | float) or isinstance(value, bool):
                raise ValueError(f"{f.name} must be a number in [{low}, {high}], got {value!r}")
            # Written as "not within" so that NaN, which compares false, is rejected too.
            if not (low <= value <= high) or not math.isfinite(value):
                raise ValueError(f"{f.name} must be in [{low}, {high}], got {value!r}")

    @property
    def resolved_eye_height_m(self) -> float:
        """The eye height in use: ``eye_height_m``, or the seated / standing default."""
        if self.eye_height_m is not None:
            return float(self.eye_height_m)
        return SEATED_EYE_HEIGHT_M if self.seated else STANDING_EYE_HEIGHT_M
