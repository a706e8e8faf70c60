"""Head motion and gaze of the virtual client.

Conventions are Panda3D's, so that the renderer can use the numbers as they are: Z is up, +Y
is forward, heading ``h`` rotates about +Z counter-clockwise seen from above (positive heading
turns left), pitch ``p`` rotates about +X (positive looks up) and roll ``r`` about +Y. The
rotation of an orientation ``(h, p, r)`` in degrees is ``R = Rz(h) @ Rx(p) @ Ry(r)`` acting on
column vectors, so the forward vector is ``R @ (0, 1, 0) = (-sin h cos p, cos h cos p, sin p)``;
its quaternion is ``q = qz(h) * qx(p) * qy(r)`` (Hamilton product, ``(w, x, y, z)``), the same
quaternion ``panda3d.core.Quat.setHpr`` gives. Nothing here imports Panda3D.

The gaze is a sequence of fixations. At the end of each (gamma-distributed, about a second)
the client picks a target: the nearest stimulus, the avatar or somewhere else. The stimulus is
picked most of the time at low arousal; above the avoidance threshold it is picked less and
less, and fixations on it get shorter, while looks at the avatar, the floor or away from the
stimulus take over. The eyes reach a new target in a few tens of milliseconds (a saccade) and
then jitter around it (fixation offset and drift); the head follows the gaze more slowly and
only part of the way, the eyes covering the rest. Random draws happen only when a fixation
starts, so a frame costs a few microseconds and the motion is deterministic for a seed and an
input sequence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from vr_server.virtual_client.params import VirtualClientParams

Vec3 = tuple[float, float, float]
GazeTarget = Literal["stimulus", "avatar", "elsewhere"]

SACCADE_TIME_S = 0.02
"""Time constant of the eyes reaching a new target (saccades last 20-60 ms)."""
HEAD_TIME_S = 0.35
"""Time constant of the head following the gaze."""
HEAD_SHARE_H = 0.85
"""Share of a horizontal gaze shift, away from the default view, that the head makes."""
HEAD_SHARE_P = 0.6
"""Share of a vertical gaze shift that the head makes (people lower their eyes more than
their head)."""
STIMULUS_SHARE = 0.7
"""Probability of picking the stimulus for the next fixation at or below the avoidance
threshold (when a stimulus is visible)."""
AVOIDANCE_DEPTH = 0.9
"""How much of ``STIMULUS_SHARE`` is lost at full avoidance (arousal 1)."""
AVATAR_SHARE = 0.55
"""Share of the non-stimulus fixations that go to the avatar (when there is one)."""
ORIENT_S = 2.0
"""Mean length of the look at the avatar when it begins to speak (the orienting response)."""
LISTENING_AVATAR_SHARE = 0.85
"""The same share while the avatar is speaking: listeners look at who speaks to them."""
FIXATION_OFFSET_DEG = 1.5
"""Standard deviation of where on a target a fixation lands, degrees."""
DRIFT_DEG = 0.25
"""Amplitude of fixational drift, degrees."""
STEP_BACK_M = 0.6
"""How far a withdrawing client steps back (a planted rupture)."""
STEP_BACK_TIME_S = 1.0
WITHDRAWN_TURN_DEG = 100.0
WITHDRAWN_PITCH_DEG = -40.0
"""Where a withdrawing client looks: turned this far from the view, away from the avatar,
and this far down."""


@dataclass(frozen=True)
class SceneObservation:
    """What the client perceives of the scene in one frame (built by the frame loop).

    Positions are world coordinates in metres (Panda3D: Z up). Not validated, for speed:
    the client clips ``exposure`` to 0-1 and treats any other ``looking_at`` as 'elsewhere'.
    """

    viewpoint: Vec3
    """The point on the floor where the client stands or sits (their feet)."""
    view_heading: float
    """Heading in degrees the client faces by default (the scenario's viewing direction)."""
    stimulus_positions: tuple[Vec3, ...] = ()
    """Points to look at on each feared object (their centres); may be empty."""
    avatar_position: Vec3 | None = None
    """The point to look at on the therapist avatar (its face), or None without an avatar."""
    avatar_speaking: bool = False
    """The avatar is saying something: the client looks at it more, and for longer."""
    exposure: float = 0.0
    """Normalised exposure level 0-1; 0 whenever the stimulus is not shown."""
    looking_at: str = "elsewhere"
    """What the renderer found the gaze actually hit last frame: 'stimulus', 'avatar' or
    'elsewhere'. Without a renderer, feed back the previous pose's ``intends``."""
    stimulus_distance_m: float | None = None
    """Distance to the nearest stimulus as the scenario measures it (e.g. to a spider's
    body rather than its centre); None to use the distance from the eyes to the nearest
    ``stimulus_positions`` entry."""


@dataclass(frozen=True, slots=True)
class ClientPose:
    """Where the client's head is and where they look, in one frame (Panda3D conventions)."""

    head_pos: Vec3
    """Eye point (between the eyes), metres."""
    head_hpr: Vec3
    """Head heading, pitch, roll in degrees."""
    head_quat: tuple[float, float, float, float]
    """The head orientation as a unit quaternion ``(w, x, y, z)`` of ``head_hpr``."""
    gaze_origin: Vec3
    """Where the gaze ray starts (the eye point), metres."""
    gaze_dir: Vec3
    """Unit direction of the gaze ray, world coordinates."""
    intends: GazeTarget
    """What the client is trying to look at (the renderer says what the ray actually hits)."""

    def head_pose_row(self) -> tuple[float, float, float, float, float, float, float]:
        """The pose in the channel order of ``telemetry.streams.HEAD_POSE``."""
        return (*self.head_pos, *self.head_quat)

    def gaze_row(self) -> tuple[float, float, float, float, float, float]:
        """The gaze in the channel order of ``telemetry.streams.GAZE``."""
        return (*self.gaze_origin, *self.gaze_dir)


# ---------------------------------------------------------------------------------------------
# Angle helpers (degrees, Panda3D conventions)

def wrap_deg(angle: float) -> float:
    """``angle`` wrapped into [-180, 180)."""
    return (angle + 180.0) % 360.0 - 180.0


def hpr_to_quat(h: float, p: float, r: float) -> tuple[float, float, float, float]:
    """Quaternion ``(w, x, y, z)`` of ``R = Rz(h) Rx(p) Ry(r)`` (degrees), i.e.
    ``qz(h) * qx(p) * qy(r)`` multiplied out."""
    hh, hp, hr = math.radians(h) / 2, math.radians(p) / 2, math.radians(r) / 2
    ch, sh = math.cos(hh), math.sin(hh)
    cp, sp = math.cos(hp), math.sin(hp)
    cr, sr = math.cos(hr), math.sin(hr)
    return (ch * cp * cr - sh * sp * sr,
            ch * sp * cr - sh * cp * sr,
            ch * cp * sr + sh * sp * cr,
            ch * sp * sr + sh * cp * cr)


def hp_to_direction(h: float, p: float) -> Vec3:
    """Unit forward vector of heading ``h`` and pitch ``p`` (degrees)."""
    hr, pr = math.radians(h), math.radians(p)
    cp = math.cos(pr)
    return (-math.sin(hr) * cp, math.cos(hr) * cp, math.sin(pr))


def direction_to_hp(dx: float, dy: float, dz: float) -> tuple[float, float]:
    """Heading and pitch (degrees) of the direction ``(dx, dy, dz)`` (any length)."""
    return (math.degrees(math.atan2(-dx, dy)), math.degrees(math.atan2(dz, math.hypot(dx, dy))))


def nearest(origin: Vec3, points: tuple[Vec3, ...]) -> tuple[Vec3, float]:
    """The point of ``points`` (not empty) nearest to ``origin``, and its distance."""
    ox, oy, oz = origin
    best = points[0]
    best_d2 = math.inf
    for point in points:
        d2 = (point[0] - ox) ** 2 + (point[1] - oy) ** 2 + (point[2] - oz) ** 2
        if d2 < best_d2:
            best, best_d2 = point, d2
    return best, math.sqrt(best_d2)


class Behaviour:
    """Head and gaze motion of one client; :meth:`update` once a frame."""

    def __init__(self, params: VirtualClientParams, seed: np.random.SeedSequence) -> None:
        self.params = params
        rhythm_seq, choice_seq = seed.spawn(2)
        self._rng = np.random.default_rng(choice_seq)
        rhythm = np.random.default_rng(rhythm_seq)
        # Postural sway and drift as sums of incommensurate sinusoids with seeded frequencies
        # and phases: smooth, varied and free of per-frame random draws.
        self._w = [2 * math.pi * float(f) for f in rhythm.uniform(0.05, 0.4, 8)]
        self._phi = [float(v) for v in rhythm.uniform(0, 2 * math.pi, 8)]
        self._drift_w = [2 * math.pi * float(f) for f in rhythm.uniform(0.5, 1.5, 2)]
        self._sway_m = 0.004 if params.seated else 0.008
        self._eye_height = params.resolved_eye_height_m

        self._started = False
        self._target: GazeTarget = "elsewhere"
        self._fixation_end = -math.inf
        self._offset_h = 0.0  # where on the target this fixation lands, degrees
        self._offset_p = 0.0
        self._heard = False  # whether the avatar was speaking at the previous update
        self._else_h = 0.0  # the absolute direction of an 'elsewhere' fixation
        self._else_p = 0.0
        self._gaze_h = 0.0
        self._gaze_p = 0.0
        self._head_h = 0.0
        self._head_p = 0.0
        self._withdrawn = False
        self._back = 0.0  # how far through stepping back (0 in place, 1 stepped back)

    @property
    def target(self) -> GazeTarget:
        """What the current fixation is aimed at."""
        return self._target

    def update(self, t_s: float, dt: float, obs: SceneObservation, arousal: float,
               withdrawn: bool = False) -> ClientPose:
        """The pose at ``t_s`` after ``dt`` seconds since the previous frame; ``withdrawn``:
        the client is acting out a withdrawal rupture (a planted one: it steps back and looks
        down and away from both the stimulus and the avatar until it ends)."""
        w, phi = self._w, self._phi
        sway = self._sway_m * (1.0 + 0.5 * arousal)  # tense people fidget more
        vx, vy, vz = obs.viewpoint
        if dt > 0.0:
            goal = 1.0 if withdrawn else 0.0
            self._back += (goal - self._back) * -math.expm1(-dt / STEP_BACK_TIME_S)
        bx, by, _ = hp_to_direction(obs.view_heading, 0.0)
        back = STEP_BACK_M * self._back
        head = (vx - bx * back + sway * math.sin(w[0] * t_s + phi[0]),
                vy - by * back + sway * math.sin(w[1] * t_s + phi[1]),
                vz + self._eye_height + 0.25 * sway * math.sin(w[2] * t_s + phi[2]))

        stimulus: Vec3 | None = None
        if obs.exposure > 0.0 and obs.stimulus_positions:
            stimulus = nearest(head, obs.stimulus_positions)[0]
        avatar = obs.avatar_position
        if withdrawn != self._withdrawn:
            self._withdrawn = withdrawn
            if withdrawn:
                # Down and away, on the side away from the avatar; held while it lasts.
                side = 1.0
                if avatar is not None:
                    bearing, _ = direction_to_hp(avatar[0] - head[0], avatar[1] - head[1], 0.0)
                    side = -1.0 if wrap_deg(bearing - obs.view_heading) > 0 else 1.0
                self._target = "elsewhere"
                self._else_h = wrap_deg(obs.view_heading + side * WITHDRAWN_TURN_DEG)
                self._else_p = WITHDRAWN_PITCH_DEG
                self._fixation_end = math.inf
            else:
                self._fixation_end = t_s  # the usual choices resume
        # A target that vanished (stimulus hidden, avatar gone) ends the fixation at once.
        if withdrawn:
            pass
        elif (t_s >= self._fixation_end or (self._target == "stimulus" and stimulus is None)
                or (self._target == "avatar" and avatar is None)):
            self._choose(t_s, obs, head, stimulus, avatar, arousal)
        elif obs.avatar_speaking and not self._heard and avatar is not None:
            # The avatar begins to speak: the client turns to the voice (orienting), for a
            # fixation of listening length; the usual choices resume after it.
            self._target = "avatar"
            self._fixation_end = t_s + float(self._rng.gamma(2.0, ORIENT_S / 2.0))
        self._heard = obs.avatar_speaking and not withdrawn

        if self._target == "stimulus" and stimulus is not None:
            th, tp = direction_to_hp(stimulus[0] - head[0], stimulus[1] - head[1],
                                     stimulus[2] - head[2])
            th += self._offset_h
            tp += self._offset_p
        elif self._target == "avatar" and avatar is not None:
            th, tp = direction_to_hp(avatar[0] - head[0], avatar[1] - head[1],
                                     avatar[2] - head[2])
            th += self._offset_h
            tp += self._offset_p
        else:
            th, tp = self._else_h, self._else_p

        if not self._started:
            # First frame: already looking at the first target, head turned towards it.
            self._started = True
            self._gaze_h, self._gaze_p = th, tp
            self._head_h = obs.view_heading + HEAD_SHARE_H * wrap_deg(th - obs.view_heading)
            self._head_p = HEAD_SHARE_P * tp
        elif dt > 0.0:
            a_eye = -math.expm1(-dt / SACCADE_TIME_S)
            a_head = -math.expm1(-dt / HEAD_TIME_S)
            self._gaze_h = wrap_deg(self._gaze_h + wrap_deg(th - self._gaze_h) * a_eye)
            self._gaze_p += (tp - self._gaze_p) * a_eye
            head_th = obs.view_heading + HEAD_SHARE_H * wrap_deg(th - obs.view_heading)
            self._head_h = wrap_deg(self._head_h + wrap_deg(head_th - self._head_h) * a_head)
            self._head_p += (HEAD_SHARE_P * tp - self._head_p) * a_head

        drift_h = DRIFT_DEG * math.sin(self._drift_w[0] * t_s + phi[3])
        drift_p = DRIFT_DEG * math.sin(self._drift_w[1] * t_s + phi[4])
        gaze_dir = hp_to_direction(self._gaze_h + drift_h, self._gaze_p + drift_p)
        hpr = (wrap_deg(self._head_h + 0.5 * math.sin(w[5] * t_s + phi[5])),
               self._head_p + 0.5 * math.sin(w[6] * t_s + phi[6]),
               0.8 * math.sin(w[7] * t_s + phi[7]))
        return ClientPose(head_pos=head, head_hpr=hpr, head_quat=hpr_to_quat(*hpr),
                          gaze_origin=head, gaze_dir=gaze_dir, intends=self._target)

    def _choose(self, t_s: float, obs: SceneObservation, head: Vec3, stimulus: Vec3 | None,
                avatar: Vec3 | None, arousal: float) -> None:
        """Start the next fixation: pick its target, duration and landing offset."""
        rng = self._rng
        threshold = self.params.avoidance_threshold
        avoid = 0.0
        if threshold < 1.0:
            avoid = min(1.0, max(0.0, (arousal - threshold) / (1.0 - threshold)))
        w_stimulus = 0.0
        if stimulus is not None:
            w_stimulus = STIMULUS_SHARE * (1.0 - AVOIDANCE_DEPTH * avoid)
        share = LISTENING_AVATAR_SHARE if obs.avatar_speaking else AVATAR_SHARE
        w_avatar = (1.0 - w_stimulus) * share if avatar is not None else 0.0
        u = float(rng.random())
        if u < w_stimulus:
            target: GazeTarget = "stimulus"
            mean_s = 0.9 * (1.0 - 0.6 * avoid)  # when avoiding, only brief checking glances
        elif u < w_stimulus + w_avatar:
            target = "avatar"
            mean_s = 1.6 if obs.avatar_speaking else 0.8
        else:
            target = "elsewhere"
            mean_s = 0.7 * (1.0 + 0.5 * avoid)
            self._else_h, self._else_p = self._elsewhere(obs, head, stimulus, avoid)
        self._target = target
        self._fixation_end = t_s + float(rng.gamma(2.0, mean_s / 2.0))
        self._offset_h, self._offset_p = (float(v) for v in rng.normal(0.0, FIXATION_OFFSET_DEG,
                                                                        2))

    def _elsewhere(self, obs: SceneObservation, head: Vec3, stimulus: Vec3 | None,
                   avoid: float) -> tuple[float, float]:
        """A direction to look at that is neither the stimulus nor the avatar."""
        rng = self._rng
        if stimulus is not None and float(rng.random()) < avoid:
            if float(rng.random()) < 0.5:
                # Eyes down to the floor in front.
                return (obs.view_heading + float(rng.normal(0.0, 20.0)),
                        float(rng.uniform(-55.0, -35.0)))
            # Turned away: well to one side of the stimulus.
            bearing, _ = direction_to_hp(stimulus[0] - head[0], stimulus[1] - head[1],
                                         stimulus[2] - head[2])
            side = 1.0 if float(rng.random()) < 0.5 else -1.0
            return (wrap_deg(bearing + side * float(rng.uniform(60.0, 110.0))),
                    float(rng.uniform(-20.0, 0.0)))
        # Looking around the scene in front.
        return (wrap_deg(obs.view_heading + float(rng.uniform(-60.0, 60.0))),
                float(rng.uniform(-25.0, 10.0)))
