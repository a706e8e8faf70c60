"""A headset session end to end: `vret serve --display openxr` with the scripted fake runtime.

The server runs in its own process and renders offscreen; a console drives it over real
sockets and everything is checked in the session's SQLite record: the runtime's lifecycle, the
rating panel answered with the trigger, the stop chord stopping in the frame it completes,
safe hold when the headset is taken off, recentring, and the poses' timestamps.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from panda3d.core import Point3

from review.replay import Replayer, open_recording
from telemetry import commands as c
from telemetry.client import CommandClient
from telemetry.connection import ConnectionInfo
from telemetry.errors import CommandFailed
from telemetry.schemas import Alert, CheckInAnswered, HeadsetState, StateChange
from telemetry.store import SessionStore, StoredEvent
from tests.servers import wait_for_connection, wait_for_event
from vr_server.engine import Engine
from vr_server.streams import CONTROLLERS, SCENE_CHANNELS

COL = {name: i for i, name in enumerate(SCENE_CHANNELS)}
CTL = {name: i for i, name in enumerate(CONTROLLERS.channels)}

# The head stands still at 1.6 m; the right controller points from the head 4 degrees down,
# at the middle of the rating panel's SUDS scale (50): the panel opens 8 degrees below the
# line of sight, with its cells a little above its centre.
MAIN_SCRIPT: dict[str, Any] = {
    "head": [{"t": 0, "position": [0, 0, 1.6]}],
    "aim": {"right": [{"t": 0, "position": [0, 0, 1.6], "pitch": -4}]},
    # The eyes look 10 degrees left of where the head faces, and a little down.
    "gaze": [{"t": 0, "position": [0, 0, 1.6], "heading": 10, "pitch": -3}],
    "presses": [
        {"hand": "right", "button": "trigger", "at": 5.0, "hold": 0.2},
        # The second check-in: the thumbstick moves the choice two cells right, and its
        # click answers (the controller still points at 50).
        {"hand": "right", "button": "thumb_right", "at": 15.5, "hold": 0.15},
        {"hand": "right", "button": "thumb_right", "at": 15.9, "hold": 0.15},
        {"hand": "right", "button": "thumbstick_click", "at": 16.4, "hold": 0.15},
        # The stop chord: grip, then the trigger with it, held together for 0.85 s.
        {"hand": "right", "button": "squeeze", "at": 7.0, "hold": 1.0},
        {"hand": "right", "button": "trigger", "at": 7.05, "hold": 0.9},
    ],
    "states": [
        {"at": 11.0, "state": "visible"}, {"at": 11.1, "state": "synchronized"},  # off
        {"at": 13.0, "state": "visible"}, {"at": 13.1, "state": "focused"},  # back on
    ],
    "eye_size": [192, 108],
}
LIFECYCLE_SCRIPT: dict[str, Any] = {
    # No controllers: the panel is answered by gaze dwell. It opens 8 degrees below the line
    # of sight, its cells 4 degrees above its centre: from 3 s the head looks 4 degrees down,
    # at its 50.
    "head": [{"t": 0, "position": [0, 0, 1.6]}, {"t": 2.5, "position": [0, 0, 1.6]},
             {"t": 3.0, "position": [0, 0, 1.6], "pitch": -4}],
    "states": [
        {"at": 7.0, "state": "stopping"},  # the runtime stops showing the app
        {"at": 8.0, "state": "ready"},  # and shows it again
        {"at": 9.5, "state": "loss_pending"},  # the runtime goes away: reconnect in 5 s
        {"at": 17.0, "state": "exiting"},  # the runtime ends the session for good
    ],
    "eye_size": [160, 90],
}


@dataclass
class Run:
    process: subprocess.Popen[str]
    info: ConnectionInfo
    data_dir: Path
    session: str

    def events(self) -> list[StoredEvent]:
        with SessionStore.in_dir(self.data_dir) as store:
            return store.events(self.session)

    def wait(self, match: Any, timeout_s: float = 30.0) -> StoredEvent:
        return wait_for_event(self.data_dir, self.session, match, timeout_s)

    def finish(self) -> str:
        try:
            _, err = self.process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise
        assert self.process.returncode == 0, err[-3000:]
        return err


def _serve(tmp: Path, script: dict[str, Any], session: str, duration: float,
           *extra: str) -> Run:
    path = tmp / f"{session}.json"
    path.write_text(json.dumps(script))
    conn = tmp / f"{session}-conn.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "vret", "serve", "--display", "openxr", "--xr-fake", str(path),
         "--shading", "basic", "--session-id", session, "--data-dir", str(tmp / "data"),
         "--connection-file", str(conn), "--duration", str(duration), *extra],
        cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_connection(conn, process)
    return Run(process, ConnectionInfo.read(conn), tmp / "data", session)


def _is_state(state: str) -> Any:
    return lambda e: isinstance(e.body, HeadsetState) and e.body.state == state


@pytest.fixture(scope="module")
def main_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Run, dict[str, Any]]]:
    """The main session, driven once; the tests below read what it recorded."""
    run = _serve(tmp_path_factory.mktemp("xr"), MAIN_SCRIPT, "s-xr", 19.0)
    seen: dict[str, Any] = {}
    try:
        run.wait(_is_state("focused"))
        with CommandClient(run.info) as console:
            console.request(c.Start())
            console.request(c.Start())
            console.request(c.SetLevel(rung=2, intensity=0.5))
            console.request(c.AskCheckIn(instrument="suds"))
            run.wait(lambda e: isinstance(e.body, CheckInAnswered))
            run.wait(lambda e: isinstance(e.body, StateChange) and e.body.to_state == "safe_hold")
            console.request(c.Resume())
            held = run.wait(lambda e: isinstance(e.body, StateChange)
                            and e.body.to_state == "safe_hold" and "headset" in e.body.reason)
            seen["held"] = held
            with pytest.raises(CommandFailed) as refused:
                console.request(c.Resume())
            seen["refused"] = str(refused.value)
            back = [e.seq for e in run.events()
                    if isinstance(e.body, Alert) and e.body.code == "headset_back"]
            run.wait(lambda e: isinstance(e.body, Alert) and e.body.code == "headset_back"
                     and e.seq > back[-1])  # the headset put on again
            console.request(c.Resume())
            console.request(c.AskCheckIn(instrument="suds"))
            run.wait(lambda e: isinstance(e.body, CheckInAnswered)
                     and e.body.checkin_id == "checkin-2")
            ack = console.request(c.Recentre(posture="seated"))
            seen["recentre_frame"] = ack.frame
        seen["log"] = run.finish()
        yield run, seen
    finally:
        if run.process.poll() is None:
            run.process.kill()


def _samples(run: Run, stream: str) -> tuple[np.ndarray, np.ndarray]:
    with SessionStore.in_dir(run.data_dir) as store:
        return store.samples(run.session, stream)


def test_the_trigger_answers_the_rating_panel(main_run: tuple[Run, dict[str, Any]]) -> None:
    run, _ = main_run
    answers = [e.body for e in run.events() if isinstance(e.body, CheckInAnswered)]
    assert len(answers) == 2
    assert answers[0].answered and answers[0].value == 50.0  # the cell pointed at
    assert answers[1].answered and answers[1].value == 70.0  # two thumbstick steps right


def test_the_stop_chord_stops_in_the_frame_it_completes(
        main_run: tuple[Run, dict[str, Any]]) -> None:
    run, _ = main_run
    stops = [e for e in run.events() if isinstance(e.body, StateChange)
             and e.body.to_state == "safe_hold" and "stop chord" in e.body.reason]
    assert len(stops) == 1 and stops[0].body.actor == "client"
    t_scene, scene = _samples(run, "scene")
    # The gaze is the eyes', not the head's: 10 degrees left and 3 down of straight ahead.
    _, gaze = _samples(run, "gaze")
    d = gaze[len(gaze) // 3, 3:6]
    assert math.degrees(math.atan2(-d[0], d[1])) == pytest.approx(10, abs=0.1)
    assert math.degrees(math.asin(d[2])) == pytest.approx(-3, abs=0.1)
    t_ctl, ctl = _samples(run, CONTROLLERS.name)
    assert len(t_scene) == len(t_ctl)  # one row of each per frame
    trigger, grip = ctl[:, CTL["right_trigger"]], ctl[:, CTL["right_grip"]]
    chord = (trigger >= 0.75) & (grip >= 0.75)
    first = int(np.argmax(chord))
    assert chord[first]
    # The frame whose tracking completes the 0.5 s hold is the first to show the safe place.
    done = int(np.argmax(t_ctl >= t_ctl[first] + 0.5e9 - 1e3))
    assert chord[first:done + 1].all()
    safe = scene[:, COL["safe_place"]] == 1
    stop_frame = first + int(np.argmax(safe[first:]))
    assert stop_frame == done, (stop_frame, done)
    assert scene[done, COL["stimulus_visible"]] == 0
    assert scene[done - 1, COL["stimulus_visible"]] == 1


def test_taking_the_headset_off_holds_the_session_until_the_therapist_resumes(
        main_run: tuple[Run, dict[str, Any]]) -> None:
    run, seen = main_run
    assert "headset is not in use" in seen["refused"]
    states = [(e.body.previous, e.body.state) for e in run.events()
              if isinstance(e.body, HeadsetState)]
    assert states == [("unknown", "idle"), ("idle", "ready"), ("ready", "synchronized"),
                      ("synchronized", "visible"), ("visible", "focused"),
                      ("focused", "visible"), ("visible", "synchronized"),
                      ("synchronized", "visible"), ("visible", "focused")]
    codes = [e.body.code for e in run.events() if isinstance(e.body, Alert)]
    assert codes.count("headset_away") == 1 and codes.count("headset_back") == 2
    moves = [(e.body.to_state, e.body.actor) for e in run.events()
             if isinstance(e.body, StateChange)]
    held = moves.index(("safe_hold", "server"))
    assert moves[held + 1] == ("exposure", "therapist")  # resumed only by the therapist
    # The review report puts the headset's states on the session's timeline and log.
    report = run.data_dir / "report.html"
    subprocess.run([sys.executable, "-m", "vret", "review", run.session, "--data-dir",
                    str(run.data_dir), "-o", str(report)], check=True, capture_output=True,
                   timeout=60)
    text = report.read_text()
    assert "headset focused -&gt; visible" in text or "headset focused -> visible" in text
    assert "headset_away" in text


def test_both_eyes_images_reach_the_runtime_from_the_draw(
        main_run: tuple[Run, dict[str, Any]]) -> None:
    run, seen = main_run
    found = re.search(r"headset: (\d+) frames ended from the draw, (\d+) of them with both",
                      seen["log"])
    assert found, seen["log"][-2000:]
    ended, shown = int(found.group(1)), int(found.group(2))
    t_scene, _ = _samples(run, "scene")
    assert ended > 0.8 * len(t_scene)  # every frame the session ran, from the draw
    assert 0.5 * ended < shown < ended  # not while the headset was off (synchronized)


def test_poses_carry_the_predicted_display_time_on_the_session_clock(
        main_run: tuple[Run, dict[str, Any]], engine: Engine) -> None:
    run, _seen = main_run
    t_head, head = _samples(run, "head_pose")
    t_scene, _ = _samples(run, "scene")
    assert len(t_head) == len(t_scene) > 500
    period = int(1e9 / 90)
    # Until the runtime runs the session, the head has no tracking: its rows carry the frame's
    # start. From the first tracked frame on, every row carries the display time.
    tracked = t_head != t_scene
    first = int(np.argmax(tracked))
    assert first < 200 and tracked[first:].all()
    # The predicted display time minus the frame's start: about a period ahead (the fake
    # runtime predicts one refresh after it releases the frame); a frame started late on a
    # loaded machine may begin after its predicted time, never by much.
    ahead = (t_head - t_scene)[first:]
    assert 0 < np.median(ahead) < 2 * period
    assert (ahead > -3 * period).all() and (ahead < 6 * period).all()
    # Display times lie on the display's refresh grid: a frame that took longer than a
    # period (software rendering here) is shown one or more refreshes later.
    steps = np.diff(t_head[first:]) / period
    assert (steps >= 1 - 1e-6).all()
    assert (np.abs(steps - np.round(steps)) < 1e-6).all()
    # Standing: the tracked 1.6 m over the viewpoint; after the seated recentre: 1.2 m.
    assert abs(head[len(head) // 3, 2] - 1.6) < 1e-3
    assert abs(head[-1, 2] - 1.2) < 1e-3
    _t_ctl, ctl = _samples(run, CONTROLLERS.name)
    assert np.isnan(ctl[:, CTL["left_x"]]).all()  # the script has no left controller
    assert np.isnan(ctl[:first, CTL["right_x"]]).all()  # not tracked yet
    assert not np.isnan(ctl[first:, CTL["right_x"]]).any()
    recentres = [e for e in run.events() if isinstance(e.body, Alert)
                 and e.body.code == "recentred"]
    assert recentres and recentres[0].body.details["posture"] == "seated"

    # The record replays: a headset session's frame puts the head where it was recorded.
    recording = open_recording(run.data_dir, run.session)
    with Replayer(engine, recording) as replay:
        replay.seek(len(recording) // 2)
        where = engine.head.get_pos(engine.world)
        assert where.almost_equal(Point3(*recording.head[len(recording) // 2, :3]), 1e-4)
        # ... and the controllers where the client held them (the script has no left one).
        assert replay.hands is not None and recording.controllers is not None
        right = replay.hands.bodies["right"]
        assert not right.is_hidden() and replay.hands.bodies["left"].is_hidden()
        held = recording.controllers[len(recording) // 2, CTL["right_x"]:CTL["right_z"] + 1]
        assert right.get_pos(engine.world).almost_equal(Point3(*held), 1e-4)


def test_every_lifecycle_state_is_handled_and_the_session_survives_a_lost_runtime(
        tmp_path: Path) -> None:
    run = _serve(tmp_path, LIFECYCLE_SCRIPT, "s-life", 20.0)
    started = run.wait(_is_state("idle")).t_session_ns * 1e-9  # the script's time 0
    run.wait(_is_state("focused"))
    with CommandClient(run.info) as console:
        console.request(c.Start())
        console.request(c.Start())
        console.request(c.AskCheckIn(instrument="suds"))
        answer = run.wait(lambda e: isinstance(e.body, CheckInAnswered))
        assert answer.body.value == 50.0  # looked at for 1.5 s
        # The gaze reaches the cell during the turn (2.5-3 s), then dwells 1.5 s on it.
        assert 3.9 < answer.t_session_ns * 1e-9 - started < 5.5
        run.wait(_is_state("exiting"), timeout_s=40)
        ack = console.request(c.Annotate(text="still recording after the runtime left"))
        assert ack.frame is not None
    run.finish()
    states = [e.body.state for e in run.events() if isinstance(e.body, HeadsetState)]
    assert states == ["idle", "ready", "synchronized", "visible", "focused",
                      "stopping", "idle", "ready", "synchronized", "visible", "focused",
                      "loss_pending",
                      # reconnected 5 s later: a new session
                      "idle", "ready", "synchronized", "visible", "focused",
                      "exiting"]
    moves = [(e.body.to_state, e.body.reason) for e in run.events()
             if isinstance(e.body, StateChange)]
    held = next(m for m in moves if m[0] == "safe_hold")
    assert "stopped showing" in held[1]
    with SessionStore.in_dir(run.data_dir) as store:
        assert store.session(run.session).ended_wall_ns is not None


@pytest.mark.parametrize("probe_error, message", [
    ("no_runtime", "no OpenXR runtime"), ("no_headset", "found no headset")])
def test_without_a_runtime_or_headset_serve_fails_fast_and_records_nothing(
        tmp_path: Path, probe_error: str, message: str) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"probe_error": probe_error}))
    result = subprocess.run(
        [sys.executable, "-m", "vret", "serve", "--display", "openxr", "--xr-fake",
         str(script), "--data-dir", str(tmp_path / "data")],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert message in result.stderr and "nothing was recorded" in result.stderr
    assert not (tmp_path / "data" / "vret.sqlite3").exists()


def test_with_no_runtime_installed_serve_names_what_is_missing(tmp_path: Path) -> None:
    env = {**os.environ, "XR_RUNTIME_JSON": str(tmp_path / "no-such-runtime.json")}
    started = time.monotonic()
    for command in (["serve", "--display", "openxr"], ["headset"]):
        result = subprocess.run(
            [sys.executable, "-m", "vret", *command, "--data-dir", str(tmp_path / "data")]
            if command[0] == "serve" else [sys.executable, "-m", "vret", *command],
            capture_output=True, text=True, timeout=60, env=env)
        assert result.returncode == 1, result.stderr
        assert "XR_RUNTIME_JSON" in result.stderr
        assert "Traceback" not in result.stderr
    assert time.monotonic() - started < 30  # fails fast: no waiting for a headset
    assert not (tmp_path / "data" / "vret.sqlite3").exists()


def test_a_runtime_that_refuses_the_first_session_ends_it_with_the_reason(
        tmp_path: Path) -> None:
    """A set-up problem found only when the session opens (no graphics binding or image
    format the runtime accepts): the server stops at once, says why, and keeps the record."""
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"session_error": "the runtime offers no image format vret "
                                                   "can use (offered: 0x881a)"}))
    result = subprocess.run(
        [sys.executable, "-m", "vret", "serve", "--display", "openxr", "--xr-fake",
         str(script), "--session-id", "s-refused", "--data-dir", str(tmp_path / "data"),
         "--duration", "30"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "offered: 0x881a" in result.stderr and "record kept" in result.stderr
    assert "Traceback" not in result.stderr
    with SessionStore.in_dir(tmp_path / "data") as store:
        assert store.session("s-refused").ended_wall_ns is not None
        codes = [e.body.code for e in store.events("s-refused") if isinstance(e.body, Alert)]
    assert "headset_unusable" in codes
