"""What a body does over time: idling, looking, speaking and gesturing, as functions of time.

Everything here is deterministic: the only inputs are the time since a start, a seed (or a
seeded ``numpy`` generator) and the calls made; nothing reads the wall clock. Poses are
dictionaries of joint -> (heading, pitch, roll) degrees relative to the rest pose (see
:mod:`avatar.body` for the axes), added together by the :class:`Animator`:

* :func:`idle`: breathing (about 0.25 Hz, chest and shoulders), blinking (every 2-6 s, 150 ms)
  and slow weight shifts (every 5-10 s) with a little drift of head and arms;
* :class:`GazeController`: where the eyes and head point; the eyes jump (saccades) and the head
  follows with a lag, within the neck's range; natural short looks away every few seconds;
* :func:`mouth_open`: a syllable-like opening rhythm made from the text being said;
* :func:`gesture_pose` and :data:`GESTURES`: keyframed gestures over fixed durations, each
  starting and ending at rest, so adding one on top of the idle pose never jumps.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Literal, NamedTuple

import numpy as np
from panda3d.core import NodePath, Point3, Vec3

from avatar.body import JOINTS, THIGH

if TYPE_CHECKING:
    from avatar.bodies import Body

Hpr = tuple[float, float, float]
PoseDict = dict[str, Hpr]
LOOK_KINDS: tuple[str, ...] = ("client", "stimulus", "away", "ahead")

BREATH_HZ = 0.25
"""Resting breathing rate (15 a minute); each seed varies it by up to 10 %."""
SOFT_BREATH_HZ = 0.16
"""Breathing after :meth:`Animator.soften`: slow and calm, about 10 a minute."""
BLINK_INTERVAL_S = (2.0, 6.0)
BLINK_S = 0.15
WEIGHT_SHIFT_S = (5.0, 10.0)
"""How long a person stands on one side before shifting the weight."""
NECK_YAW_DEG = 70.0
NECK_PITCH_DEG = 40.0
EYE_YAW_DEG = 32.0
EYE_PITCH_DEG = 22.0
SACCADE_DEG_S = 450.0
"""Eye speed in a saccade (real saccades peak at 400-700 deg/s)."""
STIMULUS_WORDS: set[str] = {
    "spider", "spiders", "edge", "below", "height", "heights", "view", "railing", "balcony",
    "window", "door", "walls", "wall", "ceiling", "lift", "elevator", "audience", "crowd",
    "stage",
}
"""Words that, spoken, make the speaker glance at the stimulus (a scenario may add its own:
``STIMULUS_WORDS.add("dog")``). Concrete nouns only: "it" or "there" would fire on every
other sentence."""

SITTING_POSE: PoseDict = {
    "hip_l": (0.0, 88.0, 0.0), "hip_r": (0.0, 88.0, 0.0),
    "knee_l": (0.0, -88.0, 0.0), "knee_r": (0.0, -88.0, 0.0),
    "ankle_l": (0.0, 0.0, 0.0), "ankle_r": (0.0, 0.0, 0.0),
    "shoulder_l": (0.0, 18.0, 0.0), "shoulder_r": (0.0, 18.0, 0.0),
    "elbow_l": (0.0, 45.0, 0.0), "elbow_r": (0.0, 45.0, 0.0),
}
"""Seated on a chair, hands resting on the thighs: pass as ``Animator(..., posture="sitting")``
and lower the root by :func:`sitting_drop` so the feet reach the floor."""


def sitting_drop(body: Body) -> float:
    """How far (m) to lower a seated body's root so its feet rest on the floor; its seat is
    then ``0.49 * body.scale`` m above the floor, about a chair's height."""
    return THIGH * body.scale


# ------------------------------------------------------------------ small helpers


def _smooth(x: float) -> float:
    """Smoothstep 0..1 (zero slope at both ends): gestures ease in and out."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    return x * x * (3.0 - 2.0 * x)


def _add(pose: PoseDict, joint: str, h: float = 0.0, p: float = 0.0, r: float = 0.0) -> None:
    old = pose.get(joint)
    pose[joint] = (h, p, r) if old is None else (old[0] + h, old[1] + p, old[2] + r)


def add_poses(base: PoseDict, extra: Mapping[str, Hpr], weight: float = 1.0) -> PoseDict:
    """``base`` with ``extra`` (times ``weight``) added joint by joint (in place; returned)."""
    for joint, (h, p, r) in extra.items():
        _add(base, joint, h * weight, p * weight, r * weight)
    return base


class _Schedule:
    """Event times drawn from a seed, extended lazily but always in the same order, so the
    n-th event is the same whatever times were asked about first."""

    def __init__(self, seed: int, salt: int, interval: tuple[float, float]) -> None:
        self._rng = np.random.default_rng([seed & 0xFFFFFFFF, salt])
        self._interval = interval
        self.times: list[float] = [float(self._rng.uniform(0.3, interval[0]))]
        self.values: list[float] = [float(self._rng.uniform(-1.0, 1.0))]

    def upto(self, t: float) -> int:
        """Index of the last event at or before ``t`` (-1 before the first)."""
        while self.times[-1] <= t:
            self.times.append(self.times[-1] + float(self._rng.uniform(*self._interval)))
            self.values.append(float(self._rng.uniform(-1.0, 1.0)))
        return bisect.bisect_right(self.times, t) - 1


@lru_cache(maxsize=512)
def _blinks(seed: int) -> _Schedule:
    return _Schedule(seed, 1, BLINK_INTERVAL_S)


@lru_cache(maxsize=512)
def _shifts(seed: int) -> _Schedule:
    return _Schedule(seed, 2, WEIGHT_SHIFT_S)


@lru_cache(maxsize=512)
def _person(seed: int) -> tuple[float, ...]:
    """Per-seed constants: breathing rate factor and phases of the slow drifts."""
    rng = np.random.default_rng([seed & 0xFFFFFFFF, 3])
    return (float(rng.uniform(0.9, 1.1)),
            *(float(v) for v in rng.uniform(0.0, 2 * math.pi, 8)))


# ------------------------------------------------------------------ idle


class IdleFrame(NamedTuple):
    """The idle behaviour at one moment."""

    pose: PoseDict
    chest_scale: float
    """Breathing: the chest's depth scale (:meth:`HumanoidBody.set_chest_scale`)."""
    eyelids: float
    """0 open .. 1 shut (:meth:`HumanoidBody.set_eyelids`)."""
    breath: float
    """Breathing phase as lung fill, 0 (breathed out) .. 1 (breathed in)."""


def blink(t: float, seed: int) -> float:
    """Eyelid closure from blinking: 0 open, 1 shut; a 150 ms blink every 2-6 s."""
    sched = _blinks(seed)
    i = sched.upto(t)
    if i < 0:
        return 0.0
    u = (t - sched.times[i]) / BLINK_S
    if u >= 1.0:
        return 0.0
    # Lids close fast (40 % of the blink) and open more slowly, as real blinks do.
    return u / 0.4 if u < 0.4 else 1.0 - (u - 0.4) / 0.6


def weight_shift(t: float, seed: int) -> float:
    """Which leg carries the weight, -1 (left) .. 1 (right), easing over 1.5 s at each shift."""
    sched = _shifts(seed)
    i = sched.upto(t)
    if i < 0:
        return 0.0
    before = sched.values[i - 1] if i > 0 else 0.0
    k = _smooth((t - sched.times[i]) / 1.5)
    return before + (sched.values[i] - before) * k


def idle(t: float, seed: int, breath_hz: float = BREATH_HZ, sitting: bool = False) -> IdleFrame:
    """The idle pose at time ``t`` for person ``seed``: breathing, blinking, weight shifts
    (not when ``sitting``) and a slow drift of head and arms."""
    rate, *ph = _person(seed)
    breath = 0.5 - 0.5 * math.cos(2 * math.pi * breath_hz * rate * t + ph[0])
    sin = math.sin
    # Slow drift: nobody holds the head or hands perfectly still.
    drift_h = 1.6 * sin(0.21 * t + ph[1]) + 0.8 * sin(0.47 * t + ph[2])
    drift_p = 1.0 * sin(0.17 * t + ph[3]) + 0.5 * sin(0.39 * t + ph[4])
    arm = sin(0.23 * t + ph[6])
    elbow = 2.0 * sin(0.19 * t + ph[7])
    # Built as one literal (the avatar's idle runs every frame): breathing fills the chest and
    # lifts it a little, the shoulders rise and open with it; the head and arms drift.
    pose: PoseDict = {
        "chest": (0.0, -0.8 * breath, 0.0),
        "neck": (0.0, 0.5 * breath, 0.0),
        "shoulder_l": (0.0, 1.2 * arm, 0.7 * breath),
        "shoulder_r": (0.0, -1.0 * arm, -0.7 * breath),
        "head": (drift_h, drift_p, 0.6 * sin(0.13 * t + ph[5])),
        "elbow_l": (0.0, 3.0 + elbow, 0.0),
        "elbow_r": (0.0, 3.0 - elbow, 0.0),
    }
    if not sitting:
        # Weight shift: the pelvis tips toward the free leg and the spine leans back over the
        # standing one; the hips turn the other way so the feet stay planted, and the free
        # leg's knee relaxes a little.
        w = weight_shift(t, seed)
        free_l, free_r = max(0.0, -w), max(0.0, w)
        pose["pelvis"] = (1.2 * w, 0.0, 2.2 * w)
        pose["hip_l"] = (0.0, 2.0 * free_r, -2.2 * w)
        pose["hip_r"] = (0.0, 2.0 * free_l, -2.2 * w)
        pose["spine"] = (0.0, 0.0, -1.4 * w)
        pose["chest"] = (-0.8 * w, -0.8 * breath, -0.6 * w)
        pose["neck"] = (0.0, 0.5 * breath, -0.2 * w)
        pose["knee_l"] = (0.0, -4.0 * free_r, 0.0)
        pose["ankle_l"] = (0.0, 2.0 * free_r, 0.0)
        pose["knee_r"] = (0.0, -4.0 * free_l, 0.0)
        pose["ankle_r"] = (0.0, 2.0 * free_l, 0.0)
    return IdleFrame(pose, 1.0 + 0.022 * breath, blink(t, seed), breath)


# ------------------------------------------------------------------ gaze


class GazeAngles(NamedTuple):
    """Where the head and eyes point, degrees relative to the body's facing (+yaw: left,
    +pitch: up), and what is being looked at."""

    head_yaw: float
    head_pitch: float
    eye_yaw: float
    eye_pitch: float
    looking_at: str


def direction(head: Sequence[float], target: Sequence[float],
              facing_deg: float = 0.0) -> tuple[float, float]:
    """Yaw (+left) and pitch (+up) degrees from ``head`` to ``target`` for a body facing
    ``facing_deg`` (Panda3D heading: 0 faces +Y)."""
    dx, dy, dz = target[0] - head[0], target[1] - head[1], target[2] - head[2]
    yaw = math.degrees(math.atan2(-dx, dy)) - facing_deg
    yaw = (yaw + 180.0) % 360.0 - 180.0
    pitch = math.degrees(math.atan2(dz, math.hypot(dx, dy)))
    return yaw, pitch


def _clamp(v: float, lim: float) -> float:
    return lim if v > lim else (-lim if v < -lim else v)


class GazeController:
    """Chooses where to look and moves eyes and head there like a person does.

    The eyes jump to a new target quickly (a saccade) and the head follows with a lag (a
    damped spring); as the head catches up the eyes recentre, so the gaze stays on target.
    The head turns at most ±70° and tilts ±40°; the eyes add up to ±32°/±22°. While looking at
    the client, short gaze breaks (0.5-1.4 s, 12-28° aside and a little down) come every few
    seconds, more often while speaking, as in natural conversation.
    """

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.mode: str = "client"
        self.speaking = False
        self.calm = False
        """Fewer, smaller gaze breaks (after :meth:`Animator.soften`)."""
        self._glance: tuple[str, float] | None = None
        self._break_in = float(rng.uniform(2.0, 5.0))
        self._break_left = 0.0
        self._break_offset = (0.0, 0.0)
        self.gaze = [0.0, -4.0]
        """Where the eyes point in the body's frame (yaw, pitch): head plus eyes."""
        self.head = [0.0, 0.0]
        self._head_vel = [0.0, 0.0]

    def look(self, kind: str, seconds: float | None = None) -> None:
        """Look at ``kind`` (one of :data:`LOOK_KINDS`): for ``seconds`` and then back to the
        usual target (a glance), or from now on when ``seconds`` is None."""
        if kind not in LOOK_KINDS and kind != "gesture":  # "gesture": what is pointed at
            raise ValueError(f"unknown look target {kind!r}; known: {', '.join(LOOK_KINDS)}")
        if seconds is None:
            self.mode = kind
            self._glance = None
        else:
            self._glance = (kind, float(seconds))
        self._break_left = 0.0

    @property
    def looking_at(self) -> str:
        """What the controller is aiming at now (``client``, ``stimulus``, ``away``...)."""
        if self._glance is not None:
            return self._glance[0]
        return "away" if self._break_left > 0.0 else self.mode

    def update(self, dt: float, head_world_pos: Sequence[float],
               look_targets: Mapping[str, Sequence[float] | None],
               facing_deg: float = 0.0) -> GazeAngles:
        """Advance by ``dt`` seconds and return head and eye angles.

        ``look_targets`` maps kinds (``client``, ``stimulus``, or any other name passed to
        :meth:`look`) to points in the same frame as ``head_world_pos``; a missing or None
        target is replaced by looking ahead. ``facing_deg`` is the body's heading there.
        """
        dt = max(0.0, float(dt))
        # What to look at.
        if self._glance is not None:
            kind, left = self._glance
            left -= dt
            self._glance = (kind, left) if left > 0.0 else None
        else:
            kind = self.mode
            if kind == "client":
                self._step_breaks(dt)
        target = look_targets.get(kind) if kind not in ("ahead", "away") else None
        if kind == "away":
            target = None
        if target is None:
            want_yaw, want_pitch = (25.0, -10.0) if kind == "away" else (0.0, -4.0)
        else:
            want_yaw, want_pitch = direction(head_world_pos, target, facing_deg)
        if kind == "client" and self._break_left > 0.0:
            want_yaw += self._break_offset[0]
            want_pitch += self._break_offset[1]
        limit_yaw, limit_pitch = NECK_YAW_DEG + EYE_YAW_DEG, NECK_PITCH_DEG + EYE_PITCH_DEG
        want_yaw, want_pitch = _clamp(want_yaw, limit_yaw), _clamp(want_pitch, limit_pitch)

        # Eyes: a saccade toward the wanted direction (or smooth pursuit when already close).
        dyaw, dpitch = want_yaw - self.gaze[0], want_pitch - self.gaze[1]
        dist = math.hypot(dyaw, dpitch)
        step = SACCADE_DEG_S * dt
        if dist <= step or dist < 1e-9:
            self.gaze = [want_yaw, want_pitch]
        else:
            self.gaze = [self.gaze[0] + dyaw * step / dist, self.gaze[1] + dpitch * step / dist]

        # Head: aims at the target less what the eyes comfortably cover, and lags behind on a
        # critically damped spring (about half a second to settle), in sub-steps for big dt.
        head_goal = (_clamp(want_yaw - _clamp(0.25 * want_yaw, 10.0), NECK_YAW_DEG),
                     _clamp(want_pitch - _clamp(0.35 * want_pitch, 8.0), NECK_PITCH_DEG))
        omega = 7.0 if not self.calm else 5.5
        steps = max(1, math.ceil(dt / (1 / 60)))
        h = dt / steps
        for _ in range(steps):
            for i in (0, 1):
                acc = omega * omega * (head_goal[i] - self.head[i]) - 2 * omega * self._head_vel[i]
                self._head_vel[i] += acc * h
                self.head[i] += self._head_vel[i] * h
        self.head[0] = _clamp(self.head[0], NECK_YAW_DEG)
        self.head[1] = _clamp(self.head[1], NECK_PITCH_DEG)
        eye_yaw = _clamp(self.gaze[0] - self.head[0], EYE_YAW_DEG)
        eye_pitch = _clamp(self.gaze[1] - self.head[1], EYE_PITCH_DEG)
        return GazeAngles(self.head[0], self.head[1], eye_yaw, eye_pitch, self.looking_at)

    def _step_breaks(self, dt: float) -> None:
        """Short looks away from the client every few seconds (one rng draw pattern per break,
        so the same calls give the same breaks)."""
        if self._break_left > 0.0:
            self._break_left -= dt
            if self._break_left <= 0.0:
                self._break_left = 0.0
                lo, hi = (2.5, 6.0) if self.speaking else (3.5, 8.0)
                if self.calm:
                    lo, hi = lo * 1.5, hi * 1.5
                self._break_in = float(self.rng.uniform(lo, hi))
            return
        self._break_in -= dt
        if self._break_in <= 0.0:
            size = 0.6 if self.calm else 1.0
            side = 1.0 if self.rng.random() < 0.5 else -1.0
            self._break_offset = (side * float(self.rng.uniform(12.0, 28.0)) * size,
                                  float(self.rng.uniform(-12.0, 3.0)) * size)
            self._break_left = float(self.rng.uniform(0.5, 1.4))


# ------------------------------------------------------------------ speech


_WORD = re.compile(r"[A-Za-z\u00C0-\u024F']+|[.,;:!?]")
_VOWELS = re.compile(r"[aeiouyàâäéèêëïîôöùûü]+")
_OPENNESS = {"a": 1.0, "o": 0.85, "e": 0.7, "u": 0.55, "i": 0.5, "y": 0.5}
_PAUSE = {",": 0.35, ";": 0.4, ":": 0.4, ".": 0.6, "!": 0.6, "?": 0.6}


@lru_cache(maxsize=256)
def _syllables(text: str) -> tuple[tuple[float, ...], tuple[float, ...], tuple[bool, ...]]:
    """The text as a rhythm: start (in units), openness and lip closure of each syllable.

    A syllable is one unit long, a gap between words 0.08, punctuation a longer pause; a
    syllable whose onset is m, b or p starts with the lips shut.
    """
    starts: list[float] = []
    amps: list[float] = []
    lips: list[bool] = []
    at = 0.0
    for token in _WORD.findall(text.lower()):
        if token in _PAUSE:
            at += _PAUSE[token]
            continue
        groups: list[re.Match[str] | None] = list(_VOWELS.finditer(token)) or [None]
        prev_end = 0
        for g in groups:
            onset = token[prev_end:g.start()] if g is not None else token
            vowel = g.group()[0] if g is not None else "e"
            starts.append(at)
            amps.append(_OPENNESS.get(vowel, 0.7))
            lips.append(bool(onset) and onset[-1] in "mbp")
            at += 1.0
            prev_end = g.end() if g is not None else len(token)
        at += 0.08
    starts.append(at)  # the end, in units
    return tuple(starts), tuple(amps), tuple(lips)


def mouth_open(t_since_start: float, duration: float, text: str) -> float:
    """How open the mouth is (0..1) ``t_since_start`` seconds into saying ``text`` over
    ``duration`` seconds: one opening per syllable, closed in pauses, 0 outside the line."""
    if duration <= 0.0 or not 0.0 <= t_since_start < duration:
        return 0.0
    starts, amps, lips = _syllables(text)
    if not amps:
        return 0.0
    units = starts[-1] * t_since_start / duration
    i = bisect.bisect_right(starts, units, 0, len(amps)) - 1
    if i < 0:
        return 0.0
    u = units - starts[i]
    if u >= 1.0:  # a pause between words or at punctuation
        return 0.0
    shape = math.sin(math.pi * u)
    floor = 0.0 if lips[i] else 0.12
    edge = min(1.0, t_since_start / 0.08, (duration - t_since_start) / 0.08)
    return float(amps[i] * (floor + (1.0 - floor) * shape ** 1.3) * edge)


def stimulus_mentions(text: str) -> list[float]:
    """Where in ``text`` (0..1 of its spoken length) words of :data:`STIMULUS_WORDS` fall."""
    starts, _amps, _lips = _syllables(text)
    total = starts[-1] if starts and starts[-1] > 0 else 1.0
    out: list[float] = []
    syllable = 0
    for token in _WORD.findall(text.lower()):
        if token in _PAUSE:
            continue
        if token in STIMULUS_WORDS and syllable < len(starts) - 1:
            out.append(starts[syllable] / total)
        syllable += max(1, len(_VOWELS.findall(token)))
    return out


# ------------------------------------------------------------------ gestures


GESTURES: dict[str, float] = {
    "nod": 1.0,
    "open_hands": 2.0,
    "point": 2.5,
    "breathe": 16.0,
}
"""Gesture name -> duration in seconds."""

Keyframes = tuple[tuple[float, Mapping[str, Hpr]], ...]

_NOD: Keyframes = (
    (0.0, {}),
    (0.22, {"head": (0.0, -13.0, 0.0), "neck": (0.0, -4.0, 0.0)}),
    (0.45, {"head": (0.0, 2.0, 0.0)}),
    (0.68, {"head": (0.0, -8.0, 0.0), "neck": (0.0, -2.0, 0.0)}),
    (1.0, {}),
)

_OPEN_ARMS: dict[str, Hpr] = {
    # Forearms forward at waist height, palms turned up, elbows a little out: an offering.
    "shoulder_l": (-8.0, 14.0, 10.0), "shoulder_r": (8.0, 14.0, -10.0),
    "elbow_l": (0.0, 68.0, 0.0), "elbow_r": (0.0, 68.0, 0.0),
    "wrist_l": (80.0, 8.0, 0.0), "wrist_r": (-80.0, 8.0, 0.0),
    "head": (0.0, 2.0, 0.0), "chest": (0.0, -1.0, 0.0),
}
_OPEN_HANDS: Keyframes = (
    (0.0, {}),
    (0.6, _OPEN_ARMS),
    (1.3, {k: (h * 1.05, p * 1.05, r * 1.15) for k, (h, p, r) in _OPEN_ARMS.items()}),
    (2.0, {}),
)

_BREATHE_READY: dict[str, Hpr] = {
    # Hands low in front of the belly, palms up, fingertips toward each other.
    "shoulder_l": (-18.0, 16.0, 4.0), "shoulder_r": (18.0, 16.0, -4.0),
    "elbow_l": (0.0, 62.0, 0.0), "elbow_r": (0.0, 62.0, 0.0),
    "wrist_l": (80.0, 0.0, 0.0), "wrist_r": (-80.0, 0.0, 0.0),
}
_BREATHE_RISE: dict[str, Hpr] = {
    # ... rising to the chest with the in-breath.
    "shoulder_l": (-6.0, 22.0, 4.0), "shoulder_r": (6.0, 22.0, -4.0),
    "elbow_l": (0.0, 30.0, 0.0), "elbow_r": (0.0, 30.0, 0.0),
    "chest": (0.0, -2.0, 0.0), "head": (0.0, 2.0, 0.0),
}
BREATHE_CYCLE_S = 8.0
FADE_S = 0.6
"""How long a gesture cut short (by :meth:`Animator.soften`) takes to sink back to rest."""
_REST: PoseDict = {j: (0.0, 0.0, 0.0) for j in JOINTS if j not in ("lid_l", "lid_r", "jaw")}


def _keyframes(frames: Keyframes, t: float) -> PoseDict:
    """Interpolate ``frames`` (time, pose) at ``t`` with ease-in-out between keys."""
    if t <= frames[0][0] or t >= frames[-1][0]:
        return {}
    k = bisect.bisect_right([f[0] for f in frames], t) - 1
    (t0, a), (t1, b) = frames[k], frames[k + 1]
    w = _smooth((t - t0) / (t1 - t0))
    pose: PoseDict = {}
    for joint in a.keys() | b.keys():
        ha, pa, ra = a.get(joint, (0.0, 0.0, 0.0))
        hb, pb, rb = b.get(joint, (0.0, 0.0, 0.0))
        pose[joint] = (ha + (hb - ha) * w, pa + (pb - pa) * w, ra + (rb - ra) * w)
    return pose


def point_angles(target_dir: Sequence[float]) -> tuple[str, PoseDict]:
    """The arm (``l`` or ``r``, the target's side) and the pose that points it along
    ``target_dir`` (body frame: +X right, +Y forward, +Z up) with a nearly straight elbow."""
    x, y, z = (float(v) for v in target_dir)
    n = math.sqrt(x * x + y * y + z * z) or 1.0
    x, y, z = x / n, y / n, z / n
    side = "r" if x >= 0 else "l"
    # A hanging arm is -Z; pitch p swings it to (0, sin p, -cos p), heading h then turns it
    # toward -X: (-sin h sin p, cos h sin p, -cos p).
    pitch = math.degrees(math.acos(max(-1.0, min(1.0, -z))))
    heading = math.degrees(math.atan2(-x, y)) if abs(x) + abs(y) > 1e-6 else 0.0
    # Keep it within a shoulder's comfortable reach (no pointing behind the back).
    heading = max(-100.0, min(100.0, heading))
    pitch = max(20.0, min(150.0, pitch))
    pose: PoseDict = {
        f"shoulder_{side}": (heading, pitch, 0.0),
        f"elbow_{side}": (0.0, -4.0, 0.0),
        f"wrist_{side}": (0.0, 8.0, 0.0),
        "chest": (0.12 * heading, 0.0, 0.0),
    }
    return side, pose


def gesture_pose(name: str, t: float, target: Sequence[float] | None = None) -> PoseDict:
    """The pose offsets of gesture ``name`` at ``t`` seconds into it (empty before 0 and
    from its duration on: every gesture starts and ends at rest).

    ``target`` (for ``point``) is the direction to point in the body's frame (+X right,
    +Y forward, +Z up); by default ahead and a little to the right.
    """
    if name not in GESTURES:
        raise KeyError(f"unknown gesture {name!r}; known: {', '.join(sorted(GESTURES))}")
    duration = GESTURES[name]
    if t <= 0.0 or t >= duration:
        return {}
    if name == "nod":
        return _keyframes(_NOD, t)
    if name == "open_hands":
        return _keyframes(_OPEN_HANDS, t)
    if name == "point":
        _side, aim = point_angles(target if target is not None else (0.5, 1.0, -0.1))
        # Raise toward the target, hold while it is looked at and named, lower again.
        return _keyframes(((0.0, {}), (0.7, aim), (1.7, aim), (duration, {})), t)
    # breathe: hands come up in front of the belly, rise with each in-breath and sink with
    # each out-breath (BREATHE_CYCLE_S a cycle), then return to the sides.
    ready = _smooth(t / 1.5) * _smooth((duration - t) / 1.5)
    lift = 0.5 - 0.5 * math.cos(2 * math.pi * t / BREATHE_CYCLE_S)
    pose: PoseDict = {}
    add_poses(pose, _BREATHE_READY, ready)
    add_poses(pose, _BREATHE_RISE, ready * lift)
    return pose


def breathe_fill(t: float) -> float:
    """Lung fill (0..1) the ``breathe`` gesture shows at ``t`` seconds: in for four seconds,
    out for four."""
    return 0.5 - 0.5 * math.cos(2 * math.pi * t / BREATHE_CYCLE_S)


# ------------------------------------------------------------------ the animator


@dataclass
class _Speech:
    start: float
    duration: float
    text: str
    glances: list[float]


@dataclass
class _Gesture:
    name: str
    start: float
    target: Point3 | Vec3 | tuple[float, float, float] | None


class Animator:
    """Drives a body (:class:`~avatar.bodies.Body`, procedural or glTF): idle, gaze, speech
    and gestures blended each frame.

    Time only advances by the ``dt`` passed to :meth:`update`, and every random choice comes
    from generators seeded by ``seed``, so the same seed, calls and ``dt`` give the same joint
    transforms. Gestures add to the idle pose (they start and end at rest, so they blend in
    and out without a jump); the head's gaze adds on top of both.

    ``posture="sitting"`` adds :data:`SITTING_POSE` (lower the root by :func:`sitting_drop`).
    """

    def __init__(self, body: Body, seed: int,
                 posture: Literal["standing", "sitting"] = "standing") -> None:
        self.body = body
        self.seed = int(seed)
        self.posture = posture
        self.t = 0.0
        self.gaze = GazeController(np.random.default_rng([self.seed & 0xFFFFFFFF, 4]))
        self.breath_hz = BREATH_HZ
        self.softened = False
        self._speech: _Speech | None = None
        self._gesture: _Gesture | None = None
        self._base: PoseDict = dict(SITTING_POSE) if posture == "sitting" else {}
        self._last_root: Point3 | None = None
        self._walk_phase = 0.0
        self._walk_amount = 0.0
        self._point_dir: tuple[float, float, float] | None = None
        self._glance_s = 1.6
        self._breath_phase = 0.0
        self._last_pose: PoseDict = {}
        self._fade: tuple[PoseDict, float] | None = None
        # Eye height in the root's frame at rest: gaze is aimed from here (the head's own
        # small movements would otherwise feed back into where it aims).
        self._eyes = body.head_position(body.root)

    # -------------------------------------------------------------- commands

    @property
    def speaking(self) -> bool:
        """Whether a line is being said now."""
        s = self._speech
        return s is not None and self.t - s.start < s.duration

    def say(self, duration_s: float, text: str) -> None:
        """Start saying ``text`` over ``duration_s`` seconds: the mouth moves with its
        syllables, the gaze stays on the client with conversational breaks, and words about
        the stimulus (:data:`STIMULUS_WORDS`) bring a short glance at it."""
        self._speech = _Speech(self.t, max(0.0, float(duration_s)), text,
                               [self.t + f * duration_s for f in stimulus_mentions(text)][:2])

    def hush(self) -> None:
        """Stop speaking now (the line was cut off): the mouth closes from the next frame."""
        self._speech = None

    def gesture(self, name: str, target: Point3 | Vec3 | tuple[float, float, float] | None
                = None) -> None:
        """Start gesture ``name`` (see :data:`GESTURES`), replacing one in progress.

        ``target`` (for ``point``) is a point in the ``world`` passed to :meth:`update`;
        by default the stimulus.
        """
        if name not in GESTURES:
            raise KeyError(f"unknown gesture {name!r}; known: {', '.join(sorted(GESTURES))}")
        self._gesture = _Gesture(name, self.t, target)
        if name == "point":
            self.gaze.look("stimulus" if target is None else "gesture", 1.8)

    def look_at(self, kind: str, seconds: float | None = None) -> None:
        """Look at ``client`` (the default), ``stimulus``, ``away`` or ``ahead``; with
        ``seconds`` it is a glance, after which the gaze returns to the usual target."""
        if kind == "stimulus" and seconds is None:
            seconds = 2.0  # looking at the stimulus is a glance unless held on purpose
        self.gaze.look(kind, seconds)

    def soften(self) -> None:
        """On stop: slower, deeper breathing, hands lowered (a gesture in progress is dropped,
        except ``breathe``), gaze back on the client with fewer looks away."""
        self.softened = True
        self.breath_hz = SOFT_BREATH_HZ
        self.gaze.calm = True
        self.gaze.look("client")
        g = self._gesture
        if g is not None and g.name != "breathe":
            # Lowered gently: the gesture's current offsets fade out over FADE_S.
            self._fade = (gesture_pose(g.name, self.t - g.start, self._point_dir), self.t)
            self._gesture = None

    # -------------------------------------------------------------- per frame

    def update(self, dt: float, head_target: Point3 | None, stimulus: Point3 | None,
               world: NodePath) -> None:
        """Advance ``dt`` seconds and pose the body.

        ``head_target`` is the client's head and ``stimulus`` the nearest feared thing, both in
        ``world`` coordinates (None when there is none).
        """
        dt = max(0.0, float(dt))
        self.t += dt
        t = self.t
        body = self.body
        root = body.root
        # The idle runs on its own clock, which slows after soften(): breathing (keeping its
        # phase, so it never jumps), weight shifts and drift all become calmer together.
        self._breath_phase += dt * self.breath_hz / BREATH_HZ
        frame = idle(self._breath_phase, self.seed, BREATH_HZ, self.posture == "sitting")
        # Every driven joint is set each frame (a joint left out would keep a stale angle).
        pose = {**_REST, **frame.pose}  # the rest pose is all zeros: idle's angles as they are
        blink_v = blink(t, self.seed)
        chest = frame.chest_scale
        if self.softened:
            chest = 1.0 + (chest - 1.0) * 1.4  # deeper
            _add(pose, "head", 0.0, -1.5, 3.0)  # a slight, attentive tilt
        add_poses(pose, self._base)

        # Speech: the mouth follows the syllables; the head moves a little with the stresses.
        mouth = 0.0
        speech = self._speech
        if speech is not None:
            since = t - speech.start
            if since < speech.duration:
                mouth = mouth_open(since, speech.duration, speech.text)
                _add(pose, "head", 0.0, 2.5 * (mouth - 0.35), 0.0)
                if speech.glances and t >= speech.glances[0]:
                    speech.glances.pop(0)
                    if stimulus is not None:
                        self.gaze.look("stimulus", self._glance_s)
            else:
                self._speech = None
        self.gaze.speaking = self._speech is not None

        # Gesture on top of idle.
        g = self._gesture
        targets: dict[str, Sequence[float] | None] = {"client": None, "stimulus": None}
        if g is not None:
            since = t - g.start
            if since >= GESTURES[g.name]:
                self._gesture = g = None
            else:
                target_dir = None
                point = g.target if g.target is not None else stimulus
                if g.name == "point" and point is not None:
                    local = root.get_relative_point(world, Point3(*point))
                    chest_at = self._eyes - Vec3(0, 0, 0.3 * body.scale)
                    target_dir = (local.x - chest_at.x, local.y - chest_at.y,
                                  local.z - chest_at.z)
                    targets["gesture"] = (local.x, local.y, local.z)
                self._point_dir = target_dir
                add_poses(pose, gesture_pose(g.name, since, target_dir))
                if g.name == "breathe":
                    chest = 1.0 + 0.035 * breathe_fill(since)

        if self._fade is not None:
            offsets, t0 = self._fade
            left = 1.0 - _smooth((t - t0) / FADE_S)
            if left <= 0.0:
                self._fade = None
            else:
                add_poses(pose, offsets, left)

        # Gaze: targets in the root's frame, so the body's own turning is accounted for.
        if head_target is not None:
            c = root.get_relative_point(world, head_target)
            targets["client"] = (c.x, c.y, c.z)
        if stimulus is not None:
            s = root.get_relative_point(world, stimulus)
            targets["stimulus"] = (s.x, s.y, s.z)
        eyes = self._eyes
        angles = self.gaze.update(dt, (eyes.x, eyes.y, eyes.z), targets)
        # The eyes hold their target while the idle drift, speech and nods move the head (the
        # vestibulo-ocular reflex): they turn back by what those added to head and trunk.
        drift_h = sum(pose[j][0] for j in ("head", "neck", "chest", "spine", "pelvis"))
        drift_p = sum(pose[j][1] for j in ("head", "neck", "chest", "spine"))
        # The neck takes a third of the turn and the head the rest, as the cervical spine does.
        _add(pose, "neck", 0.35 * angles.head_yaw, 0.3 * angles.head_pitch, 0.0)
        _add(pose, "head", 0.65 * angles.head_yaw, 0.7 * angles.head_pitch, 0.0)
        eye = (_clamp(angles.eye_yaw - drift_h, EYE_YAW_DEG),
               _clamp(angles.eye_pitch - drift_p, EYE_PITCH_DEG), 0.0)
        pose["eye_l"] = eye
        pose["eye_r"] = eye

        self._walk(dt, world, pose)
        body.set_pose(pose)
        self._last_pose = pose
        # Upper lids follow the eyes down (looking down half-closes them), and blink.
        droop = max(0.0, -angles.eye_pitch - 3.0) / 45.0
        body.set_eyelids(max(blink_v, droop))
        body.set_mouth(mouth)
        body.set_chest_scale(chest)

    @property
    def pose(self) -> PoseDict:
        """The pose set at the last :meth:`update` (joint -> hpr)."""
        return self._last_pose

    def _walk(self, dt: float, world: NodePath, pose: PoseDict) -> None:
        """Legs and arms swing while the root moves over the ground (the server walks the
        body to its place): the cadence follows the distance covered, so no foot slides much
        and a body that stops stands still."""
        here = self.body.root.get_pos(world)
        last, self._last_root = self._last_root, here
        if last is None or dt <= 0.0 or self.posture == "sitting":
            return
        moved = math.hypot(here.x - last.x, here.y - last.y)
        speed = moved / dt
        want = min(1.0, speed / 0.8) if speed > 0.05 else 0.0
        self._walk_amount += (want - self._walk_amount) * min(1.0, dt * 6.0)
        a = self._walk_amount
        if a < 0.01:
            return
        stride = 1.3 * self.body.scale  # one full cycle: two steps
        self._walk_phase = (self._walk_phase + 2 * math.pi * moved / stride) % (2 * math.pi)
        s = math.sin(self._walk_phase)
        c = math.cos(self._walk_phase)
        _add(pose, "hip_l", 0.0, 22.0 * a * s, 0.0)
        _add(pose, "hip_r", 0.0, -22.0 * a * s, 0.0)
        _add(pose, "knee_l", 0.0, -30.0 * a * max(0.0, c), 0.0)
        _add(pose, "knee_r", 0.0, -30.0 * a * max(0.0, -c), 0.0)
        _add(pose, "ankle_l", 0.0, 8.0 * a * max(0.0, c), 0.0)
        _add(pose, "ankle_r", 0.0, 8.0 * a * max(0.0, -c), 0.0)
        _add(pose, "shoulder_l", 0.0, -14.0 * a * s, 0.0)
        _add(pose, "shoulder_r", 0.0, 14.0 * a * s, 0.0)
        _add(pose, "elbow_l", 0.0, 8.0 * a, 0.0)
        _add(pose, "elbow_r", 0.0, 8.0 * a, 0.0)
        _add(pose, "pelvis", 4.0 * a * s, 0.0, 0.0)
        _add(pose, "chest", -6.0 * a * s, 0.0, 0.0)
