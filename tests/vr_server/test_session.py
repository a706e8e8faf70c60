"""The session state machine: lifecycle, safety rules and errors naming state and command."""

from __future__ import annotations

import pytest

from telemetry import commands as c
from telemetry.errors import CommandRejected
from telemetry.schemas import Alert, LevelChange, StateChange
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
