"""Difficulty controllers for the clinician console: when to climb the fear hierarchy.

A controller is a small, pure object: no I/O, no threads, no clock reads. The console feeds it
:class:`Observation` s (session-clock time, the current rung, new SUDS answers and heart-rate
samples, whether a check-in is open) and it answers with :class:`Proposal` s; every proposal,
acceptance, rejection, consent and step is also recorded as a :class:`ControllerEvent` with a
JSON-able ``reasons`` dict and a one-line ``summary`` the console can log and show.

Modes:

* ``manual``: the therapist decides; the controller never proposes (it still evaluates, so
  :attr:`Controller.last_decision` can say what the rules would do, and a mode switch starts
  from an up-to-date state).
* ``suggest``: the controller proposes ``step_up``, ``step_down`` or ``ask_checkin``; the
  therapist calls :meth:`Controller.accept` or :meth:`Controller.reject`.
* ``auto``: steps are taken automatically within the rules. A step down is taken at once; a
  step up first asks the client's consent (the console sends ``set_level`` and the server turns
  it into a consent question); :meth:`Controller.consent` reports the answer, and a refusal
  means no step.

The rules (:class:`Rules`, defaults in brackets):

* step down when the latest SUDS answer at this rung is above the band's ceiling [70]: one
  answer is enough, at once (safety first: a rating above the ceiling is the client saying the
  rung is too much, and waiting for a second one would keep them there another check-in
  interval); or when the heart rate has exceeded the baseline by more than ``hr_excess_bpm``
  [off] for ``hr_excess_hold_s`` [30 s]; or when the rung is above ``max_rung``;
* otherwise ask a check-in when the last SUDS answer is older than ``suds_stale_s`` [120 s]:
  without a fresh rating the controller cannot judge a step up;
* otherwise step up when the SUDS answers at this rung have stayed below the band's floor [40]
  for ``below_band_hold_s`` [60 s], or have dropped by ``habituation_drop`` [50 %] from this
  rung's peak and stayed there for ``habituation_hold_s`` [60 s]; never beyond ``max_rung``
  [9], never while a check-in or consent question is open, while the heart rate is above its
  limit, within ``min_step_interval_s`` [120 s] of the last level change, or within
  ``rejection_cooldown_s`` [180 s] of a rejected step up or refused consent;
* every step is one rung.

A pending suggestion stays until it is accepted, rejected, superseded by another, or withdrawn
because its conditions lapsed; a check-in opening does not withdraw a shown step up (the
answer confirms or withdraws it). Feeding it: call :meth:`Controller.observe` about once a
second with the new SUDS answers (with ``asked_t_s``), the new ``heart_rate`` samples, the
open-check-in flag and the last level-change time; carry out what it returns (``set_level``
one rung, or ``ask_checkin``); log :attr:`Controller.events` (``as_dict``). Arousal lags a
step down (tens of seconds), so a rating soon after one may still be above the ceiling and
cause a further step down: the safe direction.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

JsonValue: TypeAlias = "str | int | float | bool | list[JsonValue] | dict[str, JsonValue] | None"
"""A value ``json.dumps`` takes as it is."""
Reasons: TypeAlias = dict[str, JsonValue]
"""The inputs and thresholds a decision used (JSON-able)."""

Mode = Literal["manual", "suggest", "auto"]
Action = Literal["step_up", "step_down", "hold", "ask_checkin"]
EventKind = Literal[
    "proposed",           # suggest mode: a proposal waits for the therapist
    "accepted",           # the therapist accepted it (the console carries it out)
    "rejected",           # the therapist rejected it
    "withdrawn",          # its conditions lapsed before an answer (reasons: why)
    "superseded",         # another proposal replaced it
    "consent_requested",  # auto mode: a step up waits for the client's consent
    "consent_given",
    "consent_refused",    # no step
    "step_taken",         # auto mode: a step down, or a consented step up
    "checkin_requested",  # auto mode: the console is to ask a SUDS check-in
    "level_changed",      # the observed rung changed (by the controller's step or by hand)
    "mode_changed",
]
MODES: tuple[Mode, ...] = ("manual", "suggest", "auto")


def _finite(name: str, value: float, low: float = 0.0) -> None:
    if not math.isfinite(value) or value < low:
        raise ValueError(f"{name} must be a finite number >= {low:g}, got {value!r}")


@dataclass(frozen=True, slots=True)
class Rules:
    """The therapist's rules; validated on construction (a bad value raises ``ValueError``
    naming the field). SUDS is 0-100, times are seconds on the session clock."""

    suds_band: tuple[float, float] = (40.0, 70.0)
    """Target SUDS band ``(low, high)``: below ``low`` the rung is too easy, above ``high``
    too hard."""
    below_band_hold_s: float = 60.0
    """Step up once the SUDS answers at this rung have stayed below the band this long."""
    habituation_drop: float | None = 0.5
    """Step up once SUDS has dropped by this share of this rung's peak (0-1; None: off) ..."""
    habituation_hold_s: float = 60.0
    """... and stayed there this long."""
    min_step_interval_s: float = 120.0
    """Least time from a level change to the next step up."""
    min_step_down_interval_s: float = 0.0
    """Least time from a level change to the next step down (0: a step down is never delayed;
    only evidence from after the last change counts, so one rating never acts twice)."""
    max_rung: int = 9
    """Hard top of the hierarchy: never proposed or taken beyond (10 rungs: 0-9)."""
    suds_stale_s: float = 120.0
    """A SUDS answer older than this is stale: ask a check-in instead of stepping up."""
    rejection_cooldown_s: float = 180.0
    """A rejected step up, refused consent or rejected check-in is not proposed again for this
    long. (A rejected step down comes back only on new evidence.)"""
    checkin_retry_s: float = 60.0
    """After a check-in was requested, do not request another for this long (it may still be
    on its way)."""
    hr_excess_bpm: float | None = None
    """Step down when the heart rate exceeds the baseline by more than this (None: off) ..."""
    hr_excess_hold_s: float = 30.0
    """... for this long."""
    hr_baseline_bpm: float | None = None
    """The client's resting heart rate; None: the mean of the first ``hr_baseline_window_s``
    of samples."""
    hr_baseline_window_s: float = 60.0
    """Length of the baseline window, from the first heart-rate sample."""

    def __post_init__(self) -> None:
        try:
            low, high = (float(x) for x in self.suds_band)
        except (TypeError, ValueError):
            raise ValueError(
                f"suds_band must be a pair (low, high), got {self.suds_band!r}") from None
        if not (math.isfinite(low) and math.isfinite(high) and 0 <= low < high <= 100):
            raise ValueError(f"suds_band must be (low, high) with 0 <= low < high <= 100, "
                             f"got {self.suds_band!r}")
        for name in ("below_band_hold_s", "habituation_hold_s", "min_step_interval_s",
                     "min_step_down_interval_s", "suds_stale_s", "rejection_cooldown_s",
                     "checkin_retry_s", "hr_excess_hold_s", "hr_baseline_window_s"):
            _finite(name, getattr(self, name))
        drop = self.habituation_drop
        if drop is not None and not (math.isfinite(drop) and 0 < drop <= 1):
            raise ValueError(f"habituation_drop must be in (0, 1] or None, got {drop!r}")
        if isinstance(self.max_rung, bool) or not isinstance(self.max_rung, int) \
                or self.max_rung < 0:
            raise ValueError(f"max_rung must be an integer >= 0, got {self.max_rung!r}")
        if self.hr_excess_bpm is not None:
            _finite("hr_excess_bpm", self.hr_excess_bpm)
        if self.hr_baseline_bpm is not None:
            _finite("hr_baseline_bpm", self.hr_baseline_bpm, low=1.0)


@dataclass(frozen=True, slots=True)
class SudsAnswer:
    """One SUDS rating (0-100)."""

    t_s: float
    """When it was given (session clock)."""
    value: float
    asked_t_s: float | None = None
    """When the question was asked, if known: an answer to a question asked before the last
    level change describes the old rung, so it only counts for staleness."""


@dataclass(frozen=True, slots=True)
class HeartRateSample:
    """One heart-rate sample (the ``heart_rate`` stream, beats per minute)."""

    t_s: float
    bpm: float


@dataclass(frozen=True, slots=True)
class Observation:
    """What the console feeds :meth:`Controller.observe`; ``suds`` and ``heart_rate`` hold only
    what is new since the previous observation, in time order."""

    t_s: float
    """Now, on the session clock."""
    rung: int
    """The rung the session is at now."""
    suds: Sequence[SudsAnswer] = ()
    heart_rate: Sequence[HeartRateSample] = ()
    checkin_open: bool = False
    """A check-in or consent question is waiting for the client's answer."""
    last_level_change_t_s: float | None = None
    """When the level last changed (e.g. the exposure start or the last ``LevelChanged``);
    None: the controller uses the times it saw or made changes."""


@dataclass(frozen=True, slots=True)
class Proposal:
    """A decision of the rules: what to do, why, and a one-line summary."""

    id: str | None
    """Set when issued (proposed, consent asked or taken); None for an evaluation that was
    not issued (every hold, and everything in manual mode)."""
    t_s: float
    action: Action
    from_rung: int
    to_rung: int
    reasons: Reasons
    summary: str


@dataclass(frozen=True, slots=True)
class ControllerEvent:
    """One entry of the controller's log (:attr:`Controller.events`)."""

    kind: EventKind
    t_s: float
    mode: Mode
    proposal_id: str | None
    action: Action | None
    from_rung: int | None
    to_rung: int | None
    reasons: Reasons = field(default_factory=dict)
    summary: str = ""

    def as_dict(self) -> dict[str, JsonValue]:
        """The event as a JSON-able dict (e.g. for an ``annotate`` command or a log line)."""
        return {"kind": self.kind, "t_s": self.t_s, "mode": self.mode,
                "proposal_id": self.proposal_id, "action": self.action,
                "from_rung": self.from_rung, "to_rung": self.to_rung,
                "reasons": self.reasons, "summary": self.summary}


def _n(x: float) -> str:
    """A number for a summary: no trailing '.0', at most one decimal."""
    return f"{x:.0f}" if abs(x - round(x)) < 0.05 else f"{x:.1f}"


def _j(x: float) -> float | int:
    """A number for ``reasons``: an int when whole (reads better in logs)."""
    return int(x) if float(x).is_integer() else round(x, 3)


class Controller:
    """A difficulty controller (see the module docstring for the rules and the modes)."""

    def __init__(self, rules: Rules | None = None, mode: Mode = "suggest") -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.rules = rules if rules is not None else Rules()
        self._mode: Mode = mode
        self.events: list[ControllerEvent] = []
        """Everything that happened, in order; the console logs these (``as_dict``)."""
        self.pending: Proposal | None = None
        """The proposal waiting for the therapist (suggest) or for consent (auto)."""
        self.last_decision: Proposal | None = None
        """What the rules said at the latest observation, issued or not (for display)."""
        self._count = 0
        self._rung: int | None = None
        self._first_t: float | None = None
        self._change_t: float | None = None  # last level change (seen, made or reported)
        self._issued: Proposal | None = None  # last accepted/taken step, to link its change
        self._rung_suds: list[SudsAnswer] = []  # answers that count for this rung
        self._last_suds: SudsAnswer | None = None  # any rung: for staleness
        self._hr_sum = 0.0
        self._hr_n = 0
        self._hr_t0: float | None = None
        self._hr_last: HeartRateSample | None = None
        self._hr_over_since: float | None = None
        self._up_blocked_until = -math.inf  # after a rejected step up or a refused consent
        self._checkin_blocked_until = -math.inf
        self._down_evidence_after = -math.inf  # a rejected step down needs newer evidence

    # -- the console's calls --------------------------------------------------------------

    @property
    def mode(self) -> Mode:
        """``manual``, ``suggest`` or ``auto``; change it with :meth:`set_mode`."""
        return self._mode

    def set_mode(self, mode: Mode, t_s: float) -> ControllerEvent:
        """Switch modes; a pending proposal or consent request is withdrawn."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self._drop_pending("withdrawn", t_s, f"the mode changed to {mode}")
        old, self._mode = self._mode, mode
        return self._log("mode_changed", t_s, None, reasons={"from": old, "to": mode},
                         summary=f"Controller mode {old} -> {mode}")

    def observe(self, obs: Observation) -> Proposal | None:
        """Take in an observation; return a newly issued proposal, or None.

        suggest: a new proposal (the same one is not issued again while it is pending; one
        whose conditions lapse is withdrawn). auto: a step down to carry out at once, a step
        up to send as ``set_level`` (the server asks consent; report it with :meth:`consent`)
        or a check-in to ask. manual: always None.
        """
        self._ingest(obs)
        decision = self._evaluate(obs)
        self.last_decision = decision
        if self._mode == "manual":
            return None
        pending = self.pending
        if decision.action == "hold":
            # A routine check-in opening does not withdraw a step up already shown (it would
            # flicker at every SUDS question); the answer then confirms or withdraws it.
            only_checkin = decision.reasons.get("blocked_by") == ["checkin_open"]
            if pending is not None and self._mode == "suggest" and not (
                    only_checkin and pending.action == "step_up"):
                self._drop_pending("withdrawn", obs.t_s, decision.summary, decision.reasons)
            return None
        if pending is not None:
            if (pending.action, pending.to_rung) == (decision.action, decision.to_rung):
                return None  # already waiting for an answer: do not repeat it
            if self._mode == "auto" and decision.action != "step_down":
                return None  # a consent question stays until answered; only safety overrides
            self._drop_pending("superseded", obs.t_s, decision.summary, decision.reasons)
        self._count += 1
        proposal = Proposal(id=f"p{self._count}", t_s=decision.t_s, action=decision.action,
                            from_rung=decision.from_rung, to_rung=decision.to_rung,
                            reasons=decision.reasons, summary=decision.summary)
        if self._mode == "suggest":
            self.pending = proposal
            self._log("proposed", obs.t_s, proposal)
        elif proposal.action == "step_down":
            self._log("step_taken", obs.t_s, proposal)
            self._made_change(proposal, obs.t_s)
        elif proposal.action == "step_up":
            self.pending = proposal
            self._log("consent_requested", obs.t_s, proposal)
        else:
            self._log("checkin_requested", obs.t_s, proposal)
            self._checkin_blocked_until = obs.t_s + self.rules.checkin_retry_s
        return proposal

    def accept(self, proposal_id: str, t_s: float) -> ControllerEvent:
        """The therapist accepted the pending proposal; the console now carries it out
        (``set_level`` to ``to_rung``, or ``ask_checkin``). Raises ``KeyError`` if it is not
        the pending proposal (withdrawn, superseded or already answered)."""
        proposal = self._take_pending(proposal_id, "suggest")
        event = self._log("accepted", t_s, proposal)
        if proposal.action == "ask_checkin":
            self._checkin_blocked_until = t_s + self.rules.checkin_retry_s
        else:
            self._made_change(proposal, t_s)
        return event

    def reject(self, proposal_id: str, t_s: float) -> ControllerEvent:
        """The therapist rejected the pending proposal: a step up or check-in is not proposed
        again for ``rejection_cooldown_s``; a step down comes back only on newer evidence."""
        proposal = self._take_pending(proposal_id, "suggest")
        if proposal.action == "step_up":
            self._up_blocked_until = t_s + self.rules.rejection_cooldown_s
        elif proposal.action == "ask_checkin":
            self._checkin_blocked_until = t_s + self.rules.rejection_cooldown_s
        else:
            self._down_evidence_after = t_s
            self._hr_over_since = None
        return self._log("rejected", t_s, proposal)

    def consent(self, answer: bool, t_s: float) -> ControllerEvent:
        """The client's answer to the consent question of the pending step up (auto mode):
        yes takes the step (the server applies the level), no means no step and no new step
        up for ``rejection_cooldown_s``. A question that went unanswered counts as no."""
        if self.pending is None or self.pending.action != "step_up" or self._mode != "auto":
            raise KeyError("no step up is waiting for consent")
        proposal = self._take_pending(self.pending.id or "", "auto")
        if not answer:
            self._up_blocked_until = t_s + self.rules.rejection_cooldown_s
            return self._log("consent_refused", t_s, proposal,
                             summary=f"Consent refused: stay at rung {proposal.from_rung}")
        self._log("consent_given", t_s, proposal)
        self._made_change(proposal, t_s)
        return self._log("step_taken", t_s, proposal)

    # -- state ----------------------------------------------------------------------------

    def _log(self, kind: EventKind, t_s: float, proposal: Proposal | None, *,
             reasons: Reasons | None = None, summary: str | None = None) -> ControllerEvent:
        event = ControllerEvent(
            kind=kind, t_s=t_s, mode=self._mode,
            proposal_id=proposal.id if proposal else None,
            action=proposal.action if proposal else None,
            from_rung=proposal.from_rung if proposal else None,
            to_rung=proposal.to_rung if proposal else None,
            reasons=reasons if reasons is not None else (proposal.reasons if proposal else {}),
            summary=summary if summary is not None else (proposal.summary if proposal else ""))
        self.events.append(event)
        return event

    def _take_pending(self, proposal_id: str, mode: Mode) -> Proposal:
        pending = self.pending
        if pending is None or pending.id != proposal_id or self._mode != mode:
            raise KeyError(f"{proposal_id!r} is not the pending {mode} proposal")
        self.pending = None
        return pending

    def _drop_pending(self, kind: EventKind, t_s: float, why: str,
                      reasons: Reasons | None = None) -> None:
        if self.pending is not None:
            self._log(kind, t_s, self.pending, reasons=reasons or {},
                      summary=f"{self.pending.summary} -- {kind}: {why}")
            self.pending = None

    def _made_change(self, proposal: Proposal, t_s: float) -> None:
        """A step is on its way: evidence from before it no longer counts, and the minimum
        intervals run from now (the observed level change follows shortly)."""
        self._issued = proposal
        self._new_level(t_s)

    def _new_level(self, t_s: float) -> None:
        self._change_t = t_s if self._change_t is None else max(self._change_t, t_s)
        self._rung_suds = [a for a in self._rung_suds if a.t_s > self._change_t]
        self._hr_over_since = None

    def _ingest(self, obs: Observation) -> None:
        if self._first_t is None:
            self._first_t = obs.t_s
        if self._rung is not None and obs.rung != self._rung:
            issued = self._issued
            linked = issued if issued is not None and issued.to_rung == obs.rung else None
            self._log("level_changed", obs.t_s, None,
                      reasons={"from": self._rung, "to": obs.rung,
                               "by": "controller" if linked else "therapist",
                               "proposal_id": linked.id if linked else None},
                      summary=f"Level changed from rung {self._rung} to rung {obs.rung}")
            self._issued = None
            if obs.last_level_change_t_s is not None:
                self._new_level(obs.last_level_change_t_s)
            elif linked is None:
                # A change by hand at an unknown time: only what comes after now counts. (Our
                # own step already reset the evidence when it was accepted or taken.)
                self._new_level(obs.t_s)
        elif obs.last_level_change_t_s is not None and (
                self._change_t is None or obs.last_level_change_t_s > self._change_t):
            self._new_level(obs.last_level_change_t_s)
        self._rung = obs.rung
        change_t = self._change_t if self._change_t is not None else -math.inf
        for answer in obs.suds:
            self._last_suds = answer
            asked = answer.asked_t_s if answer.asked_t_s is not None else answer.t_s
            if answer.t_s > change_t and asked >= change_t:
                self._rung_suds.append(answer)
        for sample in obs.heart_rate:
            self._add_hr(sample)
            limit = self._hr_limit()
            if limit is None or sample.t_s <= change_t:
                continue
            if sample.bpm > limit:
                if self._hr_over_since is None:
                    self._hr_over_since = sample.t_s
            else:
                self._hr_over_since = None

    def _add_hr(self, sample: HeartRateSample) -> None:
        self._hr_last = sample
        if self.rules.hr_baseline_bpm is not None:
            return
        if self._hr_t0 is None:
            self._hr_t0 = sample.t_s
        if sample.t_s < self._hr_t0 + self.rules.hr_baseline_window_s:
            self._hr_sum += sample.bpm
            self._hr_n += 1
        elif self._hr_n == 0:  # the first sample came late: it is the baseline
            self._hr_sum, self._hr_n = sample.bpm, 1

    def _hr_baseline(self) -> float | None:
        if self.rules.hr_baseline_bpm is not None:
            return self.rules.hr_baseline_bpm
        last = self._hr_last
        # The mean is the baseline only once the window is complete.
        if self._hr_t0 is None or last is None or self._hr_n == 0 or \
                last.t_s < self._hr_t0 + self.rules.hr_baseline_window_s:
            return None
        return self._hr_sum / self._hr_n

    def _hr_limit(self) -> float | None:
        baseline = self._hr_baseline()
        if self.rules.hr_excess_bpm is None or baseline is None:
            return None
        return baseline + self.rules.hr_excess_bpm

    # -- the rules --------------------------------------------------------------------------

    def _decision(self, t_s: float, action: Action, rung: int, reasons: Reasons,
                  summary: str) -> Proposal:
        to = rung + 1 if action == "step_up" else rung - 1 if action == "step_down" else rung
        return Proposal(id=None, t_s=t_s, action=action, from_rung=rung, to_rung=to,
                        reasons=reasons, summary=summary)

    def _evaluate(self, obs: Observation) -> Proposal:
        """What the rules say now (precedence: step down, check-in, step up, hold)."""
        r = self.rules
        t, rung = obs.t_s, obs.rung
        low, high = r.suds_band
        band: JsonValue = [_j(low), _j(high)]
        since_change = None if self._change_t is None else t - self._change_t
        answers = self._rung_suds
        latest = answers[-1] if answers else None
        down: tuple[Reasons, str] | None = None
        if rung > r.max_rung:
            down = ({"rule": "above_max_rung", "max_rung": r.max_rung},
                    f"Rung {rung} is above the maximum rung {r.max_rung}")
        elif latest is not None and latest.value > high and \
                latest.t_s > self._down_evidence_after:
            # One answer above the ceiling is enough, at once (safety first).
            down = ({"rule": "above_ceiling", "suds": _j(latest.value),
                     "suds_t_s": _j(latest.t_s), "band": band},
                    f"SUDS {_n(latest.value)} is above the band's ceiling of {_n(high)}")
        else:
            down = self._hr_rule(t)
        if down is not None:
            reasons, why = down
            reasons["since_change_s"] = None if since_change is None else _j(since_change)
            if rung <= 0:
                reasons["blocked_by"] = ["lowest_rung"]
                return self._decision(t, "hold", rung, reasons,
                                      f"{why}, but rung 0 is the lowest: hold (consider the "
                                      f"safe place)")
            if since_change is not None and since_change < r.min_step_down_interval_s:
                reasons["blocked_by"] = ["min_step_down_interval"]
                reasons["min_interval_s"] = _j(r.min_step_down_interval_s)
                return self._decision(t, "hold", rung, reasons,
                                      f"{why}, but the last change was {_n(since_change)} s "
                                      f"ago (rule: {_n(r.min_step_down_interval_s)} s): hold")
            return self._decision(t, "step_down", rung, reasons,
                                  f"{why}: step down to rung {rung - 1}")

        last = self._last_suds
        since = last.t_s if last is not None else self._first_t
        age = t - (since if since is not None else t)
        if age > r.suds_stale_s:
            reasons = {"rule": "stale_suds", "suds_age_s": _j(age),
                       "stale_s": _j(r.suds_stale_s),
                       "suds": _j(last.value) if last is not None else None}
            what = (f"The last SUDS answer is {_n(age)} s old" if last is not None
                    else f"No SUDS answer in {_n(age)} s")
            waiting: list[JsonValue] = [
                name for name, on in (("checkin_open", obs.checkin_open),
                                      ("checkin_recently_requested",
                                       t < self._checkin_blocked_until)) if on]
            if waiting:
                reasons["blocked_by"] = waiting
                return self._decision(t, "hold", rung, reasons,
                                      f"{what} (limit: {_n(r.suds_stale_s)} s); a check-in is "
                                      f"open or requested: hold")
            return self._decision(t, "ask_checkin", rung, reasons,
                                  f"{what} (limit: {_n(r.suds_stale_s)} s): ask a SUDS "
                                  f"check-in before any step up")

        if not answers:
            return self._decision(t, "hold", rung, {"rule": "no_suds_at_rung", "band": band},
                                  f"Hold at rung {rung}: no SUDS answer at this rung yet")
        up = self._up_rule(answers, band)
        if up is None:
            value = answers[-1].value
            where = "below" if value < low else "within"
            return self._decision(t, "hold", rung,
                                  {"rule": f"{where}_band_not_yet", "suds": _j(value),
                                   "band": band},
                                  f"Hold at rung {rung}: SUDS {_n(value)} is {where} the band "
                                  f"({_n(low)}-{_n(high)}); no step-up rule is met yet")
        reasons, why = up
        blocked: list[JsonValue] = []
        if rung >= r.max_rung:
            blocked.append("max_rung")
        if obs.checkin_open:
            blocked.append("checkin_open")
        if self.pending is not None and self._mode == "auto":
            blocked.append("consent_pending")
        if since_change is not None and since_change < r.min_step_interval_s:
            blocked.append("min_step_interval")
        if t < self._up_blocked_until:
            blocked.append("rejection_cooldown")
        limit = self._hr_limit()
        if limit is not None and self._hr_last is not None and self._hr_last.bpm > limit:
            blocked.append("heart_rate")
        reasons["since_change_s"] = None if since_change is None else _j(since_change)
        reasons["min_interval_s"] = _j(r.min_step_interval_s)
        reasons["max_rung"] = r.max_rung
        if blocked:
            reasons["blocked_by"] = blocked
            held = ", ".join(str(b) for b in blocked)
            return self._decision(t, "hold", rung, reasons,
                                  f"{why}, but held ({held}): hold at rung {rung}")
        return self._decision(t, "step_up", rung, reasons, f"{why}: step up to rung {rung + 1}")

    def _hr_rule(self, t: float) -> tuple[Reasons, str] | None:
        r = self.rules
        baseline, last, since = self._hr_baseline(), self._hr_last, self._hr_over_since
        if r.hr_excess_bpm is None or baseline is None or last is None or since is None:
            return None
        over = last.t_s - since
        if over < r.hr_excess_hold_s:
            return None
        return ({"rule": "heart_rate", "hr": _j(round(last.bpm, 1)),
                 "hr_baseline": _j(round(baseline, 1)), "hr_excess_bpm": _j(r.hr_excess_bpm),
                 "hr_over_s": _j(over), "hold_s": _j(r.hr_excess_hold_s)},
                f"Heart rate {_n(last.bpm)} bpm has exceeded the baseline {_n(baseline)} bpm "
                f"by more than {_n(r.hr_excess_bpm)} bpm for {_n(over)} s "
                f"(rule: {_n(r.hr_excess_hold_s)} s)")

    def _up_rule(self, answers: Sequence[SudsAnswer],
                 band: JsonValue) -> tuple[Reasons, str] | None:
        """The step-up rules over this rung's answers: time is measured between answers (the
        evidence), from the first of the current run to the latest."""
        r = self.rules
        low, high = r.suds_band
        last = answers[-1]
        if last.value > high:
            return None
        below_since: float | None = None
        dropped_since: float | None = None
        peak = -math.inf
        drop = r.habituation_drop
        for a in answers:
            peak = max(peak, a.value)
            below_since = (below_since if below_since is not None else a.t_s) \
                if a.value < low else None
            dropped = drop is not None and peak > 0 and a.value <= (1 - drop) * peak
            dropped_since = (dropped_since if dropped_since is not None else a.t_s) \
                if dropped else None
        if below_since is not None and last.t_s - below_since >= r.below_band_hold_s:
            span = last.t_s - below_since
            return ({"rule": "below_band", "suds": _j(last.value), "band": band,
                     "below_band_s": _j(span), "hold_s": _j(r.below_band_hold_s)},
                    f"SUDS {_n(last.value)} has stayed below the band ({_n(low)}-{_n(high)}) "
                    f"for {_n(span)} s (rule: {_n(r.below_band_hold_s)} s)")
        if drop is not None and dropped_since is not None and \
                last.t_s - dropped_since >= r.habituation_hold_s:
            span = last.t_s - dropped_since
            share = 1 - last.value / peak
            return ({"rule": "habituation", "suds": _j(last.value), "peak": _j(peak),
                     "drop": _j(round(share, 3)), "drop_rule": _j(drop), "band": band,
                     "dropped_s": _j(span), "hold_s": _j(r.habituation_hold_s)},
                    f"SUDS {_n(last.value)} is {share:.0%} below this rung's peak of "
                    f"{_n(peak)} (rule: {drop:.0%}) and has stayed there for {_n(span)} s "
                    f"(rule: {_n(r.habituation_hold_s)} s)")
        return None
