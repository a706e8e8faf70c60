"""The VR server application: Panda3D wiring only.

It joins the parts and registers the frame pipeline (:mod:`vr_server.frame`):

* :class:`~vr_server.host.SessionHost`: transport, state machine and recorder (the authority);
* :class:`~vr_server.stage.Stage`: the exposure scenario and the safe place;
* the client: the virtual client (simulated wearer), the window's mouse and keys, or a fixed
  head at the viewpoint;
* :class:`~vr_server.frame_samples.FrameSource`: per-frame telemetry;
* :class:`~vr_server.mirror.MirrorEncoder`: the console's view of what the client sees.

Which scene is shown follows the session state, every frame: the exposure scenario during
``exposure`` and ``check_in`` (and frozen while an exposure is ``paused``), the safe place in
every other state (``SessionMachine.scene_shown``).
"""

from __future__ import annotations

import gc
import json
import logging
import math
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from panda3d.core import GraphicsOutput, Point3, Vec3

from avatar.behaviours import GESTURES
from avatar.bodies import BodyModel
from avatar.lines import LineBook
from avatar.presence import Avatar
from avatar.speech import Voice, tts_available
from avatar.speech_queue import Priority
from instruments.definition import Item, ResponseScale
from ruptures.detector import Candidate, RuptureDetector, as_event
from ruptures.previous import previous_alliance
from scenarios.base import Scenario
from scenarios.registry import ScenarioError
from scenarios.registry import load as load_scenario
from scenarios.sound import SoundPlayer
from scenarios.targets import LOOK_CODES, Sphere, gaze_hit, nearest_distance
from telemetry.schemas import CheckInAsked, Frame, RatingPanelShown, RuptureCandidate
from vr_server.comfort import ComfortVignette, VignetteChange
from vr_server.engine import DisplayConfig, Engine, current
from vr_server.frame import FramePipeline
from vr_server.frame_samples import FrameSource
from vr_server.host import HostConfig, SessionHost
from vr_server.mirror import MirrorConfig, MirrorEncoder
from vr_server.mirror_copy import MirrorCopy
from vr_server.questionnaires import Form
from vr_server.rating_panel import Cell, RatingPanel
from vr_server.stage import Stage
from vr_server.virtual_client import SceneObservation, VirtualClient, VirtualClientParams
from vr_server.xr.hands import ControllerModels
from vr_server.xr.headset import Headset, HeadsetConfig
from vr_server.xr.types import HANDS, SystemInfo, XrBackend

log = logging.getLogger(__name__)

SESSION_LINES = ("grounding_stop", "checkin_suds", "checkin_expectancy", "consent_step_up",
                 "greeting", "rationale_control")
"""Lines the session says by itself; every line book must have them."""
SURFACE_M = 1.5
"""Tagged spheres wider than this are surfaces around the client, not things to look at past."""
SWITCH_INTERVAL_S = 0.0005
LIVE_STATES = frozenset({"exposure", "check_in"})
"""States in which the exposure scene moves."""


NEAR_EVERY_FRAMES = 15
"""How often (in frames) the nearest stimulus is looked up again for the rupture detector."""
GC_MIDDLE_FRAMES = 256
GC_FULL_FRAMES = 90 * 60
SYMPTOM_INSTRUMENTS = frozenset({"phq9", "ssq", "fms", "suds"})
"""Questionnaires about symptoms (the virtual client's stand-in answers them low, rising with
its arousal); the others rate the session, the therapist or the guide."""
PROMPT_LINES = {"suds": "checkin_suds", "expectancy": "checkin_expectancy",
                "fms": "checkin_fms", "consent": "consent_step_up"}
"""The line the avatar asks each instrument's check-in with (unless it comes with a prompt)."""

@dataclass(frozen=True)
class AppConfig:
    """Everything the server application needs; every default is defined here, once."""

    scenario: str = "heights"
    safe_place: str = "safe_place"
    host: HostConfig = field(default_factory=HostConfig)
    display: DisplayConfig = field(default_factory=DisplayConfig)
    virtual_client: bool | None = None
    """Simulate the client. ``None``: whenever no real input is attached (every mode but
    ``window``)."""
    client: VirtualClientParams = field(default_factory=VirtualClientParams)
    mirror: MirrorConfig = field(default_factory=MirrorConfig)
    avatar_mode: Literal["therapist", "coach"] = "therapist"
    """``therapist``: the avatar says what the console sends and voices the check-ins the
    therapist asks for. ``coach``: it also greets the client, asks a SUDS check-in every
    ``checkin_interval_s`` of exposure and at each rung change, and asks consent before every
    step up (supervised or self-guided practice)."""
    avatar_model: BodyModel | None = None
    """A site's rigged glTF character for the avatar (None: the procedural therapist)."""
    consent: bool = False
    """Collaborative mode: a step up waits for the client's yes (always on in coach mode)."""
    checkin_interval_s: float | None = None
    """The session's scheduled SUDS check-ins during exposure, voiced by the avatar: every
    this many seconds (None: none in therapist mode, 300 s in coach mode)."""
    language: str = "en"
    """The avatar's line book (``avatar/lines/<language>.json``)."""
    stats_interval_s: float = 1.0
    keep_timings: bool = False
    """Keep every frame's timings in :attr:`ServerApp.timings` (benchmarks)."""
    gaze_dwell: bool = False
    """Let the client answer the rating panel (and press its STOP) by looking at a choice
    (off with the virtual client, whose gaze is not aimed at the panel). With a headset it
    is used whenever no controller is tracked, whatever this says."""
    headset: HeadsetConfig = field(default_factory=HeadsetConfig)
    """Posture, stop chord and reconnection of ``--display openxr``."""
    comfort_vignette: bool = True
    """Dim the edges of the view while a scenario carries the client (:mod:`vr_server.comfort`)."""


class ServerApp:
    """One session served with a rendered scene: :meth:`start`, :meth:`run`, :meth:`close`."""

    def __init__(self, config: AppConfig, engine: Engine | None = None,
                 xr: tuple[XrBackend, SystemInfo] | None = None) -> None:
        """``xr``: the headset's runtime and what its probe found (``--display openxr``)."""
        self.config = config
        if (xr is None) != (config.display.mode != "openxr"):
            raise ValueError("the openxr display needs a probed XR backend, and only it")
        self._xr = xr
        scenario_cls: type[Scenario] = load_scenario(config.scenario)
        safe_cls: type[Scenario] = load_scenario(config.safe_place)
        if safe_cls.spec.graded:
            raise ScenarioError(
                f"{safe_cls.spec.name!r} cannot be the safe place: it is a graded exposure "
                "scenario (a safe place's spec says graded=False)")
        spec = scenario_cls.spec
        self.spec = spec
        display = config.display
        self.lines = LineBook.load(config.language)
        self.lines.require(SESSION_LINES)
        host_config = replace(
            config.host, scenario=spec.name, rungs=len(spec.rungs), frame_rate=display.frame_rate,
            avatar_lines=tuple((line.id, line.text) for line in self.lines.lines.values()),
            gestures=tuple(GESTURES), avatar=True,
            consent=config.consent or config.avatar_mode == "coach",
            live_events=tuple((e.name, e.escalates) for e in spec.live_events),
            safe_events=tuple(e.name for e in safe_cls.spec.live_events),
            checkin_every_s=config.checkin_interval_s,
            description=json.dumps({
                "scenario": {"name": spec.name, "title": spec.title,
                             "description": spec.description,
                             "rungs": [{"label": r.label, "description": r.description}
                                       for r in spec.rungs],
                             "parameters": [p.model_dump(include={
                                 "name", "label", "unit", "minimum", "maximum", "description"})
                                 for p in spec.parameters],
                             "live_events": [e.model_dump() for e in spec.live_events]},
                "safe_place": {"name": safe_cls.spec.name, "title": safe_cls.spec.title},
                "avatar": {"present": True, "mode": config.avatar_mode,
                           "gestures": sorted(GESTURES),
                           "lines": [{"id": line.id, "text": line.text,
                                      "category": line.category, "strategy": line.strategy}
                                     for line in self.lines.lines.values()]}}),
            settings=(("display", display.mode), ("size", list(display.size)),
                      ("shading", display.shading), ("safe_place", safe_cls.spec.name),
                      ("virtual_client", self._wants_virtual_client()),
                      ("avatar_mode", config.avatar_mode), ("fov_deg", display.fov_deg),
                      ("language", config.language),
                      ("scenario_source", config.scenario),
                      # What a replay needs to rebuild the same view (review.replay).
                      ("avatar_model", None if config.avatar_model is None
                       else config.avatar_model.path.name),
                      ("avatar_joint_map", None if config.avatar_model is None
                       or not isinstance(config.avatar_model.joint_map, str)
                       else config.avatar_model.joint_map),
                      ("comfort_vignette", config.comfort_vignette),
                      *((("headset", {"runtime": xr[1].runtime, "system": xr[1].system,
                                       "eye_size": list(xr[1].eye_size),
                                       "eye_gaze": xr[1].eye_gaze,
                                       "graphics": xr[1].graphics,
                                       "posture": config.headset.posture,
                                       "stop_hold_s": config.headset.stop_hold_s}),)
                        if xr is not None else ())))
        self.engine = engine or current(display)
        self.client: VirtualClient | None = None
        if self._wants_virtual_client():
            self.client = VirtualClient(replace(config.client, seed=config.host.seed,
                                                eye_height_m=spec.eye_height))
        self._client_lock = threading.Lock()
        self.source = FrameSource(spec, display.frame_rate, self.client, self._client_lock,
                                  controllers=xr is not None)
        self.host = SessionHost(host_config, source=self.source)
        try:
            self.stage = Stage(self.engine, scenario_cls, safe_cls, config.host.seed,
                               clock=lambda: self._frame_t_ns * 1e-9,
                               contain_failures=True)
        except Exception as exc:
            raise ScenarioError(f"scenario {spec.name!r} or safe place "
                                f"{safe_cls.spec.name!r} could not be set up: "
                                f"{type(exc).__name__}: {exc}") from exc
        audio = self.engine.audio_manager is not None
        self.avatar = Avatar(
            self.engine.shared, self.stage.targets, self.lines, config.host.seed,
            sound=SoundPlayer(self.engine.audio_manager, self.engine.head) if audio else None,
            voice=Voice(tts_available()) if audio else None, model=config.avatar_model)
        self.panel = RatingPanel(self.engine.world)
        self.headset: Headset | None = None
        self.controllers: ControllerModels | None = None
        """The client's controllers, seen in the scene (with a headset)."""
        self.vignette: ComfortVignette | None = None
        self.detector = RuptureDetector()
        self._near: tuple[float, float] | None = None
        self._near_due = 0
        """Proposes rupture candidates from the client's behaviour (``ruptures.detector``)."""
        self._previous_state = "ready"
        self._voiced_checkin: str | None = None
        self._client_pose: Any = None
        """The virtual client's pose for this frame (the client task computes it)."""
        self._prompted: dict[str, float] = {}
        """Check-in id -> when the avatar began to voice its prompt (the virtual client
        answers only a question it has heard)."""
        self._next_coach_checkin = math.inf
        self._coach_rung = 0
        self.mirror = MirrorEncoder(config.mirror, self._publish_frame)
        self.pipeline: FramePipeline | None = None
        self.window_input: Any = None
        self.frame_times: list[float] = []
        self.work_times: list[float] = []
        self.timings: list[tuple[float, float, float]] = []
        """``(frame interval, own work, own work's CPU time)`` in seconds per frame, with
        ``keep_timings``."""
        # Per-frame state, kept between tasks of one frame.
        self._level = (-1, -1.0)
        self._last_frame_t: float | None = None
        self._frame_t_ns = 0
        self._dt = 0.0
        self._looking_at = "elsewhere"
        self._gaze_hit = math.inf
        self._distance: float | None = None
        self._stimulus_positions: tuple[tuple[float, float, float], ...] = ()
        self._placement_stimuli: tuple[tuple[float, float, float], ...] = ()
        self._stimuli: list[Sphere] = []
        self._avatar_face: tuple[float, float, float] | None = None
        self._pump: threading.Thread | None = None
        self._pump_stop = threading.Event()
        self._head = Point3(0, 0, spec.eye_height)
        self._gaze_dir = Vec3(0, 1, 0)
        self._last_exposure = 0.0
        self._answer_due: tuple[float, float, str] | None = None
        self._form_due: tuple[float, float, str] | None = None
        self._next_mirror = 0.0
        self._mirror_copy: MirrorCopy | None = None
        self._next_stats = 0.0

    def _wants_virtual_client(self) -> bool:
        if self.config.virtual_client is not None:
            return self.config.virtual_client
        return self.config.display.mode not in ("window", "openxr")

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Build the scenes, open the session and register the frame pipeline.

        The scenes are built before anything is recorded: a scenario that fails to build
        stops the start with a :class:`ScenarioError` naming it, and no session is left open.
        """
        # The frame loop shares the interpreter with the transport, recorder and mirror
        # threads. Python hands the GIL back to a waiting thread only every switch interval
        # (5 ms by default), which would stall a frame by up to 5 ms; 0.5 ms keeps the
        # worst wait well inside a 90 Hz frame.
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        try:
            self.stage.load()
        except Exception as exc:
            raise ScenarioError(f"scenario {self.spec.name!r} failed to build its scene: "
                                f"{type(exc).__name__}: {exc}") from exc
        self.avatar.load(self.spec.viewpoint, self.spec.view_heading)
        self.host.start()
        host = self.host
        self.detector.previous = previous_alliance(host.store_path, host.client_id,
                                                   host.session_id)
        host.event_listeners.append(self._detect_in_event)
        self._setup_mirror_copy()
        self.mirror.start()
        if self.config.display.mode == "window" and self.client is None:
            from vr_server.window_input import WindowInput

            self.window_input = WindowInput(self.engine, self.host, self.stage)
        if self._xr is not None:
            backend, info = self._xr
            self.headset = Headset(backend, info, self.engine, host, self.spec.viewpoint,
                                   self.spec.view_heading, self.config.headset)
            self.headset.start()
            self.controllers = ControllerModels(self.engine.world)
        self.vignette = ComfortVignette(self.engine.rig, self.engine.world, self.engine.cameras,
                                        self._vignette_changed, self.config.comfort_vignette)
        self.pipeline = FramePipeline(self.engine.task_mgr, {
            "headset": self._headset_frame, "commands": self._commands, "client": self._client,
            "input": self._input,
            "scene": self._scene,
            "gaze": self._gaze, "telemetry": self._telemetry,
            "mirror_request": self._mirror_request, "mirror": self._mirror,
            "housekeeping": self._housekeeping,
        })
        # Python's collector runs whenever allocations pass a threshold, so a pass would land
        # in whichever task allocated (a millisecond-scale hiccup in a 90 Hz frame). The
        # scenes, once built, are set aside (frozen) and the collector is run in each frame's
        # slack instead (the housekeeping task); close() gives the process back its default.
        gc.collect()
        gc.freeze()
        gc.disable()
        self._gc_frames = 0
        self._next_stats = time.monotonic() + self.config.stats_interval_s
        self._pump = threading.Thread(target=self._run_pump, name="vret-samples", daemon=True)
        self._pump.start()

    def run(self, duration_s: float | None = None) -> None:
        """Run frames until the session ends, ``host.stop_requested`` is set, or ``duration_s``.

        Panda3D's clock paces the loop at the display's frame rate.
        """
        started = time.monotonic()
        while not self.host.stop_requested.is_set() and self.host.machine.state != "ended":
            if duration_s is not None and time.monotonic() - started >= duration_s:
                break
            try:
                self.engine.step()
            except KeyboardInterrupt:
                # Panda3D's task manager takes SIGINT during a frame and raises this; it is
                # the operator ending the session, like SIGTERM.
                log.info("interrupted: ending the session")
                self.host.stop_requested.set()

    def close(self, reason: str = "server shut down") -> None:
        """End the session record, stop the threads and remove the scenes."""
        if self.pipeline is not None:
            self.pipeline.remove()
            self.pipeline = None
            gc.unfreeze()
            gc.enable()
        if self._pump is not None:
            self._pump_stop.set()
            self._pump.join(timeout=5)
            self._pump = None
        if self.window_input is not None:
            self.window_input.close()
        if self.headset is not None:
            try:
                self.headset.close()
            except Exception:  # the record below matters more than a runtime's goodbye
                log.exception("closing the headset failed")
        if self.vignette is not None:
            self.vignette.remove()
        if self.controllers is not None:
            self.controllers.remove()
        self.mirror.close()
        # What the avatar was saying is cut off by the end; the log says so.
        self.avatar.queue.clear(self.host.clock.now_ns() * 1e-9)
        self._log_speech()
        self.host.close(reason=reason)
        self.avatar.unload()
        self.panel.remove()
        self.stage.unload()
        if self._mirror_copy is not None:
            self._mirror_copy.close()
            self._mirror_output().clear_render_textures()
            self._mirror_copy = None

    # ------------------------------------------------------------------ frame tasks

    def _headset_frame(self) -> None:
        if self.headset is not None:
            self.headset.frame_start()

    def _vignette_changed(self, change: VignetteChange) -> None:
        if change.on:
            self.host.alert("comfort_vignette", "info",
                            "the scenario moves the client: the edges of the view are dimmed",
                            on=True)
        else:
            self.host.alert("comfort_vignette", "info",
                            "the motion ended: the view is clear again", on=False,
                            peak=round(change.strength, 2))

    def _commands(self) -> None:
        host = self.host
        # The frame's time, read once: everything this frame does (the scene's dt, the
        # avatar's speech clock, the samples' timestamps) uses it, so that a replay of the
        # recording steps the scenes through exactly the same times (review.replay).
        t_ns = host.clock.now_ns()
        now = t_ns * 1e-9
        self._dt = 0.0 if self._last_frame_t is None else (t_ns - self._frame_t_ns) * 1e-9
        if self._last_frame_t is not None and self.pipeline is not None:
            # The previous frame is complete: its interval and all of its own work.
            self.frame_times.append(self._dt)
            self.work_times.append(self.pipeline.last_work_s)
            if self.config.keep_timings:
                self.timings.append((self._dt, self.pipeline.last_work_s,
                                     self.pipeline.last_cpu_s))
        self._last_frame_t = now
        # Per-frame samples carry the frame's start: the moment its commands were applied.
        self._frame_t_ns = t_ns
        host.step()
        # The client's own actions (keys at the window, the virtual client's stop and
        # answers) are applied here too, so they show in this frame's image like commands.
        if self.window_input is not None:
            self.window_input.apply()
        machine = host.machine
        while machine.recentre_requests:
            posture = machine.recentre_requests.pop(0)
            if self.headset is not None:
                self.headset.recentre(posture if posture in ("standing", "seated")
                                      else None)  # type: ignore[arg-type]
            else:
                self.stage.place_client()
                if self.window_input is not None:  # the mouse-look starts from there too
                    self.window_input.heading = self.engine.head.get_h()
                    self.window_input.pitch = self.engine.head.get_p()
        if self.headset is not None:
            self.headset.apply(now)
        self._client_actions()
        if machine.state == "ended":
            host.stop_requested.set()
        self.stage.show_safe(not machine.scene_shown)
        level = (machine.level.rung, machine.level.intensity)
        if level != self._level:
            self._level = level
            self.stage.set_level(*level)
        while machine.triggered:
            scene, name = machine.triggered.pop(0)
            if not self.stage.play_event(scene, name):
                # Recorded as triggered, but its scene was gone by this frame (a stop in
                # the same frame): say so, rather than let the log claim it played.
                host.alert("event_not_played", "info",
                           f"live event {name!r} was not played: its scene is not shown",
                           event=name)
        self._avatar_follows_the_session()
        self._record_failures()

    def _avatar_follows_the_session(self) -> None:
        """What the session asks of the avatar this frame: lines the therapist sent, gestures,
        check-in and consent prompts, grounding after a stop, and the coach's schedule."""
        machine, avatar = self.host.machine, self.avatar
        now = self._frame_t_ns * 1e-9
        state, before = machine.state, self._previous_state
        self._previous_state = state
        if state == "safe_hold" and before != "safe_hold":
            # A safety line: interrupts anything the avatar was saying, in this frame.
            avatar.say_line("grounding_stop", now, actor="server")
            avatar.soften(True)
        elif before == "safe_hold" and state != "safe_hold":
            avatar.soften(False)
        while machine.spoken:
            text, line_id = machine.spoken.pop(0)
            book_line = self.lines.lines.get(line_id) if line_id else None
            urgent = book_line is not None and book_line.safety
            avatar.say(text, Priority.SAFETY if urgent else Priority.THERAPIST, now, line_id)
        while machine.gestured:
            name = machine.gestured.pop(0)
            target = Point3(*self._stimulus_positions[0]) if self._stimulus_positions else None
            avatar.gesture(name, target)
        asked = machine.open_checkin
        if self._voiced_checkin is not None and (
                asked is None or asked.checkin_id != self._voiced_checkin):
            avatar.withdraw(self._voiced_checkin, now)  # answered or withdrawn: not asked on
        if asked is None:
            self._voiced_checkin = None
        if asked is not None and asked.checkin_id != self._voiced_checkin:
            self._voiced_checkin = asked.checkin_id
            line_id = PROMPT_LINES.get(asked.instrument)
            if asked.instrument == "expectancy" and asked.purpose == "after":
                line_id = "checkin_expectancy_after"  # re-rated now that it has been done
            text = asked.prompt or (self.lines.get(line_id).text if line_id else "")
            if text:
                avatar.say(text, Priority.SCHEDULED, now, line_id, tag=asked.checkin_id,
                           actor=asked.actor)
        if self.config.avatar_mode == "coach" or machine.checkin_every_s is not None:
            self._schedule(now, before)

    def _schedule(self, now: float, before: str) -> None:
        """The session's schedule: a SUDS check-in every interval of exposure and at every
        new rung (the console's plan starts at every 300 s); in coach mode also a greeting
        at the start."""
        host, machine, avatar = self.host, self.host.machine, self.avatar
        coach = self.config.avatar_mode == "coach"
        interval = machine.checkin_every_s or 300.0
        state = machine.state
        if coach and state == "baseline" and before == "ready":
            for line_id in ("greeting", "rationale_control"):
                line = self.lines.get(line_id)
                avatar.say(line.text, Priority.SCHEDULED, now, line.id, actor="script")
        if state == "exposure" and before == "baseline":
            self._next_coach_checkin = now + interval
        rung_changed = machine.level.rung != self._coach_rung
        self._coach_rung = machine.level.rung
        if state == "exposure" and machine.open_checkin is None and (
                now >= self._next_coach_checkin or rung_changed):
            self._next_coach_checkin = now + interval
            host.ask_checkin("suds")

    def _record_failures(self) -> None:
        while self.stage.failures:
            scene, error = self.stage.failures.pop(0)
            self.host.scenario_failed(scene, error)

    def _client(self) -> None:
        """The virtual client's move this frame (a stand-in for the person and headset)."""
        if self.client is None:
            return
        t_s = self.host.clock.now_ns() * 1e-9
        state = self.host.machine.state
        if state in LIVE_STATES:
            self._last_exposure = self.source.exposure
        elif not self.host.machine.scene_shown:
            self._last_exposure = 0.0
        spec = self.spec
        # What the client saw last frame (the gaze task's snapshot of the scene).
        observation = SceneObservation(
            viewpoint=spec.viewpoint, view_heading=spec.view_heading,
            stimulus_positions=self._stimulus_positions,
            avatar_position=self._avatar_face,
            avatar_speaking=self.avatar.queue.current is not None,
            exposure=self._last_exposure, looking_at=self._looking_at,
            stimulus_distance_m=self._distance)
        with self._client_lock:
            self._client_pose = self.client.update(t_s, self._dt, observation)

    def _input(self) -> None:
        pose = self._client_pose
        if self.client is not None and pose is not None:
            x, y, z = pose.head_pos
            h, p, r = pose.head_hpr
            self.engine.head.set_pos_hpr(x, y, z, h, p, r)
            self._gaze_dir = Vec3(*pose.gaze_dir)
        elif self.window_input is not None:
            self.window_input.update(self._dt)
            self._gaze_dir = self.engine.world.get_relative_vector(self.engine.head, (0, 1, 0))
        elif self.headset is not None:
            self.headset.pose_head()
            gaze = self.headset.gaze
            self._gaze_dir = (gaze[1] if gaze is not None else
                              self.engine.world.get_relative_vector(self.engine.head, (0, 1, 0)))
        else:
            self._gaze_dir = self.engine.world.get_relative_vector(self.engine.head, (0, 1, 0))
        self._head = self.engine.head.get_pos(self.engine.world)
        self.stage.client.head = Point3(self._head)
        self.stage.client.heading = self.engine.head.get_h(self.engine.world)

    def _scene(self) -> None:
        live = self.host.machine.state in LIVE_STATES
        self.stage.update(self._dt if live or self.stage.showing_safe else 0.0)
        if self.vignette is not None:  # after the scene has carried the rig
            if self.headset is not None and self.headset.lens_changed:
                self.headset.lens_changed = False
                self.vignette.fit()
            self.vignette.update(self._dt)
        self.avatar.area = self.stage.floor_area()
        present = self.avatar.present
        self.avatar.update(self._dt, self._frame_t_ns * 1e-9, self._head,
                           self.stage.client.heading, self._placement_stimuli,
                           self.engine.world)
        if self.avatar.present != present:  # what the client sees changed: say so
            if self.avatar.present:
                self.host.alert("avatar_stepped_in", "info",
                                "the avatar is back at the client's side")
            else:
                self.host.alert("avatar_stepped_out", "info",
                                "no room beside the client: the avatar waits outside the "
                                "room; its voice and captions go on")
        self._avatar_face = (self.avatar.face_position(self.engine.world)
                             if self.avatar.present else None)
        self._rating_panel()
        self._show_controllers()
        self._log_speech()
        self._record_failures()

    def _rating_panel(self) -> None:
        """Show the open check-in, or the current item of a questionnaire being given, on the
        panel before the client; with gaze dwell, a look at a choice answers it and a look at
        STOP stops the exposure (and leaves a questionnaire) in this frame."""
        panel, host = self.panel, self.host
        machine = host.machine
        asked, form = machine.open_checkin, machine.open_form
        item = form.next_item() if form is not None else None
        current = (asked.checkin_id if asked is not None else
                   f"{form.form_id}:{item.id}" if form is not None and item is not None
                   else None)
        if panel.is_open and panel.checkin_id != current and not panel.closing:
            last = machine.last_answer
            answered = last is not None and last.checkin_id == panel.checkin_id
            value = last.value if answered and last is not None else None
            panel.answered(value)
            if panel.checkin_id is not None:
                host.panel_changed(RatingPanelShown(action="answered", key=panel.checkin_id,
                                                    value=value))
        if current is not None and current != panel.checkin_id:
            if asked is not None:
                self._open_panel(asked)
            elif form is not None and item is not None:
                self._open_form_panel(form, item, current)
        if not panel.is_open:
            return
        headset = self.headset
        if headset is not None and headset.has_controllers:
            cell = self._point_at_panel(headset)
            if panel.checkin_id != current:
                return
        else:
            cell = panel.update(self._dt, self._head, self._gaze_dir)
            dwell = self.config.gaze_dwell or headset is not None
            if cell is None or not dwell or panel.checkin_id != current:
                return
        if cell is None:
            return
        if cell.value is None:
            if form is not None:
                host.abandon_form("the client chose STOP on the rating panel")
            if machine.state in LIVE_STATES:
                host.client_stop("the client looked at STOP on the rating panel")
        elif asked is not None:
            host.answer_checkin(cell.value)
        else:
            host.answer_form(cell.value)

    def _show_controllers(self) -> None:
        """The controllers where the client holds them, and the pointing ray while the panel
        is open (after the panel has moved this frame)."""
        headset, models = self.headset, self.controllers
        if headset is None or models is None:
            return
        for hand in HANDS:
            models.place(hand, headset.grip(hand))
        pointer = headset.pointer
        if pointer is None or not self.panel.is_open or self.panel.closing:
            models.point(None, None)
        else:
            models.point(pointer, self.panel.hit_distance(*pointer))

    def _point_at_panel(self, headset: Headset) -> Cell | None:
        """A controller points at a choice (or a thumbstick moves to one); letting go of the
        trigger, or clicking the thumbstick, answers it."""
        panel = self.panel
        if panel.tick(self._dt):
            return None
        if headset.pointer is not None:
            panel.point(*headset.pointer)
        if headset.panel_step:
            panel.step(headset.panel_step)
        if headset.select_hand is None:
            return None
        return panel.highlighted()

    def _open_form_panel(self, form: Form, item: Item, key: str) -> None:
        scale = form.scale(item)
        answered, asked = form.progress()
        question = f"{form.pack.title} ({answered + 1} of {asked})\n{form.pack.items[item.id]}"
        self._show_on_panel(key, question, scale, scale.kind == "yes_no",
                            form.pack.anchor(item.scale, scale.low) or "",
                            form.pack.anchor(item.scale, scale.high) or "")

    def _open_panel(self, asked: CheckInAsked) -> None:
        machine = self.host.machine
        scale = machine.checkin_scale(asked.instrument)
        if scale is None:
            return
        line_id = PROMPT_LINES.get(asked.instrument)
        if asked.instrument == "expectancy" and asked.purpose == "after":
            line_id = "checkin_expectancy_after"
        question = asked.prompt or (self.lines.get(line_id).text if line_id else "")
        low, high = "", ""
        pack = machine.catalogue().packs.get((asked.instrument, "en"))
        if pack is not None:
            question = question or pack.items.get(next(iter(pack.items)), "")
            low = pack.anchor("default", scale.low) or ""
            high = pack.anchor("default", scale.high) or ""
        self._show_on_panel(asked.checkin_id, question or asked.instrument, scale,
                            asked.instrument == "consent", low, high)

    def _show_on_panel(self, key: str, question: str, scale: ResponseScale, yes_no: bool,
                       low: str, high: str) -> None:
        """Open the panel where the client looks, and log what it shows and where."""
        head = Point3(self._head)
        heading = self.stage.client.heading
        pitch = self.engine.head.get_p(self.engine.world)
        self.panel.open(key, question, scale, yes_no, low, high, head, heading, pitch)
        self.host.panel_changed(RatingPanelShown(
            action="shown", key=key, question=question, scale_low=scale.low,
            scale_high=scale.high, scale_step=scale.step, scale_kind=scale.kind,
            yes_no=yes_no, low_label=low, high_label=high,
            position=(head.x, head.y, head.z), heading=heading, pitch=pitch))

    def _log_speech(self) -> None:
        """Log what the avatar started saying this frame, and lines cut off or never said."""
        journal = self.avatar.queue.journal
        while journal:
            outcome, utterance, at_s = journal.pop(0)
            if outcome == "started":
                self.host.avatar_said(utterance.text, utterance.line_id, utterance.actor)
                if utterance.tag is not None:
                    self._prompted[utterance.tag] = at_s
            else:
                said_s = None if utterance.started_s is None else at_s - utterance.started_s
                self.host.avatar_cut(utterance.text, utterance.line_id, outcome, said_s,
                                     utterance.actor)

    def _gaze(self) -> None:
        spheres = self.stage.targets.snapshot(self.engine.world)  # once a frame, used thrice
        hit = gaze_hit(spheres, self._head, self._gaze_dir)
        self._looking_at, self._gaze_hit = hit.looking_at, hit.distance_m
        self._distance = nearest_distance(spheres, self._head)
        stimuli = [s for s in spheres if s.kind == "stimulus"]
        if stimuli != self._stimuli:  # settled targets are the same objects frame to frame
            self._stimuli = stimuli
            self._near_due = 0
            self._near = None
            self._stimulus_positions = tuple((s.x, s.y, s.z) for s in stimuli)
            # The avatar keeps out of the lines of sight to things, not to surfaces that
            # surround the client (an enclosed room's walls are spheres metres wide behind
            # each wall).
            self._placement_stimuli = tuple((s.x, s.y, s.z) for s in stimuli
                                            if s.radius <= SURFACE_M)

    def _telemetry(self) -> None:
        host, machine = self.host, self.host.machine
        t_ns = self._frame_t_ns
        quat = self.engine.head.get_quat(self.engine.world)
        head = (self._head.x, self._head.y, self._head.z,
                quat.get_r(), quat.get_i(), quat.get_j(), quat.get_k())
        d = self._gaze_dir
        nan = float("nan")
        scene = (float(host.frame), float(machine.level.rung), machine.level.intensity,
                 float(not self.stage.showing_safe), float(self.stage.showing_safe),
                 float(LOOK_CODES[self._looking_at]),
                 nan if self._distance is None else self._distance,
                 nan if math.isinf(self._gaze_hit) else self._gaze_hit)
        hx, hy = self._head.x, self._head.y
        if self._near_due <= 0 and self._stimulus_positions:
            # The nearest stimulus (for the detector's stepping back) moves little between
            # frames; looked up a few times a second, not every frame (an audience is
            # sixty of them).
            self._near_due = NEAR_EVERY_FRAMES
            near = min(self._stimulus_positions,
                       key=lambda p: (p[0] - hx) ** 2 + (p[1] - hy) ** 2)
            self._near = (near[0], near[1])
        self._near_due -= 1
        found = self.detector.frame(t_ns * 1e-9, machine.state in LIVE_STATES,
                                    machine.level.rung, LOOK_CODES[self._looking_at],
                                    not self.stage.showing_safe, (hx, hy), self._near)
        if found:
            self._publish_candidates(found)
        values = self.stage.runner.values
        headset = self.headset
        # Tracked poses carry the time the runtime predicted they are seen at; the rest of
        # the frame's samples carry the frame's start.
        pose_t_ns = (headset.pose_t_ns if headset is not None and headset.tracking is not None
                     and headset.pose_t_ns is not None else t_ns)
        gaze_origin = (headset.gaze[0] if headset is not None and headset.gaze is not None
                       else self._head)
        self.source.add_frame(t_ns, head, (gaze_origin.x, gaze_origin.y, gaze_origin.z,
                                           d.x, d.y, d.z), scene,
                              [values[n] for n in self.spec.parameter_names],
                              pose_t_ns=pose_t_ns)
        if headset is not None:
            self.source.add_controllers(pose_t_ns, headset.controller_row())
        now = time.monotonic()

        if now >= self._next_stats:
            self._next_stats = now + self.config.stats_interval_s
            self._add_stats(t_ns)

    def _detect_in_event(self, t_ns: int, body: Any) -> None:
        if not isinstance(body, RuptureCandidate):
            found = self.detector.event(t_ns * 1e-9, body)
            if found:
                self._publish_candidates(found)

    def _publish_candidates(self, found: list[Candidate]) -> None:
        for candidate in found:
            self.host.record_candidate(as_event(candidate, self.detector))

    def _run_pump(self) -> None:
        """Publish and record the collected samples on the batch schedule, off the frame loop:
        building batches, encoding and sending never delay a frame."""
        host = self.host
        interval = host.config.batch_interval_s
        next_batch = time.monotonic()
        next_descriptors = next_batch + host.config.descriptor_interval_s
        while not self._pump_stop.wait(max(0.0, next_batch - time.monotonic())):
            now = time.monotonic()
            next_batch += interval  # a schedule, not "now + interval" (see SessionHost.run)
            if next_batch < now:
                next_batch = now + interval
            try:
                host.publish_samples()
                if now >= next_descriptors:
                    next_descriptors = now + host.config.descriptor_interval_s
                    host.publish_descriptors()
            except Exception:  # telemetry must never take the session down
                log.exception("publishing samples failed")
        try:  # the last rows of the session, so the record ends where the session did
            host.publish_samples()
        except Exception:
            log.exception("publishing the last samples failed")

    def _client_actions(self) -> None:
        client, host = self.client, self.host
        if client is None:
            return
        with self._client_lock:  # the publishing thread samples the same model
            stop = client.wants_stop()
        if host.machine.state in LIVE_STATES and stop:
            host.client_stop("the client pressed stop (virtual client, arousal above its "
                             "panic threshold)")
            return
        t_s = host.clock.now_ns() * 1e-9
        asked = host.machine.open_checkin
        if asked is None:
            self._answer_due = None
            self._client_answers_form(t_s)
            return
        if self._answer_due is None or self._answer_due[2] != asked.checkin_id:
            voiced = bool(asked.prompt) or asked.instrument in PROMPT_LINES
            if voiced and asked.checkin_id not in self._prompted:
                return  # the client answers a question once the avatar has begun to ask it
            with self._client_lock:
                answer = client.answer_checkin(asked.instrument, t_s)
            if answer is None:  # an instrument the simulated client cannot answer
                self._answer_due = (math.inf, 0.0, asked.checkin_id)
            else:
                self._answer_due = (t_s + answer.delay_s, float(answer.value), asked.checkin_id)
        due, value, _ = self._answer_due
        if t_s >= due:
            self._answer_due = None
            host.answer_checkin(value)

    def _client_answers_form(self, t_s: float) -> None:
        """The virtual client answers the open questionnaire's items, one after the other."""
        form = self.host.machine.open_form
        item = form.next_item() if form is not None else None
        if form is None or item is None or self.client is None:
            self._form_due = None
            return
        key = f"{form.form_id}:{item.id}"
        if self._form_due is None or self._form_due[2] != key:
            scale = form.scale(item)
            with self._client_lock:
                value, delay = self.client.answer_item(
                    form.instrument.id in SYMPTOM_INSTRUMENTS, scale.low, scale.high,
                    scale.step, t_s)
            self._form_due = (t_s + 0.5 * delay, value, key)  # items are quicker than ratings
        due, value, _ = self._form_due
        if t_s >= due:
            self._form_due = None
            self.host.answer_form(value)

    def _add_stats(self, t_ns: int) -> None:
        frames, work = sorted(self.frame_times), sorted(self.work_times) or [0.0]
        if not frames:
            return
        self.source.add_stats(t_ns, (
            len(frames) / sum(frames), 1000 * _quantile(frames, 0.5),
            1000 * _quantile(frames, 0.99), 1000 * _quantile(work, 0.5),
            1000 * _quantile(work, 0.99), float(len(frames))))
        self.frame_times.clear()
        self.work_times.clear()

    # ------------------------------------------------------------------ mirror view

    def _mirror_output(self) -> GraphicsOutput:
        return self.engine.output

    def _setup_mirror_copy(self) -> None:
        """The GPU-scaled copy the draw makes, only on the frames a mirror image is due."""
        if self.config.mirror.rate_hz <= 0:
            return
        self._mirror_copy = MirrorCopy(self._mirror_output(), self.config.mirror.width,
                                       self.config.display.mode == "stereo")

    def _housekeeping(self) -> None:
        """The young generation every frame, the middle one every few seconds, all of it
        every minute (at 90 Hz)."""
        self._gc_frames += 1
        if self._gc_frames % GC_FULL_FRAMES == 0:
            gc.collect()
        elif self._gc_frames % GC_MIDDLE_FRAMES == 0:
            gc.collect(1)
        else:
            gc.collect(0)

    def _mirror_request(self) -> None:
        now = time.monotonic()
        copy = self._mirror_copy
        if copy is not None and now >= self._next_mirror:
            period = 1.0 / self.config.mirror.rate_hz
            self._next_mirror += period
            if self._next_mirror <= now:  # behind (or the first frame): restart the schedule
                self._next_mirror = now + period
            copy.request()

    def _mirror(self) -> None:
        copy = self._mirror_copy
        image = copy.take() if copy is not None else None
        if image is not None:
            self.mirror.submit(image, self.host.frame, self.host.clock.now_ns())

    def _publish_frame(self, frame: Frame) -> None:
        transport = self.host.transport
        if transport is not None:
            transport.publish("frame", frame)


def _quantile(ordered: list[float], q: float) -> float:
    """The ``q`` quantile of a sorted list (nearest rank: no interpolation, no numpy call on
    the frame path)."""
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def serve(config: AppConfig, duration_s: float | None = None) -> ServerApp:
    """Start a server, run it until it ends, close it; returns the app (for its records)."""
    app = ServerApp(config)
    app.start()
    try:
        app.run(duration_s)
    finally:
        app.close()
    return app


__all__ = ["AppConfig", "DisplayConfig", "ServerApp", "serve"]
