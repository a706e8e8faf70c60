"""The session state machine: the single authority over what the client experiences.

Pure logic, no sockets and no engine: :meth:`SessionMachine.apply` takes a command's arguments
and returns the events it causes, or raises :class:`~telemetry.errors.CommandRejected` naming the
state and the command. The host appends the events to the log in order.

States (``docs/telemetry-protocol.md`` and the design's lifecycle)::

    ready -> baseline -> exposure -> check_in (ask_checkin) -> exposure (the client answers)
    baseline/exposure/check_in -> paused -> (resume) where it was
    any but ended -> safe_hold (stop, safe place, console lost) -> (resume) where it was
    any but ended -> closing -> ended

``resume`` returns to the state the session was in before it paused or stopped (``check_in``
returns to ``exposure``): a stop before the exposure began never skips the baseline, and a stop
while closing never reopens the session.

Safety rules kept here, whoever sends the command:

* ``stop`` and ``safe_place`` are accepted in every state but ``ended`` and move to
  ``safe_hold`` with the stimulus removed.
* No escalation outside ``exposure``/``check_in``: in ``paused`` and ``safe_hold`` a level may
  only go down.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from instruments.catalogue import Catalogue
from instruments.definition import Instrument, ResponseScale
from instruments.packs import TextPack
from instruments.scoring import AnswerError, Result, score
from telemetry import commands as c
from telemetry.errors import CommandRejected
from telemetry.schemas import (
    Alert,
    Annotation,
    AvatarGesture,
    CandidateDismissed,
    CheckInAnswered,
    CheckInAsked,
    ControllerDecision,
    LevelChange,
    QuestionnaireStarted,
    RepairMarked,
    RiskAcknowledged,
    RuptureCandidate,
    RuptureMarked,
    RuptureRating,
    ScenarioEvent,
    SessionPlan,
    SessionState,
    StateChange,
)
from vr_server.questionnaires import Form, resolve, response_events, score_or_reject

ACTIVE: frozenset[SessionState] = frozenset({"baseline", "exposure", "check_in"})
LIVE_OR_PAUSED: frozenset[SessionState] = frozenset({"exposure", "check_in", "paused"})
"""States in which the exposure scene is before the client."""
YES = 100.0
"""The only answer that means yes to a consent question (no is 0): a rating is never consent."""
CONSENT_SCALE = ResponseScale(low=0, high=100, step=100)
"""A consent question is answered 0 (no) or 100 (yes)."""


@dataclass
class Level:
    """Where the exposure is: rung of the hierarchy and intensity within it."""

    rung: int = 0
    intensity: float = 0.0

    def __le__(self, other: Level) -> bool:
        return (self.rung, self.intensity) <= (other.rung, other.intensity)


class SessionMachine:
    """The lifecycle state, the exposure level and the rules for changing them."""

    def __init__(self, rungs: int = 10, live_events: Mapping[str, bool] | None = None,
                 safe_events: Sequence[str] = (), lines: Mapping[str, str] | None = None,
                 gestures: Sequence[str] = (), consent: bool = False,
                 avatar: bool = True, scenario: str | None = None,
                 checkin_every_s: float | None = None,
                 instruments: Catalogue | None = None) -> None:
        self.state: SessionState = "ready"
        self.level = Level()
        self.rungs = rungs
        self.live_events: dict[str, bool] = dict(live_events or {})
        """The scenario's live events and whether each escalates."""
        self.safe_events: frozenset[str] = frozenset(safe_events) - set(self.live_events)
        """The safe place's live events (a breathing guide): played while it is shown."""
        self.stimulus_visible = False
        self.open_checkin: CheckInAsked | None = None
        """The check-in waiting for the client's answer, if any."""
        self.last_answer: CheckInAnswered | None = None
        """The last check-in answered (or recorded as not answered)."""
        self.triggered: list[tuple[str, str]] = []
        """``(scene, event)`` applied but not yet played, scene ``"exposure"`` or ``"safe"``
        (the frame pipeline drains it)."""
        self.lines: dict[str, str] = dict(lines or {})
        """The avatar's line book: id -> text (empty: any line id is taken as a label)."""
        self.gestures: frozenset[str] = frozenset(gestures)
        self.avatar = avatar
        """Whether an avatar is in the scene to ``speak`` and ``gesture`` (not without one)."""
        self.scenario = scenario
        """The scenario this session runs (a plan for another is refused)."""
        self.checkin_every_s = checkin_every_s
        """The session's scheduled check-ins (None: only those asked for); a plan sets it."""
        self.max_rung: int | None = None
        """The plan's hard maximum rung: no level above it is applied."""
        self.instruments = instruments
        """The questionnaires this site can give (loaded when first needed if None)."""
        self.open_form: Form | None = None
        """The questionnaire being answered in the scene, if any."""
        self.unacknowledged: dict[str, list[str]] = {}
        """Response id -> risk flags not yet acknowledged: no exposure starts while any is."""
        self.spoken: list[tuple[str, str | None]] = []
        """``(text, line_id)`` the avatar is to say (the frame pipeline drains it)."""
        self.consent = consent
        """Collaborative mode: a step up waits for the client's yes."""
        self.pending_level: tuple[c.SetLevel, str, Level] | None = None
        """A step up waiting for the client's consent: the command, its check-in id, and the
        level when it was asked (a yes applies only if the level is still that)."""
        self.gestured: list[str] = []
        """Gestures the avatar is to make (the frame pipeline drains it)."""
        self.blocked: str | None = None
        """Why the exposure can no longer be shown (its scenario failed), if it cannot."""
        self.recentre_requests: list[str | None] = []
        """Recentres asked for and not yet applied (``posture`` or None: keep it)."""
        self.headset_away: str | None = None
        """Why the client is not in the headset's scene now (``--display openxr``): the
        exposure cannot start or resume until it is back."""
        self._resume_to: SessionState = "exposure"
        self._checkins = 0
        self._ruptures = 0
        self.ruptures: list[str] = []
        """Ruptures marked so far (repairs refer to them)."""
        self.candidates: dict[str, RuptureCandidate] = {}
        """The detector's candidates still waiting for the therapist (the host adds them)."""
        self.settled_candidates: set[str] = set()
        """Candidates the therapist confirmed or dismissed (later updates are not logged)."""
        self._responses = 0
        self._forms = 0

    def _move(self, to: SessionState, reason: str, actor: str = "therapist") -> StateChange:
        event = StateChange(from_state=self.state, to_state=to, reason=reason,
                            actor=actor)  # type: ignore[arg-type]
        if to in {"paused", "safe_hold"} and self.state not in {"paused", "safe_hold"}:
            self._resume_to = "exposure" if self.state == "check_in" else self.state
        self.state = to
        self.stimulus_visible = to in {"exposure", "check_in"}
        return event

    def _refuse(self, command: str, why: str = "") -> CommandRejected:
        return CommandRejected("not_allowed", f"{command!r} is not allowed in state "
                                              f"{self.state!r}{': ' + why if why else ''}")

    def apply(self, args: c.CommandArgs, actor: str = "therapist") -> list[object]:
        """Apply a command; returns the events it causes (possibly none).

        ``actor`` is who asked: ``therapist`` for console commands, ``client`` for the client's
        own stop in VR. A consent question still open when the exposure stops, pauses or ends
        is withdrawn: a yes given later never raises the level.
        """
        events = self._apply(args, actor)
        if self.state not in {"exposure", "check_in"}:
            events += self._withdraw_consent(f"the session moved to {self.state}")
        if self.state in {"exposure", "check_in", "ended"} and self.open_form is not None:
            events += self.abandon_form(f"the session moved to {self.state}")
        return events

    def _apply(self, args: c.CommandArgs, actor: str = "therapist") -> list[object]:
        state = self.state
        if state == "ended" and not isinstance(args, c.ClockOffset | c.Annotate):
            raise self._refuse(args.name, "the session has ended")
        match args:
            case c.Stop() | c.SafePlace():
                if state == "safe_hold":
                    return []  # already safe: stop is idempotent, never an error
                return [self._move("safe_hold", args.reason or args.name, actor)]
            case c.Pause():
                if state not in ACTIVE:
                    raise self._refuse("pause")
                return [self._move("paused", args.reason)]
            case c.Start():
                if state == "ready":
                    return [self._move("baseline", "session started")]
                if state == "baseline" and self.blocked is not None:
                    raise self._refuse("start", f"the scenario failed: {self.blocked}")
                if state == "baseline" and self.headset_away is not None:
                    raise self._refuse("start", f"the headset is not in use: "
                                       f"{self.headset_away}")
                if state == "baseline":
                    self._check_risks("start")
                    return [self._move("exposure", "exposure started")]
                raise self._refuse("start")
            case c.Resume():
                if state not in {"paused", "safe_hold"}:
                    raise self._refuse("resume")
                if self.blocked is not None and self._resume_to == "exposure":
                    raise self._refuse("resume", f"the scenario failed: {self.blocked}")
                if self.headset_away is not None and self._resume_to == "exposure":
                    raise self._refuse("resume", f"the headset is not in use: "
                                       f"{self.headset_away}")
                if self._resume_to == "exposure":
                    self._check_risks("resume")
                return [self._move(self._resume_to, "resumed")]
            case c.End():
                if state == "closing":
                    return [self._move("ended", args.reason or "session ended")]
                return [self._move("closing", args.reason or "closing")]
            case c.SetLevel():
                if self.max_rung is not None and args.rung > self.max_rung:
                    raise CommandRejected("out_of_range", f"rung {args.rung} is above the "
                                          f"plan's maximum rung {self.max_rung}")
                if (self.consent or args.ask_consent) and self._is_step_up(args):
                    return self._ask_consent(args)
                # Any other level from the therapist replaces a step up still waiting.
                change = self._set_level(args)
                return [*self._withdraw_consent("the therapist set another level"), change]
            case c.AskCheckIn():
                if self.open_checkin is not None:  # one at a time: none left unanswered
                    raise self._refuse("ask_checkin",
                                       f"{self.open_checkin.checkin_id} is still open")
                if state not in {"exposure", "baseline"}:
                    raise self._refuse("ask_checkin")
                if args.instrument not in self.checkin_instruments():
                    raise CommandRejected("out_of_range", f"no check-in {args.instrument!r}; "
                                          f"check-ins: "
                                          f"{', '.join(sorted(self.checkin_instruments()))}")
                self._checkins += 1
                asked = CheckInAsked(checkin_id=f"checkin-{self._checkins}",
                                     instrument=args.instrument, prompt=args.prompt,
                                     purpose=args.purpose)
                self.open_checkin = asked
                # During exposure the client rates with the stimulus still in view; a
                # baseline rating leaves the state alone.
                moved = [self._move("check_in", "check-in asked")] if state == "exposure" else []
                return [*moved, asked]
            case c.Trigger():
                return [self._trigger(args.event)]
            case c.SubmitQuestionnaire():
                return self._questionnaire(args, actor)
            case c.GiveQuestionnaire():
                return self._give(args)
            case c.AcknowledgeRisk():
                flags = self.unacknowledged.pop(args.response_id, None)
                if flags is None:
                    open_ = ", ".join(sorted(self.unacknowledged)) or "none"
                    raise CommandRejected("out_of_range", f"response {args.response_id!r} has "
                                                          f"no unacknowledged risk flag; open: "
                                                          f"{open_}")
                return [RiskAcknowledged(response_id=args.response_id, flags=tuple(flags),
                                         note=args.note, actor=actor)]  # type: ignore[arg-type]
            case c.MarkRupture():
                return [self._mark_rupture(args)]
            case c.MarkRepair():
                if args.rupture_id not in self.ruptures:
                    raise CommandRejected("out_of_range", f"no rupture {args.rupture_id!r}; "
                                          f"marked: {', '.join(self.ruptures) or 'none'}")
                if args.line_id is not None and args.line_id not in self.lines:
                    raise CommandRejected("out_of_range", f"the avatar has no line "
                                                          f"{args.line_id!r}")
                return [RepairMarked(rupture_id=args.rupture_id, strategy=args.strategy,
                                     resolved=args.resolved, note=args.note,
                                     line_id=args.line_id)]
            case c.DismissCandidate():
                if args.candidate_id not in self.candidates:
                    raise self._no_candidate(args.candidate_id)
                self.candidates.pop(args.candidate_id)
                self.settled_candidates.add(args.candidate_id)
                return [CandidateDismissed(candidate_id=args.candidate_id, note=args.note)]
            case c.RateRuptures():
                if args.therapist_contribution is None and args.resolution is None:
                    raise CommandRejected("out_of_range", "rate_ruptures: give "
                                          "therapist_contribution and/or resolution (1-5)")
                return [RuptureRating(therapist_contribution=args.therapist_contribution,
                                      resolution=args.resolution, note=args.note)]
            case c.Annotate():
                return [Annotation(text=args.text)]
            case c.Configure():
                return [self._configure(args)]
            case c.LogDecision():
                for rung in (args.from_rung, args.to_rung):
                    if rung is not None and rung >= self.rungs:
                        raise CommandRejected("out_of_range", f"rung {rung}: the scenario "
                                              f"has rungs 0-{self.rungs - 1}")
                return [ControllerDecision(
                    decision=args.decision, action=args.action, proposal_id=args.proposal_id,
                    from_rung=args.from_rung, to_rung=args.to_rung, mode=args.mode,
                    summary=args.summary, reasons=args.reasons, actor=args.actor)]
            case c.Describe():
                return []  # answered by the host, from what it runs
            case c.Recentre():
                if not self.avatar:  # no scene, no frame loop to apply it
                    raise CommandRejected("not_allowed", "this session has no scene to "
                                                        "recentre (the server runs without one)")
                # Applied by the frame loop at the start of the next frame.
                self.recentre_requests.append(args.posture)
                posture = f" ({args.posture})" if args.posture else ""
                return [Alert(code="recentred", severity="info",
                              message=f"the client's view was recentred{posture}"
                                      + (f": {args.reason}" if args.reason else ""),
                              details={"posture": args.posture or ""})]
            case c.Speak():
                if not self.avatar:
                    raise CommandRejected("not_allowed", "this session has no avatar (the "
                                                        "server runs without a scene)")
                text = args.text
                if args.line_id is not None and self.lines:
                    if args.line_id not in self.lines:
                        raise CommandRejected("out_of_range",
                                              f"the avatar has no line {args.line_id!r}")
                    text = text or self.lines[args.line_id]
                if not text.strip():
                    raise CommandRejected("out_of_range", "the avatar has no text for "
                                                          f"line {args.line_id!r}")
                # Logged when the avatar begins to say it (it may wait for a line being said).
                self.spoken.append((text, args.line_id))
                return []
            case c.Gesture():
                if not self.avatar:
                    raise CommandRejected("not_allowed", "this session has no avatar (the "
                                                        "server runs without a scene)")
                if self.gestures and args.gesture not in self.gestures:
                    known = ", ".join(sorted(self.gestures))
                    raise CommandRejected("out_of_range", f"unknown gesture {args.gesture!r}; "
                                                          f"known: {known}")
                self.gestured.append(args.gesture)
                return [AvatarGesture(name=args.gesture)]
        raise CommandRejected("unknown_command", f"{args.name!r} is not handled by this server")

    def _mark_rupture(self, args: c.MarkRupture) -> RuptureMarked:
        """A rupture marked by hand, or a candidate confirmed (its window and, unless
        recoded, its marker)."""
        start = end = None
        if args.candidate_id is not None:
            candidate = self.candidates.pop(args.candidate_id, None)
            if candidate is None:
                raise self._no_candidate(args.candidate_id)
            self.settled_candidates.add(args.candidate_id)
            start, end = candidate.t_start_ns, candidate.t_end_ns
        self._ruptures += 1
        rupture_id = f"rupture-{self._ruptures}"
        self.ruptures.append(rupture_id)
        return RuptureMarked(rupture_id=rupture_id, marker=args.marker, subtype=args.subtype,
                             salience=args.salience, note=args.note, t_start_ns=start,
                             t_end_ns=end, candidate_id=args.candidate_id)

    def _no_candidate(self, candidate_id: str) -> CommandRejected:
        open_ = ", ".join(self.candidates) or "none"
        return CommandRejected("out_of_range", f"no open rupture candidate {candidate_id!r} "
                                               f"(open: {open_})")

    def _configure(self, args: c.Configure) -> SessionPlan:
        if self.state not in {"ready", "baseline"}:
            raise self._refuse("configure", "a plan is sent before the exposure starts")
        if args.scenario is not None and self.scenario is not None \
                and args.scenario != self.scenario:
            raise CommandRejected("out_of_range", f"the plan is for scenario "
                                  f"{args.scenario!r}; this session runs {self.scenario!r}")
        for field_name in ("start_rung", "max_rung"):
            rung = getattr(args, field_name)
            if rung is not None and rung >= self.rungs:
                raise CommandRejected("out_of_range", f"{field_name} {rung} is beyond the "
                                      f"scenario's rungs 0-{self.rungs - 1}")
        if args.consent is not None:
            self.consent = args.consent
        if args.checkin_every_s is not None:
            self.checkin_every_s = args.checkin_every_s
        self.max_rung = args.max_rung
        return SessionPlan(client_id=args.client_id, scenario=args.scenario or self.scenario,
                           consent=self.consent, checkin_every_s=self.checkin_every_s,
                           start_rung=args.start_rung, max_rung=args.max_rung,
                           band_low=args.band_low, band_high=args.band_high,
                           controller=args.controller, trial_criterion=args.trial_criterion,
                           trial_min_s=args.trial_min_s)

    def _trigger(self, name: str) -> ScenarioEvent:
        if name in self.live_events:
            if self.state not in {"exposure", "check_in"}:
                # The exposure scene's events play only while it is live.
                raise self._refuse("trigger", f"{name!r} plays during the exposure")
            self.triggered.append(("exposure", name))
            return ScenarioEvent(name=name)
        if name in self.safe_events:
            if self.scene_shown or self.state == "ended":
                raise self._refuse("trigger", f"{name!r} plays in the safe place")
            self.triggered.append(("safe", name))
            return ScenarioEvent(name=name)
        known = ", ".join(sorted(self.live_events)) or "none"
        safe = f"; the safe place's: {', '.join(sorted(self.safe_events))}" \
            if self.safe_events else ""
        raise CommandRejected("out_of_range", f"this scenario has no live event {name!r}; "
                                              f"its events: {known}{safe}")

    def catalogue(self) -> Catalogue:
        """The site's instruments (loaded on first use)."""
        if self.instruments is None:
            self.instruments = Catalogue()
        return self.instruments

    def checkin_instruments(self) -> dict[str, ResponseScale]:
        """The ratings a check-in can ask (one-item instruments given during exposure or
        around a trial, with text loaded), by id, with the scale each is answered on."""
        return {i.id: i.scales[i.items[0].scale]
                for i in self.catalogue().instruments.values()
                if len(i.items) == 1 and {"during", "trial"} & set(i.timing)
                and self.catalogue().availability(i.id).available}

    def checkin_scale(self, instrument: str) -> ResponseScale | None:
        """The scale a check-in of ``instrument`` is answered on (consent: 0 or 100)."""
        if instrument == "consent":
            return CONSENT_SCALE
        return self.checkin_instruments().get(instrument)

    def _check_risks(self, command: str) -> None:
        """Refuse to show the exposure while a risk flag waits for a clinician."""
        if self.unacknowledged:
            first = sorted(self.unacknowledged)[0]
            raise self._refuse(command, f"risk flag {', '.join(self.unacknowledged[first])} on "
                                        f"{first} is not acknowledged (acknowledge_risk, after "
                                        "assessing the client)")

    def _questionnaire(self, args: c.SubmitQuestionnaire, actor: str) -> list[object]:
        """Score a submitted questionnaire; its flags become alerts, risk flags a hold on the
        exposure until a clinician acknowledges them."""
        instrument, pack = resolve(self.catalogue(), args.instrument, args.language,
                                   args.respondent)
        try:
            answers = json.loads(args.answers)
        except json.JSONDecodeError:
            answers = None
        if not isinstance(answers, dict):
            raise CommandRejected("invalid", "answers: expected a JSON object of item id -> "
                                             "number")
        result = score_or_reject(instrument, answers)
        return self._responded(instrument, pack, answers, result, args.timing, args.respondent,
                               args.language, actor)

    def _responded(self, instrument: Instrument, pack: TextPack, answers: dict[str, Any],
                   result: Result, timing: str, respondent: str, language: str,
                   actor: str) -> list[object]:
        self._responses += 1
        response_id = f"response-{self._responses}"
        risky = [f.id for f in result.flags if f.requires_acknowledgement]
        if risky:
            self.unacknowledged[response_id] = risky
        return response_events(response_id, instrument, pack, answers, result, timing,
                               respondent, language, actor)

    def _give(self, args: c.GiveQuestionnaire) -> list[object]:
        if self.open_form is not None:
            raise self._refuse("give_questionnaire",
                               f"{self.open_form.form_id} is still being answered")
        if self.open_checkin is not None:
            raise self._refuse("give_questionnaire",
                               f"{self.open_checkin.checkin_id} is still open")
        if self.state in {"exposure", "check_in", "ended"}:
            raise self._refuse("give_questionnaire", "a questionnaire is given outside the "
                                                     "exposure")
        instrument, pack = resolve(self.catalogue(), args.instrument, args.language, "client")
        self._forms += 1
        self.open_form = Form(f"form-{self._forms}", instrument, pack, args.timing,
                              args.language)
        return [QuestionnaireStarted(form_id=self.open_form.form_id, instrument=instrument.id,
                                     version=instrument.version, timing=args.timing)]

    def answer_form(self, value: float) -> list[object]:
        """The client's answer to the open form's current item; the last one scores and logs
        the form. An answer off the item's scale is logged and the item asked again."""
        form = self.open_form
        if form is None:
            return []
        item = form.next_item()
        try:
            form.answer(value)
        except AnswerError as exc:
            return [Alert(code="questionnaire_answer_refused", severity="info",
                          message=f"{exc}: asked again",
                          details={"form_id": form.form_id,
                                   "item": item.id if item is not None else None})]
        if form.next_item() is not None:
            return []
        self.open_form = None
        result = score(form.instrument, form.answers)
        return self._responded(form.instrument, form.pack, dict(form.answers), result,
                               form.timing, "client", form.language, "client")

    def abandon_form(self, reason: str) -> list[object]:
        """End the open form unfinished: what was answered is logged (nothing is lost)."""
        form = self.open_form
        if form is None:
            return []
        self.open_form = None
        result = score(form.instrument, form.answers)
        events = self._responded(form.instrument, form.pack, dict(form.answers), result,
                                 form.timing, "client", form.language, "client")
        answered, asked = form.progress()
        events.append(Alert(code="questionnaire_abandoned", severity="info",
                            message=f"{form.instrument.name} left unfinished ({answered} of "
                                    f"{asked} answered): {reason}",
                            details={"form_id": form.form_id, "instrument": form.instrument.id}))
        return events

    @property
    def scene_shown(self) -> bool:
        """Whether the exposure scene is on screen: during exposure and check-ins, and frozen
        while an exposure is paused (a pause in baseline keeps the neutral scene)."""
        return self.state in {"exposure", "check_in"} or (
            self.state == "paused" and self._resume_to == "exposure")

    def answer_checkin(self, value: float | None, latency_ms: float | None) -> list[object]:
        """The client answered the open check-in (``value`` None: no answer in time)."""
        asked = self.open_checkin
        if asked is None or self.state == "ended":
            return []
        scale = self.checkin_scale(asked.instrument)
        if value is not None and scale is not None and not scale.accepts(value):
            # Not an answer on the scale (a faulty panel or controller): the question stays
            # open and is asked again; the log says what came.
            return [Alert(code="checkin_answer_refused", severity="info",
                          message=f"{value:g} is not an answer to {asked.instrument} "
                                  f"({scale.describe()}): asked again",
                          details={"checkin_id": asked.checkin_id, "value": value})]
        self.open_checkin = None
        self.last_answer = CheckInAnswered(
            checkin_id=asked.checkin_id, instrument=asked.instrument, value=value,
            answered=value is not None, latency_ms=latency_ms)
        events: list[object] = [self.last_answer]
        pending, self.pending_level = self.pending_level, None
        if pending is not None and pending[1] == asked.checkin_id:
            args, _, asked_at = pending
            details: dict[str, bool | int | float | str | None] = {
                "rung": args.rung, "intensity": args.intensity}
            live = self.state in {"exposure", "check_in"}
            unchanged = (self.level.rung, self.level.intensity) == (asked_at.rung,
                                                                   asked_at.intensity)
            if value == YES and live and unchanged:
                change = self._set_level(args)
                events.append(change.model_copy(update={
                    "reason": (args.reason + "; " if args.reason else "") + "the client agreed"}))
            elif value == YES:
                events.append(Alert(code="consent_withdrawn", severity="info",
                                    message="the client agreed, but the session had moved on; "
                                            "the level stays", details=details))
            else:
                events.append(Alert(code="consent_declined", severity="info",
                                    message="the client did not agree to the step up; the "
                                            "level stays", details=details))
        if self.state == "check_in":
            reason = "check-in answered" if value is not None else "check-in not answered"
            events.append(self._move("exposure", reason, actor="client"))
        return events

    def _withdraw_consent(self, why: str) -> list[object]:
        """Close a consent question still open (no answer, logged), so no later yes applies."""
        pending, self.pending_level = self.pending_level, None
        if pending is None:
            return []
        args, checkin_id, _ = pending
        events: list[object] = []
        if self.open_checkin is not None and self.open_checkin.checkin_id == checkin_id:
            events.append(CheckInAnswered(checkin_id=checkin_id, instrument="consent",
                                          value=None, answered=False))
            self.open_checkin = None
        events.append(Alert(code="consent_withdrawn", severity="info",
                            message=f"the step up was withdrawn: {why}",
                            details={"rung": args.rung, "intensity": args.intensity}))
        return events

    def _is_step_up(self, args: c.SetLevel) -> bool:
        return self.state in {"exposure", "check_in"} and args.rung < self.rungs and \
            not Level(args.rung, args.intensity) <= self.level

    def _ask_consent(self, args: c.SetLevel) -> list[object]:
        if self.open_checkin is not None:
            raise self._refuse("set_level", f"{self.open_checkin.checkin_id} is still open; "
                                            "a step up waits for the client's consent")
        self._checkins += 1
        asked = CheckInAsked(checkin_id=f"checkin-{self._checkins}", instrument="consent",
                             prompt=self.lines.get("consent_step_up", "May we step up?"))
        self.open_checkin = asked
        self.pending_level = (args, asked.checkin_id, Level(self.level.rung,
                                                             self.level.intensity))
        moved = [self._move("check_in", "consent asked")] if self.state == "exposure" else []
        return [*moved, asked]

    def _set_level(self, args: c.SetLevel) -> LevelChange:
        if args.rung >= self.rungs:
            raise CommandRejected("out_of_range", f"rung {args.rung} is out of range: this "
                                                  f"scenario has rungs 0-{self.rungs - 1}")
        target = Level(args.rung, args.intensity)
        if self.state not in {"exposure", "check_in"}:
            if self.state in {"paused", "safe_hold"} and target <= self.level:
                pass  # stepping down is always safe
            else:
                raise self._refuse("set_level", "levels go up only during exposure")
        event = LevelChange(rung=args.rung, intensity=args.intensity,
                            previous_rung=self.level.rung,
                            previous_intensity=self.level.intensity, reason=args.reason)
        self.level = target
        return event

    def hold_safe(self) -> None:
        """Remove the stimulus without an event: for when nothing can be recorded any more."""
        if self.state not in {"safe_hold", "ended"}:
            self._move("safe_hold", "session store failing", actor="server")
        self.pending_level = None

    def console_lost(self) -> list[object]:
        """No console is connected: hold the session safely until one is back."""
        events: list[object] = [Alert(code="console_lost", severity="critical",
                                      message="no console connected")]
        if self.state in ACTIVE or self.state == "paused":
            # A paused exposure is still on screen: without a therapist, the safe place.
            events.append(self._move("safe_hold", "console lost", actor="server"))
        return events + self._withdraw_consent("the console was lost")

    def headset_left(self, why: str) -> list[object]:
        """The client is no longer in the headset's scene (taken off, focus lost, runtime
        gone): a session showing the exposure goes to the safe place and waits there."""
        self.headset_away = why
        events: list[object] = []
        if self.state in LIVE_OR_PAUSED:
            events.append(self._move("safe_hold", f"headset: {why}", actor="server"))
        return events + self._withdraw_consent("the headset left the scene")

    def headset_returned(self) -> None:
        """The headset is back in focus; nothing resumes by itself (the therapist does)."""
        self.headset_away = None

    def scene_failed(self, why: str) -> list[object]:
        """The exposure scene broke: hold the session safe, and keep the exposure closed."""
        self.blocked = why
        events: list[object] = []
        if self.state not in {"safe_hold", "closing", "ended"}:
            events.append(self._move("safe_hold", f"the scenario failed: {why}", actor="server"))
        return events + self._withdraw_consent("the scenario failed")
