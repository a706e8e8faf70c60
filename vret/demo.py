"""``vret demo``: a rendered session server in its own process (a scenario, the virtual client,
offscreen rendering), a console following it live, a short scripted session (baseline, exposure
climbing rungs, a check-in the virtual client answers, a live event, a stop and resume), the
mirror view saved as screenshots of what the client saw, then the recorded session's path."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clinician_console.monitor import monitor
from scenarios.targets import LOOK_CODES
from telemetry import commands as c
from telemetry.client import CommandClient
from telemetry.connection import ConnectionInfo
from telemetry.errors import CommandFailed, ConnectionFileError, TelemetryError
from telemetry.schemas import Ack, Event, Frame, Samples
from telemetry.store import SessionStore, StoredEvent
from vr_server.host import new_session_id
from vr_server.streams import SCENE_CHANNELS


def _wait_for_connection_file(path: Path, server: subprocess.Popen[bytes],
                              timeout_s: float = 30.0) -> ConnectionInfo:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise TelemetryError(f"the session server exited with code {server.returncode}")
        try:
            return ConnectionInfo.read(path)
        except ConnectionFileError:
            time.sleep(0.05)
    raise TelemetryError(f"the session server wrote no connection file in {timeout_s:.0f} s")


DEMO_CONSOLE_PORT = 8765
AVATAR_SHOTS = {"avatar-greeting": "greeting", "avatar-asks-suds": "checkin_suds",
                "avatar-asks-consent": "consent_step_up"}
"""Screenshots of the avatar saying a line: label -> the line."""
SETTLED_FRAMES = 12
"""Frames of looking at the avatar before its image is taken (about 0.4 s here)."""
LOOKING_AT = SCENE_CHANNELS.index("looking_at")
FRAME = SCENE_CHANNELS.index("frame")
AVATAR_CODE = LOOK_CODES["avatar"]


@dataclass
class _Shots:
    """The newest mirror-view image, and the screenshots saved from it."""

    folder: Path
    latest: Frame | None = None
    saved: list[Path] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    looks: dict[int, int] = field(default_factory=dict)
    """Frame number -> what the client's gaze rested on in it (the scene stream)."""
    saying: str | None = None
    """The line id the avatar is saying (from the event log), None when it is quiet."""
    saying_from: int = 0
    """The first frame whose image can show that line."""
    candidates: dict[str, Any] = field(default_factory=dict)
    """The detector's rupture candidates, by id (their latest form)."""
    suds: list[float] = field(default_factory=list)
    """The SUDS answers so far (what the controller looks at)."""

    def on_frame(self, frame: Frame) -> None:
        with self.lock:
            self.latest = frame

    def on_samples(self, samples: Samples) -> None:
        for batch in samples.batches:
            if batch.stream == "scene":
                rows = batch.values
                with self.lock:
                    for frame, look in zip(rows[:, FRAME], rows[:, LOOKING_AT], strict=True):
                        self.looks[int(frame)] = int(look)

    def on_event(self, event: Event) -> None:
        body = event.event
        with self.lock:
            if body.kind == "avatar_utterance":
                self.saying = body.line_id
                # Images of frames from here on can show the line (an image reaches us after
                # the events of its frame).
                self.saying_from = max(self.looks, default=0) + 1
            elif body.kind == "avatar_line_cut" and body.line_id == self.saying:
                self.saying = None
            elif body.kind == "rupture_candidate":
                self.candidates[body.candidate_id] = body
            elif body.kind == "checkin_answered" and body.instrument == "suds" and \
                    body.value is not None:
                self.suds.append(float(body.value))

    def _facing(self, frame: int) -> bool:
        """The client has looked at the avatar for the last :data:`SETTLED_FRAMES` frames
        (the head, which the image follows, turns after the eyes)."""
        looks = [self.looks.get(n) for n in range(frame - SETTLED_FRAMES, frame + 1)]
        known = [look for look in looks if look is not None]
        return len(known) > SETTLED_FRAMES // 2 and all(look == AVATAR_CODE for look in known)

    def save(self, label: str, line_id: str | None = None, wait_s: float = 0.0) -> str:
        """Save the newest image; with ``line_id``, wait up to ``wait_s`` for one taken while
        the avatar says that line and the client looks at it (its caption then in view)."""
        deadline = time.monotonic() + wait_s
        while True:
            with self.lock:
                frame = self.latest
                ready = (frame is not None and self.saying == line_id
                         and frame.frame_number >= self.saying_from
                         and self._facing(frame.frame_number))
            if line_id is None or time.monotonic() >= deadline or ready:
                break
            time.sleep(0.03)
        if frame is None:
            return "no mirror frame yet"
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{len(self.saved) + 1:02d}-{label}.jpg"
        path.write_bytes(frame.data)
        self.saved.append(path)
        return f"screenshot {path.name} (frame {frame.frame_number})"


@dataclass(frozen=True)
class _Until:
    """A pause in the script until this many seconds of session time."""

    t_s: float


@dataclass(frozen=True)
class _Controlled:
    """The difficulty controller (the console's, in suggest mode) looks at the SUDS answered
    so far and proposes the next step; the demo therapist accepts it."""


@dataclass(frozen=True)
class _Repair:
    """The therapist's part in the rupture: confirm the detector's candidate with a 3RS code,
    repair it through the avatar, and rate the session's ruptures."""


RUPTURE_AT_S = 40.0
RUPTURE_FOR_S = 20.0
"""When the demo's virtual client withdraws (planted: looks away from the heights and the
guide, steps back, answers late, declines the next step), in session seconds."""


def _controlled_step(client: CommandClient, shots: _Shots, log: list[str],
                     now_s: float) -> Ack | None:
    """One step proposed by the controller and accepted; None if it held."""
    from clinician_console.controllers import Controller, Observation, Rules, SudsAnswer

    deadline = time.monotonic() + 15  # the SUDS asked just before, once the client answers
    while True:
        with shots.lock:
            answers = list(shots.suds)
        if answers or time.monotonic() > deadline:
            break
        time.sleep(0.2)
        now_s += 0.2
    # The demo's rules: SUDS below the 40-70 band at this rung is the sign to go up (at once:
    # a demo has no minutes to wait).
    controller = Controller(Rules(below_band_hold_s=0.0, min_step_interval_s=0.0,
                                  habituation_drop=None), mode="suggest")
    proposal = controller.observe(Observation(
        t_s=now_s, rung=0, suds=[SudsAnswer(now_s - 0.5, v) for v in answers[-1:]]))
    for event in controller.events:
        client.request(_decision(event))
    if proposal is None or proposal.id is None or proposal.action != "step_up":
        log.append(f"  controller   held ({'no SUDS yet' if not answers else 'SUDS in band'})")
        return None
    log.append(f"  controller   proposes {proposal.action} {proposal.from_rung} -> "
               f"{proposal.to_rung}: {proposal.summary}")
    accepted = controller.accept(proposal.id, now_s)
    client.request(_decision(accepted, actor="therapist"))
    log.append(f"  therapist    accepts {proposal.id}")
    return _request_when_answered(client, c.SetLevel(
        rung=proposal.to_rung, intensity=0.5,
        reason=f"controller ({proposal.id}): {proposal.summary}"))


def _decision(event: Any, actor: str = "controller") -> c.LogDecision:
    return c.LogDecision(
        decision=event.kind, action=event.action, proposal_id=event.proposal_id,
        from_rung=event.from_rung, to_rung=event.to_rung, mode=event.mode,
        summary=event.summary[:4000], reasons=json.dumps(event.reasons)[:4000],
        actor=actor)  # type: ignore[arg-type]


def _repair(client: CommandClient, shots: _Shots, log: list[str]) -> None:
    deadline = time.monotonic() + 30
    candidate = None
    while time.monotonic() < deadline and candidate is None:
        with shots.lock:
            candidate = next((b for b in shots.candidates.values()
                              if b.marker == "withdrawal"), None)
        time.sleep(0.3)
    if candidate is None:
        log.append("  rupture      the detector proposed no withdrawal")
        return
    log.append(f"  detector     {candidate.candidate_id}: {candidate.marker} "
               f"({candidate.confidence:.0%}): {', '.join(candidate.signals)}")
    marked = _request_when_answered(client, c.MarkRupture(
        candidate_id=candidate.candidate_id, marker="withdrawal", subtype="minimal_response",
        salience=3, note="looked away from the heights and from me, stepped back, went quiet"))
    rupture = str(marked.result["rupture_id"])
    log.append(f"  mark_rupture {rupture} confirmed: withdrawal / minimal response, salience 3")
    client.request(c.Speak(line_id="repair_invite_1"))
    client.request(c.MarkRepair(rupture_id=rupture, strategy="invite_discussion",
                                line_id="repair_invite_1", resolved=True,
                                note="the client said the last step came too fast"))
    log.append(f"  mark_repair  {rupture}: invite discussion, through the avatar, resolved")


def _script(client: CommandClient, duration_s: float, log: list[str], shots: _Shots,
            live_event: str | None) -> None:
    """The therapist's side of the demo: steps spread over the monitoring window; after each
    step the scene ramps for a while and the client's view is saved."""
    event: list[tuple[c.CommandArgs | _Until | _Repair | _Controlled, str | None]] = (
        [(c.Trigger(event=live_event), f"event-{live_event}")] if live_event else [])
    plan: list[tuple[c.CommandArgs | _Until | _Repair | _Controlled, str | None]] = [
        # Screening and the sickness baseline before the session (scripted answers: a client
        # with mild symptoms who does not endorse item 9).
        (_questionnaire("phq9", DEMO_PHQ9, "screening"), None),
        (_questionnaire("ssq", DEMO_SSQ_BEFORE, "start"), None),
        (c.Start(), None), (c.Speak(line_id="greeting"), "avatar-greeting"),
        (c.Start(), "exposure-rung-0"),
        (c.AskCheckIn(instrument="suds"), "avatar-asks-suds"),
        # The controller proposes the first step from the SUDS answer; the therapist accepts.
        # Collaborative mode: each step up is the avatar's question first, then the level.
        (_Controlled(), "avatar-asks-consent"),
        (c.Gesture(gesture="open_hands"), "rung-1"),
        (c.SetLevel(rung=3, intensity=0.0), "rung-3"),
        (c.Annotate(text="client steady at rung 3"), None),
        # Here the client withdraws (planted): the next step up is declined, the answers come
        # late; the detector proposes the moment and the therapist codes and repairs it.
        (_Until(RUPTURE_AT_S + 2.0), None),
        (c.SetLevel(rung=4, intensity=0.0), None),
        (c.AskCheckIn(instrument="suds"), None),
        (_Until(RUPTURE_AT_S + RUPTURE_FOR_S - 4.0), "rupture-withdrawal"),
        (_Repair(), "rupture-repair"),
        # Before the step up: how likely is the feared outcome up there? Re-rated after.
        (c.AskCheckIn(instrument="expectancy", purpose="before"), None),
        (c.SetLevel(rung=5, intensity=0.0), "rung-5"),
        (c.AskCheckIn(instrument="suds"), None),
        (c.AskCheckIn(instrument="expectancy", purpose="after"), None),
        (c.AskCheckIn(instrument="fms"), None),
        *event,
        (c.Stop(reason="demo: client asked to stop"), "stop-safe-place"),
        (c.Speak(line_id="repair_validate_1"), None),
        (c.Resume(), None),
        (c.SetLevel(rung=1, intensity=0.0, reason="step down after the stop"), "after-stop"),
        (_questionnaire("ssq", DEMO_SSQ_AFTER, "end"), None),
        # The closing alliance check, given in the scene: the virtual client answers it on
        # the rating panel, item by item.
        (c.Stop(reason="end of the exposure: closing questions"), None),
        (c.GiveQuestionnaire(instrument="vret_alliance_check"), "closing-questions"),
    ]
    step = duration_s / (len(plan) + 1)
    clock: tuple[float, float] | None = None  # (session s, monotonic s) of the last ack
    for command, shot in plan:
        if isinstance(command, _Until):
            if clock is not None:
                time.sleep(max(0.0, command.t_s - (clock[0] + time.monotonic() - clock[1])))
            if shot is not None:
                log.append(f"  {'':<12} {shots.save(shot)}")
            continue
        if isinstance(command, _Repair):
            _repair(client, shots, log)
            time.sleep(3.0)  # the avatar's line begins
            if shot is not None:
                log.append(f"  {'':<12} {shots.save(shot)}")
            continue
        time.sleep(step / 2)
        name = "set_level" if isinstance(command, _Controlled) else command.name
        try:
            if isinstance(command, _Controlled):
                now = clock[0] + time.monotonic() - clock[1] if clock is not None else 0.0
                stepped = _controlled_step(client, shots, log, now)
                # Held: the therapist takes the step (the controller's reasons are logged).
                ack = stepped or _request_when_answered(client, c.SetLevel(rung=1,
                                                                           intensity=0.5))
            else:
                ack = _request_when_answered(client, command)
            clock = (ack.t_applied_ns / 1e9, time.monotonic())
            log.append(f"  {name:<12} acked at frame {ack.frame}, "
                       f"t={ack.t_applied_ns / 1e9:.3f} s {ack.result.get('state')}")
        except CommandFailed as exc:
            log.append(f"  {name:<12} refused: {exc}")
            continue
        # The scene ramps toward the new level at its declared rates; a consent question
        # waits for the client's answer first.
        wait = step / 2 + (3.5 if "checkin_id" in ack.result
                           and name == "set_level" else 0.0)
        line = AVATAR_SHOTS.get(shot or "")
        if shot is not None and line is not None:
            # The avatar's moments are shown as the client saw the avatar say them (a prompt
            # may wait for the line before it to end).
            started = time.monotonic()
            log.append(f"  {'':<12} {shots.save(shot, line, wait_s=15.0)}")
            time.sleep(max(0.0, wait - (time.monotonic() - started)))
            continue
        time.sleep(wait)
        if shot is not None:
            log.append(f"  {'':<12} {shots.save(shot)}")


DEMO_PHQ9 = {"q1": 1, "q2": 1, "q3": 0, "q4": 1, "q5": 0, "q6": 0, "q7": 1, "q8": 0, "q9": 0,
             "q10": 1}
DEMO_SSQ_BEFORE = {f"s{i}": 0 for i in range(1, 17)} | {"s2": 1}
DEMO_SSQ_AFTER = DEMO_SSQ_BEFORE | {"s4": 1, "s12": 1}
DEMO_THERAPIST = {"together": 8, "rationale": 9, "safe_to_say": 7, "own_goals": 8, "tension": 1,
                  "tension_addressed": 4}
"""The therapist's view: the client's stop was a moment of tension, taken up at once."""
"""The demo's scripted questionnaire answers (the virtual client answers one-item ratings and
the closing alliance check in the scene; these forms stand for what a client fills in on paper
or on the console before and after)."""


def _questionnaire(instrument: str, answers: dict[str, int], timing: str) -> c.CommandArgs:
    return c.SubmitQuestionnaire(instrument=instrument, answers=json.dumps(answers),
                                 timing=timing)  # type: ignore[arg-type]


def _wait_for_form(data_dir: Path, session_id: str, instrument: str, timeout_s: float) -> None:
    """Wait until the client has answered the questionnaire given in the scene."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with SessionStore.in_dir(data_dir) as store:
            if any(e.body.kind == "questionnaire_response" and e.body.instrument == instrument
                   for e in store.events(session_id)):
                return
        time.sleep(0.5)


def _request_when_answered(client: CommandClient, command: c.CommandArgs) -> Ack:
    """Send ``command``; while a check-in is still open (the client has not answered yet), wait
    and try again, as a therapist would, for up to 15 s."""
    deadline = time.monotonic() + 15
    while True:
        try:
            return client.request(command)
        except CommandFailed as exc:
            if "still open" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


class _WebConsole:
    """``vret console`` on the demo session, in a thread of this process."""

    def __init__(self, info: ConnectionInfo, data_dir: Path) -> None:
        self.info = info
        self.data_dir = data_dir
        self._ready = threading.Event()
        self._url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="demo-console", daemon=True)

    def start(self) -> str:
        """Serve; returns the address to open (with its token)."""
        self._thread.start()
        self._ready.wait(30)
        return self._url or "(the web console did not start: see the log)"

    def _run(self) -> None:
        from clinician_console.app import serve_console
        from clinician_console.web import ConsoleServer, WebConfig

        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()

            def ready(server: ConsoleServer) -> None:
                self._url = server.url
                self._ready.set()

            for port in (DEMO_CONSOLE_PORT, 0):  # the usual port, or any free one
                try:
                    await serve_console([self.info], WebConfig(port=port),
                                        data_dir=self.data_dir, on_ready=ready,
                                        stop=self._stop)
                    return
                except OSError:
                    continue

        try:
            asyncio.run(main())
        finally:
            self._ready.set()

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


def _first_live_event(scenario: str) -> str | None:
    """The scenario's first live event, for the demo to trigger (None without one)."""
    from scenarios.registry import load

    events = load(scenario).spec.live_events
    return events[0].name if events else None


def run_demo(data_dir: Path, *, duration_s: float = 30.0, scenario: str = "heights",
             size: str = "640x360") -> int:
    """Run the demo; returns the exit code."""
    data_dir = Path(data_dir)
    session_id = new_session_id()
    connection_file = data_dir / "connections" / f"{session_id}.json"
    shots = _Shots(data_dir / "screenshots" / session_id)
    print(f"vret demo: starting a session server (session {session_id}, scenario {scenario}, "
          f"offscreen {size}, virtual client)", flush=True)
    server = subprocess.Popen(
        [sys.executable, "-m", "vret", "serve", "--data-dir", str(data_dir),
         "--session-id", session_id, "--connection-file", str(connection_file),
         "--scenario", scenario, "--display", "offscreen", "--size", size,
         "--virtual-client", "--mirror-width", "640", "--consent",
         f"--rupture=withdrawal@{RUPTURE_AT_S:g}+{RUPTURE_FOR_S:g}"],
    )
    try:
        info = _wait_for_connection_file(connection_file, server, timeout_s=60)
        console = _WebConsole(info, data_dir)
        print(f"web console (live while the demo runs): {console.start()}", flush=True)
        commands_log: list[str] = []
        with CommandClient(info) as client:
            script = threading.Thread(target=_script,
                                      args=(client, duration_s, commands_log, shots,
                                            _first_live_event(scenario)),
                                      daemon=True)
            script.start()
            print(f"console: following {info.pub} for {duration_s:.0f} s", flush=True)
            # Followed until the script is done (a consent question makes it wait for the
            # client's answer, so it can run past its nominal duration).
            report = monitor([info], duration_s=duration_s * 3, clients=[client],
                             interval_s=4.0, on_frame=shots.on_frame,
                             on_samples=shots.on_samples, on_event=shots.on_event,
                             until=lambda: not script.is_alive())
            script.join(timeout=10)
            _wait_for_form(data_dir, session_id, "vret_alliance_check", timeout_s=45)
            # The therapist's own end-of-session check, filled in on the console.
            client.request(c.SubmitQuestionnaire(
                instrument="vret_therapist_check", answers=json.dumps(DEMO_THERAPIST),
                timing="end", respondent="therapist"))
            # And the 3RS session ratings: own contribution small, the rupture resolved.
            client.request(c.RateRuptures(therapist_contribution=2, resolution=4,
                                          note="I moved up too soon after rung 3"))
            print("\ntherapist commands:")
            print("\n".join(commands_log))
            print("\nlive figures over the whole run:")
            for name, figures in sorted(report.streams.items()):
                print(f"  {name:<12} {figures.samples / report.seconds:8.1f} samples/s  "
                      f"p50 {figures.percentile(50):.2f} ms  p99 {figures.percentile(99):.2f} ms")
            if report.clock_rtt_ms is not None:
                # The offset itself is between two monotonic clocks and means nothing to read;
                # its uncertainty is what tells whether latencies can be trusted.
                print(f"  clock sync: session clock known to within "
                      f"±{report.clock_rtt_ms / 2:.3f} ms (best probe round trip "
                      f"{report.clock_rtt_ms:.3f} ms)")
            print(f"  lost messages: {report.lost}")
            client.request(c.End(reason="demo finished"))
            client.request(c.End(reason="demo finished"))
        server.wait(timeout=30)
        console.stop()
    finally:
        if server.poll() is None:
            server.terminate()
            server.wait(timeout=30)
    with SessionStore.in_dir(data_dir, create=False) as store:
        events = store.events(session_id)
        samples = {name: len(store.samples(session_id, name)[0])
                   for name in store.streams(session_id)}
        offsets = store.clock_offsets(session_id)
    print(f"\nrecorded session {session_id}: {len(events)} events, "
          f"{sum(samples.values())} samples ({', '.join(f'{k} {v}' for k, v in samples.items())}),"
          f" {len(offsets)} clock-offset estimates")
    print(f"session store: {(data_dir / 'vret.sqlite3').resolve()}")
    if shots.saved:
        print(f"what the client saw: {len(shots.saved)} screenshots in "
              f"{shots.folder.resolve()}")
    print(f"event log:     vret events --data-dir {data_dir} {session_id}")
    from review.report import write_report
    from review.session import catalogue_or_none

    report_path = write_report(data_dir, session_id,
                               data_dir / "reports" / f"{session_id}.html", catalogue_or_none())
    print(f"review report: {report_path.resolve()}")
    _replay_a_moment(data_dir, session_id, events)
    return 0 if server.returncode == 0 else 1


def _replay_a_moment(data_dir: Path, session_id: str, events: list[StoredEvent]) -> None:
    """Render one moment again from the record (the first rating panel the client saw) and say
    how to see any other, and where the console's review pages are."""
    from review.session import start_ns

    panels = [e for e in events if e.body.kind == "rating_panel" and e.body.action == "shown"]
    if panels:
        with SessionStore.in_dir(data_dir, create=False) as store:
            t0 = start_ns(store, session_id, events)  # seconds count as in the report
        at = (panels[0].t_session_ns - t0) / 1e9 + 1.0
        out = data_dir / "replays" / f"{session_id}-{at:.1f}s.png"
        done = subprocess.run(
            [sys.executable, "-m", "vret", "replay", "--data-dir", str(data_dir), session_id,
             "--at", f"{at:.2f}", "-o", str(out)], capture_output=True, text=True, timeout=300)
        if done.returncode == 0:
            print(f"replayed view: {out.resolve()} (the client's view {at:.1f} s in, "
                  "rendered again from the record)")
        else:
            print(f"replay failed: {done.stderr.strip()[-500:]}")
    print(f"replay any moment: vret replay --data-dir {data_dir} {session_id} --at SECONDS")
    print(f"review pages:      vret console --data-dir {data_dir}   (then open Review)")
