"""The session state machine: lifecycle, safety rules and errors naming state and command."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from telemetry import commands as c
from telemetry.errors import CommandRejected
from telemetry.schemas import (
    Alert,
    CheckInAnswered,
    CheckInAsked,
    LevelChange,
    QuestionnaireResponse,
    QuestionnaireStarted,
    RiskAcknowledged,
    ScenarioEvent,
    StateChange,
)
from vr_server.session import SessionMachine


def _in_exposure() -> SessionMachine:
    machine = SessionMachine(rungs=5)
    machine.apply(c.Start())
    machine.apply(c.Start())
    assert machine.state == "exposure" and machine.stimulus_visible
    return machine


def test_lifecycle_ready_to_ended() -> None:
    machine = SessionMachine()
    states = []
    for command in (c.Start(), c.Start(), c.Pause(), c.Resume(), c.End(), c.End()):
        (event,) = machine.apply(command)
        assert isinstance(event, StateChange)
        states.append(event.to_state)
    assert states == ["baseline", "exposure", "paused", "exposure", "closing", "ended"]


def test_illegal_transition_names_state_and_command() -> None:
    machine = SessionMachine()
    with pytest.raises(CommandRejected, match="'resume' is not allowed in state 'ready'") as info:
        machine.apply(c.Resume())
    assert info.value.code == "not_allowed"


@pytest.mark.parametrize("state_commands", [[], [c.Start()], [c.Start(), c.Start()],
                                            [c.Start(), c.Start(), c.Pause()], [c.End()]])
def test_stop_is_accepted_in_every_live_state(state_commands: list[c.CommandArgs]) -> None:
    machine = SessionMachine()
    for command in state_commands:
        machine.apply(command)
    machine.apply(c.Stop(reason="client pressed stop"))
    assert machine.state == "safe_hold" and not machine.stimulus_visible
    assert machine.apply(c.Stop()) == []  # idempotent, never an error


def test_no_escalation_outside_exposure() -> None:
    machine = _in_exposure()
    machine.apply(c.SetLevel(rung=3, intensity=0.5))
    machine.apply(c.Stop())
    with pytest.raises(CommandRejected, match="levels go up only during exposure"):
        machine.apply(c.SetLevel(rung=4))
    (event,) = machine.apply(c.SetLevel(rung=1))  # stepping down is always allowed
    assert isinstance(event, LevelChange) and event.previous_rung == 3 and event.rung == 1
    with pytest.raises(CommandRejected):
        SessionMachine().apply(c.SetLevel(rung=1))


def test_out_of_range_rung() -> None:
    machine = _in_exposure()
    with pytest.raises(CommandRejected, match="rungs 0-4") as info:
        machine.apply(c.SetLevel(rung=5))
    assert info.value.code == "out_of_range"
    assert machine.level.rung == 0  # nothing changed


def test_console_lost_puts_an_active_session_on_safe_hold() -> None:
    machine = _in_exposure()
    alert, change = machine.console_lost()
    assert isinstance(alert, Alert) and alert.code == "console_lost"
    assert isinstance(change, StateChange) and change.to_state == "safe_hold"
    assert change.actor == "server"


def test_nothing_but_notes_after_the_end() -> None:
    machine = SessionMachine()
    machine.apply(c.End())
    machine.apply(c.End())
    with pytest.raises(CommandRejected, match="ended"):
        machine.apply(c.Stop())
    assert machine.apply(c.Annotate(text="late note"))


def test_resume_returns_where_the_session_was() -> None:
    machine = SessionMachine()
    machine.apply(c.Stop())  # before anything started
    machine.apply(c.Resume())
    assert machine.state == "ready" and not machine.stimulus_visible
    machine.apply(c.Start())
    machine.apply(c.Pause())
    machine.apply(c.Resume())
    assert machine.state == "baseline"  # the baseline is never skipped
    machine.apply(c.End())
    machine.apply(c.Stop())
    machine.apply(c.Resume())
    assert machine.state == "closing"  # a closing session is never reopened
    exposure = _in_exposure()
    exposure.apply(c.Pause())
    exposure.apply(c.Stop())  # paused, then stopped: resume still goes back to the exposure
    exposure.apply(c.Resume())
    assert exposure.state == "exposure"


def test_a_check_in_during_exposure_enters_check_in_until_answered() -> None:
    machine = _in_exposure()
    moved, asked = machine.apply(c.AskCheckIn(instrument="suds"))
    assert isinstance(moved, StateChange) and moved.to_state == "check_in"
    assert isinstance(asked, CheckInAsked) and machine.open_checkin == asked
    assert machine.stimulus_visible  # the client rates with the stimulus in view
    with pytest.raises(CommandRejected, match="checkin-1 is still open"):
        machine.apply(c.AskCheckIn())
    answered, back = machine.answer_checkin(35.0, 1200.0)
    assert isinstance(answered, CheckInAnswered) and answered.value == 35.0
    assert answered.checkin_id == "checkin-1" and answered.latency_ms == 1200.0
    assert isinstance(back, StateChange) and back.to_state == "exposure" and back.actor == "client"
    assert machine.open_checkin is None and machine.answer_checkin(10.0, None) == []


def test_an_unanswered_check_in_is_recorded_as_such() -> None:
    machine = _in_exposure()
    machine.apply(c.AskCheckIn())
    answered, _ = machine.answer_checkin(None, None)
    assert isinstance(answered, CheckInAnswered) and not answered.answered
    assert machine.state == "exposure"


def test_a_baseline_check_in_leaves_the_state_alone() -> None:
    machine = SessionMachine()
    machine.apply(c.Start())
    (asked,) = machine.apply(c.AskCheckIn())
    assert isinstance(asked, CheckInAsked) and machine.state == "baseline"
    with pytest.raises(CommandRejected, match="checkin-1 is still open"):
        machine.apply(c.AskCheckIn())  # never two open: none would go unanswered
    machine.apply(c.Start())
    with pytest.raises(CommandRejected, match="checkin-1 is still open"):
        machine.apply(c.AskCheckIn())


def test_the_exposure_scene_is_shown_only_once_the_exposure_began() -> None:
    machine = SessionMachine()
    assert not machine.scene_shown
    machine.apply(c.Start())
    machine.apply(c.Pause())
    assert not machine.scene_shown  # a pause in baseline keeps the neutral scene
    machine.apply(c.Resume())
    machine.apply(c.Start())
    assert machine.scene_shown
    machine.apply(c.Pause())
    assert machine.scene_shown  # frozen, still in view
    machine.apply(c.Stop())
    assert not machine.scene_shown


def test_live_events_are_checked_against_the_scenario_and_the_state() -> None:
    machine = SessionMachine(rungs=5, live_events={"walk_toward": True, "breathe": False})
    machine.apply(c.Start())
    with pytest.raises(CommandRejected, match="'trigger' is not allowed in state 'baseline'"):
        machine.apply(c.Trigger(event="breathe"))
    machine.apply(c.Start())
    (breathe,) = machine.apply(c.Trigger(event="breathe"))
    assert isinstance(breathe, ScenarioEvent)
    machine.apply(c.Trigger(event="walk_toward"))
    assert machine.triggered == [("exposure", "breathe"), ("exposure", "walk_toward")]
    with pytest.raises(CommandRejected, match=r"no live event 'jump'.*breathe, walk_toward") as e:
        machine.apply(c.Trigger(event="jump"))
    assert e.value.code == "out_of_range"


def test_the_safe_places_events_play_while_it_is_shown() -> None:
    machine = SessionMachine(rungs=5, live_events={"gust": True}, safe_events=("breathe",))
    machine.apply(c.Start())
    machine.apply(c.Trigger(event="breathe"))  # baseline: the safe place is on screen
    machine.apply(c.Start())
    with pytest.raises(CommandRejected, match="'breathe' plays in the safe place"):
        machine.apply(c.Trigger(event="breathe"))
    machine.apply(c.Stop())
    machine.apply(c.Trigger(event="breathe"))  # a breathing guide after a stop
    with pytest.raises(CommandRejected, match="'gust' plays during the exposure"):
        machine.apply(c.Trigger(event="gust"))
    assert machine.triggered == [("safe", "breathe"), ("safe", "breathe")]


def test_the_clients_stop_is_logged_as_the_clients() -> None:
    machine = _in_exposure()
    (event,) = machine.apply(c.Stop(reason="pressed stop"), actor="client")
    assert isinstance(event, StateChange) and event.actor == "client"
    assert machine.state == "safe_hold" and not machine.stimulus_visible


def test_losing_the_console_during_a_pause_removes_the_frozen_stimulus() -> None:
    machine = _in_exposure()
    machine.apply(c.Pause())
    assert machine.scene_shown
    _, held = machine.console_lost()
    assert isinstance(held, StateChange) and held.to_state == "safe_hold"
    assert not machine.scene_shown
    (back,) = machine.apply(c.Resume())
    assert isinstance(back, StateChange) and back.to_state == "exposure"


def test_a_failed_scene_keeps_the_exposure_closed() -> None:
    machine = _in_exposure()
    (held,) = machine.scene_failed("update: ValueError: bad")
    assert isinstance(held, StateChange) and held.to_state == "safe_hold"
    with pytest.raises(CommandRejected, match="the scenario failed: update"):
        machine.apply(c.Resume())
    machine.apply(c.End())  # the session can still be closed properly
    assert machine.state == "closing"


def test_speak_by_line_id_uses_the_book_and_names_an_unknown_line() -> None:
    machine = SessionMachine(lines={"greeting": "Hello."}, gestures=("nod", "point"))
    # Nothing is logged yet: the avatar logs the line when it begins to say it.
    assert machine.apply(c.Speak(line_id="greeting")) == []
    assert machine.spoken == [("Hello.", "greeting")]
    with pytest.raises(CommandRejected, match="the avatar has no line 'sing'"):
        machine.apply(c.Speak(line_id="sing"))
    with pytest.raises(CommandRejected, match=r"unknown gesture 'wave'; known: nod, point"):
        machine.apply(c.Gesture(gesture="wave"))
    machine.apply(c.Gesture(gesture="nod"))
    assert machine.gestured == ["nod"]


def test_without_an_avatar_speak_and_gesture_are_refused_not_logged() -> None:
    machine = SessionMachine(avatar=False)
    with pytest.raises(CommandRejected, match="not_allowed: this session has no avatar"):
        machine.apply(c.Speak(text="Hello."))
    with pytest.raises(CommandRejected, match="not_allowed: this session has no avatar"):
        machine.apply(c.Gesture(gesture="nod"))
    assert machine.spoken == [] and machine.gestured == []


def test_speak_needs_something_to_say() -> None:
    with pytest.raises(ValidationError, match="give text"):
        c.Speak(text="   ")
    with pytest.raises(ValidationError):
        c.Speak(text="x" * 4001)


def test_a_step_up_waits_for_the_clients_consent() -> None:
    machine = SessionMachine(rungs=5, consent=True, lines={"consent_step_up": "Shall we?"})
    machine.apply(c.Start())
    machine.apply(c.Start())
    _, asked = machine.apply(c.SetLevel(rung=2))
    assert isinstance(asked, CheckInAsked) and asked.instrument == "consent"
    assert asked.prompt == "Shall we?" and machine.level.rung == 0  # nothing changed yet
    _, level, _ = machine.answer_checkin(100.0, 900.0)
    assert isinstance(level, LevelChange) and level.rung == 2 and "agreed" in level.reason
    assert machine.level.rung == 2 and machine.state == "exposure"
    machine.apply(c.SetLevel(rung=1))  # stepping down needs no consent
    assert machine.level.rung == 1
    machine.apply(c.SetLevel(rung=4))
    _, declined, _ = machine.answer_checkin(0.0, 800.0)
    assert isinstance(declined, Alert) and declined.code == "consent_declined"
    assert machine.level.rung == 1


def test_a_consent_question_is_withdrawn_when_the_session_moves_on() -> None:
    machine = SessionMachine(rungs=8, consent=True)
    machine.apply(c.Start())
    machine.apply(c.Start())
    machine.apply(c.SetLevel(rung=5))  # asks consent
    events = machine.apply(c.Stop())
    assert [type(e).__name__ for e in events] == ["StateChange", "CheckInAnswered", "Alert"]
    assert events[2].code == "consent_withdrawn" and machine.open_checkin is None
    machine.apply(c.Resume())
    assert machine.answer_checkin(100.0, 500.0) == []  # nothing open: a late yes does nothing
    assert machine.level.rung == 0


def test_a_step_down_replaces_a_waiting_step_up() -> None:
    machine = SessionMachine(rungs=8, consent=True)
    machine.apply(c.Start())
    machine.apply(c.Start())
    machine.apply(c.SetLevel(rung=2))
    machine.answer_checkin(100.0, 500.0)
    machine.apply(c.SetLevel(rung=6))  # asks consent
    withdrawn = machine.apply(c.SetLevel(rung=1))  # the therapist steps down meanwhile
    assert any(isinstance(e, Alert) and e.code == "consent_withdrawn" for e in withdrawn)
    assert machine.level.rung == 1 and machine.answer_checkin(100.0, 500.0) == []


def test_only_a_clear_yes_is_consent() -> None:
    machine = SessionMachine(rungs=8, consent=True)
    machine.apply(c.Start())
    machine.apply(c.Start())
    machine.apply(c.SetLevel(rung=3))
    (refused,) = machine.answer_checkin(80.0, 500.0)  # a rating, not a yes: asked again
    assert isinstance(refused, Alert) and refused.code == "checkin_answer_refused"
    assert machine.level.rung == 0 and machine.open_checkin is not None
    _, declined, _ = machine.answer_checkin(0.0, 500.0)
    assert isinstance(declined, Alert) and declined.code == "consent_declined"
    assert machine.level.rung == 0


def _phq9(item9: int, **more: int) -> c.SubmitQuestionnaire:
    answers = {f"q{i}": 1 for i in range(1, 9)} | {"q9": item9, "q10": 1} | more
    return c.SubmitQuestionnaire(instrument="phq9", answers=json.dumps(answers))


def test_a_risk_flag_on_screening_holds_the_exposure_until_acknowledged() -> None:
    machine = SessionMachine()
    response, alert = machine.apply(_phq9(item9=1))
    assert isinstance(response, QuestionnaireResponse) and isinstance(alert, Alert)
    assert response.scores["total"] == 9 and response.flags == ("item9_endorsed",)
    assert response.version == "1" and response.timing == "screening" and response.complete
    assert alert.severity == "critical" and alert.details["requires_acknowledgement"] is True
    machine.apply(c.Start())  # the session may begin (baseline: no stimulus) ...
    with pytest.raises(CommandRejected, match=r"'start' is not allowed in state 'baseline': "
                                              r"risk flag item9_endorsed on response-1 is not "
                                              r"acknowledged"):
        machine.apply(c.Start())  # ... but not the exposure
    with pytest.raises(CommandRejected, match="no unacknowledged risk flag; open: response-1"):
        machine.apply(c.AcknowledgeRisk(response_id="response-9"))
    (ack,) = machine.apply(c.AcknowledgeRisk(response_id="response-1", note="assessed: low"))
    assert isinstance(ack, RiskAcknowledged) and ack.flags == ("item9_endorsed",)
    machine.apply(c.Start())
    assert machine.state == "exposure"


def test_a_risk_flag_at_the_end_of_a_session_also_holds_a_resume() -> None:
    machine = _in_exposure()
    machine.apply(c.Stop())
    machine.apply(_phq9(item9=2))
    with pytest.raises(CommandRejected, match="not acknowledged"):
        machine.apply(c.Resume())
    machine.apply(c.Stop())  # stop always works
    machine.apply(c.AcknowledgeRisk(response_id="response-1"))
    machine.apply(c.Resume())
    assert machine.state == "exposure"


def test_no_risk_no_hold_and_item9_zero_raises_nothing() -> None:
    machine = SessionMachine()
    (response,) = machine.apply(_phq9(item9=0))
    assert isinstance(response, QuestionnaireResponse) and response.flags == ()
    machine.apply(c.Start())
    machine.apply(c.Start())
    assert machine.state == "exposure"


@pytest.mark.parametrize(("command", "code", "message"), [
    (_phq9(item9=4), "out_of_range", r"phq9 item q9: 4 is not an answer on its scale "
                                     r"\(0 to 3\); ask it again"),
    (c.SubmitQuestionnaire(instrument="bdi", answers="{}"), "out_of_range",
     "no instrument 'bdi'; known: .*phq9"),
    (c.SubmitQuestionnaire(instrument="wai_sr", answers='{"q1": 3}', timing="end"),
     "not_allowed", "not distributed with vret.*licensed text pack"),
    (c.SubmitQuestionnaire(instrument="phq9", answers="[1, 2]"), "invalid",
     "expected a JSON object"),
    (c.SubmitQuestionnaire(instrument="phq9", answers='{"q1": 1}', respondent="therapist"),
     "out_of_range", "answered by the client, not the therapist"),
    (c.SubmitQuestionnaire(instrument="phq9", answers='{"q1": 1}', language="fr"),
     "not_allowed", "cannot be given in 'fr'"),
])
def test_bad_questionnaires_are_refused_and_nothing_is_recorded(
        command: c.SubmitQuestionnaire, code: str, message: str) -> None:
    machine = SessionMachine()
    with pytest.raises(CommandRejected, match=message) as info:
        machine.apply(command)
    assert info.value.code == code
    (response, *_) = machine.apply(_phq9(item9=0))
    assert isinstance(response, QuestionnaireResponse)
    assert response.response_id == "response-1"  # the refused one took no number


def test_check_ins_are_the_sites_rating_instruments_and_off_scale_answers_are_asked_again(
        ) -> None:
    machine = _in_exposure()
    with pytest.raises(CommandRejected, match="no check-in 'anxiety'; check-ins: expectancy, "
                                              "fms, suds") as info:
        machine.apply(c.AskCheckIn(instrument="anxiety"))
    assert info.value.code == "out_of_range"
    _, asked = machine.apply(c.AskCheckIn(instrument="fms"))
    assert isinstance(asked, CheckInAsked)
    (refused,) = machine.answer_checkin(35.0, 900.0)  # the motion-sickness scale ends at 20
    assert isinstance(refused, Alert) and refused.code == "checkin_answer_refused"
    assert "35 is not an answer to fms (0 to 20): asked again" in refused.message
    assert machine.open_checkin is asked and machine.state == "check_in"
    answered, back = machine.answer_checkin(12.0, 1500.0)
    assert isinstance(answered, CheckInAnswered) and answered.value == 12.0
    assert isinstance(back, StateChange) and machine.open_checkin is None
    assert machine.checkin_scale("consent") is not None
    assert machine.checkin_scale("suds").describe() == "0 to 100"  # type: ignore[union-attr]


def test_a_questionnaire_given_in_the_scene_is_answered_item_by_item() -> None:
    machine = SessionMachine()
    (started,) = machine.apply(c.GiveQuestionnaire(instrument="phq9", timing="screening"))
    assert isinstance(started, QuestionnaireStarted) and started.form_id == "form-1"
    form = machine.open_form
    assert form is not None
    for value in (1, 0, 0, 2, 0, 0, 1, 0):
        assert machine.answer_form(value) == []
    assert form.next_item().id == "q9"  # type: ignore[union-attr]
    (refused,) = machine.answer_form(5)  # off the 0-3 scale: asked again
    assert isinstance(refused, Alert) and refused.code == "questionnaire_answer_refused"
    assert "phq9 item q9: 5 is not an answer" in refused.message
    assert machine.answer_form(0) == []
    assert form.next_item().id == "q10"  # type: ignore[union-attr]  # the total is above 0
    (response,) = machine.answer_form(1)
    assert isinstance(response, QuestionnaireResponse) and response.actor == "client"
    assert response.scores["total"] == 4 and response.complete and machine.open_form is None


def test_a_questionnaire_is_not_given_during_exposure_and_starting_one_leaves_it() -> None:
    machine = _in_exposure()
    with pytest.raises(CommandRejected, match="given outside the exposure"):
        machine.apply(c.GiveQuestionnaire(instrument="ssq", timing="end"))
    machine.apply(c.Stop())
    machine.apply(c.GiveQuestionnaire(instrument="ssq", timing="end"))
    with pytest.raises(CommandRejected, match="form-1 is still being answered"):
        machine.apply(c.GiveQuestionnaire(instrument="fms", timing="end"))
    machine.answer_form(1)
    machine.answer_form(0)
    events = machine.apply(c.Resume())  # back to the exposure: the form is left, logged
    response = next(e for e in events if isinstance(e, QuestionnaireResponse))
    assert not response.complete and response.answers == {"s1": 1.0, "s2": 0.0}
    assert response.scores["total"] is None  # no pro-rating for the SSQ
    assert any(isinstance(e, Alert) and e.code == "questionnaire_abandoned"
               and "2 of 16 answered" in e.message for e in events)


def test_recentre_is_logged_with_a_scene_and_refused_without_one() -> None:
    without = SessionMachine(avatar=False)  # --display none: no scene, no frame loop
    with pytest.raises(CommandRejected, match="no scene to recentre"):
        without.apply(c.Recentre())
    machine = SessionMachine(avatar=True)
    (alert,) = machine.apply(c.Recentre(posture="seated", reason="leaned on the wall"))
    assert alert.code == "recentred" and alert.details == {"posture": "seated"}
    assert "leaned on the wall" in alert.message
    assert machine.recentre_requests == ["seated"]  # for the next frame to apply


def test_the_headset_away_holds_the_exposure_and_blocks_start_and_resume() -> None:
    machine = SessionMachine(avatar=True)
    machine.apply(c.Start())
    machine.headset_away = "the headset has not shown the session yet"
    with pytest.raises(CommandRejected, match="headset is not in use"):
        machine.apply(c.Start())
    machine.headset_returned()
    machine.apply(c.Start())
    (held,) = [e for e in machine.headset_left("taken off") if hasattr(e, "to_state")]
    assert held.to_state == "safe_hold" and held.actor == "server"
    with pytest.raises(CommandRejected, match="headset is not in use: taken off"):
        machine.apply(c.Resume())
    machine.headset_returned()
    assert machine.state == "safe_hold"  # nothing resumes by itself
    machine.apply(c.Resume())
    assert machine.state == "exposure"
