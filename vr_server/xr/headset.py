"""The headset in the frame loop: the runtime's session lifecycle, tracking and controllers.

Where it sits in the frame (:mod:`vr_server.frame`):

* ``headset`` (first): drain the runtime's state changes, then, while the session runs,
  ``xrWaitFrame`` (which blocks until the runtime wants a frame, and so paces the loop),
  ``xrBeginFrame`` and the frame's tracking at its predicted display time;
* ``commands``: :meth:`Headset.apply`: the stop chord and the answer buttons, so a stop
  completed in this frame's tracking removes the stimulus from this frame's image;
* ``input``: :meth:`Headset.pose_head`: the head, both eye cameras and the gaze;
* the draw: a callback at the end of the output's draw copies both eye images into the
  runtime's swapchains and ends the frame (:meth:`Headset.end_frame`).

Networking never waits on any of this: commands are received, telemetry is published and
recorded, and the console is served on their own threads; only applying a command waits for
the next frame, as in every display mode.

Lifecycle: ``ready`` begins the session and ``stopping`` ends it; ``loss_pending`` destroys it
and tries to open a new one every few seconds; ``exiting`` destroys it for good. Leaving
``focused`` for any reason (headset taken off, the runtime's menu, a lost runtime) puts a
session showing the exposure on safe hold, and the exposure cannot start or resume until the
headset is focused again; coming back resumes nothing by itself. Every state is logged.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from panda3d.core import (
    Camera,
    ClockObject,
    NodePath,
    Point3,
    PythonCallbackObject,
    Quat,
    Vec3,
)

from telemetry.schemas import HeadsetState
from vr_server.engine import Engine
from vr_server.host import SessionHost
from vr_server.xr import convert
from vr_server.xr.bindings import PRESSED, RELEASED, STOP_HOLD_S
from vr_server.xr.types import (
    HANDS,
    FrameTiming,
    Hand,
    HandInput,
    SessionState,
    SystemInfo,
    Tracking,
    XrBackend,
    XrPose,
    XrUnavailable,
    XrView,
)

log = logging.getLogger(__name__)

Posture = Literal["standing", "seated"]
SEATED_EYE_M = 1.2
"""Eye height of a seated adult: where a seated client's eyes are put above the viewpoint."""
STICK_STEP = 0.7
"""A thumbstick pushed this far left or right moves the panel's choice by one."""
REASONS: dict[SessionState, str] = {
    "unknown": "",
    "idle": "the headset is not showing vret (taken off, or another app is in front)",
    "ready": "the headset is ready to show the session",
    "synchronized": "the headset runs the session but does not show it (taken off?)",
    "visible": "the client sees the session but the runtime has the input (its menu is "
               "open, or the headset is being taken off or put on)",
    "focused": "the client sees the session and the controllers reach it",
    "stopping": "the runtime stopped showing the session",
    "loss_pending": "the OpenXR runtime is going away (it crashed or was shut down, or the "
                    "headset was unplugged); trying to reconnect",
    "exiting": "the runtime ended the session (the client or the runtime's menu quit it)",
}


def place_head_and_eyes(engine: Engine, head: XrPose, views: Sequence[XrView]) -> None:
    """The head in the tracking space, and each eye's camera where the runtime says that eye
    is, with its frustum (both are located in the same space: the eye is taken relative to
    the head)."""
    pos, quat = convert.pose(head)
    engine.head.set_pos_quat(engine.tracking, pos, quat)
    if len(views) != len(engine.cameras):
        return
    inverse = Quat(quat)
    inverse.invert_in_place()
    for i, view in enumerate(views):
        eye_pos, eye_quat = convert.pose(view.pose)
        rel = inverse.xform(eye_pos - pos)
        engine.aim_eye(i, Point3(rel), eye_quat * inverse, view.fov)


@dataclass(frozen=True)
class HeadsetConfig:
    """How the headset is used; every default is defined here, once."""

    posture: Posture = "standing"
    """``standing``: the runtime's stage space (the real floor); ``seated``: its local space,
    the eyes put at :data:`SEATED_EYE_M` above the viewpoint."""
    stop_hold_s: float = STOP_HOLD_S
    reconnect_s: float = 5.0
    """After the runtime was lost, how often to try to open a new session."""


@dataclass
class _HandState:
    trigger: bool = False
    chord_since: float | None = None
    chord_fired: bool = False
    chord_seen: bool = False
    """The chord was formed since the trigger went down: its release answers nothing."""
    stick: int = 0
    stick_click: bool = False


class Headset:
    """One headset driven through an :class:`~vr_server.xr.types.XrBackend`."""

    def __init__(self, backend: XrBackend, info: SystemInfo, engine: Engine,
                 host: SessionHost, viewpoint: tuple[float, float, float],
                 view_heading: float, config: HeadsetConfig | None = None) -> None:
        self.backend = backend
        self.info = info
        self.engine = engine
        self.host = host
        self.viewpoint = viewpoint
        self.view_heading = view_heading
        self.config = config or HeadsetConfig()
        self.posture: Posture = self.config.posture
        self.state: SessionState = "unknown"
        self.running = False
        """Between ``begin_session`` and ``end_session``: frames are being made."""
        self.timing: FrameTiming | None = None
        self.tracking: Tracking | None = None
        self.pose_t_ns: int | None = None
        """This frame's predicted display time on the session clock (the poses' time)."""
        self.select_hand: Hand | None = None
        """The hand whose answer button was let go this frame (None: no answer)."""
        self.panel_step = 0
        """-1 / +1: a thumbstick moved the panel's choice this frame."""
        self.pointer: tuple[Point3, Vec3] | None = None
        """The ray of the controller last used (world), for pointing at the panel."""
        self.gaze: tuple[Point3, Vec3] | None = None
        """The eyes' gaze this frame (world), where the headset tracks the eyes."""
        self.stops = 0
        self._hands: dict[Hand, _HandState] = {h: _HandState() for h in HANDS}
        self._pointing: Hand = "right"
        self._session_due = True
        """A session is to be created at the next draw (it needs the GL context)."""
        self._reconnect_at: float | None = None
        self._gone = False
        """The runtime ended the session for good (``exiting``)."""
        self._recentre_due = True
        self._last_fov: Any = None
        self.lens_changed = False
        """Set when the eyes' frustums changed (the comfort vignette refits to them)."""
        self._draw_np: NodePath | None = None
        self._frame_ended = True
        self._errors = 0
        self._ever_ran = False
        self.fatal: str | None = None
        """Why the headset cannot be used at all (set when its first session cannot even be
        opened: a set-up problem, not a passing one); the server then ends the session."""
        self.frames_ended = 0
        """Frames handed to the runtime from the draw ..."""
        self.frames_shown = 0
        """... and those with both eyes' images (the others: the runtime would not show them)."""
        self._closed = False

    # ------------------------------------------------------------ set-up

    def start(self) -> None:
        """Hook the frame's end into the output's draw and hold the exposure until the
        headset shows the session."""
        self.host.machine.headset_away = "the headset has not shown the session yet"
        output = self.engine.output
        region = output.make_display_region()
        region.set_sort(1000)  # after everything the output draws (the eyes draw before it)
        region.set_clear_color_active(False)
        region.set_clear_depth_active(False)
        # A camera with nothing to see: the region exists for its draw callback, which runs
        # with the GL context current, after both eye buffers of this frame were drawn.
        self._draw_np = NodePath(Camera("xr-submit"))
        region.set_camera(self._draw_np)
        region.set_draw_callback(PythonCallbackObject(self._draw))
        self._region = region

    def close(self) -> None:
        """End the runtime's session and let the runtime go (idempotent)."""
        if self._closed:
            return
        self._closed = True
        log.info("headset: %d frames ended from the draw, %d of them with both eyes' images",
                 self.frames_ended, self.frames_shown)
        try:
            self._end_frame_empty()
            if self.running and self.state == "stopping":
                self.backend.end_session()
            elif self.running:
                # Ask the runtime to take the headset back (it shows its own place); the
                # session is destroyed now rather than waiting for it to reach stopping.
                self.backend.request_exit()
        except Exception as exc:  # shutting down: a runtime error changes nothing now
            log.warning("ending the headset's session: %s: %s", type(exc).__name__, exc)
        self.running = False
        try:
            self.backend.destroy_session()
        finally:
            self.backend.close()
        if hasattr(self, "_region"):
            self._region.clear_draw_callback()
            self.engine.output.remove_display_region(self._region)
        ClockObject.get_global_clock().set_mode(ClockObject.M_limited)

    # ------------------------------------------------------------ the frame

    def frame_start(self) -> None:
        """The runtime's news, then (while the session runs) wait for, begin and locate the
        frame."""
        # A frame begun but never ended (its draw did not run: a window minimised) would make
        # the runtime discard every later frame: end it, empty, first.
        self._end_frame_empty()
        self.tracking = None
        self.timing = None
        if self._reconnect_at is not None and time.monotonic() >= self._reconnect_at:
            self._reconnect_at = None
            self._session_due = True
        try:
            for state in self.backend.poll_states():
                self._changed(state)
            if not self.running or self._closed:
                return
            timing = self.backend.wait_frame()
            self.backend.begin_frame()
            self._frame_ended = False
            self.timing = timing
            tracking = self.backend.locate(timing.display_time)
        except Exception as exc:  # a runtime error must not take the session down
            self._error(exc)
            return
        self.tracking = tracking
        self.pose_t_ns = self.host.clock.from_monotonic(
            self.backend.to_monotonic_ns(timing.display_time))

    def _changed(self, state: SessionState) -> None:
        previous, self.state = self.state, state
        log.info("headset: %s -> %s", previous, state)
        self.host.headset_state(HeadsetState(state=state, previous=previous,
                                             reason=REASONS[state]))
        if state == "ready":
            self.backend.begin_session()
            self.running = True
            self._ever_ran = True
            # The runtime paces the frames now (xrWaitFrame); Panda3D's limiter would only
            # add a wait of its own and miss the runtime's deadline.
            ClockObject.get_global_clock().set_mode(ClockObject.M_normal)
        elif state == "focused":
            self.host.headset_returned()
        elif state == "stopping":
            self._stop_running(end=True)
        elif state in ("loss_pending", "exiting"):
            # The session is over either way (ending it is only for ``stopping``).
            self._stop_running(end=False)
            self.backend.destroy_session()
            if state == "loss_pending":
                # The runtime's instance goes too: a new one is made when reconnecting.
                self.backend.close()
                self._reconnect_at = time.monotonic() + self.config.reconnect_s
            else:
                self._gone = True
        if state != "focused" and (previous == "focused"
                                   or state in ("loss_pending", "exiting", "stopping")):
            self.host.headset_left(REASONS[state])

    def _stop_running(self, end: bool) -> None:
        self._frame_ended = True  # nothing is submitted to a session that stops
        if self.running:
            self.running = False
            if end:
                try:
                    self.backend.end_session()
                except Exception as exc:
                    log.warning("ending the headset's session: %s: %s", type(exc).__name__,
                                exc)
        ClockObject.get_global_clock().set_mode(ClockObject.M_limited)

    def _error(self, exc: BaseException) -> None:
        """A runtime call failed: a lost session starts over; any other failure costs this
        frame only (ended empty) and is logged, the first time and then every 100th."""
        if self.backend.is_lost(exc):
            self._failed(exc)
            return
        self._errors += 1
        if self._errors == 1 or self._errors % 100 == 0:
            log.error("the headset's runtime refused a call (%d so far): %s: %s",
                      self._errors, type(exc).__name__, exc)
        if self._errors == 1:
            self.host.alert("headset_error", "warning",
                            f"the headset's runtime refused a call: {type(exc).__name__}: "
                            f"{exc}"[:900])
        try:
            self._end_frame_empty()
        except Exception as again:
            if self.backend.is_lost(again):
                self._failed(again)

    def _end_frame_empty(self) -> None:
        """End a begun frame with no layer (the runtime then shows its own last image)."""
        if self._frame_ended or self.timing is None or not self.running:
            self._frame_ended = True
            return
        self._frame_ended = True
        self.backend.end_frame(self.timing, (), None)

    def _failed(self, exc: BaseException) -> None:
        """A runtime call failed: hold the session safe and try again with a new session."""
        log.error("the headset's runtime failed: %s: %s", type(exc).__name__, exc)
        self.host.alert("headset_error", "critical",
                        f"the headset's runtime failed: {type(exc).__name__}: {exc}"[:900])
        self.running = False
        self._frame_ended = True
        ClockObject.get_global_clock().set_mode(ClockObject.M_limited)
        try:
            self.backend.destroy_session()
            self.backend.close()  # a new instance when reconnecting (a lost one is useless)
        except Exception:
            log.exception("destroying the headset's session failed")
        self.state = "unknown"
        self.host.headset_left(f"the runtime failed ({type(exc).__name__}); reconnecting")
        self._reconnect_at = time.monotonic() + self.config.reconnect_s

    # ------------------------------------------------------------ the client's actions

    def apply(self, now_s: float) -> None:
        """The stop chord and the answer buttons, from this frame's controllers (``now_s``:
        the frame's time, used when the tracking has none)."""
        self.select_hand = None
        self.panel_step = 0
        tracking = self.tracking
        if tracking is None or self.state != "focused":
            for state in self._hands.values():  # nothing held carries over a gap
                state.chord_since = None
                state.chord_fired = False
                state.trigger = False
            return
        # Holds are timed on the tracking's own clock (the display times the buttons were
        # sampled for), so a hold is as long as the client held it, whatever the frame rate.
        if self.pose_t_ns is not None:
            now_s = self.pose_t_ns * 1e-9
        for hand in HANDS:
            inp = tracking.hands.get(hand)
            if inp is not None:
                self._hand(hand, inp, now_s)

    def _hand(self, hand: Hand, inp: HandInput, now_s: float) -> None:
        st = self._hands[hand]
        if not inp.active:
            # Input not reaching vret: what was held is forgotten, and its "release" is no
            # answer.
            self._hands[hand] = _HandState()
            return
        was = st.trigger
        st.trigger = inp.trigger >= PRESSED or (was and inp.trigger > RELEASED)
        other = inp.squeeze >= PRESSED or inp.menu
        if st.trigger and not was:
            st.chord_seen = False
            self._pointing = hand
        chord = st.trigger and other
        if chord:
            st.chord_seen = True
            if st.chord_since is None:
                st.chord_since = now_s
            if not st.chord_fired and now_s - st.chord_since >= self.config.stop_hold_s - 1e-6:
                st.chord_fired = True
                self.stops += 1
                self.host.client_stop(f"the client held the stop chord (trigger and grip) on "
                                      f"the {hand} controller")
        else:
            st.chord_since = None
            st.chord_fired = False
        if was and not st.trigger and not st.chord_seen:
            self.select_hand = hand  # an answer is the trigger let go, never part of a stop
        if inp.thumbstick_click and not st.stick_click:
            self.select_hand = hand
            self._pointing = hand
        st.stick_click = inp.thumbstick_click
        x = inp.thumbstick[0]
        stick = -1 if x <= -STICK_STEP else 1 if x >= STICK_STEP else 0
        if stick != 0 and st.stick == 0:
            self.panel_step = stick
            self._pointing = hand
        st.stick = stick

    @property
    def has_controllers(self) -> bool:
        """Whether any controller is tracked (else the panel is answered by gaze dwell)."""
        tracking = self.tracking
        return tracking is not None and any(h.aim is not None for h in tracking.hands.values())

    # ------------------------------------------------------------ tracking

    def pose_head(self) -> bool:
        """Head, eyes, gaze and pointer from this frame's tracking; False: nothing tracked
        (the head stays where it was)."""
        tracking = self.tracking
        if tracking is None or tracking.head is None:
            self.gaze = None
            return False
        self._apply_recentre(tracking)
        engine = self.engine
        origin = engine.tracking
        place_head_and_eyes(engine, tracking.head, tracking.views)
        if len(tracking.views) == 2 and tracking.views[0].fov != self._last_fov:
            self._last_fov = tracking.views[0].fov
            self.lens_changed = True
        world = engine.world
        self.gaze = None
        if tracking.gaze is not None:
            g_pos, g_quat = convert.pose(tracking.gaze)
            self.gaze = (world.get_relative_point(origin, g_pos),
                         world.get_relative_vector(origin, g_quat.xform(Vec3(0, 1, 0))))
        inp = tracking.hands.get(self._pointing)
        if inp is None or inp.aim is None:
            inp = next((h for h in tracking.hands.values() if h.aim is not None), None)
        self.pointer = None
        if inp is not None and inp.aim is not None:
            a_pos, a_quat = convert.pose(inp.aim)
            self.pointer = (world.get_relative_point(origin, a_pos),
                            world.get_relative_vector(origin, a_quat.xform(Vec3(0, 1, 0))))
        return True

    def grip(self, hand: Hand) -> tuple[Point3, Quat] | None:
        """Where ``hand``'s controller is held, in the world (None: not tracked)."""
        tracking = self.tracking
        inp = tracking.hands.get(hand) if tracking is not None else None
        if inp is None or inp.grip is None:
            return None
        origin, world = self.engine.tracking, self.engine.world
        pos, quat = convert.pose(inp.grip)
        # Panda3D composes child, then parent.
        return world.get_relative_point(origin, pos), quat * origin.get_quat(world)

    def controller_row(self) -> list[float]:
        """Both controllers for the ``controllers`` stream: per hand the grip pose in the
        world (x, y, z, qw, qx, qy, qz), trigger and grip (NaN where untracked)."""
        nan = math.nan
        row: list[float] = []
        tracking = self.tracking
        for hand in HANDS:
            inp = tracking.hands.get(hand) if tracking is not None else None
            where = self.grip(hand)
            if where is None:
                row += [nan] * 7
            else:
                p, q = where
                row += [p.x, p.y, p.z, q.get_r(), q.get_i(), q.get_j(), q.get_k()]
            row += [inp.trigger, inp.squeeze] if inp is not None else [nan, nan]
        return row

    def recentre(self, posture: Posture | None = None) -> None:
        """Put the client at the viewpoint, facing the scenario's way, at the next frame."""
        if posture is not None and posture != self.posture:
            self.posture = posture
            try:
                self.backend.set_reference("local" if posture == "seated" else "stage")
            except Exception as exc:
                self._failed(exc)
                return
        self._recentre_due = True

    def _apply_recentre(self, tracking: Tracking) -> None:
        if not self._recentre_due or tracking.head is None:
            return
        self._recentre_due = False
        pos, quat = convert.pose(tracking.head)
        heading = quat.get_hpr()[0]
        turn = self.view_heading - heading
        origin = self.engine.tracking
        origin.set_hpr(turn, 0, 0)
        turned = origin.get_quat().xform(pos)
        vx, vy, vz = self.viewpoint
        # Standing: the stage space's floor is the viewpoint's floor, so the client's own
        # height is kept. Seated: the eyes at a seated height above the viewpoint.
        z = vz if self.posture == "standing" else vz + SEATED_EYE_M - pos.z
        origin.set_pos(vx - turned.x, vy - turned.y, z)
        log.info("headset: recentred (%s) at heading %.0f", self.posture, self.view_heading)

    # ------------------------------------------------------------ the draw

    def _draw(self, cbdata: Any) -> None:
        """At the end of the output's draw, GL context current: open the session when due,
        and end the frame with both eye images."""
        try:
            if self._session_due and not self._gone and not self._closed:
                self._session_due = False
                self.backend.create_session("local" if self.posture == "seated" else "stage")
                self._recentre_due = True
            self.end_frame()
        except XrUnavailable as exc:
            if self._ever_ran:
                self._error(exc)  # it worked before: hold, and try again
                return
            # The first session cannot be opened (no usable graphics binding or image
            # format): a set-up problem that retrying will not mend. End here, saying why.
            self.fatal = str(exc)
            log.error("the headset cannot be used: %s", exc)
            self.host.alert("headset_unusable", "critical",
                            f"the headset cannot be used: {exc}"[:900])
            self.host.stop_requested.set()
        except Exception as exc:  # never let a runtime error out of Panda3D's draw
            self._error(exc)

    def end_frame(self) -> None:
        """Hand this frame's eye images to the runtime (an empty frame when it will not show
        them)."""
        timing, tracking = self.timing, self.tracking
        if timing is None or self._frame_ended or not self.running:
            return
        self._frame_ended = True
        views = tracking.views if tracking is not None else ()
        textures = None
        if timing.should_render and len(views) == 2:
            textures = [self._native_id(tex) for tex in self.engine.eye_textures]
        self.backend.end_frame(timing, views, textures)
        self.frames_shown += textures is not None
        self.frames_ended += 1

    def _native_id(self, tex: Any) -> int:
        gsg = self.engine.output.get_gsg()
        context = tex.prepare_now(0, gsg.get_prepared_objects(), gsg)
        return int(context.get_native_id()) if context is not None else 0
