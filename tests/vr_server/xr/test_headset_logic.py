"""The headset driver's rules, step by step: the stop chord, answers, frames that must be
ended, and which runtime errors end the session. The host is a stand-in that records what the
driver asks of it (the whole path, with a real host, is in test_headset_session.py)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from panda3d.core import Point3

from telemetry.clock import SessionClock
from vr_server.engine import Engine
from vr_server.xr import convert
from vr_server.xr.fake import FakeScript, FakeXr
from vr_server.xr.headset import Headset
from vr_server.xr.types import HandInput, Tracking, XrPose

AIM = XrPose((0.0, 1.6, 0.0))


@dataclass
class Machine:
    headset_away: str | None = None


@dataclass
class Host:
    """Records the calls a headset makes on its session host."""

    machine: Machine = field(default_factory=Machine)
    clock: SessionClock = field(default_factory=SessionClock)
    stops: list[str] = field(default_factory=list)
    alerts: list[tuple[str, str]] = field(default_factory=list)
    left: list[str] = field(default_factory=list)
    states: list[str] = field(default_factory=list)

    def client_stop(self, reason: str) -> None:
        self.stops.append(reason)

    def alert(self, code: str, severity: str, message: str, **_: Any) -> None:
        self.alerts.append((code, severity))

    def headset_left(self, why: str) -> None:
        self.left.append(why)

    def headset_returned(self) -> None:
        self.machine.headset_away = None

    def headset_state(self, change: Any) -> None:
        self.states.append(change.state)


@pytest.fixture
def rig(engine: Engine) -> Iterator[tuple[Headset, Host, FakeXr]]:
    backend = FakeXr(FakeScript())
    host = Host()
    headset = Headset(backend, backend.probe(), engine, host, (0, 0, 0), 0.0)  # type: ignore[arg-type]
    yield headset, host, backend
    headset.close()


def _frame(headset: Headset, t: float, state: str = "focused", **right: Any) -> None:
    """One frame's controller input at ``t`` seconds, applied."""
    headset.state = state  # type: ignore[assignment]
    headset.pose_t_ns = int(t * 1e9)
    inp = HandInput(aim=AIM, **right)
    headset.tracking = Tracking(0, hands={"right": inp}) if state == "focused" else None
    headset.apply(t)


def test_the_stop_chord_fires_once_per_hold_and_again_after_a_focus_gap(
        rig: tuple[Headset, Host, FakeXr]) -> None:
    headset, host, _ = rig
    held = {"trigger": 1.0, "squeeze": 1.0}
    for i in range(60):  # held 0.66 s at 90 Hz: fires once, at 0.5 s
        _frame(headset, i / 90, **held)
        assert len(host.stops) == (1 if i >= 45 else 0), i
    for i in range(60, 70):  # the runtime's menu: focus gone while the client still holds
        _frame(headset, i / 90, state="visible")
    for i in range(70, 130):  # back in focus, holding again: a new hold, a new stop
        _frame(headset, i / 90, **held)
    assert len(host.stops) == 2
    assert "stop chord" in host.stops[0] and "right controller" in host.stops[0]


def test_an_answer_is_the_trigger_let_go_never_a_stop_or_a_lost_controller(
        rig: tuple[Headset, Host, FakeXr]) -> None:
    headset, _, _ = rig
    _frame(headset, 0.00, trigger=1.0)
    assert headset.select_hand is None  # pressed: nothing yet
    _frame(headset, 0.02, trigger=0.0)
    assert headset.select_hand == "right"  # let go: the answer
    _frame(headset, 0.04, trigger=1.0)
    _frame(headset, 0.06, trigger=1.0, squeeze=1.0)  # the grip joins: a stop begins
    _frame(headset, 0.08, trigger=0.0)
    assert headset.select_hand is None  # let go after a chord: no answer
    _frame(headset, 0.10, trigger=1.0)
    _frame(headset, 0.12, trigger=0.0, active=False)  # the controller dropped out
    assert headset.select_hand is None
    _frame(headset, 0.14, trigger=0.5)  # between the thresholds: still not pressed
    _frame(headset, 0.16, trigger=0.0)
    assert headset.select_hand is None
    _frame(headset, 0.18, thumbstick=(0.9, 0.0))
    assert headset.panel_step == 1
    _frame(headset, 0.20, thumbstick=(0.9, 0.0))
    assert headset.panel_step == 0  # one step per push


def test_a_begun_frame_whose_draw_never_ran_is_ended_empty(
        rig: tuple[Headset, Host, FakeXr]) -> None:
    headset, _, backend = rig
    backend.create_session("stage")
    headset._session_due = False
    headset.frame_start()  # idle, ready: the session begins, and its first frame ...
    first = headset.timing
    assert first is not None and not backend.submitted
    headset.frame_start()  # ... whose draw did not run: ended empty before the next
    assert [s.display_time for s in backend.submitted] == [first.display_time]
    assert backend.submitted[0].eye_textures is None


def test_a_refused_call_costs_a_frame_a_lost_session_starts_over(
        rig: tuple[Headset, Host, FakeXr], monkeypatch: pytest.MonkeyPatch) -> None:
    headset, host, backend = rig
    backend.create_session("stage")
    headset._session_due = False
    headset.frame_start()
    refusals = iter([True, False])

    def locate(display_time: int) -> Tracking:
        raise ValueError("XR_ERROR_VALIDATION_FAILURE")

    monkeypatch.setattr(backend, "locate", locate)
    monkeypatch.setattr(backend, "is_lost", lambda _e: not next(refusals))
    headset.frame_start()  # refused: this frame only
    assert headset.running and headset.tracking is None
    assert backend.submitted[-1].eye_textures is None  # ended empty
    assert host.alerts == [("headset_error", "warning")] and host.left == []
    headset.frame_start()  # lost: held, destroyed, reconnecting
    assert not headset.running and host.left and "destroy_session" in backend.calls
    assert host.alerts[-1] == ("headset_error", "critical")


@pytest.mark.parametrize("posture, eye_z", [("standing", 1.62), ("seated", 1.2)])
def test_recentring_puts_the_client_at_the_viewpoint_facing_its_way(
        engine: Engine, posture: str, eye_z: float) -> None:
    """Wherever the client stands in the play area and whichever way they face, recentring
    puts their eyes over the scenario's viewpoint, facing its heading; standing keeps their
    own height, seated puts the eyes 1.2 m above the viewpoint."""
    backend = FakeXr(FakeScript())
    headset = Headset(backend, backend.probe(), engine, Host(), (2.0, -1.0, 0.0), 90.0)  # type: ignore[arg-type]
    try:
        headset.recentre(posture)  # type: ignore[arg-type]
        assert backend.reference == ("local" if posture == "seated" else "stage")
        off_centre = convert.xr_pose_from_hpr((0.7, -0.4, 1.62), heading=35.0, pitch=-10.0)
        headset.tracking = Tracking(0, head=off_centre)
        headset.pose_head()
        where = engine.head.get_pos(engine.world)
        assert where.almost_equal(Point3(2.0, -1.0, eye_z), 1e-4)
        assert engine.head.get_h(engine.world) == pytest.approx(90.0, abs=1e-3)
        assert engine.head.get_p(engine.world) == pytest.approx(-10.0, abs=1e-3)
        # Then the client steps 0.5 m to their left: the view follows them, 1:1.
        moved = convert.xr_pose_from_hpr((0.7 - 0.5 * 0.819, -0.4 - 0.5 * 0.574, 1.62),
                                         heading=35.0, pitch=-10.0)
        headset.tracking = Tracking(0, head=moved)
        headset.pose_head()
        assert (engine.head.get_pos(engine.world) - where).length() == pytest.approx(0.5,
                                                                                     abs=1e-3)
    finally:
        headset.close()
        engine.tracking.set_pos_hpr(0, 0, 0, 0, 0, 0)
        engine.head.set_pos_hpr(0, 0, 1.65, 0, 0, 0)
