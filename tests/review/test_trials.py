"""Exposure trials from a session log: boundaries, ratings attached, criteria."""

from __future__ import annotations

from typing import Any

import pytest

from review.trials import build_trials
from telemetry.schemas import (
    CheckInAnswered,
    CheckInAsked,
    LevelChange,
    SessionPlan,
    StateChange,
)
from telemetry.store import StoredEvent


class Log:
    """A session log written by hand, one event per call, at given seconds."""

    def __init__(self) -> None:
        self.events: list[StoredEvent] = []
        self.rung = 0
        self.state = "ready"
        self.n = 0

    def add(self, t: float, body: Any) -> None:
        self.events.append(StoredEvent("s", len(self.events), int(t * 1e9), 0, None, body))

    def move(self, t: float, to: str) -> None:
        self.add(t, StateChange(from_state=self.state, to_state=to,  # type: ignore[arg-type]
                                reason="test"))
        self.state = to

    def level(self, t: float, rung: int) -> None:
        self.add(t, LevelChange(rung=rung, intensity=0.0, previous_rung=self.rung,
                                previous_intensity=0.0))
        self.rung = rung

    def rate(self, t: float, instrument: str, value: float | None, purpose: str = "rating",
             after_s: float = 2.0) -> None:
        self.n += 1
        checkin = f"checkin-{self.n}"
        self.add(t, CheckInAsked(checkin_id=checkin, instrument=instrument,
                                 purpose=purpose))  # type: ignore[arg-type]
        self.add(t + after_s, CheckInAnswered(checkin_id=checkin, instrument=instrument,
                                              value=value, answered=value is not None,
                                              latency_ms=after_s * 1000 if value else None))


def test_a_trial_is_each_stay_at_a_rung_between_level_changes_pauses_and_stops() -> None:
    log = Log()
    log.add(0, SessionPlan(consent=False, band_low=40, band_high=70, controller="manual",
                           trial_criterion="time", trial_min_s=30))
    log.move(1, "baseline")
    log.move(10, "exposure")     # trial 1 at rung 0
    log.level(50, 2)             # trial 2 at rung 2
    log.move(70, "paused")       # ends it
    log.move(80, "exposure")     # trial 3, still rung 2
    log.move(95, "safe_hold")    # stopped
    log.move(100, "closing")
    trials = build_trials(log.events)
    assert [(t.rung, t.t_start_s, t.t_end_s, t.end_reason) for t in trials] == [
        (0, 10, 50, "level_change"), (2, 50, 70, "paused"), (2, 80, 95, "stopped")]
    assert [t.criterion_met for t in trials] == [True, False, False]  # 40 s, 20 s, 15 s
    assert trials[0].duration_s == 40


def test_ratings_peak_end_prediction_and_expectancy_violation() -> None:
    log = Log()
    log.move(0, "baseline")
    log.rate(2, "suds", 60, purpose="prediction")   # before the exposure: the next trial's
    log.rate(4, "expectancy", 80, purpose="before")
    log.move(10, "exposure")
    log.move(12, "check_in")
    log.rate(12, "suds", 45)
    log.move(14, "exposure")
    log.rate(30, "suds", 70)
    log.rate(60, "suds", 30)
    log.rate(80, "suds", None)                      # not answered
    log.level(100, 3)
    log.rate(101, "expectancy", 35, purpose="after")  # re-rated: belongs... to the new trial
    (first, second) = build_trials(log.events)
    assert first.predicted_suds == 60 and first.peak_suds == 70 and first.end_suds == 30
    assert first.expectancy_before == 80 and first.unanswered == 1
    assert first.expectancy_after is None and first.expectancy_violation is None
    assert second.expectancy_after == 35  # asked during the next trial: it is that trial's


def test_an_after_rating_asked_once_the_step_is_over_belongs_to_that_trial() -> None:
    log = Log()
    log.move(0, "baseline")
    log.rate(1, "expectancy", 90, purpose="before")
    log.move(5, "exposure")
    log.move(65, "safe_hold")
    log.rate(66, "expectancy", 40, purpose="after")
    (trial,) = build_trials(log.events)
    assert trial.expectancy_before == 90 and trial.expectancy_after == 40
    assert trial.expectancy_violation == 50


@pytest.mark.parametrize(("criterion", "ratings", "met"), [
    ("suds_drop", [("suds", 80), ("suds", 40)], True),
    ("suds_drop", [("suds", 80), ("suds", 50)], False),
    ("suds_drop", [("suds", 80)], None),               # one rating: cannot tell
    ("expectancy", [("expectancy", 70), ("expectancy", 20)], True),
    ("expectancy", [("expectancy", 70)], False),
])
def test_the_plans_criterion(criterion: str, ratings: list[tuple[str, float]],
                             met: bool | None) -> None:
    log = Log()
    log.add(0, SessionPlan(consent=False, band_low=40, band_high=70, controller="manual",
                           trial_criterion=criterion))  # type: ignore[arg-type]
    log.move(1, "baseline")
    log.move(2, "exposure")
    for i, (instrument, value) in enumerate(ratings):
        log.rate(10 + 20 * i, instrument, value)
    log.move(100, "closing")
    (trial,) = build_trials(log.events)
    assert trial.criterion == criterion and trial.criterion_met is met


def test_no_exposure_no_trial() -> None:
    log = Log()
    log.move(0, "baseline")
    log.rate(3, "suds", 10)
    log.move(9, "closing")
    assert build_trials(log.events) == []
    assert build_trials([]) == []
