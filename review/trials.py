"""Exposure trials: each stay at one rung, as a record, derived from the session log.

A trial starts when the exposure is shown at a level (the exposure starts or resumes, or the
level changes during it) and ends when the level changes, the exposure pauses or stops, or
the session closes. Check-ins are attached to the trial during which they were asked; a
``prediction`` SUDS or a ``before`` expectancy asked while no exposure is shown belongs to the
next trial when it starts within 120 s (asked at the previous rung just before a step up, or
with no exposure shown), else to the trial it was asked in; an ``after`` expectancy asked once
a trial is over belongs to the trial just ended. Whether a trial did its work is judged by the
plan's criterion (``configure``'s ``trial_criterion``): ``time`` (it lasted ``trial_min_s``),
``suds_drop`` (SUDS at the end was at most half its peak) or ``expectancy`` (the expectancy
was rated before and re-rated after).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from telemetry.schemas import (
    CheckInAnswered,
    CheckInAsked,
    LevelChange,
    SessionPlan,
    StateChange,
)
from telemetry.store import StoredEvent

LIVE = frozenset({"exposure", "check_in"})
BEFORE_WINDOW_S = 120.0


@dataclass
class Rating:
    """One check-in: what was asked, when, and the answer (None: not answered)."""

    checkin_id: str
    instrument: str
    purpose: str
    t_asked_s: float
    value: float | None = None
    t_answered_s: float | None = None
    latency_ms: float | None = None
    answered: bool | None = None
    """None while no outcome is logged."""


@dataclass
class Trial:
    """One stay at a rung."""

    index: int
    rung: int
    intensity: float
    t_start_s: float
    t_end_s: float | None = None
    end_reason: str = ""
    ratings: list[Rating] = field(default_factory=list)
    criterion: str = "time"
    min_s: float = 120.0

    @property
    def duration_s(self) -> float | None:
        """Time at the rung (None while it is still open)."""
        return None if self.t_end_s is None else self.t_end_s - self.t_start_s

    def _values(self, instrument: str, purposes: Sequence[str]) -> list[float]:
        return [r.value for r in self.ratings if r.instrument == instrument
                and r.purpose in purposes and r.value is not None]

    @property
    def predicted_suds(self) -> float | None:
        """The SUDS the client expected at this step."""
        values = self._values("suds", ("prediction",))
        return values[-1] if values else None

    @property
    def peak_suds(self) -> float | None:
        """The highest SUDS rated during the trial."""
        values = self._values("suds", ("rating",))
        return max(values) if values else None

    @property
    def end_suds(self) -> float | None:
        """The last SUDS rated during the trial."""
        values = self._values("suds", ("rating",))
        return values[-1] if values else None

    @property
    def expectancy_before(self) -> float | None:
        """The expectancy rated before (or, without a ``before``, the first one rated)."""
        before = self._values("expectancy", ("before",))
        if before:
            return before[0]
        any_ = self._values("expectancy", ("rating",))
        return any_[0] if len(any_) >= 2 else None

    @property
    def expectancy_after(self) -> float | None:
        """The expectancy re-rated after (or, without an ``after``, the last of two or more)."""
        after = self._values("expectancy", ("after",))
        if after:
            return after[-1]
        any_ = self._values("expectancy", ("rating",))
        return any_[-1] if len(any_) >= 2 else None

    @property
    def expectancy_violation(self) -> float | None:
        """Before minus after: how far the expectancy fell (the client learnt)."""
        a, b = self.expectancy_before, self.expectancy_after
        return None if a is None or b is None else a - b

    @property
    def unanswered(self) -> int:
        """Check-ins in the trial the client did not answer."""
        return sum(1 for r in self.ratings if r.answered is False)

    @property
    def criterion_met(self) -> bool | None:
        """Whether the plan's criterion held (None while the trial is open or, for a rating
        criterion, when the ratings it needs are missing)."""
        if self.criterion == "time":
            d = self.duration_s
            return None if d is None else d >= self.min_s
        if self.criterion == "suds_drop":
            peak, end = self.peak_suds, self.end_suds
            if peak is None or end is None or len(self._values("suds", ("rating",))) < 2:
                return None
            return end <= peak / 2
        return self.expectancy_before is not None and self.expectancy_after is not None


def build_trials(events: Sequence[StoredEvent], t0_ns: int | None = None) -> list[Trial]:
    """The exposure trials of a session log, in order (times in seconds from ``t0_ns``, by
    default the first event)."""
    if not events:
        return []
    origin = events[0].t_session_ns if t0_ns is None else t0_ns
    trials: list[Trial] = []
    ratings: dict[str, Rating] = {}
    # ``before`` and ``prediction`` ratings wait for the next trial, with the trial they were
    # asked in (if any) to fall back on when no trial follows within the window.
    waiting: list[tuple[Rating, Trial | None]] = []
    criterion, min_s = "time", 120.0
    state = "ready"
    rung, intensity = 0, 0.0
    current: Trial | None = None

    def close(t: float, reason: str) -> None:
        nonlocal current
        if current is not None:
            current.t_end_s, current.end_reason = t, reason
            current = None

    def open_(t: float) -> None:
        nonlocal current
        current = Trial(len(trials) + 1, rung, intensity, t, criterion=criterion, min_s=min_s)
        trials.append(current)
        for rating, asked_in in waiting:
            if t - rating.t_asked_s <= BEFORE_WINDOW_S:
                current.ratings.append(rating)
            elif asked_in is not None:
                asked_in.ratings.append(rating)
        waiting.clear()

    for event in events:
        t = (event.t_session_ns - origin) / 1e9
        body = event.body
        if isinstance(body, SessionPlan):
            criterion, min_s = body.trial_criterion, body.trial_min_s
        elif isinstance(body, StateChange):
            was_live, state = state in LIVE, body.to_state
            if was_live and state not in LIVE:
                close(t, {"paused": "paused", "safe_hold": "stopped"}.get(state, state))
            elif state in LIVE and not was_live:
                open_(t)
        elif isinstance(body, LevelChange):
            rung, intensity = body.rung, body.intensity
            if state in LIVE:
                close(t, "level_change")
                open_(t)
        elif isinstance(body, CheckInAsked):
            rating = Rating(body.checkin_id, body.instrument, body.purpose, t)
            ratings[body.checkin_id] = rating
            if body.purpose in ("prediction", "before"):
                waiting.append((rating, current))
            elif current is not None:
                current.ratings.append(rating)
            elif body.purpose == "after" and trials:  # re-rated once the step is over
                trials[-1].ratings.append(rating)
        elif isinstance(body, CheckInAnswered):
            asked = ratings.get(body.checkin_id)
            if asked is not None:
                asked.value, asked.answered = body.value, body.answered
                asked.t_answered_s, asked.latency_ms = t, body.latency_ms
    for rating, asked_in in waiting:  # no trial followed: it stays where it was asked
        if asked_in is not None:
            asked_in.ratings.append(rating)
    return trials
