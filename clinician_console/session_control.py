"""What the console adds to each session: alerts, the difficulty controller, and the plan.

The bridge hands every event and plotted sample to :class:`SessionControl` (on its thread);
the page talks to it over the WebSocket (controller mode and rules, accepting or rejecting a
proposal, applying a client's plan) and over a small JSON API (clients, hierarchies, plans,
past sessions). Everything it decides is sent to the server to be logged (``log_decision``,
``configure``, ``set_level`` with a reason) and shown on the page.

Alerts the console raises itself (the server raises its own: a console lost, the client's stop):
SUDS above the band's ceiling, heart rate far above the client's baseline, a check-in left
unanswered, and a session whose messages stopped.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from clinician_console.bridge import Bridge, SessionView, Update
from clinician_console.controllers import (
    MODES,
    Controller,
    HeartRateSample,
    Observation,
    Proposal,
    Rules,
    SudsAnswer,
)
from clinician_console.records import (
    Client,
    HierarchyItem,
    RecordError,
    RecordsStore,
    SessionPlan,
)

log = logging.getLogger(__name__)

HR_BASELINE_S = 60.0
"""The heart-rate baseline is the mean over the session's first minute of data."""
HR_MARGIN_BPM = 30.0
"""Heart rate this far above baseline, held for :data:`HR_HOLD_S`, raises an alert."""
HR_HOLD_S = 10.0
OBSERVE_EVERY_S = 1.0
"""The controller looks at the session about once a second (and at once on a rating)."""
DEFAULT_MAX_RUNG = 9
"""Until the server has described its scenario: the server's default of ten rungs."""


@dataclass
class SessionState:
    """The console's own state for one session."""

    session: str
    controller: Controller
    plan: SessionPlan | None = None
    client_id: str | None = None
    hr_first: list[float] = field(default_factory=list)
    hr_t0: float | None = None
    hr_baseline: float | None = None
    hr_high_since: float | None = None
    hr_alerted: bool = False
    rung: int = 0
    state: str | None = None
    checkin_open: bool = False
    asked_t: float | None = None
    last_level_t: float | None = None
    t: float = 0.0
    new_suds: list[SudsAnswer] = field(default_factory=list)
    new_hr: list[HeartRateSample] = field(default_factory=list)
    next_observe: float = 0.0
    logged: int = 0
    """How many of the controller's events were sent to the session log."""
    awaiting_consent: bool = False
    """A step up the controller took (auto mode) waits for the client's consent."""


class SessionControl:
    """Alerts, controllers and plans for every followed session."""

    def __init__(self, bridge: Bridge, records: RecordsStore | None = None,
                 session_store_dir: Path | None = None) -> None:
        self.bridge = bridge
        self.records = records
        self.session_store_dir = session_store_dir
        self.sessions: dict[str, SessionState] = {
            sid: SessionState(sid, Controller(Rules(max_rung=DEFAULT_MAX_RUNG), mode="manual"))
            for sid in bridge.sessions}
        # The bridge's thread (events, samples) and the web loop (the page's messages) both
        # reach a session's state.
        self._lock = threading.RLock()
        bridge.on_event = self.on_event
        bridge.on_series = self.on_series

    def _max_rung(self, session: str) -> int:
        """The scenario's top rung (from the server's description), or the default."""
        spec = self.bridge.sessions[session].spec
        if spec and spec.get("scenario", {}).get("rungs"):
            return len(spec["scenario"]["rungs"]) - 1
        return DEFAULT_MAX_RUNG

    # ---------------------------------------------------------------- output

    def _put(self, update: Update) -> None:
        """For the pages: into the bridge's outbox, with the sessions' own updates."""
        self.bridge.outbox.put(update)

    def snapshot(self) -> list[Update]:
        """The controllers' state, for a page that just opened."""
        with self._lock:
            return [self._controller_update(s) for s in self.sessions.values()]

    def _alert(self, session: str, code: str, severity: str, message: str) -> None:
        self._put({"type": "alert", "session": session, "code": code, "severity": severity,
                   "message": message, "t_wall_ms": time.time() * 1000.0})

    def _controller_update(self, s: SessionState) -> Update:
        c = s.controller
        r = c.rules
        last = c.last_decision
        return {"type": "controller", "session": s.session, "mode": c.mode,
                "rules": {"band": list(r.suds_band), "hold_s": r.below_band_hold_s,
                          "min_interval_s": r.min_step_interval_s, "max_rung": r.max_rung,
                          "hr_excess_bpm": r.hr_excess_bpm},
                "pending": _proposal(c.pending),
                "why": last.summary if last is not None else "",
                "client_id": s.client_id,
                "plan": s.plan.model_dump(mode="json") if s.plan else None}

    # ---------------------------------------------------------------- from the bridge

    def on_event(self, view: SessionView, update: Update) -> None:
        """An event from a session (bridge thread)."""
        with self._lock:
            s = self.sessions.get(view.session_id)
            if s is not None:
                self._on_event(s, update)

    def _on_event(self, s: SessionState, update: Update) -> None:
        event = update["event"]
        kind, t = event["kind"], float(update["t"])
        s.t = max(s.t, t)
        if kind == "state_change":
            s.state = event["to_state"]
            if event["to_state"] == "exposure" and event["from_state"] == "baseline":
                s.last_level_t = t
                if s.plan is not None and s.plan.start_rung:
                    self._send(s, "set_level", {"rung": s.plan.start_rung,
                                                "reason": "the session plan's starting rung"})
        elif kind == "level_change":
            s.rung = int(event["rung"])
            s.last_level_t = t
        elif kind == "checkin_asked":
            s.checkin_open = True
            s.asked_t = t
        elif kind == "checkin_answered":
            s.checkin_open = False
            self._answered(s, event, t)
        elif kind == "alert" and event["code"] in {"client_stop", "console_lost",
                                                    "scenario_failed"}:
            self._alert(s.session, event["code"], event.get("severity", "warning"),
                        event.get("message") or event["code"])
        self._observe(s, t, force=kind in {"checkin_answered", "level_change"})

    def _answered(self, s: SessionState, event: dict[str, Any], t: float) -> None:
        instrument = event["instrument"]
        value = event.get("value")
        answered = bool(event.get("answered", True)) and value is not None
        if instrument == "consent":
            if s.awaiting_consent:
                s.awaiting_consent = False
                try:
                    s.controller.consent(answered and value == 100.0, t)
                except KeyError:  # the controller had already given up on it
                    pass
                self._flush(s)
            return
        if not answered:
            self._alert(s.session, "no_answer", "warning",
                        f"the client did not answer the {instrument} check-in")
            return
        if instrument == "suds":
            rating = float(value) if value is not None else math.nan
            s.new_suds.append(SudsAnswer(t_s=t, value=rating, asked_t_s=s.asked_t))
            high = s.controller.rules.suds_band[1]
            if rating > high:
                self._alert(s.session, "suds_above_ceiling", "warning",
                            f"SUDS {rating:g} is above the band's ceiling ({high:g})")

    def on_series(self, view: SessionView, name: str, t: float, value: float) -> None:
        """A plotted sample (bridge thread): heart-rate baseline and alert."""
        if name != "heart_rate":
            return
        with self._lock:
            s = self.sessions.get(view.session_id)
            if s is not None:
                self._heart_rate(s, t, value)
                self._observe(s, t)

    def _heart_rate(self, s: SessionState, t: float, value: float) -> None:
        s.t = max(s.t, t)
        s.new_hr.append(HeartRateSample(t_s=t, bpm=value))
        if s.hr_baseline is None:
            if s.hr_t0 is None:
                s.hr_t0 = t
            s.hr_first.append(value)
            if t - s.hr_t0 >= HR_BASELINE_S:
                s.hr_baseline = sum(s.hr_first) / len(s.hr_first)
            return
        if value > s.hr_baseline + HR_MARGIN_BPM:
            if s.hr_high_since is None:
                s.hr_high_since = t
            if t - s.hr_high_since >= HR_HOLD_S and not s.hr_alerted:
                s.hr_alerted = True
                self._alert(s.session, "heart_rate_high", "warning",
                            f"heart rate {value:.0f} bpm, {value - s.hr_baseline:.0f} above "
                            f"the baseline ({s.hr_baseline:.0f}) for {HR_HOLD_S:.0f} s")
        else:
            s.hr_high_since = None
            s.hr_alerted = False

    def connection(self, session: str, connected: bool) -> None:
        """The bridge saw a session's messages stop or resume."""
        if not connected:
            self._alert(session, "connection_lost", "critical",
                        "no messages from the session for 3 s: is the server running?")

    # ---------------------------------------------------------------- the controller

    def _observe(self, s: SessionState, t: float, force: bool = False) -> None:
        """Feed the controller what is new (about once a second, and at once on a rating or
        a level change); a new proposal is shown and logged, and in auto mode carried out."""
        if s.state not in {"exposure", "check_in"}:
            s.new_hr.clear()  # the rules are about the exposure
            return
        if t < s.next_observe and not force:
            return
        s.next_observe = t + OBSERVE_EVERY_S
        if s.hr_baseline is not None and s.controller.rules.hr_baseline_bpm is None:
            # The client's resting heart rate is the session's first minute (the baseline
            # phase), not the first minute of exposure the controller would otherwise use.
            s.controller.rules = replace(s.controller.rules, hr_baseline_bpm=s.hr_baseline)
        obs = Observation(t_s=t, rung=s.rung, suds=tuple(s.new_suds),
                          heart_rate=tuple(s.new_hr), checkin_open=s.checkin_open,
                          last_level_change_t_s=s.last_level_t)
        s.new_suds.clear()
        s.new_hr.clear()
        before = s.controller.pending
        proposal = s.controller.observe(obs)
        if proposal is not None and proposal.id is not None and s.controller.mode == "auto":
            self._carry_out(s, proposal, auto=True)
        self._flush(s)
        if proposal is not None or s.controller.pending is not before:
            self._put(self._controller_update(s))

    def _carry_out(self, s: SessionState, proposal: Proposal, auto: bool) -> None:
        """Send what a proposal asks for (accepted by the therapist, or taken in auto mode)."""
        if proposal.action == "ask_checkin":
            self._send(s, "ask_checkin", {"instrument": "suds"})
        elif proposal.action in {"step_up", "step_down"}:
            args: dict[str, Any] = {"rung": proposal.to_rung,
                                    "reason": f"controller ({proposal.id}): {proposal.summary}"}
            if auto and proposal.action == "step_up":
                # The client's consent first: the server asks it through the avatar.
                args["ask_consent"] = True
                s.awaiting_consent = True
            self._send(s, "set_level", args)

    def _flush(self, s: SessionState) -> None:
        """Send the controller's new events to the session log, with their reasons."""
        for event in s.controller.events[s.logged:]:
            self._send(s, "log_decision", {
                "decision": event.kind, "action": event.action,
                "proposal_id": event.proposal_id, "from_rung": event.from_rung,
                "to_rung": event.to_rung, "mode": event.mode,
                "summary": event.summary[:4000],
                "reasons": json.dumps(event.reasons)[:4000],
                "actor": "therapist" if event.kind in {"accepted", "rejected",
                                                       "mode_changed"} else "controller"})
        s.logged = len(s.controller.events)

    def _send(self, s: SessionState, name: str, args: dict[str, Any]) -> None:
        args = {k: v for k, v in args.items() if v is not None}

        def done(result: Update) -> None:
            self._put({"type": "result", "id": None, "session": s.session, "name": name,
                       "by": "console", **result})

        self.bridge.command(s.session, name, args, done)

    # ---------------------------------------------------------------- from the page

    def handle(self, request: dict[str, Any]) -> list[Update]:
        """A page's message other than a command; returns replies for that page."""
        with self._lock:
            s = self.sessions.get(str(request.get("session", "")))
            if s is None:
                return [{"type": "error", "error": f"no session {request.get('session')!r}"}]
            try:
                return self._handle(s, request)
            except (ValueError, ValidationError, KeyError, TypeError) as exc:
                return [{"type": "error", "session": s.session, "error": str(exc)}]

    def _handle(self, s: SessionState, request: dict[str, Any]) -> list[Update]:
        kind = request.get("type")
        if kind == "controller":
            rules = request.get("rules")
            if rules is not None:
                band = rules.get("band", s.controller.rules.suds_band)
                top = self._max_rung(s.session)
                s.controller.rules = replace(
                    s.controller.rules, suds_band=(float(band[0]), float(band[1])),
                    below_band_hold_s=float(rules.get("hold_s",
                                                      s.controller.rules.below_band_hold_s)),
                    min_step_interval_s=float(rules.get(
                        "min_interval_s", s.controller.rules.min_step_interval_s)),
                    max_rung=min(int(rules.get("max_rung", top)), top),
                    hr_excess_bpm=(None if rules.get("hr_excess_bpm") is None
                                   else float(rules["hr_excess_bpm"])))
            if request.get("mode") is not None:
                mode = str(request["mode"])
                if mode not in MODES:
                    raise ValueError(f"unknown controller mode {mode!r}")
                s.controller.set_mode(mode, s.t)
            self._flush(s)
            self._put(self._controller_update(s))
            return []
        if kind == "decide":
            proposal = s.controller.pending
            if proposal is None or proposal.id != request.get("proposal"):
                return [{"type": "error", "session": s.session,
                         "error": "that proposal is no longer pending"}]
            assert proposal.id is not None
            if request.get("accept"):
                s.controller.accept(proposal.id, s.t)
                self._carry_out(s, proposal, auto=False)
            else:
                s.controller.reject(proposal.id, s.t)
            self._flush(s)
            self._put(self._controller_update(s))
            return []
        if kind == "plan":
            return self._apply_plan(s, str(request.get("client_id", "")))
        return [{"type": "error", "error": f"unknown message type {kind!r}"}]

    def _apply_plan(self, s: SessionState, client_id: str) -> list[Update]:
        if self.records is None:
            return [{"type": "error", "session": s.session, "error": "no client records"}]
        try:
            plan = self.records.get_plan(client_id)
        except RecordError as exc:
            return [{"type": "error", "session": s.session, "error": str(exc)}]
        if plan is None:
            return [{"type": "error", "session": s.session,
                     "error": f"client {client_id} has no session plan"}]
        s.plan, s.client_id = plan, client_id
        top = self._max_rung(s.session)
        s.controller.rules = replace(
            s.controller.rules, suds_band=(float(plan.band[0]), float(plan.band[1])),
            max_rung=min(plan.max_rung if plan.max_rung is not None else top, top))
        s.controller.set_mode(plan.controller, s.t)
        self._flush(s)
        args: dict[str, Any] = {"client_id": client_id, "scenario": plan.scenario,
                                "consent": plan.consent,
                                "band_low": float(plan.band[0]),
                                "band_high": float(plan.band[1]),
                                "controller": plan.controller,
                                "start_rung": plan.start_rung,
                                "trial_criterion": plan.trial_criterion,
                                "trial_min_s": float(plan.trial_min_s)}
        if plan.checkin_every_s is not None:
            args["checkin_every_s"] = float(plan.checkin_every_s)
        if plan.max_rung is not None:
            args["max_rung"] = plan.max_rung
        self._send(s, "configure", args)
        self._put(self._controller_update(s))
        return []

    # ---------------------------------------------------------------- records API

    def add_routes(self, app: web.Application) -> None:
        """The JSON API for clients, hierarchies, plans and past sessions."""
        app.router.add_get("/api/clients", self._clients)
        app.router.add_post("/api/clients", self._add_client)
        app.router.add_get("/api/clients/{client_id}", self._client)
        app.router.add_put("/api/clients/{client_id}/hierarchy", self._hierarchy)
        app.router.add_put("/api/clients/{client_id}/plan", self._plan)

    def _need_records(self) -> RecordsStore:
        if self.records is None:
            raise web.HTTPNotFound(text="this console keeps no client records")
        return self.records

    async def _clients(self, request: web.Request) -> web.StreamResponse:
        records = self._need_records()
        return web.json_response([c.model_dump(mode="json") for c in records.list_clients()])

    async def _add_client(self, request: web.Request) -> web.StreamResponse:
        records = self._need_records()
        body = await _json(request)
        try:
            client = records.add_client(Client(goal=body.get("goal") or None))
        except (ValueError, ValidationError, RecordError) as exc:
            raise web.HTTPBadRequest(text=str(exc)) from exc
        return web.json_response(client.model_dump(mode="json"))

    async def _client(self, request: web.Request) -> web.StreamResponse:
        records = self._need_records()
        client_id = request.match_info["client_id"]
        try:
            client = records.get_client(client_id)
            plan = records.get_plan(client_id)
            sessions = (records.past_sessions(client_id, self.session_store_dir)
                        if self.session_store_dir is not None else [])
        except RecordError as exc:
            raise web.HTTPNotFound(text=str(exc)) from exc
        return web.json_response({
            "client": client.model_dump(mode="json"),
            "hierarchy": [i.model_dump(mode="json") for i in records.list_hierarchy(client_id)],
            "plan": plan.model_dump(mode="json") if plan else None,
            "sessions": [_jsonable(x) for x in sessions]})

    async def _hierarchy(self, request: web.Request) -> web.StreamResponse:
        records = self._need_records()
        body = await _json(request)
        try:
            items = records.set_hierarchy(
                request.match_info["client_id"],
                [HierarchyItem.model_validate(item) for item in body.get("items", [])])
        except (ValueError, ValidationError, KeyError, RecordError) as exc:
            raise web.HTTPBadRequest(text=str(exc)) from exc
        return web.json_response([i.model_dump(mode="json") for i in items])

    async def _plan(self, request: web.Request) -> web.StreamResponse:
        records = self._need_records()
        body = await _json(request)
        try:
            saved = records.save_plan(request.match_info["client_id"],
                                      SessionPlan.model_validate(body))
        except (ValueError, ValidationError, KeyError, RecordError) as exc:
            raise web.HTTPBadRequest(text=str(exc)) from exc
        return web.json_response(saved.plan.model_dump(mode="json"))


def _proposal(p: Proposal | None) -> Update | None:
    if p is None:
        return None
    return {"id": p.id, "action": p.action, "from_rung": p.from_rung, "to_rung": p.to_rung,
            "summary": p.summary, "reasons": p.reasons, "t": p.t_s}


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as exc:
        raise web.HTTPBadRequest(text="the body must be JSON") from exc
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="the body must be a JSON object")
    return body


def _jsonable(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if hasattr(value, "__dataclass_fields__"):
        from dataclasses import asdict

        return {k: (v.isoformat() if hasattr(v, "isoformat") else v)
                for k, v in asdict(value).items()}
    return value
