"""The therapist avatar in the scene: body, behaviours, voice, caption and where it stands.

The frame loop calls :meth:`Avatar.update` once a frame with where the client is and where the
stimulus is; everything else (what to say, gestures, softening on stop) arrives as calls from
the session. Speech goes through a priority queue, so a safety line interrupts anything in the
frame that asks for it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np
from panda3d.core import NodePath, Point3

from avatar import placement
from avatar.appearance import THERAPIST_DEFAULT, Appearance
from avatar.behaviours import GESTURES, Animator
from avatar.bodies import Body, BodyModel, build_body
from avatar.lines import LineBook
from avatar.speech import Caption, Voice
from avatar.speech_queue import Priority, SpeechQueue, Utterance
from scenarios.sound import Sound, SoundPlayer
from scenarios.targets import TargetRegistry

log = logging.getLogger(__name__)

BODY_TURN_S = 4.0
"""Time constant of the client's body heading the avatar places itself by (seconds)."""
REPLAN_S = 0.5
"""How often the avatar reconsiders where to stand (it walks there smoothly in between)."""
RECHECK_M = 0.05
"""The lines of sight are tested again once the avatar or the client has moved this far (or
the stimuli changed): 5 cm against an 85 cm margin, and a hall of 60 faces is 60 lines."""
REPLAN_TURN_DEG = 10.0
"""A periodic replan is skipped while the client has moved less than :data:`RECHECK_M` and
turned less than this since the last one, with the same stimuli (a speaker at a lectern: the
choice among 36 bearings against 60 lines of sight would come out the same)."""
SMALL_SET = 8
"""Up to this many stimuli plain floats beat numpy's per-call overhead."""


class Avatar:
    """A present, responsive companion beside the client."""

    def __init__(self, parent: NodePath, targets: TargetRegistry, lines: LineBook, seed: int,
                 appearance: Appearance = THERAPIST_DEFAULT, sound: SoundPlayer | None = None,
                 voice: Voice | None = None, model: BodyModel | None = None) -> None:
        self.parent = parent
        self.model = model
        """A site's glTF character instead of the procedural body (None: procedural)."""
        self.targets = targets
        self.lines = lines
        self.seed = seed
        self.appearance = appearance
        self.sound = sound
        self.voice = voice
        self.queue = SpeechQueue()
        self.body: Body | None = None
        self.animator: Animator | None = None
        self.caption: Caption | None = None
        self.softened = False
        self.spot: tuple[float, float] = (0.0, 0.0)
        self._goal: placement.Placement | None = None
        self._replan_in = 0.0
        self._floor = 0.0
        self._tickets: dict[int, str] = {}
        self._voice_sound: Sound | None = None
        self._body_heading = 0.0
        self._sight_stimuli: tuple[tuple[float, float, float], ...] = ()
        self._flat: list[tuple[float, float]] = []
        self._flat_array: np.ndarray = np.zeros((0, 2))
        self._sight_at: tuple[float, float, float, float] | None = None
        self._blocking = False
        self._nearest: Point3 | None = None
        self.area: placement.Area | None = None
        """Free floor around the client where walls enclose it (set each frame by the
        server from the scene); None in the open."""
        self._goal_area: placement.Area | None = None
        self._plan_at: tuple[float, float, float] | None = None
        """Where the client stood and faced at the last choice of spot."""
        self.present = True
        """Whether the avatar stands in the scene (False while it waits outside a room too
        small for it beside the client; its voice and captions go on)."""

    # ------------------------------------------------------------------ lifecycle

    def load(self, viewpoint: tuple[float, float, float], heading: float) -> None:
        """Build the body beside a client standing at ``viewpoint`` facing ``heading``."""
        self.body = build_body(self.parent, self.appearance, "therapist", self.model)
        if self.model is not None:
            log.info("avatar: glTF model %s, joints %s", self.model.path,
                     " ".join(self.body.joint_names))
        self.animator = Animator(self.body, self.seed)
        self.caption = Caption(self.parent)
        self._floor = viewpoint[2]
        start = placement.choose((viewpoint[0], viewpoint[1]), heading, ())
        assert start is not None  # in the open there is always a spot
        self.spot = (start.x, start.y)
        self._body_heading = heading
        self.body.root.set_pos(start.x, start.y, self._floor)
        self.body.root.set_h(start.heading)
        # A sphere around head and shoulders: where a client looks to meet the therapist.
        height = self.appearance.height_m
        self.targets.tag(self.body.root, "avatar", radius=0.4, center=(0.0, 0.0, height - 0.3))

    def unload(self) -> None:
        """Remove the avatar from the scene."""
        if self.body is not None:
            self.targets.untag(self.body.root)
            self.body.remove()
            self.body = None
        if self.caption is not None:
            self.caption.node.remove_node()
            self.caption = None
        self._silence()
        self.queue.clear()

    # ------------------------------------------------------------------ what it does

    def say(self, text: str, priority: Priority, now_s: float,
            line_id: str | None = None, tag: str | None = None,
            actor: str = "therapist") -> Utterance:
        """Queue ``text``; a more urgent line than the current one is started at once.
        ``actor`` is who asked for it, for the log (see :attr:`SpeechQueue.journal`)."""
        utterance = Utterance(text=text, priority=priority, line_id=line_id, tag=tag,
                              actor=actor)
        self.queue.push(utterance, now_s)
        if self.queue.current is utterance:
            self._start(utterance)
        return utterance

    def say_line(self, line_id: str, now_s: float, priority: Priority | None = None,
                 actor: str = "therapist") -> Utterance:
        """Say a line from the book (safety lines at safety priority unless told otherwise)."""
        line = self.lines.get(line_id)
        if priority is None:
            priority = Priority.SAFETY if line.safety else Priority.THERAPIST
        return self.say(line.text, priority, now_s, line_id, actor=actor)

    def withdraw(self, tag: str, now_s: float) -> None:
        """Lines tagged ``tag`` are moot (their check-in was answered or withdrawn): drop the
        waiting ones, and stop saying one now (caption, mouth and voice), so the next begins."""
        saying = self.queue.current
        self.queue.drop(tag, now_s)
        if saying is not None and self.queue.current is None:
            self.fall_silent()

    def fall_silent(self) -> None:
        """Stop saying the current line at once: caption, mouth and voice (a replay does
        this where the log says a line was cut off and nothing took its place)."""
        self.queue.current = None
        self._silence()
        if self.animator is not None:
            self.animator.hush()
        if self.caption is not None:
            self.caption.hide()

    def gesture(self, name: str, target: Point3 | None = None) -> None:
        """Make a gesture (``KeyError`` listing the known ones for another name)."""
        if name not in GESTURES:
            raise KeyError(f"unknown gesture {name!r}; known: {', '.join(sorted(GESTURES))}")
        if self.animator is not None:
            self.animator.gesture(name, target)

    def soften(self, on: bool) -> None:
        """On stop: step back, slow down, a calm posture; off again when the exposure resumes."""
        self.softened = on
        self._replan_in = 0.0
        self._plan_at = None
        if on and self.animator is not None:
            self.animator.soften()

    @property
    def speaking(self) -> Utterance | None:
        """The line being said now."""
        return self.queue.current

    def face_position(self, world: NodePath) -> tuple[float, float, float] | None:
        """Where the client looks to meet the avatar's eyes (None before load)."""
        if self.body is None:
            return None
        p = self.body.head_position(world)
        return (p.x, p.y, p.z)

    # ------------------------------------------------------------------ each frame

    def update(self, dt: float, now_s: float, client_head: Point3, client_heading: float,
               stimuli: Sequence[tuple[float, float, float]], world: NodePath) -> None:
        """Advance speech, placement and behaviours by one frame."""
        body, animator, caption = self.body, self.animator, self.caption
        if body is None or animator is None or caption is None:
            return
        started = self.queue.update(now_s)
        if started is not None:
            self._start(started)
        if self.queue.current is None and caption.text:
            caption.hide()
        client = (client_head.x, client_head.y)
        if stimuli != self._sight_stimuli:
            self._sight_stimuli = tuple(stimuli)
            self._sight_at = None
            self._plan_at = None
            self._flat = [(s[0], s[1]) for s in stimuli]
            # Many stimuli (an audience): one array, made when they change, not per test.
            self._flat_array = np.asarray(self._flat, dtype=float).reshape(-1, 2)
        flat = self._flat_array if len(self._flat) > SMALL_SET else self._flat
        # Where the client's body faces, not where their head looks this instant: turning to
        # look at the avatar must not send it walking away from their gaze.
        turn = (client_heading - self._body_heading + 180.0) % 360.0 - 180.0
        self._body_heading += turn * min(1.0, dt / BODY_TURN_S)
        client_heading = self._body_heading
        self._replan_in -= dt
        # The client (or a stimulus) moved so that the avatar is in the margin around a line
        # of sight: choose again now and step aside briskly, before it is in the way.
        blocking = self._in_the_way(client, flat)
        area = self.area
        # Choose again when it is time, when in the way, when the walls moved (by more than
        # a few centimetres: they slide while a small room closes in), or when the avatar no
        # longer fits where it stands. Waiting outside, only the first three apply.
        urgent = (blocking or _moved(area, self._goal_area)
                  or (self._goal is not None and self.present
                      and not placement.inside(self.spot, area))
                  or (self._goal is None and self.present))
        if urgent or (self._replan_in <= 0 and self._changed(client, client_heading)):
            self._replan_in = REPLAN_S
            self._goal_area = area
            self._plan_at = (client[0], client[1], client_heading)
            self._goal = placement.choose(client, client_heading, flat, self.softened, area)
        elif self._replan_in <= 0:
            self._replan_in = REPLAN_S  # nothing changed: the last choice stands
        goal = self._goal
        root = body.root
        if goal is None:
            # No room beside the client (a closet): the avatar waits outside, still speaking.
            if self.present:
                self.present = False
                root.hide()
        else:
            if not self.present:  # room again: back at the client's side
                self.present = True
                self.spot = (goal.x, goal.y)
                root.set_pos(goal.x, goal.y, self._floor)
                root.show()
            speed = placement.STEP_ASIDE_SPEED if blocking else (
                placement.WALK_SPEED * (0.6 if self.softened else 1.0))
            if blocking or self.spot != (goal.x, goal.y):  # standing still costs nothing
                self.spot = placement.walk(self.spot, (goal.x, goal.y), client, flat, dt,
                                           speed, area)
                root.set_pos(self.spot[0], self.spot[1], self._floor)
        # The body turns to the client; the head and eyes do the finer looking.
        dx, dy = client[0] - self.spot[0], client[1] - self.spot[1]
        heading = math.degrees(math.atan2(-dx, dy)) if dx or dy else root.get_h()
        if abs(heading - root.get_h()) > 0.05:
            root.set_h(heading)
        animator.update(dt, client_head, self._nearest, world)
        if caption.text:
            if self.present:
                head = body.head_position(world)
                anchor = Point3(head.x, head.y, head.z + 0.32)
            else:  # from outside: the words in front of the client, a little to the side
                vx, vy = placement.bearing_vector(client_heading + 25.0)
                anchor = Point3(client_head.x + 0.9 * vx, client_head.y + 0.9 * vy,
                                client_head.z + 0.15)
            caption.place(anchor, client_head, world)
        self._play_ready()

    def _changed(self, client: tuple[float, float], heading: float) -> bool:
        """Whether the client moved or turned enough since the last choice to choose again."""
        at = self._plan_at
        if at is None:
            return True
        turn = abs((heading - at[2] + 180.0) % 360.0 - 180.0)
        return (abs(client[0] - at[0]) >= RECHECK_M or abs(client[1] - at[1]) >= RECHECK_M
                or turn >= REPLAN_TURN_DEG)

    def _in_the_way(self, client: tuple[float, float],
                    flat: placement.Points) -> bool:
        """Whether the avatar stands in a line of sight, tested again only after the avatar
        or the client moved :data:`RECHECK_M` or the stimuli changed (the nearest stimulus,
        which the avatar glances at, is found at the same moments)."""
        at = self._sight_at
        if (at is not None and abs(at[0] - self.spot[0]) < RECHECK_M
                and abs(at[1] - self.spot[1]) < RECHECK_M
                and abs(at[2] - client[0]) < RECHECK_M and abs(at[3] - client[1]) < RECHECK_M):
            return self._blocking
        self._sight_at = (self.spot[0], self.spot[1], client[0], client[1])
        self._blocking = placement.in_the_way(self.spot, client, flat)
        stimuli = self._sight_stimuli
        if len(stimuli) > SMALL_SET:
            d = self._flat_array - np.asarray(client)
            nearest: tuple[float, float, float] | None = stimuli[int(np.argmin(
                (d * d).sum(axis=1)))]
        else:
            nearest = min(stimuli, key=lambda s: (s[0] - client[0]) ** 2
                          + (s[1] - client[1]) ** 2, default=None)
        self._nearest = Point3(*nearest) if nearest else None
        return self._blocking

    def _start(self, utterance: Utterance) -> None:
        self._silence()  # whatever was being said aloud stops with its caption
        if self.animator is not None:
            self.animator.say(utterance.duration_s, utterance.text)
        if self.caption is not None:
            self.caption.show(utterance.text)
        if self.voice is not None and self.sound is not None and self.sound.manager is not None:
            ticket = self.voice.request(utterance.text)
            if ticket is not None:
                self._tickets[ticket] = utterance.text

    def _play_ready(self) -> None:
        if self.voice is None or self.sound is None or self.body is None:
            return
        current = self.queue.current
        for ticket, samples, rate in self.voice.ready():
            text = self._tickets.pop(ticket, None)
            # Only the line still being said is played: an interrupted one stays silent.
            if current is not None and text == current.text:
                self._silence()
                self._voice_sound = self.sound.add("avatar-voice", samples, rate)
                self.sound.play(self._voice_sound, at=self.body.root)

    def _silence(self) -> None:
        if self._voice_sound is not None and self.sound is not None:
            self.sound.stop(self._voice_sound)
            self.sound.forget(self._voice_sound)
        self._voice_sound = None


def _moved(a: placement.Area | None, b: placement.Area | None, tolerance_m: float = 0.05
           ) -> bool:
    """Whether walls moved more than ``tolerance_m`` (or appeared or went)."""
    if a is None or b is None:
        return a is not b
    return any(abs(x - y) > tolerance_m for x, y in zip(a, b, strict=True))
