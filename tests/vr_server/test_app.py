"""The rendered server end to end: `vret serve` in its own process, driven over real sockets.

The console side here is the library a console uses (CommandClient, Subscriber); the server
renders offscreen (EGL; llvmpipe without a GPU), runs the virtual client and records to SQLite.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from telemetry import commands as c
from telemetry.client import CommandClient
from telemetry.connection import ConnectionInfo
from telemetry.errors import CommandFailed
from telemetry.schemas import Ack, Event, Frame, Samples
from telemetry.store import SessionStore
from telemetry.subscriber import Subscriber
from tests.servers import wait_for_event
from vr_server.streams import SCENE_CHANNELS

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "syringe.py"
COL = {name: i for i, name in enumerate(SCENE_CHANNELS)}


@dataclass
class Collected:
    """Everything one subscriber received, gathered on a thread."""

    scene: list[np.ndarray] = field(default_factory=list)
    scene_t: list[np.ndarray] = field(default_factory=list)
    streams: dict[str, int] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    frames: list[Frame] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def rows(self) -> tuple[np.ndarray, np.ndarray]:
        """All scene rows so far and their timestamps, in frame order."""
        with self.lock:
            if not self.scene:
                return np.empty((0, len(SCENE_CHANNELS))), np.empty(0, np.int64)
            return np.concatenate(self.scene), np.concatenate(self.scene_t)

    def row_of(self, frame: int, timeout: float = 5.0) -> tuple[np.ndarray, int]:
        """The scene row of one frame and its timestamp (waiting for it to arrive)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows, times = self.rows()
            hit = np.nonzero(rows[:, COL["frame"]] == frame)[0]
            if hit.size:
                return rows[hit[0]], int(times[hit[0]])
            time.sleep(0.02)
        raise AssertionError(f"no scene row for frame {frame}")


@dataclass
class Server:
    process: subprocess.Popen[str]
    info: ConnectionInfo
    data_dir: Path
    collected: Collected
    stop: threading.Event


def _collect(info: ConnectionInfo, into: Collected, stop: threading.Event) -> None:
    subscriber = Subscriber(info, topics=("tel.", "evt.", "frame."))
    try:
        while not stop.is_set():
            for _, message in subscriber.recv_many(50):
                body = message.body
                with into.lock:
                    if isinstance(body, Samples):
                        for batch in body.batches:
                            into.streams[batch.stream] = (into.streams.get(batch.stream, 0)
                                                          + len(batch.timestamps_ns))
                            if batch.stream == "scene":
                                into.scene.append(batch.values)
                                into.scene_t.append(batch.timestamps_ns)
                    elif isinstance(body, Event):
                        into.events.append(body)
                    elif isinstance(body, Frame):
                        into.frames.append(body)
    finally:
        subscriber.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("app")
    conn = tmp / "conn.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "vret", "serve", "--scenario", str(EXAMPLE),
         "--display", "offscreen", "--size", "256x144",
         "--session-id", "s-app", "--data-dir", str(tmp / "data"), "--connection-file",
         str(conn), "--duration", "120", "--seed", "5"],
        cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not conn.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"server did not start: {process.communicate()[1][-2000:]}")
        time.sleep(0.05)
    info = ConnectionInfo.read(conn)
    collected, stop = Collected(), threading.Event()
    thread = threading.Thread(target=_collect, args=(info, collected, stop), daemon=True)
    thread.start()
    time.sleep(0.5)  # the subscription settles before anything is sent
    yield Server(process, info, tmp / "data", collected, stop)
    stop.set()
    thread.join(5)
    process.terminate()
    try:
        process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        raise


def test_a_level_change_is_in_telemetry_from_the_frame_it_took_effect(server: Server) -> None:
    with CommandClient(server.info) as client:
        client.request(c.Start())
        client.request(c.Start())
        ack = client.request(c.SetLevel(rung=3, intensity=0.5))
    assert ack.frame is not None
    row, _ = server.collected.row_of(ack.frame)
    assert row[COL["rung"]] == 3 and row[COL["intensity"]] == 0.5
    assert row[COL["stimulus_visible"]] == 1
    before, _ = server.collected.row_of(ack.frame - 1)
    assert before[COL["rung"]] == 0


def _within_one_frame(server: Server, ack: Ack) -> None:
    """Received during the frame before the one that applied it: the next frame, no later."""
    assert ack.frame is not None
    _, t_applied_frame = server.collected.row_of(ack.frame)
    _, t_previous_frame = server.collected.row_of(ack.frame - 1)
    received = int(ack.result["t_received_ns"])
    # Received after the previous frame began and applied in this one: it waited one frame at
    # most. (A frame's start is stamped just before its commands are drained; on a loaded
    # machine a command can land between the two and still be applied in that frame.)
    assert t_previous_frame <= received <= ack.t_applied_ns, (
        f"received at {received}, frames started at {t_previous_frame} and {t_applied_frame}, "
        f"applied at {ack.t_applied_ns}")
    assert ack.t_applied_ns >= t_applied_frame


def test_stop_takes_effect_in_the_next_frame_while_the_server_is_busy(server: Server) -> None:
    with CommandClient(server.info) as client:
        state = client.request(c.SetLevel(rung=5, intensity=1.0)).result["state"]
        assert state in {"exposure", "check_in"}
        # Busy: a flood of annotations queued on the command channel, and the frame loop
        # rendering, when the stop arrives on the control channel.
        flood = [client.submit(c.Annotate(text=f"note {i}")) for i in range(200)]
        stop = client.request(c.Stop(reason="test stop"))
        for future in flood:
            try:
                future.result(timeout=10)
            except CommandFailed:
                pass  # rate-limited or busy: the flood only has to be there
    assert stop.result["state"] == "safe_hold"
    _within_one_frame(server, stop)
    row, _ = server.collected.row_of(stop.frame or 0)
    assert row[COL["stimulus_visible"]] == 0 and row[COL["safe_place"]] == 1
    previous, _ = server.collected.row_of((stop.frame or 0) - 1)
    assert previous[COL["stimulus_visible"]] == 1
    with CommandClient(server.info) as client:
        resumed = client.request(c.Resume())
    assert resumed.result["state"] == "exposure"
    _within_one_frame(server, resumed)


def test_illegal_transitions_and_bad_levels_get_clear_errors(server: Server) -> None:
    with CommandClient(server.info) as client:
        with pytest.raises(CommandFailed, match=r"out of range.*rungs 0-6"):
            client.request(c.SetLevel(rung=7))
        with pytest.raises(CommandFailed, match=r"'start' is not allowed in state"):
            client.request(c.Start())
        with pytest.raises(CommandFailed, match=r"no live event 'explode'.*drip"):
            client.request(c.Trigger(event="explode"))
        ok = client.request(c.Trigger(event="drip"))
    assert ok.result["state"] in {"exposure", "check_in"}


def test_the_virtual_client_answers_check_ins_and_telemetry_flows(server: Server) -> None:
    # The console stays connected while the client answers: the avatar voices the prompt
    # (after any line it is saying) and the client answers what it has heard.
    with CommandClient(server.info) as client:
        asked = client.request(c.AskCheckIn(instrument="suds"))
        checkin = asked.result["checkin_id"]
        deadline = time.monotonic() + 30
        answer = None
        while answer is None and time.monotonic() < deadline:
            with server.collected.lock:
                answer = next((e.event for e in server.collected.events
                               if e.event.kind == "checkin_answered"
                               and e.event.checkin_id == checkin), None)
            time.sleep(0.1)
    assert answer is not None and answer.value is not None and 0 <= answer.value <= 100
    prompt = wait_for_event(server.data_dir, "s-app", lambda r: r.body.kind == "avatar_utterance"
                            and r.body.line_id == "checkin_suds")
    answered = wait_for_event(server.data_dir, "s-app", lambda r: r.body.kind ==
                              "checkin_answered" and r.body.checkin_id == checkin)
    assert prompt.seq < answered.seq  # asked aloud, then answered
    with server.collected.lock:
        streams = dict(server.collected.streams)
        frames = list(server.collected.frames)
    for name in ("head_pose", "gaze", "scene", "scenario", "ecg", "eda", "heart_rate",
                 "frame_stats"):
        assert streams.get(name, 0) > 0, f"no {name} samples"
    # The mirror view: JPEG images of the client's view, at about the configured rate.
    assert frames and frames[-1].data[:2] == b"\xff\xd8" and frames[-1].width == 256
    rows, _ = server.collected.rows()
    looks = set(rows[:, COL["looking_at"]].astype(int))
    assert looks <= {0, 1, 2} and len(looks) >= 2, "the client's gaze never moved"


def test_everything_is_in_the_session_store(server: Server) -> None:
    with SessionStore.in_dir(server.data_dir) as store:
        record = store.session("s-app")
        kinds = [e.body.kind for e in store.events("s-app")]
    assert record.scenario == "syringe"
    for kind in ("state_change", "level_change", "scenario_event", "checkin_asked",
                 "checkin_answered"):
        assert kind in kinds


def test_the_avatar_speaks_gestures_and_refuses_bad_input_clearly(server: Server) -> None:
    with CommandClient(server.info) as client:
        said = client.request(c.Speak(line_id="praise_staying"))
        assert said.result["state"]
        client.request(c.Gesture(gesture="nod"))
        with pytest.raises(CommandFailed, match=r"unknown gesture 'wave'; known: .*nod"):
            client.request(c.Gesture(gesture="wave"))
        with pytest.raises(CommandFailed, match="the avatar has no line 'sing'"):
            client.request(c.Speak(line_id="sing"))
        for bad in ({"text": ""}, {"text": "x" * 4001}):
            with pytest.raises(CommandFailed, match="invalid"):
                client.request("speak", bad)
    said = wait_for_event(server.data_dir, "s-app", lambda r: r.body.kind == "avatar_utterance"
                          and r.body.line_id == "praise_staying")
    assert "courage" in said.body.text and said.body.actor == "therapist"
    with SessionStore.in_dir(server.data_dir) as store:
        events = [e.body for e in store.events("s-app")]
    assert any(e.kind == "avatar_gesture" and e.name == "nod" for e in events)


def test_after_a_stop_the_avatar_grounds_the_client_in_the_same_frame(server: Server) -> None:
    with CommandClient(server.info) as client:
        if client.request(c.Annotate(text="where are we")).result["state"] == "safe_hold":
            client.request(c.Resume())
        stop = client.request(c.Stop(reason="grounding test"))
    _, next_frame_start = server.collected.row_of((stop.frame or 0) + 1)
    with SessionStore.in_dir(server.data_dir) as store:
        records = store.events("s-app")
    grounding = [r for r in records if r.body.kind == "avatar_utterance"
                 and r.body.line_id == "grounding_stop" and r.t_session_ns >= stop.t_applied_ns]
    assert grounding, "the avatar said no grounding line after the stop"
    # A safety line: said in the frame that applied the stop, before the next one began.
    assert grounding[0].t_session_ns < next_frame_start
    assert grounding[0].body.actor == "server"


def test_the_log_says_when_lines_were_said_and_which_were_cut_off(server: Server) -> None:
    long = "Notice your breathing, " * 6 + "and stay with it."
    with CommandClient(server.info) as client:
        if client.request(c.Annotate(text="where are we")).result["state"] == "safe_hold":
            client.request(c.Resume())
        client.request(c.Speak(text=long))
        wait_for_event(server.data_dir, "s-app", lambda r: r.body.kind == "avatar_utterance"
                       and r.body.text == long)  # after any line it had to wait for
        client.request(c.Speak(text="This one waits its turn."))
        time.sleep(1.0)
        stop = client.request(c.Stop(reason="cut test"))
        client.request(c.Resume())
    with SessionStore.in_dir(server.data_dir) as store:
        records = store.events("s-app")
    started = {r.body.text: r for r in records if r.body.kind == "avatar_utterance"}
    cut = {r.body.text: r.body for r in records if r.body.kind == "avatar_line_cut"}
    assert long in started and started[long].body.actor == "therapist"
    # The long line was cut off by the grounding line after about a second of it.
    assert cut[long].outcome == "interrupted"
    assert cut[long].said_s is not None and 0.5 < cut[long].said_s < 5.0
    # The waiting line was never said, and the log says so rather than that it was.
    assert "This one waits its turn." not in started
    assert cut["This one waits its turn."].outcome == "dropped"
    assert cut["This one waits its turn."].said_s is None
    grounding = [r for r in records if r.body.kind == "avatar_utterance"
                 and r.body.line_id == "grounding_stop" and r.t_session_ns >= stop.t_applied_ns]
    assert grounding


def test_a_screening_questionnaire_is_scored_logged_and_its_risk_acknowledged(
        server: Server) -> None:
    answers = {f"q{i}": 2 for i in range(1, 9)} | {"q9": 1, "q10": 2}
    with CommandClient(server.info) as client:
        with pytest.raises(CommandFailed, match=r"phq9 item q3: 7 is not an answer on its "
                                                r"scale \(0 to 3\); ask it again"):
            client.request(c.SubmitQuestionnaire(instrument="phq9",
                                                  answers=json.dumps({"q3": 7})))
        ack = client.request(c.SubmitQuestionnaire(instrument="phq9",
                                                   answers=json.dumps(answers)))
        response_id = ack.result["response_id"]
        assert ack.result["score.total"] == 17 and ack.result["flags"] == "item9_endorsed"
        client.request(c.AcknowledgeRisk(response_id=str(response_id), note="assessed"))
    stored = wait_for_event(server.data_dir, "s-app", lambda r: r.body.kind ==
                            "questionnaire_response" and r.body.response_id == response_id)
    assert stored.body.answers == {k: float(v) for k, v in answers.items()}
    assert stored.body.scores["total"] == 17 and stored.body.text_source == "vret"
    flagged = wait_for_event(server.data_dir, "s-app", lambda r: r.body.kind == "alert"
                             and r.body.code == "questionnaire_flag")
    assert flagged.body.severity == "critical" and flagged.seq > stored.seq
    acknowledged = wait_for_event(server.data_dir, "s-app",
                                  lambda r: r.body.kind == "risk_acknowledged")
    assert acknowledged.body.response_id == response_id and acknowledged.seq > flagged.seq


def test_the_virtual_client_answers_a_questionnaire_given_in_the_scene(server: Server) -> None:
    with CommandClient(server.info) as client:
        client.request(c.Stop(reason="closing questions"))
        deadline = time.monotonic() + 40
        while True:  # a check-in still open is answered first, as a therapist would wait
            try:
                ack = client.request(c.GiveQuestionnaire(instrument="vret_alliance_check"))
                break
            except CommandFailed as exc:
                assert "still open" in str(exc) and time.monotonic() < deadline, exc
                time.sleep(0.5)
    form_id = ack.result["form_id"]
    started = wait_for_event(server.data_dir, "s-app", lambda r: r.body.kind ==
                             "questionnaire_started" and r.body.form_id == form_id)
    done = wait_for_event(server.data_dir, "s-app", lambda r: r.body.kind ==
                          "questionnaire_response" and r.body.instrument ==
                          "vret_alliance_check" and r.seq > started.seq, timeout_s=60)
    body = done.body
    assert body.complete and body.actor == "client" and body.timing == "end"
    # The stand-in answers "no tension", so the two follow-ups are not asked.
    assert set(body.answers) == {"together", "rationale", "safe_to_say", "own_goals",
                                 "guide_helpful", "tension"} and body.answers["tension"] == 0
    assert all(0 <= v <= 10 for v in body.answers.values())
    assert body.scores["alliance"] is not None
