"""Rupture candidates from what the client does: the detector, its settings and its version.

A rupture is a strain in the collaboration between client and therapist. The detector cannot
see one; it sees behaviour that often goes with one, and proposes a **candidate** for the
therapist to confirm, recode or dismiss. Each candidate has a marker (the 3RS direction), a time
window, the signals that fired with their thresholds (its evidence), a confidence and the
detector's version.

Signals (``docs/ruptures.md`` explains each choice):

*Withdrawal* (moving away):

* ``gaze_away``: during exposure, with the stimulus shown, the gaze rests on neither the
  stimulus nor the avatar for ``gaze_away_s`` without a break. (Looking away from the stimulus
  alone is avoidance, an expected part of exposure; looking away from both is disengagement.)
* ``stepping_back``: the head has moved ``step_back_m`` away from the stimulus since the start
  of the stay at this rung, for ``step_back_hold_s`` (the client's own movement: a milder
  level that moves the stimulus away does not count).
* ``declined_step``: a step up declined hesitantly (the no came after ``slow_answer_s``).
* ``slow_answer`` / ``no_answer``: a check-in answered after ``slow_answer_s``, or not at all
  (not counted when a stop, a pause or the end came while it was open: the question was
  interrupted, not ignored).
* ``minimal_answers``: the same SUDS ``repeat_answers`` times in a row while the level changed,
  or two answers in a row faster than ``fastest_answer_s``.

*Confrontation* (moving against):

* ``stop``: the client pressed stop (or looked at STOP on the panel).
* ``too_much``: the client signalled "too much" (the T key at a window; a controller button).
* ``refusal``: ``refusals`` steps up declined promptly within ``refusal_window_s`` (an
  outright no, again: moving against the task, where a hesitant no is moving away).
* ``alliance_drop``: the client's end-of-session alliance check ``alliance_drop`` points (of 10)
  below their previous session's, or their rating of the guide ``guide_drop`` below.

Signals of one marker less than ``merge_s`` apart form one candidate; each new signal updates
it (same id, a wider window, more evidence). Confidence is ``1 - prod(1 - weight)`` over its
distinct signals. A candidate is published once its confidence reaches ``publish_at``.
The detector is pure Python and incremental: :meth:`RuptureDetector.frame` once a frame is a
few comparisons; events go to :meth:`RuptureDetector.event`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from telemetry.schemas import RuptureCandidate

DETECTOR_VERSION = "1"
Marker = Literal["withdrawal", "confrontation"]

WEIGHTS: dict[str, float] = {
    "gaze_away": 0.55, "stepping_back": 0.55, "declined_step": 0.45, "slow_answer": 0.35,
    "no_answer": 0.5, "minimal_answers": 0.45,
    "stop": 0.6, "too_much": 0.6, "refusal": 0.8, "alliance_drop": 0.75,
}
"""How much each signal alone says (its share of the confidence)."""
MARKER_OF: dict[str, Marker] = {
    "gaze_away": "withdrawal", "stepping_back": "withdrawal", "declined_step": "withdrawal",
    "slow_answer": "withdrawal", "no_answer": "withdrawal", "minimal_answers": "withdrawal",
    "stop": "confrontation", "too_much": "confrontation", "refusal": "confrontation",
    "alliance_drop": "confrontation",
}


@dataclass(frozen=True)
class DetectorSettings:
    """The thresholds; stored (with :data:`DETECTOR_VERSION`) with every candidate."""

    gaze_away_s: float = 6.0
    step_back_m: float = 0.35
    step_back_hold_s: float = 1.5
    settle_s: float = 4.0
    """Time at a new rung before its starting distance is taken (the scene ramps there)."""
    slow_answer_s: float = 9.0
    repeat_answers: int = 3
    fastest_answer_s: float = 0.8
    refusals: int = 2
    refusal_window_s: float = 300.0
    alliance_drop: float = 2.0
    guide_drop: float = 3.0
    merge_s: float = 45.0
    publish_at: float = 0.5

    def describe(self) -> str:
        """The settings as ``name=value`` pairs (stored as the candidate's evidence footer)."""
        return ", ".join(f"{k}={v:g}" for k, v in self.__dict__.items())


@dataclass
class Candidate:
    """A proposed rupture moment."""

    candidate_id: str
    marker: Marker
    t_start_s: float
    t_end_s: float
    signals: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    published: bool = False

    @property
    def confidence(self) -> float:
        """``1 - prod(1 - weight)`` over the distinct signals."""
        return 1.0 - math.prod(1.0 - WEIGHTS[s] for s in set(self.signals))


@dataclass
class _Trial:
    rung: int = -1
    since_s: float = 0.0
    start: tuple[float, float] | None = None
    """Where the head was once the stay had settled."""


class RuptureDetector:
    """Feeds on one session's frames and events; returns candidates to publish."""

    def __init__(self, settings: DetectorSettings | None = None,
                 previous: dict[str, float] | None = None) -> None:
        self.settings = settings or DetectorSettings()
        self.version = DETECTOR_VERSION
        self.previous = previous or {}
        """The client's previous end-of-session alliance check scores (``alliance``,
        ``guide``), for ``alliance_drop``."""
        self.candidates: list[Candidate] = []
        self._open: dict[Marker, Candidate] = {}
        self._away_since: float | None = None
        self._away_fired = False
        self._back_since: float | None = None
        self._back_fired = False
        self._trial = _Trial()
        self._live = False
        self._asked: dict[str, tuple[str, float]] = {}
        self._interrupted: set[str] = set()
        self._suds: list[tuple[float, int]] = []
        self._fast = 0
        self._declines: list[float] = []
        self._now = 0.0

    # ------------------------------------------------------------------ inputs

    def frame(self, t_s: float, live: bool, rung: int, looking_at: int, stimulus_visible: bool,
              head: tuple[float, float], stimulus: tuple[float, float] | None
              ) -> list[Candidate]:
        """One frame: ``looking_at`` 0 elsewhere, 1 stimulus, 2 avatar (the scene stream's
        code); ``head`` and the nearest ``stimulus`` on the floor plane (x, y). Returns
        candidates published or updated by it."""
        s = self.settings
        self._now = t_s
        resumed = live and not self._live
        self._live = live
        out: list[Candidate] = []
        trial = self._trial
        if rung != trial.rung or resumed:
            self._trial = trial = _Trial(rung, t_s)
            self._back_since, self._back_fired = None, False
        if not (live and stimulus_visible):
            self._away_since, self._away_fired = None, False
            self._back_since = None
            return out
        # Gaze on neither the stimulus nor the avatar, without a break.
        if looking_at == 0:
            if self._away_since is None:
                self._away_since = t_s
            elif not self._away_fired and t_s - self._away_since >= s.gaze_away_s:
                self._away_fired = True
                out += self._signal("gaze_away", self._away_since, t_s,
                                    f"gaze on neither stimulus nor avatar for "
                                    f">= {s.gaze_away_s:g} s")
        else:
            self._away_since, self._away_fired = None, False
        # Moved away from the stimulus since the start of this stay.
        if trial.start is None:
            if t_s - trial.since_s >= s.settle_s:
                trial.start = head
        elif stimulus is not None:
            ax, ay = trial.start[0] - stimulus[0], trial.start[1] - stimulus[1]
            norm = math.hypot(ax, ay)
            moved = ((head[0] - trial.start[0]) * ax + (head[1] - trial.start[1]) * ay) / norm \
                if norm > 1e-6 else 0.0
            if moved >= s.step_back_m:
                if self._back_since is None:
                    self._back_since = t_s
                elif not self._back_fired and t_s - self._back_since >= s.step_back_hold_s:
                    self._back_fired = True
                    out += self._signal(
                        "stepping_back", self._back_since, t_s,
                        f"moved {moved:.2f} m away from the stimulus since the start of rung "
                        f"{rung} (>= {s.step_back_m:g} m for {s.step_back_hold_s:g} s)")
            else:
                self._back_since = None
        return out

    def event(self, t_s: float, body: Any) -> list[Candidate]:
        """One logged event (a telemetry event body); returns candidates it published or
        updated."""
        self._now = max(self._now, t_s)
        kind = getattr(body, "kind", "")
        if kind == "checkin_asked":
            self._asked[body.checkin_id] = (body.instrument, t_s)
            return []
        if kind == "state_change" and body.to_state not in ("exposure", "check_in"):
            self._interrupted.update(self._asked)  # open questions were cut short
            return []
        if kind == "checkin_answered":
            return self._answered(t_s, body)
        if kind == "alert" and body.code == "client_stop":
            return self._signal("stop", t_s, t_s, "the client pressed stop")
        if kind == "alert" and body.code == "client_too_much":
            return self._signal("too_much", t_s, t_s, "the client signalled: too much")
        if kind == "questionnaire_response" and body.instrument == "vret_alliance_check":
            return self._alliance(t_s, body.scores)
        return []

    def _answered(self, t_s: float, body: Any) -> list[Candidate]:
        s = self.settings
        instrument, asked_at = self._asked.pop(body.checkin_id, (body.instrument, t_s))
        interrupted = body.checkin_id in self._interrupted
        self._interrupted.discard(body.checkin_id)
        out: list[Candidate] = []
        latency = (body.latency_ms / 1000.0 if body.latency_ms is not None
                   else t_s - asked_at)
        if not body.answered:
            if not interrupted:
                out += self._signal("no_answer", asked_at, t_s,
                                    f"{instrument} check-in not answered")
            return out
        slow = latency >= s.slow_answer_s and not interrupted
        if instrument == "consent" and body.value is not None and body.value < 50:
            if slow:
                out += self._signal("declined_step", asked_at, t_s,
                                    f"a step up declined after {latency:.1f} s")
            else:
                self._declines = [d for d in self._declines
                                  if t_s - d <= s.refusal_window_s]
                self._declines.append(t_s)
                if len(self._declines) >= s.refusals:
                    out += self._signal("refusal", self._declines[0], t_s,
                                        f"{len(self._declines)} steps up declined outright "
                                        f"within {s.refusal_window_s:g} s")
        if slow:
            out += self._signal("slow_answer", asked_at, t_s,
                                f"{instrument} answered after {latency:.1f} s "
                                f"(>= {s.slow_answer_s:g} s)")
        self._fast = self._fast + 1 if latency < s.fastest_answer_s else 0
        if self._fast >= 2:
            out += self._signal("minimal_answers", asked_at, t_s,
                                f"two answers in a row faster than {s.fastest_answer_s:g} s")
        if instrument == "suds" and body.value is not None:
            self._suds.append((t_s, int(body.value)))
            last = self._suds[-s.repeat_answers:]
            if (len(last) == s.repeat_answers and len({v for _, v in last}) == 1
                    and self._rung_changed_since(last[0][0])):
                out += self._signal("minimal_answers", last[0][0], t_s,
                                    f"SUDS {last[0][1]} {s.repeat_answers} times in a row "
                                    "while the level changed")
        return out

    def _rung_changed_since(self, t_s: float) -> bool:
        return self._trial.since_s > t_s

    def _alliance(self, t_s: float, scores: dict[str, Any]) -> list[Candidate]:
        s = self.settings
        out: list[Candidate] = []
        for key, drop in (("alliance", s.alliance_drop), ("guide", s.guide_drop)):
            now, before = scores.get(key), self.previous.get(key)
            if isinstance(now, int | float) and before is not None and before - now >= drop:
                out += self._signal("alliance_drop", t_s, t_s,
                                    f"end-of-session {key} {now:g}, {before - now:g} below the "
                                    f"previous session's {before:g} (>= {drop:g})")
        return out

    # ------------------------------------------------------------------ candidates

    def _signal(self, signal: str, t_start: float, t_end: float, why: str) -> list[Candidate]:
        marker = MARKER_OF[signal]
        s = self.settings
        open_ = self._open.get(marker)
        if open_ is None or t_start - open_.t_end_s > s.merge_s:
            open_ = Candidate(f"cand-{len(self.candidates) + 1}", marker, t_start, t_end)
            self.candidates.append(open_)
            self._open[marker] = open_
        before = open_.confidence if open_.signals else 0.0
        open_.signals.append(signal)
        open_.evidence.append(f"{signal}: {why}")
        open_.t_start_s = min(open_.t_start_s, t_start)
        open_.t_end_s = max(open_.t_end_s, t_end)
        if open_.confidence >= s.publish_at and (not open_.published
                                                  or open_.confidence > before
                                                  or len(open_.signals) > 1):
            open_.published = True
            return [replace(open_, signals=list(open_.signals), evidence=list(open_.evidence))]
        return []


def as_event(candidate: Candidate, detector: RuptureDetector) -> RuptureCandidate:
    """The candidate as the session log's ``rupture_candidate`` event."""
    return RuptureCandidate(
        candidate_id=candidate.candidate_id, marker=candidate.marker,
        signals=tuple(candidate.signals), evidence="; ".join(candidate.evidence)[:3900],
        confidence=round(candidate.confidence, 3), t_start_ns=round(candidate.t_start_s * 1e9),
        t_end_ns=round(candidate.t_end_s * 1e9), detector_version=detector.version,
        settings=detector.settings.describe())
