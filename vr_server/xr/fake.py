"""A scripted OpenXR runtime: poses, button presses and state changes on a timeline.

It behaves as a runtime does, as far as the server can tell: the session goes ``idle`` then
``ready`` when created, ``synchronized``, ``visible`` and ``focused`` once begun, and back to
``idle`` after ``stopping``; :meth:`FakeXr.wait_frame` blocks until the next display period;
controllers report input only while the session is focused; ``XrTime`` runs on its own epoch
(so mapping it onto the session clock is exercised). On top of that a :class:`FakeScript`
moves the head, aims the controllers, presses buttons and makes the runtime change state
(headset taken off, focus lost, runtime lost) at given times.

Used by the tests, and by ``vret serve --display openxr --xr-fake SCRIPT.json`` to try the
headset path without a headset. The script's times are seconds since the XR session was
created.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from vr_server.xr.convert import xr_pose_from_hpr
from vr_server.xr.types import (
    SESSION_STATES,
    FrameTiming,
    Hand,
    HandInput,
    Reference,
    SessionState,
    SystemInfo,
    Tracking,
    XrFov,
    XrPose,
    XrUnavailable,
    XrView,
)

log = logging.getLogger(__name__)

XR_EPOCH_OFFSET_NS = 3_000_000_000_000
"""The fake runtime's XrTime is the monotonic clock plus this (real runtimes differ too)."""
Button = Literal["trigger", "squeeze", "menu", "thumbstick_click", "thumb_left", "thumb_right"]
BUTTONS: tuple[str, ...] = ("trigger", "squeeze", "menu", "thumbstick_click", "thumb_left",
                            "thumb_right")
PoseTrack = Callable[[float], XrPose]


@dataclass(frozen=True)
class Press:
    """A button held on one controller from ``at_s`` for ``hold_s`` seconds."""

    hand: Hand
    button: Button
    at_s: float
    hold_s: float = 0.15


def standing_head(height_m: float = 1.6) -> PoseTrack:
    """A head standing still at the play area's centre, looking ahead."""
    pose = XrPose((0.0, height_m, 0.0))
    return lambda _t: pose


def keyframes(frames: Sequence[tuple[float, XrPose]]) -> PoseTrack:
    """Poses at times, held before the first and after the last, linear in between
    (orientations by normalised linear interpolation: small steps only)."""
    ordered = sorted(frames, key=lambda f: f[0])
    if not ordered:
        raise ValueError("keyframes: at least one pose is needed")

    def at(t: float) -> XrPose:
        if t <= ordered[0][0]:
            return ordered[0][1]
        for (t0, a), (t1, b) in itertools.pairwise(ordered):
            if t <= t1:
                f = (t - t0) / (t1 - t0) if t1 > t0 else 1.0
                pos = tuple(a.position[i] + (b.position[i] - a.position[i]) * f
                            for i in range(3))
                qb = b.orientation
                if sum(x * y for x, y in zip(a.orientation, qb, strict=True)) < 0:
                    qb = (-qb[0], -qb[1], -qb[2], -qb[3])
                q = [a.orientation[i] + (qb[i] - a.orientation[i]) * f for i in range(4)]
                n = math.sqrt(sum(x * x for x in q)) or 1.0
                return XrPose((pos[0], pos[1], pos[2]),
                              (q[0] / n, q[1] / n, q[2] / n, q[3] / n))
        return ordered[-1][1]

    return at


@dataclass(frozen=True)
class FakeScript:
    """What the fake runtime and the person wearing the headset do."""

    head: PoseTrack = field(default_factory=standing_head)
    """The head (the point between the eyes) in the reference space."""
    gaze: PoseTrack | None = None
    """Eye gaze; None: the fake headset has no eye tracking."""
    aim: dict[Hand, PoseTrack] = field(default_factory=dict)
    """Each controller's pointing pose; a hand not named here is not tracked."""
    presses: tuple[Press, ...] = ()
    states: tuple[tuple[float, SessionState], ...] = ()
    """State changes the runtime makes by itself at those times (a headset taken off is
    ``visible`` then ``synchronized``; put back on, ``visible`` then ``focused``)."""
    eye_size: tuple[int, int] = (640, 360)
    fov_deg: float = 90.0
    ipd_m: float = 0.063
    frame_rate: float = 90.0
    probe_error: Literal["no_runtime", "no_headset"] | None = None
    session_error: str | None = None
    """The runtime refuses to open a session, saying this (a set-up problem)."""
    auto_focus: bool = True
    """Go on to ``focused`` after ``begin_session`` (a runtime showing the app)."""

    @classmethod
    def from_json(cls, path: Path) -> FakeScript:
        """A script from a JSON file (see ``docs/headsets.md`` for the format)."""
        try:
            raw = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"the fake headset script {path} could not be read: {exc}") from exc
        if not isinstance(raw, dict):
            raise ValueError(f"{path}: the script must be a JSON object")
        return cls.from_dict(raw, str(path))

    @classmethod
    def from_dict(cls, raw: dict[str, Any], where: str = "script") -> FakeScript:
        """A script from plain data: ``head``/``gaze`` and ``aim.left``/``aim.right`` as lists
        of ``{"t", "position", "heading", "pitch"}`` keyframes (Panda3D's axes: Z up, metres,
        degrees), ``presses`` as ``{"hand", "button", "at", "hold"}``, ``states`` as
        ``{"at", "state"}``."""
        known = {"head", "gaze", "aim", "presses", "states", "eye_size", "fov_deg", "ipd_m",
                 "frame_rate", "probe_error", "auto_focus", "session_error"}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(f"{where}: unknown field(s) {unknown}; known: {sorted(known)}")

        def track(value: Any, name: str) -> PoseTrack:
            if not isinstance(value, list) or not value:
                raise ValueError(f"{where}: {name} must be a non-empty list of keyframes")
            frames = []
            for i, k in enumerate(value):
                try:
                    pos = tuple(float(v) for v in k["position"])
                    if len(pos) != 3:
                        raise ValueError("position needs three numbers")
                    frames.append((float(k.get("t", 0.0)), xr_pose_from_hpr(
                        (pos[0], pos[1], pos[2]), float(k.get("heading", 0.0)),
                        float(k.get("pitch", 0.0)))))
                except (KeyError, TypeError, ValueError) as exc:
                    raise ValueError(f"{where}: {name}[{i}]: {exc}") from exc
            return keyframes(frames)

        kwargs: dict[str, Any] = {}
        if "head" in raw:
            kwargs["head"] = track(raw["head"], "head")
        if "gaze" in raw:
            kwargs["gaze"] = track(raw["gaze"], "gaze")
        aim = raw.get("aim", {})
        if not isinstance(aim, dict) or set(aim) - {"left", "right"}:
            raise ValueError(f"{where}: aim must be an object with 'left' and/or 'right'")
        kwargs["aim"] = {hand: track(v, f"aim.{hand}") for hand, v in aim.items()}
        presses = []
        for i, p in enumerate(raw.get("presses", [])):
            try:
                if p["hand"] not in ("left", "right") or p["button"] not in BUTTONS:
                    raise ValueError(f"hand must be left or right, button one of {BUTTONS}")
                presses.append(Press(p["hand"], p["button"], float(p["at"]),
                                     float(p.get("hold", 0.15))))
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"{where}: presses[{i}]: {exc}") from exc
        kwargs["presses"] = tuple(presses)
        states = []
        for i, s in enumerate(raw.get("states", [])):
            if not isinstance(s, dict) or s.get("state") not in SESSION_STATES:
                raise ValueError(f"{where}: states[{i}]: state must be one of {SESSION_STATES}")
            states.append((float(s.get("at", 0.0)), s["state"]))
        kwargs["states"] = tuple(states)
        for name in ("fov_deg", "ipd_m", "frame_rate"):
            if name in raw:
                kwargs[name] = float(raw[name])
        if "eye_size" in raw:
            w, h = raw["eye_size"]
            kwargs["eye_size"] = (int(w), int(h))
        if "probe_error" in raw:
            if raw["probe_error"] not in ("no_runtime", "no_headset", None):
                raise ValueError(f"{where}: probe_error must be no_runtime or no_headset")
            kwargs["probe_error"] = raw["probe_error"]
        if "session_error" in raw:
            kwargs["session_error"] = str(raw["session_error"])
        if "auto_focus" in raw:
            kwargs["auto_focus"] = bool(raw["auto_focus"])
        return cls(**kwargs)


@dataclass(frozen=True)
class Submitted:
    """One frame handed to the fake compositor."""

    display_time: int
    views: tuple[XrView, ...]
    eye_textures: tuple[int, ...] | None
    """The eye textures' GL names; None: the frame was ended without a layer."""


class FakeXr:
    """An :class:`~vr_server.xr.types.XrBackend` following a :class:`FakeScript`."""

    def __init__(self, script: FakeScript | None = None) -> None:
        self.script = script or FakeScript()
        self.calls: list[str] = []
        """Every backend call but the per-frame ones, in order (for lifecycle tests)."""
        self.submitted: deque[Submitted] = deque(maxlen=2000)
        self.frames_waited = 0
        self.state: SessionState = "unknown"
        self.reference: Reference = "stage"
        self._queue: list[SessionState] = []
        self._scripted = list(self.script.states)
        self._created_ns: int | None = None
        self._session = False
        self._running = False
        self._exit_requested = False
        self._next_vsync_ns = 0
        self._period_ns = int(1e9 / self.script.frame_rate)

    # ------------------------------------------------------------ what the server calls

    def probe(self) -> SystemInfo:
        self.calls.append("probe")
        if self.script.probe_error == "no_runtime":
            raise XrUnavailable("no OpenXR runtime (the fake runtime was told to have none)")
        if self.script.probe_error == "no_headset":
            raise XrUnavailable("the OpenXR runtime found no headset (the fake runtime was "
                                "told to have none)")
        return SystemInfo(runtime="vret fake runtime", system="scripted headset",
                          eye_size=self.script.eye_size, eye_gaze=self.script.gaze is not None,
                          graphics="fake")

    def create_session(self, reference: Reference) -> None:
        self.calls.append("create_session")
        if self.script.session_error is not None:
            raise XrUnavailable(self.script.session_error)
        self.reference = reference
        if self._created_ns is None:  # the script's clock runs on across a reconnection
            self._created_ns = time.monotonic_ns()
        self._session = True
        self._exit_requested = False
        self._move("idle")
        self._move("ready")

    def poll_states(self) -> list[SessionState]:
        now = self.script_time()
        # A scripted change happens to a session: none is made while there is none.
        while self._session and self._scripted and self._scripted[0][0] <= now:
            self._move(self._scripted.pop(0)[1])
        states, self._queue = self._queue, []
        return states

    def begin_session(self) -> None:
        self.calls.append("begin_session")
        self._running = True
        self._next_vsync_ns = time.monotonic_ns()
        self._move("synchronized")
        if self.script.auto_focus:
            self._move("visible")
            self._move("focused")

    def end_session(self) -> None:
        self.calls.append("end_session")
        self._running = False
        self._move("idle")
        if self._exit_requested:
            self._move("exiting")

    def request_exit(self) -> None:
        self.calls.append("request_exit")
        self._exit_requested = True
        if self._running:
            self._move("stopping")

    def wait_frame(self) -> FrameTiming:
        if not self._running:
            raise RuntimeError("wait_frame outside a running session")
        now = time.monotonic_ns()
        # The display refreshes on a fixed grid; a late application misses refreshes, as
        # with a runtime, and waits for the next one.
        period = self._period_ns
        due = self._next_vsync_ns + period
        if due < now:
            due += -(-(now - due) // period) * period
        self._next_vsync_ns = due
        delay = (self._next_vsync_ns - now) * 1e-9
        if delay > 0:
            time.sleep(delay)  # a runtime's xrWaitFrame blocks like this
        self.frames_waited += 1
        # The frame reaches the eyes about one period after the application is released.
        display = self._next_vsync_ns + self._period_ns + XR_EPOCH_OFFSET_NS
        return FrameTiming(display, self._period_ns,
                           self.state in ("visible", "focused"))

    def begin_frame(self) -> None:
        return None

    def locate(self, display_time: int) -> Tracking:
        t = self._time_of(display_time)
        script = self.script
        head = script.head(t)
        views = tuple(self._eye(head, side) for side in (-0.5, 0.5))
        hands: dict[Hand, HandInput] = {}
        focused = self.state == "focused"  # a runtime gives input to the focused app only
        for hand, track in script.aim.items():
            held = {p.button for p in script.presses
                    if p.hand == hand and p.at_s <= t < p.at_s + p.hold_s} if focused else set()
            stick = ((-1.0 if "thumb_left" in held else 1.0 if "thumb_right" in held else 0.0),
                     0.0)
            aim = track(t)
            hands[hand] = HandInput(
                aim=aim, grip=aim, trigger=1.0 if "trigger" in held else 0.0,
                squeeze=1.0 if "squeeze" in held else 0.0, menu="menu" in held,
                thumbstick=stick, thumbstick_click="thumbstick_click" in held,
                profile="/interaction_profiles/oculus/touch_controller")
        gaze = script.gaze(t) if script.gaze is not None else None
        return Tracking(display_time, views, head, gaze, hands)

    def end_frame(self, timing: FrameTiming, views: Sequence[XrView],
                  eye_textures: Sequence[int] | None) -> None:
        self.submitted.append(Submitted(timing.display_time, tuple(views),
                                        None if eye_textures is None else tuple(eye_textures)))

    def set_reference(self, reference: Reference) -> None:
        self.calls.append(f"set_reference:{reference}")
        self.reference = reference

    def to_monotonic_ns(self, xr_time: int) -> int:
        return xr_time - XR_EPOCH_OFFSET_NS

    def is_lost(self, error: BaseException) -> bool:
        return True  # the fake fails only when a script or a test makes it

    def destroy_session(self) -> None:
        self.calls.append("destroy_session")
        self._running = False
        self._session = False
        self._queue = []
        self.state = "unknown"

    def close(self) -> None:
        if "close" not in self.calls:
            self.calls.append("close")

    # ------------------------------------------------------------ for tests and scripts

    def script_time(self) -> float:
        """Seconds since the first session was created (0 before)."""
        if self._created_ns is None:
            return 0.0
        return (time.monotonic_ns() - self._created_ns) * 1e-9

    def inject(self, *states: SessionState) -> None:
        """Make the runtime move through ``states`` now (as a runtime event would)."""
        for state in states:
            self._move(state)

    def _time_of(self, display_time: int) -> float:
        if self._created_ns is None:
            return 0.0
        return (display_time - XR_EPOCH_OFFSET_NS - self._created_ns) * 1e-9

    def _move(self, state: SessionState) -> None:
        if state == self.state:
            return
        self.state = state
        self._queue.append(state)

    def _eye(self, head: XrPose, side: float) -> XrView:
        """An eye ``side`` IPDs along the head's own +X (right), looking where it looks."""
        x, y, z, w = head.orientation
        off = side * self.script.ipd_m
        # The head's +X axis: the first column of its rotation matrix.
        ax = (1 - 2 * (y * y + z * z), 2 * (x * y + w * z), 2 * (x * z - w * y))
        p = head.position
        half_w = math.radians(self.script.fov_deg) / 2
        ew, eh = self.script.eye_size
        half_h = math.atan(math.tan(half_w) * eh / ew)
        return XrView(XrPose((p[0] + ax[0] * off, p[1] + ax[1] * off, p[2] + ax[2] * off),
                             head.orientation),
                      XrFov(-half_w, half_w, half_h, -half_h))
