"""Replay: the client's view at any moment of a recorded session, rendered again.

No video is stored. The session record holds, for every frame, its time, the client's head
pose and gaze, the level and which scene was shown (the ``head_pose``, ``gaze`` and ``scene``
streams), and the log holds everything else that changed what the client saw: live events,
the avatar's lines and gestures, the session's states, and what the rating panel showed and
where. The scenes are deterministic (one seed; every animation advances by the frame's
``dt``), so stepping the same scenario, safe place, avatar and panel through the same frames
with the same inputs puts every object where it was; the view is then drawn from the recorded
head pose, and the gaze point is drawn over it.

Stepping is cheap (no drawing) but it runs through every frame from the start: going forward
continues from where the replay stands, going back builds the scenes again. A replay also
checks itself: the scenario's parameter values it computes are compared with the recorded
ones, and :attr:`ReplayFrame.divergence` says how far they differ (0 when faithful).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from panda3d.core import LPoint2f, Point3, Quat, Vec3

from avatar.bodies import BodyModel
from avatar.lines import LineBook
from avatar.presence import Avatar
from avatar.speech_queue import Priority
from instruments.definition import ResponseScale
from scenarios.base import Scenario
from scenarios.registry import ScenarioError
from scenarios.registry import load as load_scenario
from telemetry.schemas import (
    AvatarGesture,
    AvatarLineCut,
    AvatarUtterance,
    RatingPanelShown,
    ScenarioEvent,
    StateChange,
)
from telemetry.store import SessionRecord, SessionStore, StoredEvent
from vr_server.comfort import ComfortVignette
from vr_server.engine import Engine
from vr_server.rating_panel import RatingPanel
from vr_server.stage import Stage
from vr_server.streams import SCENE_CHANNELS
from vr_server.xr.hands import ControllerModels
from vr_server.xr.types import HANDS

log = logging.getLogger(__name__)

SCENE = {name: i for i, name in enumerate(SCENE_CHANNELS)}
LIVE_STATES = frozenset({"exposure", "check_in"})
"""States in which the exposure scene moves (as in the live session)."""
GAZE_DEFAULT_M = 3.0
"""How far along the gaze ray the point is drawn when it met nothing."""
FAITHFUL = 1e-3
"""Largest divergence (share of a parameter's range) still called faithful."""


class ReplayError(ValueError):
    """The session cannot be replayed; the message says why and what to do."""


@dataclass
class Recording:
    """One recorded session, frame by frame, as a replay reads it."""

    record: SessionRecord
    t0_ns: int
    """The session's start, as the review report counts time (seconds shown are from here)."""
    frames: np.ndarray
    t_ns: np.ndarray
    head: np.ndarray
    """Per frame: x, y, z, qw, qx, qy, qz (the ``head_pose`` stream)."""
    gaze: np.ndarray
    """Per frame: origin x, y, z and direction x, y, z (the ``gaze`` stream)."""
    scene: np.ndarray
    values: np.ndarray
    """Per frame: the scenario's parameter values, as recorded."""
    parameter_names: tuple[str, ...]
    events: list[StoredEvent]
    controllers: np.ndarray | None = None
    """With a headset, per frame: the ``controllers`` stream (each hand's grip pose, trigger
    and grip; NaN where untracked); None for sessions without one."""
    _by_frame: dict[int, list[StoredEvent]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # An event belongs to the frame during which it was logged: the last one that began
        # at or before it (events before the first frame go with the first).
        index = np.searchsorted(self.t_ns, [e.t_session_ns for e in self.events],
                                side="right") - 1
        for i, event in zip(index.tolist(), self.events, strict=True):
            self._by_frame.setdefault(max(0, i), []).append(event)

    @property
    def settings(self) -> dict[str, Any]:
        """The settings the session was recorded with."""
        return self.record.settings

    def __len__(self) -> int:
        return len(self.frames)

    def events_at(self, index: int) -> list[StoredEvent]:
        """The events logged during frame ``index`` (in log order)."""
        return self._by_frame.get(index, [])

    def seconds(self, index: int) -> float:
        """Frame ``index``'s time in seconds from the session's start."""
        return (int(self.t_ns[index]) - self.t0_ns) / 1e9

    def index_at(self, seconds: float) -> int:
        """The frame shown at ``seconds`` from the start (the last one begun by then)."""
        t = self.t0_ns + round(seconds * 1e9)
        found = int(np.searchsorted(self.t_ns, t, side="right")) - 1
        return min(max(found, 0), len(self) - 1)

    def index_of_frame(self, frame: int) -> int:
        """The index of the frame numbered ``frame`` (as the mirror and the scene stream
        number them); :class:`ReplayError` if it was not recorded."""
        hit = np.nonzero(self.frames == frame)[0]
        if not hit.size:
            raise ReplayError(f"frame {frame} is not in the recording (frames "
                           f"{int(self.frames[0])}-{int(self.frames[-1])})")
        return int(hit[0])


def load_recording(store: SessionStore, session_id: str) -> Recording:
    """Read what a replay needs; :class:`ReplayError` if the session has no frames."""
    record = store.session(session_id)
    streams = store.streams(session_id)
    missing = [s for s in ("head_pose", "gaze", "scene", "scenario") if s not in streams]
    if missing:
        raise ReplayError(f"session {session_id} has no {', '.join(missing)} stream: it was "
                          "not served with a rendered scene, so there is nothing to replay")
    data = {name: store.samples(session_id, name)
            for name in ("head_pose", "gaze", "scene", "scenario")}
    t_ns, scene = data["scene"]
    if not len(t_ns):
        raise ReplayError(f"session {session_id} recorded no frames")
    for name, (t, _) in data.items():
        # A headset's poses carry the time they are seen at (the runtime's predicted display
        # time, about a frame after the frame's start), one per frame in the frames' order;
        # every other row carries the frame's start.
        posed = name in ("head_pose", "gaze")
        if len(t) != len(t_ns) or not (np.all(np.diff(t) > 0) if posed
                                       else np.array_equal(t, t_ns)):
            raise ReplayError(f"session {session_id}: the {name} stream does not have a row "
                              "for every frame; the recording is incomplete")
    order = np.argsort(t_ns, kind="stable")
    controllers = None
    if "controllers" in streams:
        t_ctl, ctl = store.samples(session_id, "controllers")
        if len(t_ctl) == len(t_ns):  # one row per frame, as the head's
            controllers = ctl[order].astype(float)
    events = store.events(session_id)
    from review.session import start_ns

    return Recording(
        record=record, t0_ns=start_ns(store, session_id, events),
        frames=scene[order, SCENE["frame"]].astype(np.int64), t_ns=t_ns[order].astype(np.int64),
        head=data["head_pose"][1][order].astype(float),
        gaze=data["gaze"][1][order].astype(float), scene=scene[order].astype(float),
        values=data["scenario"][1][order].astype(float),
        parameter_names=streams["scenario"].channels, events=events,
        controllers=controllers)


def open_recording(data_dir: Path, session_id: str) -> Recording:
    """Load a session's recording from the store in ``data_dir``."""
    with SessionStore.in_dir(data_dir, create=False) as store:
        return load_recording(store, session_id)


@dataclass(frozen=True)
class ReplayFrame:
    """One replayed view."""

    index: int
    frame: int
    """The frame's number (as the mirror view and the scene stream number it)."""
    seconds: float
    image: np.ndarray
    """``(h, w, 3)`` uint8, top row first, without the gaze point."""
    gaze_xy: tuple[float, float] | None
    """Where the client looked, in pixels of :attr:`image` (None: outside the view)."""
    divergence: float
    """Largest difference between the replayed and the recorded scenario values so far, as a
    share of each parameter's range (0: the replay is faithful)."""

    def with_gaze(self) -> np.ndarray:
        """The image with the gaze point drawn on it (a ring with a dark edge)."""
        return draw_gaze(self.image, self.gaze_xy)


def draw_gaze(image: np.ndarray, xy: tuple[float, float] | None) -> np.ndarray:
    """A copy of ``image`` with a ring at ``xy``: where the client was looking."""
    out = image.copy()
    if xy is None:
        return out
    h, w = out.shape[:2]
    radius = max(4.0, 0.018 * w)
    yy, xx = np.ogrid[:h, :w]
    d = np.sqrt((xx - xy[0]) ** 2 + (yy - xy[1]) ** 2)
    edge = np.abs(d - radius) <= max(1.5, radius * 0.35)
    ring = np.abs(d - radius) <= max(0.8, radius * 0.18)
    out[edge] = (20, 20, 20)
    out[ring] = (255, 214, 0)
    return out


def scenario_classes(recording: Recording, scenario: str | None = None
                     ) -> tuple[type[Scenario], type[Scenario]]:
    """The recorded scenario and safe place (``scenario``: a file or name that replaces the
    recorded one, for a scenario loaded from a file that has since moved)."""
    settings = recording.settings
    name = scenario or settings.get("scenario_source") or recording.record.scenario
    try:
        cls = load_scenario(name)
    except ScenarioError as exc:
        raise ReplayError(f"the session's scenario {name!r} cannot be loaded ({exc}); give "
                          "its file with --scenario") from exc
    if cls.spec.name != recording.record.scenario:
        raise ReplayError(f"{name!r} is scenario {cls.spec.name!r}, but the session ran "
                          f"{recording.record.scenario!r}")
    safe = load_scenario(str(settings.get("safe_place", "safe_place")))
    return cls, safe


class Replayer:
    """Steps a recording's scenes frame by frame in ``engine`` and draws the view on demand.

    Builds its own scenario, safe place, avatar and rating panel (the engine must not be
    serving a session at the same time); :meth:`close` removes them.
    """

    def __init__(self, engine: Engine, recording: Recording, scenario: str | None = None,
                 avatar_model: Path | None = None) -> None:
        self.engine = engine
        self.recording = recording
        self.scenario_cls, self.safe_cls = scenario_classes(recording, scenario)
        settings = recording.settings
        self.seed = int(settings.get("seed", 0))
        self.lines = LineBook.load(str(settings.get("language", "en")))
        self.model: BodyModel | None = None
        if avatar_model is not None:
            self.model = BodyModel(avatar_model, str(settings.get("avatar_joint_map") or "auto"))
        elif settings.get("avatar_model"):
            log.warning("the session's avatar was the site's model %s; without --avatar-model "
                        "the replay shows the built-in therapist", settings["avatar_model"])
        spec = self.scenario_cls.spec
        self._ranges = np.asarray([
            max(p.maximum - p.minimum, 1e-9) for p in spec.parameters], dtype=float)
        names = spec.parameter_names
        if tuple(names) != tuple(recording.parameter_names):
            raise ReplayError("the scenario's parameters are not the recorded ones (it has "
                              "changed since the session): the replay would not be faithful")
        self.stage: Stage | None = None
        self.avatar: Avatar | None = None
        self.panel: RatingPanel | None = None
        self.vignette: ComfortVignette | None = None
        self.hands: ControllerModels | None = None
        self.index = -1
        self.divergence = 0.0

    # ------------------------------------------------------------------ building

    def _build(self) -> None:
        engine = self.engine
        self._t = 0.0
        stage = Stage(engine, self.scenario_cls, self.safe_cls, self.seed,
                      clock=lambda: self._t, contain_failures=True)
        stage.load()
        spec = self.scenario_cls.spec
        avatar = Avatar(engine.shared, stage.targets, self.lines, self.seed, model=self.model)
        avatar.load(spec.viewpoint, spec.view_heading)
        self.stage, self.avatar = stage, avatar
        self.panel = RatingPanel(engine.world)
        # A headset session's controllers, where the client held them (their pointing ray
        # was not recorded).
        self.hands = (ControllerModels(engine.world)
                      if self.recording.controllers is not None else None)
        # The comfort vignette follows the rig as it did live (sessions recorded before it
        # existed had none).
        self.vignette = ComfortVignette(
            engine.rig, engine.world, engine.cameras,
            enabled=bool(self.recording.settings.get("comfort_vignette", False)))
        self.index = -1
        self.divergence = 0.0
        self._state = "ready"
        self._level: tuple[int, float] = (-1, -1.0)
        self._stimulus_positions: tuple[tuple[float, float, float], ...] = ()
        self._placement: tuple[tuple[float, float, float], ...] = ()
        self._stimuli: list[Any] = []

    def close(self) -> None:
        """Remove everything the replay built from the engine."""
        if self.avatar is not None:
            self.avatar.unload()
        if self.panel is not None:
            self.panel.remove()
        if self.vignette is not None:
            self.vignette.remove()
            self.vignette = None
        if self.hands is not None:
            self.hands.remove()
            self.hands = None
        if self.stage is not None:
            self.stage.unload()
            self.engine.rig.set_pos_hpr(0, 0, 0, 0, 0, 0)
        self.stage = self.avatar = self.panel = None
        self.index = -1

    def __enter__(self) -> Replayer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ stepping

    def seek(self, index: int) -> None:
        """Step the scenes to the end of frame ``index`` (back: built again from the start)."""
        if not 0 <= index < len(self.recording):
            raise IndexError(f"frame index {index} is outside 0-{len(self.recording) - 1}")
        if self.stage is None or index < self.index:
            self.close()
            self._build()
        while self.index < index:
            self._step(self.index + 1)

    def _step(self, i: int) -> None:
        """Frame ``i``, in the order the live frame ran it (vr_server.app)."""
        stage, avatar, panel = self.stage, self.avatar, self.panel
        assert stage is not None and avatar is not None and panel is not None
        rec, engine = self.recording, self.engine
        t_ns = int(rec.t_ns[i])
        dt = 0.0 if i == 0 else (t_ns - int(rec.t_ns[i - 1])) * 1e-9
        now = t_ns * 1e-9
        self._t = now
        events = rec.events_at(i)
        before = self._state
        for e in events:
            if isinstance(e.body, StateChange):
                self._state = e.body.to_state
        # The commands' part: the scene shown, the level, live events, the avatar.
        row = rec.scene[i]
        stage.show_safe(row[SCENE["safe_place"]] > 0.5)
        level = (int(row[SCENE["rung"]]), float(row[SCENE["intensity"]]))
        if level != self._level:
            self._level = level
            stage.set_level(*level)
        live_events = {e.name for e in self.scenario_cls.spec.live_events}
        started = [e.body for e in events if isinstance(e.body, AvatarUtterance)]
        cut = any(isinstance(e.body, AvatarLineCut) and e.body.outcome == "interrupted"
                  for e in events)
        if cut and not started:
            avatar.fall_silent()  # a check-in answered while its prompt was being said
        for line in started:
            # The log says when each line began; the most urgent priority starts it now.
            avatar.say(line.text, Priority.SAFETY, now, line.line_id)
        avatar.queue.journal.clear()
        if self._state == "safe_hold" and before != "safe_hold":
            avatar.soften(True)
        elif before == "safe_hold" and self._state != "safe_hold":
            avatar.soften(False)
        for e in events:
            body = e.body
            if isinstance(body, ScenarioEvent):
                stage.play_event("exposure" if body.name in live_events else "safe", body.name)
            elif isinstance(body, AvatarGesture):
                target = (Point3(*self._stimulus_positions[0]) if self._stimulus_positions
                          else None)
                try:
                    avatar.gesture(body.name, target)
                except KeyError:
                    log.warning("replay: gesture %r is no longer known", body.name)
        # The input: the recorded head pose (in the world: wherever the rig had carried the
        # client) and gaze.
        x, y, z, qw, qx, qy, qz = (float(v) for v in rec.head[i])
        engine.head.set_pos_quat(engine.world, Point3(x, y, z), Quat(qw, qx, qy, qz))
        head = engine.head.get_pos(engine.world)
        stage.client.head = Point3(head)
        stage.client.heading = engine.head.get_h(engine.world)
        gaze_dir = Vec3(*(float(v) for v in rec.gaze[i, 3:6]))
        if self.hands is not None and rec.controllers is not None:
            for k, hand in enumerate(HANDS):
                row = rec.controllers[i, 9 * k:9 * k + 7]
                self.hands.place(hand, None if np.isnan(row).any() else (
                    Point3(*row[:3]), Quat(*row[3:7])))
        # The scene.
        live = self._state in LIVE_STATES
        stage.update(dt if live or stage.showing_safe else 0.0)
        if self.vignette is not None:
            self.vignette.update(dt)
        avatar.area = stage.floor_area()
        avatar.update(dt, now, head, stage.client.heading, self._placement, engine.world)
        avatar.queue.journal.clear()
        for e in events:
            if isinstance(e.body, RatingPanelShown):
                self._panel(e.body)
        if panel.is_open:
            panel.update(dt, head, gaze_dir)
        # The gaze task's part: what the avatar keeps out of the way of next frame.
        spheres = stage.targets.snapshot(engine.world)
        stimuli = [s for s in spheres if s.kind == "stimulus"]
        if stimuli != self._stimuli:
            self._stimuli = stimuli
            self._stimulus_positions = tuple((s.x, s.y, s.z) for s in stimuli)
            self._placement = tuple((s.x, s.y, s.z) for s in stimuli if s.radius <= 1.5)
        values = stage.runner.values
        replayed = np.asarray([values[n] for n in rec.parameter_names], dtype=np.float32)
        if len(replayed):
            off = float(np.max(np.abs(replayed.astype(float) - rec.values[i]) / self._ranges))
            self.divergence = max(self.divergence, off)
        self.index = i

    def _panel(self, change: RatingPanelShown) -> None:
        panel = self.panel
        assert panel is not None
        if change.action == "answered":
            if panel.checkin_id == change.key:
                panel.answered(change.value)
            return
        scale = ResponseScale(low=change.scale_low, high=change.scale_high,
                              step=change.scale_step, kind=change.scale_kind)
        panel.open(change.key, change.question, scale, change.yes_no, change.low_label,
                   change.high_label, Point3(*change.position), change.heading, change.pitch)

    # ------------------------------------------------------------------ drawing

    def render(self, index: int) -> ReplayFrame:
        """The client's view at the end of frame ``index``."""
        self.seek(index)
        self.engine.step()  # Panda3D's draw (the replay registers no tasks of its own)
        image = self.engine.screenshot()
        rec = self.recording
        return ReplayFrame(index=index, frame=int(rec.frames[index]),
                           seconds=rec.seconds(index), image=image,
                           gaze_xy=self._gaze_xy(index, image.shape[1], image.shape[0]),
                           divergence=self.divergence)

    def _gaze_xy(self, index: int, width: int, height: int) -> tuple[float, float] | None:
        rec, engine = self.recording, self.engine
        origin = Point3(*(float(v) for v in rec.gaze[index, :3]))
        direction = Vec3(*(float(v) for v in rec.gaze[index, 3:6]))
        if direction.length_squared() < 1e-12:
            return None
        direction.normalize()
        hit = rec.scene[index, SCENE["gaze_hit_distance"]]
        distance = float(hit) if math.isfinite(hit) and hit > 0.05 else GAZE_DEFAULT_M
        point = origin + direction * distance
        camera = engine.cameras[0]
        local = camera.get_relative_point(engine.world, point)
        screen = LPoint2f()
        if not camera.node().get_lens().project(local, screen):
            return None
        return ((screen.x + 1) / 2 * width, (1 - screen.y) / 2 * height)

    def frames(self, start: int, end: int, every: int = 1) -> Iterator[ReplayFrame]:
        """Views from frame ``start`` to ``end`` (inclusive), every ``every``-th frame."""
        for index in range(start, end + 1, max(1, every)):
            yield self.render(index)
