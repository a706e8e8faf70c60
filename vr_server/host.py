"""The session host: transport, state machine, recorder and input source, driven by one loop.

Each tick of the loop is one frame: apply waiting commands (control first), note consoles that
came or went, sample the input source, publish and record. Commands take effect at the next
frame and their ack names that frame. An event is published and its command acknowledged only
after the recorder has committed it to the store.

The host knows nothing of rendering. :meth:`SessionHost.run` drives it alone (a telemetry-only
server with :class:`telemetry.simulated.SimulatedSensors`); the Panda3D application
(:mod:`vr_server.app`) instead calls :meth:`SessionHost.step` and
:meth:`SessionHost.publish_samples` from its frame pipeline, with its own input source.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ruptures.codes import MARKERS, RESOLUTION_STRATEGIES, SALIENCE
from ruptures.detector import DETECTOR_VERSION
from telemetry.clock import SessionClock
from telemetry.commands import AskCheckIn, ClockOffset, Stop
from telemetry.connection import ConnectionInfo
from telemetry.errors import CommandRejected
from telemetry.recorder import RecordedEvent, Recorder
from telemetry.schemas import (
    NAME_RE,
    Alert,
    AvatarLineCut,
    AvatarUtterance,
    CheckInAsked,
    Event,
    HeadsetState,
    QuestionnaireResponse,
    RatingPanelShown,
    RuptureCandidate,
    SampleBatch,
    Samples,
    StateChange,
    StreamDescriptor,
)
from telemetry.security import check_bind_allowed
from telemetry.server import IncomingCommand, ServerConfig, ServerTransport
from telemetry.simulated import SimulatedSensors
from telemetry.store import ClockOffsetRecord, SessionStore
from vr_server.questionnaires import form_descriptions
from vr_server.session import SessionMachine

log = logging.getLogger(__name__)


def new_session_id() -> str:
    """A session id that sorts by time and does not collide: ``s-20261125-221530-a1b2c3``."""
    return time.strftime("s-%Y%m%d-%H%M%S-", time.gmtime()) + secrets.token_hex(3)


def new_client_id() -> str:
    """A pseudonymous client id (never a name: session records are health data)."""
    return "c-" + secrets.token_hex(4)


class InputSource(Protocol):
    """Where the client's samples come from: simulated sensors, the virtual client, a headset."""

    @property
    def streams(self) -> tuple[StreamDescriptor, ...]:
        """The streams this source produces."""
        ...

    def advance(self, t_now_ns: int) -> list[SampleBatch]:
        """Batches of every sample due up to ``t_now_ns`` (session clock)."""
        ...

    def set_exposure(self, exposure: float) -> None:
        """The normalised exposure level now shown (0 when the stimulus is hidden)."""
        ...


@dataclass(frozen=True)
class HostConfig:
    """Everything a session host needs; every default is defined here, once."""

    data_dir: Path = Path("vret-data")
    host: str = "127.0.0.1"
    curve: bool = False
    session_id: str | None = None
    client_id: str | None = None
    scenario: str = "simulated"
    rungs: int = 10
    frame_rate: float = 90.0
    batch_interval_s: float = 0.02
    """Samples travel in batches per stream at this interval (10-20 ms keeps latency low
    without a message per sample)."""
    descriptor_interval_s: float = 2.0
    connection_file: Path | None = None
    seed: int = 0
    ipc_dir: Path | None = None
    console_timeout_s: float = 3.0
    """Silence from every console for this long puts an active session on safe hold."""
    live_events: tuple[tuple[str, bool], ...] = ()
    """The scenario's live events: ``(name, escalates)``."""
    safe_events: tuple[str, ...] = ()
    """The safe place's live events (played while it is shown)."""
    avatar_lines: tuple[tuple[str, str], ...] = ()
    """The avatar's line book as ``(id, text)``: ``speak`` by id is checked against it."""
    gestures: tuple[str, ...] = ()
    """The avatar's gestures: ``gesture`` is checked against them."""
    description: str = ""
    """JSON text merged into ``describe``'s answer (the rendered server: the scenario's
    spec with labels, parameters and events)."""
    checkin_every_s: float | None = None
    """Scheduled check-ins (the plan may change it)."""
    avatar: bool = False
    """An avatar is in the scene (the rendered server): without one, ``speak`` and
    ``gesture`` are refused rather than logged as said."""
    consent: bool = False
    """Collaborative mode: a step up is applied only once the client agrees."""
    checkin_timeout_s: float = 60.0
    """A check-in unanswered this long is recorded as not answered and the exposure goes on."""
    settings: tuple[tuple[str, Any], ...] = ()
    """Extra settings recorded with the session (display, scenario seed, ...)."""


class SessionHost:
    """One live session: open with :meth:`start`, drive with :meth:`run`, end with :meth:`close`."""

    def __init__(self, config: HostConfig, source: InputSource | None = None) -> None:
        self.config = config
        self.session_id = config.session_id or new_session_id()
        self.client_id = config.client_id or new_client_id()
        for label, value in (("session id", self.session_id), ("client id", self.client_id)):
            if not NAME_RE.fullmatch(value):
                raise ValueError(f"{label} {value!r} must be 1-64 letters, digits, '-' or '_'")
        self.clock = SessionClock()
        self.machine = SessionMachine(rungs=config.rungs, live_events=dict(config.live_events),
                                      safe_events=config.safe_events,
                                      lines=dict(config.avatar_lines), gestures=config.gestures,
                                      consent=config.consent, avatar=config.avatar,
                                      scenario=config.scenario,
                                      checkin_every_s=config.checkin_every_s)
        self.source: InputSource = source or SimulatedSensors(seed=config.seed)
        self.frame = 0
        self.stop_requested = threading.Event()
        self.headset_now: str | None = None
        """The headset's OpenXR session state (None: no headset)."""
        self.event_listeners: list[Callable[[int, Any], None]] = []
        """Called with ``(t_session_ns, body)`` for every event recorded (the rupture
        detector listens), on the thread that records it."""
        self.store_path = Path(config.data_dir) / "vret.sqlite3"
        self.connection_file: Path | None = None
        self.transport: ServerTransport | None = None
        self.recorder: Recorder | None = None
        self.store_error: Exception | None = None
        """Set when the store fails to record: nothing more can be kept, so the session is
        held safe and every command but stop, safe place and clock offsets is refused."""
        self._checkin_asked_at: float | None = None

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> ConnectionInfo:
        """Create the session record, bind the sockets and write the connection file.

        An insecure bind is refused before anything is recorded; any later failure ends the
        session record (reason: the server failed to start) rather than leaving it open.
        """
        cfg = self.config
        if cfg.host != "ipc":
            check_bind_allowed(cfg.host, cfg.curve)
        with SessionStore(self.store_path) as store:
            store.create_session(self.session_id, client_id=self.client_id,
                                 scenario=cfg.scenario,
                                 settings={"rungs": cfg.rungs, "frame_rate": cfg.frame_rate,
                                           "seed": cfg.seed, **dict(cfg.settings)})
        try:
            self.recorder = Recorder(self.store_path, self.session_id, self.clock)
            for descriptor in self.source.streams:
                self.recorder.add_stream(descriptor)
            self.transport = ServerTransport(
                ServerConfig(session_id=self.session_id, host=cfg.host, curve=cfg.curve,
                             data_dir=Path(cfg.data_dir), ipc_dir=cfg.ipc_dir,
                             console_timeout_s=cfg.console_timeout_s),
                self.clock, state=self.machine.state)
            info = self.transport.start()
            connection_file = cfg.connection_file or (
                Path(cfg.data_dir) / "connections" / f"{self.session_id}.json")
            info.write(connection_file)
            self.connection_file = connection_file
            self._publish_descriptors()
        except BaseException:
            self.close(reason="the server failed to start")
            raise
        log.info("session %s (client %s) started; connection file %s", self.session_id,
                 self.client_id, self.connection_file)
        return info

    def run(self, duration_s: float | None = None) -> None:
        """Run frames until the session ends, ``stop_requested`` is set, or ``duration_s``."""
        period = 1.0 / self.config.frame_rate
        started = time.monotonic()
        next_frame = started
        next_batch = started
        next_descriptors = started + self.config.descriptor_interval_s
        while not self.stop_requested.is_set() and self.machine.state != "ended":
            now = time.monotonic()
            if duration_s is not None and now - started >= duration_s:
                break
            self.step()
            if now >= next_batch:
                # On a schedule, not "now + interval": checked once a frame, the latter would
                # stretch every interval to the next frame boundary (22 ms at 90 Hz).
                next_batch += self.config.batch_interval_s
                if next_batch < now:
                    next_batch = now + self.config.batch_interval_s
                self.publish_samples()
            if now >= next_descriptors:
                next_descriptors = now + self.config.descriptor_interval_s
                self._publish_descriptors()
            next_frame += period
            delay = next_frame - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                next_frame = time.monotonic()  # behind: do not try to catch up in a burst

    def step(self) -> None:
        """One frame of session logic (commands, console changes)."""
        transport = self._transport()
        self.frame += 1
        if self.store_error is not None and self.machine.state not in {"safe_hold", "ended"}:
            log.critical("session store failing (%s): holding the session safe",
                         self.store_error)
            self.machine.hold_safe()
            self._state_changed()
        for _ in range(256):  # bounded: a flood cannot starve the frame
            command = transport.next_command(timeout=0)
            if command is None:
                break
            self._apply(command)
        while transport.console_changes:
            change, peer, alive = transport.console_changes.popleft()
            self._console_change(change, peer, alive)
        if self._checkin_asked_at is not None and self.machine.open_checkin is None:
            self._checkin_asked_at = None  # closed by the session (a consent question withdrawn)
        if (self._checkin_asked_at is not None
                and time.monotonic() - self._checkin_asked_at > self.config.checkin_timeout_s):
            self.answer_checkin(None)

    # ---------------------------------------------------------------- the client's own actions

    def client_too_much(self) -> None:
        """The client signals "too much" (a key, a controller button) without stopping: the
        therapist is alerted at once and the rupture detector takes it as confrontation
        evidence; what happens next is the therapist's call (the stop stays the client's)."""
        if self.store_error is None and self.machine.state != "ended":
            self._record(Alert(code="client_too_much", severity="warning",
                               message="the client signalled: too much"))

    def client_stop(self, reason: str = "the client pressed stop") -> None:
        """The client's stop (a key, a controller chord, or the virtual client's panic)."""
        if self.machine.state in {"ended", "safe_hold"}:
            return  # already safe (or over): a second press changes nothing
        if self.store_error is None:
            for event in self.machine.apply(Stop(reason=reason), actor="client"):
                self._record(event)
        else:
            self.machine.hold_safe()
        self._state_changed()
        if self.store_error is None:
            self._record(Alert(code="client_stop", severity="critical",
                               message="the client pressed stop"))

    def headset_state(self, change: HeadsetState) -> None:
        """Log the headset's new OpenXR session state (``--display openxr``)."""
        self.headset_now = change.state
        if self.store_error is None:
            self._record(change)

    def headset_left(self, why: str) -> None:
        """The client left the headset's scene: hold the exposure safe until it is back."""
        if self.machine.headset_away is not None:
            self.machine.headset_away = why  # already held: only the reason changes
            return
        if self.store_error is None:
            for event in self.machine.headset_left(why):
                self._record(event)
            self._record(Alert(code="headset_away", severity="critical",
                               message=f"the client is out of the headset's scene: {why}"))
        else:
            self.machine.headset_away = why
            self.machine.hold_safe()
        self._state_changed()

    def headset_returned(self) -> None:
        """The headset is back in focus. Nothing resumes by itself: the therapist decides."""
        if self.machine.headset_away is None:
            return
        self.machine.headset_returned()
        if self.store_error is None:
            self._record(Alert(code="headset_back", severity="info",
                               message="the headset is back in focus; the exposure resumes "
                                       "only when the therapist resumes it"))
        self._state_changed()

    def answer_checkin(self, value: float | None, latency_ms: float | None = None) -> None:
        """The client's answer to the open check-in (``None``: not answered in time)."""
        if self._checkin_asked_at is not None and latency_ms is None and value is not None:
            latency_ms = (time.monotonic() - self._checkin_asked_at) * 1000
        if self.store_error is not None:
            return
        for event in self.machine.answer_checkin(value, latency_ms):
            self._record(event)
        if self.machine.open_checkin is None:  # answered (an answer off the scale asks again)
            self._checkin_asked_at = None
        self._state_changed()

    def answer_form(self, value: float) -> None:
        """The client's answer to the open questionnaire's current item."""
        if self.store_error is not None:
            return
        for event in self.machine.answer_form(value):
            self._record(event)

    def abandon_form(self, reason: str) -> None:
        """Leave the open questionnaire unfinished (what was answered is logged)."""
        if self.store_error is not None:
            return
        for event in self.machine.abandon_form(reason):
            self._record(event)

    def describe(self) -> str:
        """What this server runs, as the JSON text of ``describe``'s ack."""
        machine = self.machine
        description: dict[str, Any] = {
            "session": self.session_id, "client_id": self.client_id,
            "scenario": {"name": machine.scenario,
                         "rungs": [{"label": f"rung {i}"} for i in range(machine.rungs)],
                         "live_events": [{"name": n, "escalates": e}
                                         for n, e in machine.live_events.items()]},
            "avatar": {"present": machine.avatar, "gestures": sorted(machine.gestures),
                       "lines": [{"id": k, "text": v} for k, v in machine.lines.items()]},
            "settings": {"consent": machine.consent, "checkin_every_s": machine.checkin_every_s},
        }
        description["ruptures"] = {"markers": MARKERS, "strategies": RESOLUTION_STRATEGIES,
                                   "salience": {str(k): v for k, v in SALIENCE.items()},
                                   "detector": {"version": DETECTOR_VERSION}}
        try:
            description["questionnaires"] = form_descriptions(machine.catalogue())
        except ValueError as exc:  # a broken definition: the session runs, the forms wait
            log.error("questionnaires cannot be described: %s", exc)
            description["questionnaires"] = []
        if self.headset_now is not None:  # a console joining late learns the headset's state
            description["headset"] = {"state": self.headset_now}
        description.update(json.loads(self.config.description or "{}"))
        return json.dumps(description)

    def avatar_said(self, text: str, line_id: str | None, actor: str = "server") -> None:
        """Record a line the avatar begins to say (the therapist's, a check-in prompt, the
        grounding line after a stop)."""
        if self.store_error is None and self.machine.state != "ended":
            self._record(AvatarUtterance(text=text, line_id=line_id,
                                         actor=actor))  # type: ignore[arg-type]

    def panel_changed(self, change: RatingPanelShown) -> None:
        """Record what the rating panel shows the client (a question, or the chosen answer)."""
        if self.store_error is None and self.machine.state != "ended":
            self._record(change)

    def avatar_cut(self, text: str, line_id: str | None, outcome: str,
                   said_s: float | None, actor: str = "server") -> None:
        """Record a line the avatar did not finish: interrupted or dropped unsaid."""
        if self.store_error is None and self.machine.state != "ended":
            self._record(AvatarLineCut.model_validate(
                {"text": text, "line_id": line_id, "outcome": outcome, "said_s": said_s,
                 "actor": actor}))

    def ask_checkin(self, instrument: str, actor: str = "script") -> None:
        """A check-in the session schedules itself (coach mode)."""
        try:
            events = self.machine.apply(AskCheckIn(instrument=instrument))
        except CommandRejected:
            return  # not now (one is open, or the state does not allow it)
        if events and self.store_error is None:
            for event in events:
                if isinstance(event, StateChange | CheckInAsked):
                    event = event.model_copy(update={"actor": actor})
                self._record(event)
            self._checkin_asked_at = time.monotonic()
            self._state_changed()

    def alert(self, code: str, severity: str, message: str, **details: Any) -> None:
        """Record and publish an alert for the therapist."""
        if self.store_error is None:
            self._record(Alert(code=code, severity=severity,  # type: ignore[arg-type]
                               message=message, details=details))

    def scenario_failed(self, scene: str, error: BaseException) -> None:
        """A scene's code raised: record why, hold the session safe, keep serving."""
        why = f"{scene}: {type(error).__name__}: {error}"[:900]
        log.error("the %s scene failed; holding the session safe: %s", scene, why)
        if self.store_error is None:
            self._record(Alert(code="scenario_failed", severity="critical",
                               message=f"the {scene} scene failed and was removed",
                               details={"error": why}))
        events = self.machine.scene_failed(why) if scene == "exposure" else []
        if not events and scene == "exposure":
            self.machine.blocked = why
        for event in events:
            if self.store_error is None:
                self._record(event)
        self._state_changed()

    def _state_changed(self) -> None:
        self._transport().state = self.machine.state
        self.source.set_exposure(self.exposure_intensity())

    def close(self, reason: str = "server shut down") -> None:
        """End the session record cleanly (events flushed, connection file removed).

        The sockets are closed and the connection file removed even when the store fails, so
        no console keeps finding a session that is gone.
        """
        try:
            if self.recorder is not None:
                if self.machine.state != "ended":
                    self._record(StateChange(from_state=self.machine.state, to_state="ended",
                                             reason=reason, actor="server"))
                    self.machine.state = "ended"
                recorder, self.recorder = self.recorder, None
                recorder.close()
                with SessionStore(self.store_path) as store:
                    store.end_session(self.session_id)
        finally:
            if self.transport is not None:
                self.transport.close()
                self.transport = None
            if self.connection_file is not None:
                self.connection_file.unlink(missing_ok=True)

    # ---------------------------------------------------------------- internals

    def _transport(self) -> ServerTransport:
        if self.transport is None:
            raise RuntimeError("the session host is not started")
        return self.transport

    def _record(self, body: Any, command: IncomingCommand | None = None,
                ack_result: dict[str, Any] | None = None) -> RecordedEvent:
        transport, recorder = self.transport, self.recorder
        if recorder is None:
            raise RuntimeError("the session host is not started")
        frame = self.frame

        def durable(event: RecordedEvent, error: Exception | None) -> None:
            if error is not None:
                self.store_error = error  # the frame loop holds the session safe (step)
            if transport is None:  # a start that failed before the sockets were bound
                return
            if error is None:
                transport.publish("evt", Event(event=event.body, command_id=event.command_id),
                                  seq=event.seq, t_session_ns=event.t_session_ns,
                                  t_wall_ns=event.t_wall_ns)
            if command is not None:
                if error is None:
                    # Acked as applied at its frame and time, now that it is on disk.
                    transport.ack(command, frame=frame, t_applied_ns=event.t_session_ns,
                                  result={**(ack_result or {}), "seq": event.seq,
                                          "t_received_ns": command.t_received_ns})
                else:
                    transport.reject(command, "internal",
                                     f"the session store could not record it: {error}")

        event = recorder.append_event(body, command_id=command.id if command else None,
                                      on_durable=durable)
        for listener in self.event_listeners:
            try:
                listener(event.t_session_ns, body)
            except Exception:  # a listener's bug must not lose the event or stop the frame
                log.exception("an event listener failed on %s", getattr(body, "kind", body))
        return event

    def record_candidate(self, candidate: RuptureCandidate) -> None:
        """Record (and publish) a rupture candidate the detector proposes; it waits in the
        session for the therapist to confirm or dismiss it. An update of one the therapist
        has already settled is not recorded."""
        if self.store_error is not None or self.machine.state == "ended":
            return
        if candidate.candidate_id in self.machine.settled_candidates:
            return
        self.machine.candidates[candidate.candidate_id] = candidate
        self._record(candidate)

    def _apply(self, command: IncomingCommand) -> None:
        transport = self._transport()
        args = command.args
        if isinstance(args, ClockOffset):
            frame = self.frame

            def stored(error: Exception | None) -> None:
                # Acked once on disk, like an event; refused if it could not be kept.
                if error is None:
                    transport.ack(command, frame=frame)
                else:
                    transport.reject(command, "internal",
                                     f"the session store could not record it: {error}")

            if self.recorder is not None:
                self.recorder.add_clock_offset(ClockOffsetRecord(
                    command.peer.decode(errors="replace"), args.t_console_ns, args.offset_ns,
                    args.rtt_ns, args.probes), on_durable=stored)
            return
        if self.store_error is not None and args.name not in {"stop", "safe_place"}:
            transport.reject(command, "internal", (
                f"the session store is failing ({self.store_error}); the session is held "
                "safe and nothing more can be recorded"))
            return
        try:
            events = self.machine.apply(args)
        except CommandRejected as exc:
            transport.reject(command, exc.code, exc.message)
            return
        self._state_changed()
        if any(isinstance(e, CheckInAsked) for e in events):
            self._checkin_asked_at = time.monotonic()
        if not events:
            reply: dict[str, Any] = {"state": self.machine.state,
                                     "t_received_ns": command.t_received_ns}
            if args.name == "describe":
                reply["spec"] = self.describe()
            transport.ack(command, frame=self.frame, result=reply)
            return
        for event in events[:-1]:
            self._record(event)
        # The command is acknowledged with its last event, once every one is on disk; ids the
        # server made up (check-ins, ruptures) go back in the ack so the console can refer to them.
        result: dict[str, Any] = {"state": self.machine.state}
        for key in ("checkin_id", "rupture_id", "form_id"):
            if hasattr(events[-1], key):
                result[key] = getattr(events[-1], key)
        for event in events:  # a scored questionnaire: its id, scores and flags
            if isinstance(event, QuestionnaireResponse):
                result["response_id"] = event.response_id
                result["flags"] = ",".join(event.flags)
                result.update({f"score.{k}": v for k, v in event.scores.items()})
        self._record(events[-1], command, result)

    def exposure_intensity(self) -> float:
        """The normalised exposure now shown: 0 without a stimulus, 1 at the top of the
        hierarchy."""
        if not self.machine.stimulus_visible:
            return 0.0
        level = self.machine.level
        return min(1.0, (level.rung + level.intensity) / max(1, self.machine.rungs))

    def _console_change(self, change: str, peer: bytes, alive: int) -> None:
        if change == "connected":
            self._record(Alert(code="console_connected", severity="info",
                               message="a console connected",
                               details={"console": peer.decode(errors="replace")}))
        elif change == "lost" and alive > 0:
            self._record(Alert(code="console_disconnected", severity="info",
                               message="a console went silent; others are still connected",
                               details={"console": peer.decode(errors="replace")}))
        elif change == "lost":
            for event in self.machine.console_lost():
                self._record(event)
            self._state_changed()

    def publish_samples(self) -> None:
        """Publish and record every sample the source has due (one message per call)."""
        transport, recorder = self._transport(), self.recorder
        batches = self.source.advance(self.clock.now_ns())
        if not batches:
            return
        transport.publish("tel", Samples(batches=tuple(batches)))
        if recorder is not None:
            for batch in batches:
                recorder.add_samples(batch)

    def publish_descriptors(self) -> None:
        """Publish every stream's descriptor (consoles that join late learn the streams)."""
        self._publish_descriptors()

    def _publish_descriptors(self) -> None:
        transport = self._transport()
        for descriptor in self.source.streams:
            transport.publish("meta", descriptor)
