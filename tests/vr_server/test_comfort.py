"""The comfort vignette, rendered for real: it closes in while a scenario carries the client,
never for the client's own head movement or a cut, and opens again when the motion stops."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from panda3d.core import Point3

from review.replay import Replayer, open_recording
from telemetry import commands as c
from telemetry.client import CommandClient
from telemetry.connection import ConnectionInfo
from telemetry.schemas import Alert
from telemetry.store import SessionStore
from tests.servers import wait_for_connection, wait_for_event
from vr_server.comfort import ComfortVignette, VignetteChange
from vr_server.engine import Engine

DT = 1 / 90


@pytest.fixture
def vignette(engine: Engine) -> Iterator[tuple[ComfortVignette, list[VignetteChange]]]:
    changes: list[VignetteChange] = []
    before = engine.output.get_clear_color()
    engine.set_background((1.0, 1.0, 1.0))  # an empty, white world: the ring shows as dark
    v = ComfortVignette(engine.rig, engine.world, engine.cameras, changes.append)
    yield v, changes
    v.remove()
    engine.rig.set_pos_hpr(0, 0, 0, 0, 0, 0)
    engine.head.set_pos_hpr(0, 0, 1.65, 0, 0, 0)
    engine.output.set_clear_color(before)


def _frame(engine: Engine, v: ComfortVignette) -> np.ndarray:
    v.update(DT)
    engine.step()
    return engine.screenshot().astype(np.float32)


def _corner_and_centre(img: np.ndarray) -> tuple[float, float]:
    h, w = img.shape[:2]
    return float(img[:h // 8, :w // 8].mean()), float(img[h * 3 // 8:h * 5 // 8,
                                                           w * 3 // 8:w * 5 // 8].mean())


def test_a_rising_elevator_dims_the_edges_only_while_it_moves(
        engine: Engine, vignette: tuple[ComfortVignette, list[VignetteChange]]) -> None:
    v, changes = vignette
    still = _frame(engine, v)
    corner0, centre0 = _corner_and_centre(still)
    assert v.strength == 0.0 and corner0 > 200
    for i in range(45):  # half a second rising at 1.5 m/s: an elevator
        engine.rig.set_z(1.5 * DT * (i + 1))
        moving = _frame(engine, v)
    corner, centre = _corner_and_centre(moving)
    assert v.strength > 0.9
    assert corner < 0.5 * corner0  # the edges dark
    assert abs(centre - centre0) < 1.0  # the centre of the view untouched
    assert [c.on for c in changes] == [True]
    for _ in range(180):  # stopped: the ring opens again within two seconds
        after = _frame(engine, v)
    assert v.strength == 0.0
    assert abs(_corner_and_centre(after)[0] - corner0) < 1.0
    assert [c.on for c in changes] == [True, False] and changes[1].strength > 0.9


def test_head_movement_and_cuts_are_not_motion(
        engine: Engine, vignette: tuple[ComfortVignette, list[VignetteChange]]) -> None:
    v, changes = vignette
    _frame(engine, v)
    for i in range(30):  # the client turns and walks: their own movement, not the rig's
        engine.head.set_pos_hpr(0.02 * i, 0, 1.65, 4 * i, 0, 0)
        _frame(engine, v)
    engine.rig.set_pos(Point3(0, 40, 0))  # a cut to another place
    _frame(engine, v)
    _frame(engine, v)
    assert v.strength == 0.0 and changes == []


def test_turned_off_it_never_shows(engine: Engine) -> None:
    v = ComfortVignette(engine.rig, engine.world, engine.cameras, enabled=False)
    try:
        for i in range(20):
            engine.rig.set_z(0.05 * i)
            v.update(DT)
        assert v.strength == 0.0 and all(card.is_hidden() for card in v.cards)
    finally:
        v.remove()
        engine.rig.set_pos_hpr(0, 0, 0, 0, 0, 0)


ELEVATOR = Path(__file__).resolve().parents[2] / "examples" / "glass_elevator.py"


@pytest.mark.timeout(120)
@pytest.mark.parametrize("display", ["offscreen", "openxr"])
def test_a_scenario_carries_the_client_and_the_server_softens_the_ride(
        tmp_path: Path, engine: Engine, display: str) -> None:
    """`vret serve` with the glass elevator: one floor up is ridden at 1.5 m/s, the head goes
    up with the cab, and the vignette's start and end are logged around the ride; a replay of
    the record shows the vignette during the ride too. In a (scripted) headset too, where the
    eyes' frustums come from the runtime."""
    conn = tmp_path / "conn.json"
    shown = ["--display", "offscreen", "--size", "160x90"]
    if display == "openxr":
        script = tmp_path / "headset.json"
        script.write_text(json.dumps({"head": [{"t": 0, "position": [0, 0, 1.65]}],
                                      "eye_size": [160, 90]}))
        shown = ["--display", "openxr", "--xr-fake", str(script)]
    process = subprocess.Popen(
        [sys.executable, "-m", "vret", "serve", "--scenario", str(ELEVATOR), *shown,
         "--shading", "basic", "--session-id", "s-ride",
         "--data-dir", str(tmp_path / "data"), "--connection-file", str(conn),
         "--duration", "12"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_connection(conn, process)
        if display == "openxr":
            wait_for_event(tmp_path / "data", "s-ride",
                           lambda e: getattr(e.body, "state", "") == "focused")
        with CommandClient(ConnectionInfo.read(conn)) as console:
            console.request(c.Start())
            console.request(c.Start())
            ride = console.request(c.SetLevel(rung=1, intensity=0.0))
            process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0
    with SessionStore.in_dir(tmp_path / "data") as store:
        events = store.events("s-ride")
        t_head, head = store.samples("s-ride", "head_pose")
    alerts = [e for e in events if isinstance(e.body, Alert) and e.body.code == "comfort_vignette"]
    assert [a.body.details["on"] for a in alerts] == [True, False]
    started, ended = (a.t_session_ns * 1e-9 for a in alerts)
    assert ride.t_applied_ns * 1e-9 <= started < ride.t_applied_ns * 1e-9 + 0.5
    assert 2.0 < ended - started < 4.5  # 4 m at 1.5 m/s, then the ring opens in 0.6 s
    before = head[t_head < ride.t_applied_ns, 2]
    after = head[t_head > ended * 1e9, 2]
    assert abs(np.median(after) - np.median(before) - 4.0) < 0.2  # carried up one floor
    # The replay steps the same ride: the rig rises and the vignette closes mid-ride.
    recording = open_recording(tmp_path / "data", "s-ride")
    mid = int(np.argmax(recording.t_ns >= (started + 1.0) * 1e9))
    with Replayer(engine, recording, scenario=str(ELEVATOR)) as replay:
        replay.seek(mid)
        assert replay.vignette is not None and replay.vignette.strength > 0.9
        assert 0.5 < engine.rig.get_z() < 3.5
    assert engine.rig.get_pos() == Point3(0, 0, 0)  # the replay left the engine as it was
