"""The rupture detector on hand-made frames and events (the end-to-end check with planted
ruptures in real sessions is ``python -m benchmarks.ruptures``)."""

from __future__ import annotations

import pytest

from ruptures.codes import check_code, check_strategy
from ruptures.detector import DETECTOR_VERSION, DetectorSettings, RuptureDetector
from telemetry.schemas import (
    Alert,
    CheckInAnswered,
    CheckInAsked,
    QuestionnaireResponse,
    StateChange,
)

FRAME = 1 / 90


def run(detector: RuptureDetector, seconds: float, start: float = 0.0, *, looking_at: int = 1,
        distance: float = 2.0, rung: int = 1, live: bool = True, visible: bool = True,
        stimulus_x: float = 0.0) -> list:
    """Frames of a client standing ``distance`` m from a stimulus at ``(stimulus_x, 0)``."""
    out = []
    t = start
    while t < start + seconds:
        out += detector.frame(t, live, rung, looking_at, visible, (stimulus_x + distance, 0.0),
                              (stimulus_x, 0.0))
        t += FRAME
    return out


def ask(detector: RuptureDetector, t: float, cid: str, instrument: str, value: float | None,
        latency_s: float) -> list:
    detector.event(t, CheckInAsked(checkin_id=cid, instrument=instrument))
    return detector.event(t + latency_s, CheckInAnswered(
        checkin_id=cid, instrument=instrument, value=value, answered=value is not None,
        latency_ms=latency_s * 1000 if value is not None else None))


def test_gaze_on_neither_stimulus_nor_avatar_is_withdrawal_and_avoidance_is_not() -> None:
    d = RuptureDetector()
    assert run(d, 10) == []
    # Looking at the avatar instead of the stimulus (avoidance, support): no candidate.
    assert run(d, 20, 10, looking_at=2) == []
    # Short looks away: none either.
    for k in range(5):
        assert run(d, 4, 30 + 5 * k, looking_at=0) == [] and run(d, 1, 34 + 5 * k) == []
    found = run(d, 8, 60, looking_at=0)
    assert len(found) == 1
    c = found[0]
    assert c.marker == "withdrawal" and c.signals == ["gaze_away"]
    assert c.t_start_s == pytest.approx(60, abs=0.05) and c.confidence == pytest.approx(0.55)
    assert "gaze on neither" in c.evidence[0]
    # Not during a stop (the safe place) or a pause.
    d2 = RuptureDetector()
    assert run(d2, 20, looking_at=0, live=False) == [] and run(d2, 20, looking_at=0,
                                                               visible=False) == []


def test_stepping_back_then_slow_answers_build_one_candidate() -> None:
    d = RuptureDetector()
    run(d, 10, distance=2.0)
    # The stimulus moving away (a milder level) is not the client stepping back.
    assert run(d, 5, 10, distance=2.6, stimulus_x=-0.6) == []
    found = run(d, 4, 15, distance=2.6)
    assert [c.signals for c in found] == [["stepping_back"]]
    more = ask(d, 20, "ci-1", "suds", 40, latency_s=12)
    assert len(more) == 1 and more[0].candidate_id == found[0].candidate_id
    assert more[0].signals == ["stepping_back", "slow_answer"]
    assert more[0].confidence == pytest.approx(1 - 0.45 * 0.65)
    assert more[0].t_end_s == pytest.approx(32)
    # Much later, a new moment is a new candidate.
    late = ask(d, 200, "ci-2", "suds", None, latency_s=0)
    assert late and late[0].candidate_id != found[0].candidate_id


def test_a_slow_answer_alone_is_kept_back_until_more_evidence() -> None:
    d = RuptureDetector()
    assert ask(d, 5, "ci-1", "suds", 30, latency_s=10) == []  # 0.35 < publish_at
    found = ask(d, 20, "ci-2", "consent", 0, latency_s=11)  # a hesitant no
    assert found and set(found[0].signals) == {"slow_answer", "declined_step"}
    # A question cut short by a stop is not ignored by the client: no signal.
    cut = RuptureDetector()
    cut.event(1, CheckInAsked(checkin_id="x", instrument="suds"))
    cut.event(2, StateChange(from_state="check_in", to_state="safe_hold"))
    assert cut.event(30, CheckInAnswered(checkin_id="x", instrument="suds", value=None,
                                         answered=False)) == []
    assert cut.candidates == []


def test_minimal_answers_the_same_rating_across_rungs_or_too_fast() -> None:
    d = RuptureDetector()
    out = []
    for k in range(3):
        run(d, 1, 30 * k, rung=k)
        out += ask(d, 30 * k + 5, f"ci-{k}", "suds", 50, latency_s=2)
    assert [c.signals[-1] for c in out] == []  # 0.45 < 0.5 alone: held back
    assert d.candidates and d.candidates[0].signals == ["minimal_answers"]
    fast = RuptureDetector()
    ask(fast, 1, "a", "suds", 10, 0.3)
    ask(fast, 20, "b", "suds", 60, 0.4)
    assert fast.candidates[0].signals == ["minimal_answers"]


def test_confrontation_from_a_stop_repeated_refusals_and_an_alliance_drop() -> None:
    d = RuptureDetector(previous={"alliance": 8.5, "guide": 9})
    stop = d.event(10, Alert(code="client_stop", severity="critical", message="stop"))
    assert stop[0].marker == "confrontation" and stop[0].signals == ["stop"]
    too_much = RuptureDetector().event(5, Alert(code="client_too_much", message="too much"))
    assert too_much[0].signals == ["too_much"] and too_much[0].marker == "confrontation"
    ask(d, 30, "c1", "consent", 0, 2)
    refused = ask(d, 60, "c2", "consent", 0, 2)  # two outright noes
    confrontation = [c for c in refused if c.marker == "confrontation"]
    assert confrontation and "refusal" in confrontation[0].signals
    assert confrontation[0].candidate_id == stop[0].candidate_id
    dropped = d.event(900, QuestionnaireResponse(
        response_id="r1", instrument="vret_alliance_check", version="1", timing="end",
        scores={"alliance": 5.0, "guide": 8.0}))
    assert dropped[0].signals == ["alliance_drop"] and "3.5 below" in dropped[0].evidence[0]
    steady = RuptureDetector(previous={"alliance": 6.0})
    assert steady.event(5, QuestionnaireResponse(
        response_id="r", instrument="vret_alliance_check", version="1", timing="end",
        scores={"alliance": 5.0})) == []


def test_settings_are_versioned_and_described() -> None:
    assert DETECTOR_VERSION == "1"
    text = DetectorSettings().describe()
    assert "gaze_away_s=6" in text and "publish_at=0.5" in text


def test_3rs_codes_and_strategies_are_checked_by_name() -> None:
    check_code("withdrawal", "minimal_response")
    with pytest.raises(ValueError, match="not a withdrawal code; known: denial"):
        check_code("withdrawal", "complaints_therapist")
    with pytest.raises(ValueError, match="unknown resolution strategy 'shout'"):
        check_strategy("shout")
    check_strategy("invite_discussion")
