"""Difficulty controllers driven by scripted arousal traces from the virtual client.

A small harness plays the console: it shows the client a rung of the hierarchy (exposure
``(rung + 1) / rungs``, as the host's ``(rung + intensity) / rungs`` at full intensity), asks
SUDS every few seconds, reads the ``heart_rate`` stream, feeds the controller once a second,
and carries out what the controller decides (accepting, rejecting or ignoring proposals as a
test's policy says, asking the client's consent in auto mode).
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clinician_console.controllers import (
    Controller,
    ControllerEvent,
    HeartRateSample,
    Mode,
    Observation,
    Proposal,
    Rules,
    SudsAnswer,
)
from vr_server.virtual_client import SceneObservation, VirtualClient, VirtualClientParams

DT = 0.5  # frame step of the simulated session, s
RUNGS = 10

Policy = Callable[[Proposal], Literal["accept", "reject", "ignore"]]


def accept_all(_: Proposal) -> Literal["accept", "reject", "ignore"]:
    return "accept"


def exact(sensitivity: float, seed: int = 0, **kw: float) -> VirtualClientParams:
    """A client whose threat is exactly ``sensitivity * exposure`` (attention does not
    matter), so its relative arousal, and SUDS, settle at ``min(1, s * e)`` without
    habituation."""
    params: dict[str, float] = {"unattended_weight": 1.0, "habituation_rate": 0.0}
    params.update(kw)
    return VirtualClientParams(seed=seed, sensitivity=sensitivity, **params)  # type: ignore[arg-type]


@dataclass
class Trace:
    """What happened in one simulated session."""

    controller: Controller
    answers: list[SudsAnswer] = field(default_factory=list)
    heart_rate: list[HeartRateSample] = field(default_factory=list)
    changes: list[tuple[float, int, int]] = field(default_factory=list)  # (t, from, to)
    issued: list[tuple[float, Proposal]] = field(default_factory=list)  # observe() results
    ticks: list[tuple[Observation, Proposal | None]] = field(default_factory=list)
    rungs_seen: list[int] = field(default_factory=list)
    consent_asked: list[float] = field(default_factory=list)

    def events(self, *kinds: str) -> list[ControllerEvent]:
        return [e for e in self.controller.events if not kinds or e.kind in kinds]

    def proposals(self, action: str) -> list[tuple[float, Proposal]]:
        return [(t, p) for t, p in self.issued if p.action == action]


def run_session(params: VirtualClientParams, rules: Rules, mode: Mode, *,
                duration_s: float = 900.0, start_rung: int = 0, suds_every_s: float = 20.0,
                suds_until_s: float = math.inf, exposure_start_s: float = 0.0,
                policy: Policy = accept_all, apply_delay_s: float = 1.0) -> Trace:
    """Play one session: the console around a controller, with the virtual client."""
    client = VirtualClient(params)
    controller = Controller(rules, mode=mode)
    trace = Trace(controller)
    rung = start_rung
    last_change = exposure_start_s
    intends = "elsewhere"
    open_q: tuple[str, float, float, int] | None = None  # (instrument, asked, answer at, value)
    queue: list[str] = []  # questions to ask as soon as none is open
    next_suds = exposure_start_s + 5.0
    new_suds: list[SudsAnswer] = []
    new_hr: list[HeartRateSample] = []
    scheduled: tuple[float, int] | None = None  # a level to apply at a time

    def ask(instrument: str, t: float) -> None:
        nonlocal open_q
        if open_q is not None:
            queue.append(instrument)
            return
        answer = client.answer_checkin(instrument, t)
        assert answer is not None
        open_q = (instrument, t, t + answer.delay_s, answer.value)
        if instrument == "consent":
            trace.consent_asked.append(t)

    for i in range(int(duration_s / DT) + 1):
        t = i * DT
        if scheduled is not None and t >= scheduled[0]:
            trace.changes.append((t, rung, scheduled[1]))
            rung, last_change, scheduled = scheduled[1], t, None
        exposure = (rung + 1) / RUNGS if t >= exposure_start_s else 0.0
        pose = client.update(t, DT, SceneObservation(
            viewpoint=(0.0, 0.0, 0.0), view_heading=0.0,
            stimulus_positions=((0.0, 1.5, 1.0),), exposure=exposure, looking_at=intends,
            stimulus_distance_m=0.0))
        intends = pose.intends
        trace.rungs_seen.append(rung)
        if open_q is not None and t >= open_q[2]:
            instrument, asked, at, value = open_q
            open_q = None
            if instrument == "suds":
                answer = SudsAnswer(t_s=at, value=value, asked_t_s=asked)
                new_suds.append(answer)
                trace.answers.append(answer)
            else:  # the server applies a consented step up at once
                pending = controller.pending
                controller.consent(value == 100, t)
                if value == 100 and pending is not None:
                    trace.changes.append((t, rung, pending.to_rung))
                    rung, last_change = pending.to_rung, t
            if queue:
                ask(queue.pop(0), t)
        if t >= next_suds and t < suds_until_s:
            ask("suds", t)
            next_suds += suds_every_s
        if i % round(1.0 / DT):
            continue
        # Once a second: the heart-rate stream and the controller.
        for batch in client.advance(round(t * 1e9)):
            if batch.stream == "heart_rate":
                for ts, row in zip(batch.timestamps_ns, batch.values, strict=True):
                    sample = HeartRateSample(t_s=int(ts) / 1e9, bpm=float(row[0]))
                    new_hr.append(sample)
                    trace.heart_rate.append(sample)
        obs = Observation(t_s=t, rung=rung, suds=tuple(new_suds), heart_rate=tuple(new_hr),
                          checkin_open=open_q is not None, last_level_change_t_s=last_change)
        new_suds.clear()
        new_hr.clear()
        proposal = controller.observe(obs)
        trace.ticks.append((obs, proposal))
        if proposal is None:
            continue
        trace.issued.append((t, proposal))
        assert proposal.id is not None
        if mode == "auto":
            if proposal.action == "step_down":
                scheduled = (t + apply_delay_s, proposal.to_rung)
            elif proposal.action == "step_up":
                ask("consent", t)  # what the server makes of the console's set_level
            else:
                ask("suds", t)
            continue
        verdict = policy(proposal)
        if verdict == "accept":
            controller.accept(proposal.id, t)
            if proposal.action == "ask_checkin":
                ask("suds", t)
            else:
                scheduled = (t + apply_delay_s, proposal.to_rung)
        elif verdict == "reject":
            controller.reject(proposal.id, t)
    return trace


def first_below_band_due(answers: list[SudsAnswer], low: float, hold_s: float) -> float | None:
    """Oracle: the time of the first answer at which the answers have been below ``low`` for
    ``hold_s`` (the span from the first of an unbroken run to it)."""
    since: float | None = None
    for a in answers:
        since = (since if since is not None else a.t_s) if a.value < low else None
        if since is not None and a.t_s - since >= hold_s:
            return a.t_s
    return None


def check_invariants(trace: Trace, rules: Rules) -> None:
    """What must hold in every session, whatever the client and the rules."""
    for t, p in trace.issued:
        assert p.action in {"step_up", "step_down", "ask_checkin"}
        if p.action in {"step_up", "step_down"}:
            assert abs(p.to_rung - p.from_rung) == 1, p  # never more than one rung
            assert 0 <= p.to_rung <= rules.max_rung, p
        if p.action == "step_up":
            obs = next(o for o, q in trace.ticks if q is p)
            assert not obs.checkin_open
            last = max((a.t_s for a in trace.answers if a.t_s <= t), default=None)
            assert last is not None and t - last <= rules.suds_stale_s
    for _, a, b in trace.changes:
        assert abs(b - a) == 1
    assert max(trace.rungs_seen) <= rules.max_rung
    # The minimum intervals, on the times the controller made its steps.
    made = [e for e in trace.controller.events
            if (e.kind == "accepted" and e.action != "ask_checkin") or e.kind == "step_taken"]
    for before, after in itertools.pairwise(made):
        least = rules.min_step_interval_s if after.action == "step_up" \
            else rules.min_step_down_interval_s
        assert after.t_s - before.t_s >= least - 1e-9, (before, after)
    for event in trace.controller.events:
        line = json.dumps(event.as_dict())
        assert json.loads(line)["kind"] == event.kind
        assert "\n" not in event.summary


# -- virtual-client traces ------------------------------------------------------------------


def test_calm_client_gets_a_step_up_after_the_hold_time_not_before() -> None:
    rules = Rules(below_band_hold_s=60.0, min_step_interval_s=0.0, suds_stale_s=300.0)
    trace = run_session(exact(0.0, seed=3), rules, "suggest", duration_s=200.0, start_rung=2,
                        policy=lambda p: "ignore")
    due = first_below_band_due(trace.answers, 40.0, 60.0)
    assert due is not None
    ups = trace.proposals("step_up")
    assert len(ups) == 1  # pending, never repeated while it waits
    t, up = ups[0]
    assert due <= t < due + 1.0  # at the first observation after the answer that made it due
    assert up.to_rung == 3 and up.reasons["rule"] == "below_band"
    assert up.reasons["below_band_s"] >= 60  # type: ignore[operator]
    assert up.summary.startswith(f"SUDS {up.reasons['suds']} has stayed below the band (40-70)")
    assert up.summary.endswith("(rule: 60 s): step up to rung 3")
    assert trace.controller.pending is up
    assert not trace.proposals("step_down") and not trace.proposals("ask_checkin")


def test_habituating_client_gets_a_step_up_from_the_drop_off_its_peak() -> None:
    # Fear rises into the band at rung 6, then habituation halves it within a few minutes.
    params = VirtualClientParams(seed=5, sensitivity=0.9, habituation_rate=0.02,
                                 unattended_weight=1.0, suds_noise=3.0)
    rules = Rules(suds_band=(40.0, 80.0), below_band_hold_s=600.0, habituation_hold_s=60.0,
                  min_step_interval_s=0.0)
    trace = run_session(params, rules, "suggest", duration_s=400.0, start_rung=6,
                        policy=lambda p: "ignore")
    ups = trace.proposals("step_up")
    assert ups, [a.value for a in trace.answers]
    t, up = ups[0]
    assert up.reasons["rule"] == "habituation" and up.to_rung == 7
    peak = max(a.value for a in trace.answers if a.t_s <= t)
    assert up.reasons["peak"] == peak and 40 <= peak <= 80  # it was in the band at its peak
    # Not before: at every earlier observation the drop had not been held for 60 s.
    dropped_since: float | None = None
    running = 0.0
    for a in trace.answers:
        running = max(running, a.value)
        if a.value <= 0.5 * running:
            dropped_since = a.t_s if dropped_since is None else dropped_since
        else:
            dropped_since = None
        if dropped_since is not None and a.t_s - dropped_since >= 60.0:
            assert a.t_s <= t < a.t_s + 1.0
            break
    else:
        pytest.fail("the oracle never found the drop held")
    assert not trace.proposals("step_down")


def test_client_above_the_ceiling_gets_a_step_down_at_once() -> None:
    rules = Rules(min_step_interval_s=120.0)
    trace = run_session(exact(2.0, seed=11), rules, "suggest", duration_s=600.0, start_rung=6)
    downs = trace.proposals("step_down")
    assert downs and not trace.proposals("step_up")
    first_high = next(a for a in trace.answers if a.value > 70)
    t, first = downs[0]
    assert first_high.t_s <= t < first_high.t_s + 1.0  # the first answer above 70 suffices
    assert first.reasons == {"rule": "above_ceiling", "suds": first_high.value,
                             "suds_t_s": round(first_high.t_s, 3), "band": [40, 70],
                             "since_change_s": t}
    for t, p in downs:
        # Each one at the observation that received an above-ceiling answer at its rung.
        assert p.reasons["suds"] > 70  # type: ignore[operator]
        assert t - p.reasons["suds_t_s"] < 1.0  # type: ignore[operator]
    # It stepped down one rung at a time until the client was back in the band (s * e <= 0.7
    # from rung 2 down; arousal lags a step down by ~20 s, so one more step may follow).
    steps = [(a, b) for _, a, b in trace.changes]
    assert steps == [(r, r - 1) for r in range(6, 6 - len(steps), -1)]
    assert trace.rungs_seen[-1] in {1, 2}
    late = [a.value for a in trace.answers if a.t_s > trace.changes[-1][0] + 120]
    assert late and all(v <= 75 for v in late)
    check_invariants(trace, rules)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("sensitivity", [0.0, 1.0, 2.5])
def test_manual_mode_never_proposes(seed: int, sensitivity: float) -> None:
    rules = Rules(min_step_interval_s=30.0, below_band_hold_s=20.0, suds_stale_s=40.0,
                  hr_excess_bpm=10.0)
    trace = run_session(exact(sensitivity, seed=seed), rules, "manual", duration_s=300.0,
                        start_rung=4, suds_every_s=60.0, suds_until_s=100.0)
    assert trace.issued == [] and trace.controller.pending is None
    assert all(e.kind not in {"proposed", "consent_requested", "step_taken",
                              "checkin_requested"} for e in trace.controller.events)
    # The rules were still evaluated (for display), just never proposed.
    assert trace.controller.last_decision is not None


def test_auto_mode_climbs_one_rung_at_a_time_with_consent_up_to_the_maximum() -> None:
    rules = Rules(max_rung=5, below_band_hold_s=30.0, min_step_interval_s=120.0)
    trace = run_session(exact(0.0, seed=2), rules, "auto", duration_s=1000.0, start_rung=1)
    assert [(a, b) for _, a, b in trace.changes] == [(1, 2), (2, 3), (3, 4), (4, 5)]
    steps = [e.t_s for e in trace.events("step_taken")]
    assert len(steps) == 4 and len(trace.events("consent_given")) == 4
    assert all(b - a >= 120.0 for a, b in itertools.pairwise(steps))
    assert max(trace.rungs_seen) == 5
    last = trace.controller.last_decision
    assert last is not None and last.action == "hold"
    assert "max_rung" in last.reasons["blocked_by"]  # type: ignore[operator]
    check_invariants(trace, rules)


def test_refused_consent_means_no_step_in_auto_mode() -> None:
    # Relative arousal 0.65 (s * e = 1.3 * 0.5): SUDS ~65 is below a band of 80-95, so a
    # step up is due, but the client refuses consent while its arousal is above 0.6.
    rules = Rules(suds_band=(80.0, 95.0), below_band_hold_s=40.0, min_step_interval_s=60.0,
                  rejection_cooldown_s=150.0)
    trace = run_session(exact(1.3, seed=4, suds_noise=3.0), rules, "auto", duration_s=700.0,
                        start_rung=4)
    refused = trace.events("consent_refused")
    assert len(refused) >= 2
    assert trace.changes == [] and set(trace.rungs_seen) == {4}
    assert not trace.events("step_taken", "consent_given")
    asked = trace.events("consent_requested")
    for no, again in zip(refused, asked[1:], strict=False):
        assert again.t_s - no.t_s >= 150.0  # not asked again within the cooldown
    check_invariants(trace, rules)


def test_rejected_step_up_is_not_proposed_again_within_the_cooldown() -> None:
    rules = Rules(below_band_hold_s=30.0, min_step_interval_s=0.0, rejection_cooldown_s=200.0)
    trace = run_session(exact(0.0, seed=8), rules, "suggest", duration_s=700.0, start_rung=3,
                        policy=lambda p: "reject" if p.action == "step_up" else "accept")
    times = [t for t, _ in trace.proposals("step_up")]
    assert len(times) >= 3
    assert all(b - a >= 200.0 for a, b in itertools.pairwise(times))
    assert trace.changes == [] and len(trace.events("rejected")) == len(times)


@pytest.mark.parametrize("mode", ["suggest", "auto"])
def test_minimum_time_between_steps_holds(mode: Mode) -> None:
    rules = Rules(below_band_hold_s=20.0, min_step_interval_s=150.0)
    trace = run_session(exact(0.0, seed=6), rules, mode, duration_s=800.0, start_rung=0)
    ups = [t for t, _ in trace.proposals("step_up")]
    assert len(ups) >= 4
    # From the exposure start (t=0) and from each step, the next step up waits 150 s, and
    # the calm client makes it come as soon as that is over.
    starts = [0.0] + [t for t, _, _ in trace.changes]
    for prev, t in zip(starts, ups, strict=False):
        assert 150.0 <= t - prev <= 170.0
    check_invariants(trace, rules)


def test_stale_suds_asks_for_a_checkin_instead_of_a_step_up() -> None:
    # SUDS is asked every 20 s only until t=100; the console ignores ask_checkin proposals.
    rules = Rules(below_band_hold_s=30.0, min_step_interval_s=200.0, suds_stale_s=90.0)
    trace = run_session(exact(0.0, seed=9), rules, "suggest", duration_s=500.0, start_rung=2,
                        suds_until_s=100.0,
                        policy=lambda p: "ignore" if p.action == "ask_checkin" else "accept")
    last_answer = trace.answers[-1].t_s
    assert last_answer < 110.0
    assert not [t for t, _ in trace.proposals("step_up") if t > last_answer + 90.0]
    asks = trace.proposals("ask_checkin")
    assert len(asks) == 1  # pending: not repeated
    t, ask = asks[0]
    assert last_answer + 90.0 < t <= last_answer + 91.0
    assert ask.reasons["rule"] == "stale_suds" and ask.to_rung == ask.from_rung
    # The min interval (200 s) kept the step up from coming before the SUDS went stale: a
    # step up was due but never proposed on stale evidence.
    assert trace.changes == []


def test_accepted_checkin_refreshes_suds_and_steps_resume() -> None:
    rules = Rules(below_band_hold_s=30.0, min_step_interval_s=200.0, suds_stale_s=90.0)
    trace = run_session(exact(0.0, seed=9), rules, "suggest", duration_s=900.0, start_rung=2,
                        suds_until_s=100.0)
    asks = trace.proposals("ask_checkin")
    assert len(asks) >= 2  # answered, a check-in at a time refreshes the evidence
    assert [(a, b) for _, a, b in trace.changes][:2] == [(2, 3), (3, 4)]
    check_invariants(trace, rules)


def test_heart_rate_rule_steps_down_after_the_hold_and_baseline_is_the_first_minute() -> None:
    # First minute without the stimulus (the baseline), then rung 5: HR ~ 70 + 45 * 0.6.
    rules = Rules(suds_band=(20.0, 95.0), hr_excess_bpm=15.0, hr_excess_hold_s=20.0)
    trace = run_session(exact(1.0, seed=12), rules, "suggest", duration_s=400.0,
                        start_rung=5, exposure_start_s=60.0)
    downs = trace.proposals("step_down")
    assert downs and all(p.reasons["rule"] == "heart_rate" for _, p in downs)
    t, first = downs[0]
    baseline = sum(s.bpm for s in trace.heart_rate if s.t_s < 60.0) / 60
    assert first.reasons["hr_baseline"] == pytest.approx(baseline, abs=0.05)
    assert 66.0 < baseline < 74.0
    assert first.reasons["hr_over_s"] >= 20  # type: ignore[operator]
    # Oracle: the first sample at which HR has been above baseline + 15 for 20 s.
    since: float | None = None
    for s in trace.heart_rate:
        since = (since if since is not None else s.t_s) if s.bpm > baseline + 15 else None
        if since is not None and s.t_s - since >= 20.0:
            assert s.t_s <= t < s.t_s + 1.0
            break
    assert t > 80.0  # a 20 s hold after a rise that starts at 60 s
    # Down one rung at a time until HR stays within 15 bpm of baseline (rung 2: ~ +13.5).
    assert [(a, b) for _, a, b in trace.changes][:3] == [(5, 4), (4, 3), (3, 2)]
    assert min(trace.rungs_seen) >= 1
    check_invariants(trace, rules)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32), sensitivity=st.floats(0.0, 3.0),
       habituation=st.floats(0.0, 0.05), mode=st.sampled_from(["suggest", "auto"]),
       max_rung=st.integers(0, 6), start=st.integers(0, 6),
       low=st.integers(10, 50), width=st.integers(10, 50),
       hold=st.floats(0.0, 120.0), interval=st.floats(0.0, 200.0),
       down_interval=st.floats(0.0, 60.0), stale=st.floats(30.0, 200.0),
       hr=st.one_of(st.none(), st.floats(5.0, 40.0)), every=st.sampled_from([10.0, 30.0, 60.0]),
       reject_some=st.booleans())
def test_property_no_skipped_rung_no_rung_beyond_max_intervals_hold(
        seed: int, sensitivity: float, habituation: float, mode: Mode, max_rung: int,
        start: int, low: int, width: int, hold: float, interval: float, down_interval: float,
        stale: float, hr: float | None, every: float, reject_some: bool) -> None:
    rules = Rules(suds_band=(float(low), float(min(100, low + width))), max_rung=max_rung,
                  below_band_hold_s=hold, habituation_hold_s=hold, min_step_interval_s=interval,
                  min_step_down_interval_s=down_interval, suds_stale_s=stale, hr_excess_bpm=hr,
                  rejection_cooldown_s=60.0)
    params = VirtualClientParams(seed=seed, sensitivity=sensitivity,
                                 habituation_rate=habituation)

    def policy(p: Proposal) -> Literal["accept", "reject", "ignore"]:
        return "reject" if reject_some and p.id is not None and p.id.endswith(("3", "7")) \
            else "accept"

    trace = run_session(params, rules, mode, duration_s=600.0, start_rung=min(start, max_rung),
                        suds_every_s=every, policy=policy)
    check_invariants(trace, rules)


# -- hand-written traces --------------------------------------------------------------------


def _suds(*pairs: tuple[float, float]) -> tuple[SudsAnswer, ...]:
    return tuple(SudsAnswer(t_s=t, value=v) for t, v in pairs)


def test_summary_and_reasons_of_a_step_up() -> None:
    c = Controller(Rules(), mode="suggest")
    assert c.observe(Observation(t_s=0.0, rung=3, last_level_change_t_s=-200.0)) is None
    p = c.observe(Observation(t_s=76.0, rung=3,
                              suds=_suds((0.0, 35.0), (30.0, 30.0), (60.0, 35.0),
                                         (75.0, 35.0))))
    assert p is not None and p.id == "p1"
    assert p.summary == ("SUDS 35 has stayed below the band (40-70) for 75 s (rule: 60 s): "
                         "step up to rung 4")
    assert p.reasons["suds"] == 35 and p.reasons["band"] == [40, 70]
    assert p.reasons["below_band_s"] == 75 and p.reasons["hold_s"] == 60
    assert json.loads(json.dumps(p.reasons)) == p.reasons
    assert c.observe(Observation(t_s=77.0, rung=3)) is None  # not repeated
    event = c.accept("p1", 78.0)
    assert event.kind == "accepted" and c.pending is None
    with pytest.raises(KeyError):
        c.accept("p1", 79.0)
    c.observe(Observation(t_s=79.0, rung=4))
    changed = c.events[-1]
    assert changed.kind == "level_changed" and changed.reasons["by"] == "controller"
    assert changed.reasons["proposal_id"] == "p1"


def test_pending_step_up_is_withdrawn_when_its_conditions_lapse() -> None:
    c = Controller(Rules(below_band_hold_s=20.0), mode="suggest")
    c.observe(Observation(t_s=0.0, rung=1, last_level_change_t_s=-500.0))
    p = c.observe(Observation(t_s=21.0, rung=1, suds=_suds((0.0, 10.0), (20.0, 10.0))))
    assert p is not None and p.action == "step_up"
    assert c.observe(Observation(t_s=31.0, rung=1, suds=_suds((30.0, 50.0)))) is None
    assert c.pending is None and c.events[-1].kind == "withdrawn"
    with pytest.raises(KeyError):
        c.accept(p.id or "", 32.0)


def test_open_checkin_blocks_a_step_up_but_not_a_step_down() -> None:
    c = Controller(Rules(below_band_hold_s=20.0), mode="suggest")
    c.observe(Observation(t_s=0.0, rung=2, last_level_change_t_s=-500.0))
    assert c.observe(Observation(t_s=21.0, rung=2, suds=_suds((0.0, 10.0), (20.0, 10.0)),
                                 checkin_open=True)) is None
    assert c.last_decision is not None and c.last_decision.reasons["blocked_by"] == [
        "checkin_open"]
    down = c.observe(Observation(t_s=40.0, rung=2, suds=_suds((39.0, 75.0)),
                                 checkin_open=True))
    assert down is not None and down.action == "step_down" and down.to_rung == 1


def test_step_down_supersedes_a_pending_step_up_and_rejected_step_down_needs_new_evidence(
) -> None:
    c = Controller(Rules(below_band_hold_s=20.0), mode="suggest")
    c.observe(Observation(t_s=0.0, rung=2, last_level_change_t_s=-500.0))
    up = c.observe(Observation(t_s=21.0, rung=2, suds=_suds((0.0, 10.0), (20.0, 10.0))))
    assert up is not None and up.action == "step_up"
    down = c.observe(Observation(t_s=30.0, rung=2, suds=_suds((29.0, 90.0))))
    assert down is not None and down.action == "step_down"
    assert [e.kind for e in c.events[-2:]] == ["superseded", "proposed"]
    c.reject(down.id or "", 31.0)
    assert c.observe(Observation(t_s=40.0, rung=2)) is None  # same answer: not again
    again = c.observe(Observation(t_s=50.0, rung=2, suds=_suds((49.0, 85.0))))
    assert again is not None and again.action == "step_down"


def test_max_rung_is_a_hard_limit() -> None:
    c = Controller(Rules(max_rung=3, below_band_hold_s=0.0), mode="suggest")
    c.observe(Observation(t_s=0.0, rung=3, last_level_change_t_s=-500.0))
    assert c.observe(Observation(t_s=1.0, rung=3, suds=_suds((1.0, 0.0)))) is None
    assert c.last_decision is not None and c.last_decision.action == "hold"
    # Set above it by hand: the controller proposes to come back down, one rung.
    p = c.observe(Observation(t_s=2.0, rung=5, suds=_suds((2.0, 0.0))))
    assert p is not None and (p.action, p.to_rung) == ("step_down", 4)
    assert p.reasons["rule"] == "above_max_rung"


def test_consent_in_auto_mode_by_hand() -> None:
    c = Controller(Rules(below_band_hold_s=10.0, min_step_interval_s=0.0,
                         rejection_cooldown_s=100.0), mode="auto")
    c.observe(Observation(t_s=0.0, rung=0, last_level_change_t_s=-500.0))
    up = c.observe(Observation(t_s=11.0, rung=0, suds=_suds((0.0, 5.0), (10.0, 5.0))))
    assert up is not None and up.action == "step_up" and c.events[-1].kind == \
        "consent_requested"
    # While the consent question is open nothing new is asked.
    assert c.observe(Observation(t_s=12.0, rung=0, checkin_open=True)) is None
    refused = c.consent(False, 13.0)
    assert refused.kind == "consent_refused" and c.pending is None
    assert c.observe(Observation(t_s=14.0, rung=0, suds=_suds((14.0, 5.0)))) is None
    assert c.observe(Observation(t_s=100.0, rung=0, suds=_suds((100.0, 5.0)))) is None
    assert all(e.kind != "step_taken" for e in c.events)
    up2 = c.observe(Observation(t_s=114.0, rung=0, suds=_suds((113.5, 5.0))))
    assert up2 is not None and up2.action == "step_up"
    taken = c.consent(True, 116.0)
    assert taken.kind == "step_taken" and taken.to_rung == 1
    with pytest.raises(KeyError):
        c.consent(True, 117.0)
    # A step down in auto mode is taken at once, no consent.
    down = c.observe(Observation(t_s=130.0, rung=1, suds=_suds((129.0, 80.0))))
    assert down is not None and down.action == "step_down"
    assert [e.kind for e in c.events][-1] == "step_taken"


def test_no_suds_yet_becomes_stale_and_checkin_is_not_repeated_too_soon() -> None:
    c = Controller(Rules(suds_stale_s=60.0, checkin_retry_s=30.0), mode="auto")
    assert c.observe(Observation(t_s=0.0, rung=0)) is None
    ask = c.observe(Observation(t_s=61.0, rung=0))
    assert ask is not None and ask.action == "ask_checkin"
    assert c.events[-1].kind == "checkin_requested"
    assert c.observe(Observation(t_s=80.0, rung=0)) is None  # still on its way
    again = c.observe(Observation(t_s=92.0, rung=0))
    assert again is not None and again.action == "ask_checkin"


def test_mode_switch_withdraws_the_pending_proposal() -> None:
    c = Controller(Rules(below_band_hold_s=0.0), mode="suggest")
    c.observe(Observation(t_s=0.0, rung=0, last_level_change_t_s=-500.0))
    assert c.observe(Observation(t_s=1.0, rung=0, suds=_suds((1.0, 0.0)))) is not None
    event = c.set_mode("manual", 2.0)
    assert event.kind == "mode_changed" and c.pending is None and c.mode == "manual"
    assert [e.kind for e in c.events] == ["proposed", "withdrawn", "mode_changed"]
    assert c.observe(Observation(t_s=3.0, rung=0, suds=_suds((3.0, 0.0)))) is None


@pytest.mark.parametrize(("field_name", "value"), [
    ("suds_band", (70.0, 40.0)), ("suds_band", (-1.0, 50.0)), ("suds_band", (40.0, 101.0)),
    ("suds_band", (40.0,)), ("below_band_hold_s", -1.0), ("habituation_hold_s", math.nan),
    ("min_step_interval_s", -0.1), ("min_step_down_interval_s", math.inf),
    ("suds_stale_s", -5.0), ("rejection_cooldown_s", -1.0), ("checkin_retry_s", -1.0),
    ("habituation_drop", 0.0), ("habituation_drop", 1.5), ("max_rung", -1),
    ("max_rung", 2.5), ("hr_excess_bpm", -3.0), ("hr_excess_hold_s", -1.0),
    ("hr_baseline_bpm", 0.0), ("hr_baseline_window_s", -1.0),
])
def test_bad_rules_raise_value_error_naming_the_field(field_name: str, value: Any) -> None:
    with pytest.raises(ValueError, match=field_name):
        replace(Rules(), **{field_name: value})


def test_bad_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="mode"):
        Controller(mode="autopilot")  # type: ignore[arg-type]
