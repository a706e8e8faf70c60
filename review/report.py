"""``vret review``: one self-contained HTML file reviewing a recorded session.

The file has no external references (styles inline, charts as inline SVG, no script), so it
opens offline and can be filed with the clinical record. Sections (each an element with that
id): ``summary``, ``timeline`` (level, ratings, heart rate, skin conductance, gaze on the
stimulus, and lanes of check-ins, the avatar's lines, therapist actions, annotations,
questionnaires and alerts), ``trials``, ``questionnaires`` and ``log``.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from instruments.catalogue import Catalogue
from review.session import GAZE_WINDOW_S, Series, SessionData, open_session
from ruptures.codes import MARKERS, RESOLUTION_STRATEGIES
from telemetry.schemas import (
    Alert,
    Annotation,
    AvatarGesture,
    AvatarLineCut,
    AvatarUtterance,
    CheckInAnswered,
    CheckInAsked,
    ControllerDecision,
    HeadsetState,
    LevelChange,
    QuestionnaireResponse,
    QuestionnaireStarted,
    RepairMarked,
    RiskAcknowledged,
    RuptureCandidate,
    RuptureMarked,
    ScenarioEvent,
    SessionPlan,
    StateChange,
)

WIDTH = 1000
LEFT = 130
RIGHT = 20
PLOT_W = WIDTH - LEFT - RIGHT
LANES = ("check-ins", "avatar", "therapist", "ruptures", "notes", "questionnaires", "alerts")
COLOURS = {"check-ins": "#2b7bb9", "avatar": "#7a5195", "therapist": "#d45087",
           "ruptures": "#b03a2e", "notes": "#666", "questionnaires": "#2f8f5b",
           "alerts": "#e8590c"}
NONE = "\u2013"
"""Shown where there is no value (an en dash)."""
RATING_COLOURS = {"suds": "#c0392b", "expectancy": "#2b7bb9", "fms": "#8e6c00"}


def e(text: object) -> str:
    """HTML-escaped text."""
    return html.escape(str(text), quote=True)


def clock(t_s: float) -> str:
    """``m:ss`` from seconds."""
    sign = "-" if t_s < 0 else ""
    t = abs(round(t_s))
    return f"{sign}{t // 60}:{t % 60:02d}"


# ------------------------------------------------------------------------------ timeline

def _x(t: float, duration: float) -> float:
    return LEFT + PLOT_W * (t / duration if duration > 0 else 0.0)


def _track(title: str, height: int, y0: int, duration: float, low: float, high: float,
           draw: Callable[[Callable[[float], float], Callable[[float], float]], list[str]],
           unit: str = "") -> list[str]:
    """A track: its frame, labels and what ``draw`` makes with the (x, y) scales."""
    def y(v: float) -> float:
        span = (high - low) or 1.0
        return y0 + height - height * (min(max(v, low), high) - low) / span

    out = [f'<rect x="{LEFT}" y="{y0}" width="{PLOT_W}" height="{height}" class="track"/>',
           f'<text x="{LEFT - 8}" y="{y0 + height / 2 + 4}" class="label">{e(title)}</text>',
           f'<text x="{LEFT - 8}" y="{y0 + 10}" class="tick">{high:g}{e(unit)}</text>',
           f'<text x="{LEFT - 8}" y="{y0 + height}" class="tick">{low:g}{e(unit)}</text>']
    return out + draw(lambda t: _x(t, duration), y)


def _polyline(ts: Sequence[float], vs: Sequence[float], x: Callable[[float], float],
              y: Callable[[float], float], colour: str, step: bool = False) -> str:
    points: list[str] = []
    for i, (t, v) in enumerate(zip(ts, vs, strict=True)):
        if step and i:
            points.append(f"{x(t):.1f},{y(vs[i - 1]):.1f}")
        points.append(f"{x(t):.1f},{y(v):.1f}")
    return (f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" '
            f'points="{" ".join(points)}"/>')


def _line(series: Series) -> Callable[[Callable[[float], float], Callable[[float], float]],
                                      list[str]]:
    def draw(x: Callable[[float], float], y: Callable[[float], float]) -> list[str]:
        return [_polyline(list(series.t), list(series.v), x, y, "#1f6f8b")]
    return draw


def _lane_of(body: object) -> str | None:
    if isinstance(body, CheckInAsked | CheckInAnswered):
        return "check-ins"
    if isinstance(body, AvatarUtterance | AvatarLineCut | AvatarGesture):
        return "avatar"
    if isinstance(body, LevelChange | StateChange | ScenarioEvent | ControllerDecision
                  | SessionPlan | RiskAcknowledged):
        return "therapist"
    if isinstance(body, Annotation):
        return "notes"
    if isinstance(body, RuptureMarked | RepairMarked | RuptureCandidate):
        return "ruptures"
    if isinstance(body, QuestionnaireResponse | QuestionnaireStarted):
        return "questionnaires"
    if isinstance(body, Alert | HeadsetState):
        return "alerts"
    return None


def describe(body: object) -> str:
    """One line saying what an event was."""
    match body:
        case StateChange():
            return f"{body.from_state} -> {body.to_state} ({body.actor}: {body.reason})"
        case LevelChange():
            why = f": {body.reason}" if body.reason else ""
            return (f"level rung {body.previous_rung} -> {body.rung}, intensity "
                    f"{body.intensity:.2f} ({body.actor}{why})")
        case CheckInAsked():
            return f"{body.instrument} asked ({body.purpose}) {body.checkin_id}"
        case CheckInAnswered():
            if not body.answered:
                return f"{body.instrument}: no answer ({body.checkin_id})"
            latency = f", after {body.latency_ms / 1000:.1f} s" if body.latency_ms else ""
            return f"{body.instrument} = {body.value:g}{latency}"
        case AvatarUtterance():
            return f"avatar said: {body.text}"
        case AvatarLineCut():
            return f"avatar line {body.outcome}: {body.text}"
        case AvatarGesture():
            return f"avatar gesture: {body.name}"
        case ScenarioEvent():
            return f"live event: {body.name}"
        case ControllerDecision():
            return f"controller {body.decision}: {body.summary}"
        case SessionPlan():
            return (f"plan: band {body.band_low:g}-{body.band_high:g}, controller "
                    f"{body.controller}, trial criterion {body.trial_criterion}")
        case Annotation():
            return f"note: {body.text}"
        case RuptureMarked():
            code = f" / {body.subtype}" if body.subtype else ""
            return (f"rupture {body.rupture_id} ({body.marker}{code})"
                    f"{': ' + body.note if body.note else ''}")
        case RepairMarked():
            line = f" (the avatar: {body.line_id})" if body.line_id else ""
            return f"repair of {body.rupture_id}: {body.strategy}{line}"
        case RuptureCandidate():
            return (f"rupture candidate {body.candidate_id} ({body.marker}, "
                    f"{body.confidence:.0%}): {', '.join(body.signals)}")
        case QuestionnaireResponse():
            flags = f"; flags: {', '.join(body.flags)}" if body.flags else ""
            done = "answered" if body.complete else "left unfinished"
            return f"{body.instrument} ({body.timing}) {done}{flags}"
        case QuestionnaireStarted():
            return f"{body.instrument} ({body.timing}) given in the scene ({body.form_id})"
        case RiskAcknowledged():
            return f"risk acknowledged on {body.response_id}: {body.note}"
        case Alert():
            return f"{body.severity} alert {body.code}: {body.message}"
        case HeadsetState():
            return f"headset {body.previous} -> {body.state}: {body.reason}"
    return getattr(body, "kind", type(body).__name__)


def timeline_svg(data: SessionData) -> str:
    """The session on one time axis, as inline SVG."""
    duration = max(data.duration_s, 1.0)
    parts: list[str] = []
    y0 = 10

    def add(track: list[str], height: int) -> None:
        nonlocal y0
        parts.extend(track)
        y0 += height + 14

    s = data.series
    rungs = max(1, int(max(s["rung"].v.max() if "rung" in s and len(s["rung"]) else 0,
                           max((t.rung for t in data.trials), default=0))) + 1)

    def level(x: Callable[[float], float], y: Callable[[float], float]) -> list[str]:
        out = []
        if "stimulus_visible" in s and len(s["stimulus_visible"]):
            vis = s["stimulus_visible"]
            start = None
            for t, v in zip(vis.t, vis.v, strict=True):
                if v > 0.5 and start is None:
                    start = t
                elif v <= 0.5 and start is not None:
                    out.append(f'<rect x="{x(start):.1f}" y="{y(rungs)}" width="'
                               f'{x(t) - x(start):.1f}" height="{y(0) - y(rungs):.1f}" '
                               f'class="shown"><title>stimulus shown</title></rect>')
                    start = None
            if start is not None:
                out.append(f'<rect x="{x(start):.1f}" y="{y(rungs)}" width="'
                           f'{x(duration) - x(start):.1f}" height="{y(0) - y(rungs):.1f}" '
                           f'class="shown"><title>stimulus shown</title></rect>')
        if "rung" in s and len(s["rung"]):
            level_v = s["rung"].v + s["intensity"].v
            out.append(_polyline(list(s["rung"].t), list(level_v), x, y, "#333", step=True))
        return out

    add(_track("level (rung)", 70, y0, duration, 0, rungs, level), 70)

    ratings: dict[str, list[tuple[float, float]]] = {}
    for ev in data.events:
        if isinstance(ev.body, CheckInAnswered) and ev.body.value is not None \
                and ev.body.instrument != "consent":  # a yes or no, not a rating
            ratings.setdefault(ev.body.instrument, []).append((data.t(ev), ev.body.value))

    def rated(x: Callable[[float], float], y: Callable[[float], float]) -> list[str]:
        out = []
        for instrument, points in ratings.items():
            colour = RATING_COLOURS.get(instrument, "#444")
            top = 20.0 if instrument == "fms" else 100.0
            for t, v in points:
                out.append(f'<circle cx="{x(t):.1f}" cy="{y(v * 100 / top):.1f}" r="4" '
                           f'fill="{colour}"><title>{e(instrument)} {v:g} at {clock(t)}'
                           f'</title></circle>')
            if len(points) > 1:
                out.append(_polyline([p[0] for p in points],
                                     [p[1] * 100 / top for p in points], x, y, colour))
        return out

    add(_track("ratings (% of scale)", 70, y0, duration, 0, 100, rated), 70)
    for name, title, unit in (("heart_rate", "heart rate", " bpm"),
                              ("eda", "skin conductance", " µS")):
        if name in s and len(s[name]):
            series = s[name]
            low, high = float(series.v.min()), float(series.v.max())
            pad = max((high - low) * 0.1, 0.5)
            low, high = round(low - pad, 1), round(high + pad, 1)
            add(_track(title, 55, y0, duration, low, high, _line(series), unit), 55)
    if "gaze_on_stimulus" in s and len(s["gaze_on_stimulus"]):
        gaze = s["gaze_on_stimulus"]

        def bars(x: Callable[[float], float], y: Callable[[float], float]) -> list[str]:
            half = GAZE_WINDOW_S / 2
            return [f'<rect x="{x(max(0.0, t - half)):.1f}" y="{y(v * 100):.1f}" width="'
                    f'{max(1.0, x(min(duration, t + half)) - x(max(0.0, t - half)) - 1):.1f}" '
                    f'height="{y(0) - y(v * 100):.1f}" fill="#6a994e"><title>gaze on the '
                    f'stimulus {v:.0%} around {clock(t)}</title></rect>'
                    for t, v in zip(gaze.t, gaze.v, strict=True)]

        add(_track("gaze on stimulus", 45, y0, duration, 0, 100, bars, "%"), 45)

    for lane in LANES:
        lane_y = y0
        parts.append(f'<text x="{LEFT - 8}" y="{lane_y + 12}" class="label">{e(lane)}</text>')
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{lane_y + 8}" '
                     f'y2="{lane_y + 8}" class="lane"/>')
        for ev in data.events:
            if _lane_of(ev.body) != lane:
                continue
            colour = COLOURS[lane]
            if isinstance(ev.body, Alert) and ev.body.severity == "critical":
                colour = "#c92a2a"
            x = _x(data.t(ev), duration)
            parts.append(f'<rect x="{x - 2:.1f}" y="{lane_y + 2}" width="4" height="12" '
                         f'fill="{colour}"><title>{clock(data.t(ev))} '
                         f'{e(describe(ev.body))}</title></rect>')
        y0 += 20
    for minute in range(0, int(duration // 60) + 1):
        x = _x(minute * 60.0, duration)
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="6" y2="{y0}" class="grid"/>'
                     f'<text x="{x:.1f}" y="{y0 + 14}" class="time">{minute}:00</text>')
    height = y0 + 22
    # The axis, for a page that maps a click to a moment (the console's replay).
    axis = (f'data-left="{LEFT}" data-plot-width="{PLOT_W}" data-width="{WIDTH}" '
            f'data-duration="{duration:.3f}"')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
            f'width="100%" role="img" aria-label="session timeline" {axis}>'
            f'{"".join(parts)}</svg>')


# ------------------------------------------------------------------------------ tables

def _fmt(v: float | None, digits: int = 0) -> str:
    return NONE if v is None else f"{v:.{digits}f}"


def trials_table(data: SessionData) -> str:
    """The exposure trials as an HTML table."""
    if not data.trials:
        return "<p>No exposure trial in this session.</p>"
    rows = []
    for trial in data.trials:
        met = trial.criterion_met
        verdict = NONE if met is None else ("met" if met else "not met")
        rows.append(
            f"<tr><td>{trial.index}</td><td>{trial.rung}</td><td>{trial.intensity:.2f}</td>"
            f"<td>{clock(trial.t_start_s)}</td><td>{_fmt(trial.duration_s)} s</td>"
            f"<td>{e(trial.end_reason or 'open')}</td>"
            f"<td>{_fmt(trial.predicted_suds)}</td><td>{_fmt(trial.peak_suds)}</td>"
            f"<td>{_fmt(trial.end_suds)}</td><td>{_fmt(trial.expectancy_before)}</td>"
            f"<td>{_fmt(trial.expectancy_after)}</td><td>{_fmt(trial.expectancy_violation)}</td>"
            f"<td>{trial.unanswered}</td><td>{e(trial.criterion)}: {verdict}</td></tr>")
    return ("<table><thead><tr><th>#</th><th>rung</th><th>intensity</th><th>start</th>"
            "<th>time at rung</th><th>ended by</th><th>predicted SUDS</th><th>peak SUDS</th>"
            "<th>end SUDS</th><th>expectancy before</th><th>after</th><th>violation</th>"
            "<th>unanswered</th><th>criterion</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>")


def questionnaires_html(data: SessionData, catalogue: Catalogue | None) -> str:
    """Each questionnaire response: scores with bands, flags, and what they do not mean."""
    if not data.responses:
        return "<p>No questionnaire was recorded in this session.</p>"
    blocks = []
    baselines: dict[tuple[str, str], QuestionnaireResponse] = {}
    for t, response in data.responses:
        key = (response.instrument, response.version)
        baseline = baselines.get(key) if response.timing == "end" else None
        if response.timing == "start":
            baselines[key] = response
        instrument = None
        if catalogue is not None:
            instrument = catalogue.instruments.get(response.instrument)
        name = instrument.name if instrument else response.instrument
        rows = []
        for score_id, value in response.scores.items():
            band, verified = "", True
            if instrument is not None:
                definition = next((s for s in instrument.scores if s.id == score_id), None)
                verified = definition.verified if definition else True
                for b in instrument.bands.get(score_id, []):
                    if isinstance(value, int | float) and b.low <= value <= b.high:
                        band = b.label
            shown = "not scored (missing items)" if value is None else f"{float(value):.4g}"
            note = "" if verified else " <em>(composition unverified)</em>"
            before = baseline.scores.get(score_id) if baseline is not None else None
            if isinstance(value, int | float) and isinstance(before, int | float):
                note += f"{float(value) - float(before):+.4g} since the start"
            rows.append(f"<tr><td>{e(score_id)}</td><td>{e(shown)}</td><td>{e(band)}</td>"
                        f"<td>{note}</td></tr>")
        flags = []
        for flag_id in response.flags:
            message = flag_id
            if instrument is not None:
                flag = next((f for f in instrument.flags if f.id == flag_id), None)
                message = f"{flag.level}: {flag.message}" if flag else flag_id
            flags.append(f'<li class="flag">{e(message)}</li>')
        if response.instrument == "phq9" and not response.flags:
            flags.append('<li class="note">Item 9 was not endorsed. This does not rule out '
                         'risk: ask about it as you would without the questionnaire.</li>')
        acknowledged = [ev for ev in data.events if isinstance(ev.body, RiskAcknowledged)
                        and ev.body.response_id == response.response_id]
        for ev in acknowledged:
            assert isinstance(ev.body, RiskAcknowledged)
            flags.append(f'<li class="ack">acknowledged at {clock(data.t(ev))} '
                         f'({e(ev.body.actor)}): {e(ev.body.note)}</li>')
        validated = "" if instrument is None or instrument.validated else \
            ' <span class="warn">not a validated instrument</span>'
        blocks.append(
            f'<div class="response"><h3>{e(name)}{validated}</h3><p>{e(response.timing)} at '
            f'{clock(t)}, answered by the {e(response.respondent)}, version '
            f'{e(response.version)}, text: {e(response.text_source)}'
            f'{"" if response.complete else ", <strong>incomplete</strong>"}</p>'
            f'<table><thead><tr><th>score</th><th>value</th><th>band</th><th></th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>'
            f'{"<ul>" + "".join(flags) + "</ul>" if flags else ""}</div>')
    return "".join(blocks)


def log_table(data: SessionData) -> str:
    """Every event of the log."""
    rows = [f"<tr><td>{ev.seq}</td><td>{clock(data.t(ev))}</td><td>{e(ev.body.kind)}</td>"
            f"<td>{e(describe(ev.body))}</td></tr>" for ev in data.events]
    return ("<table><thead><tr><th>seq</th><th>time</th><th>kind</th><th>what</th></tr>"
            "</thead><tbody>" + "".join(rows) + "</tbody></table>")


def _options(pairs: list[tuple[str, str]]) -> str:
    return "".join(f'<option value="{e(v)}">{e(label)}</option>' for v, label in pairs)


def coding_form(data: SessionData) -> str:
    """The console's form for coding the session's ruptures after it (``review.coding``)."""
    review = data.ruptures
    open_ = [(c.candidate_id, f"{c.candidate_id}: {c.marker} at {clock(c.t_start)}")
             for c in review.candidates if c.status == "open"]
    marked = [(r.rupture_id, f"{r.rupture_id}: {r.marker} at {clock(r.t_start)}")
              for r in review.ruptures]
    scale = _options([("", NONE)] + [(str(k), str(k)) for k in range(1, 6)])
    codes = json.dumps({"markers": MARKERS})
    return f"""<form id="coding" data-codes="{e(codes)}"><h3>Code in review</h3>
<label>What <select name="what">{_options([
        ("confirm", "confirm a candidate"), ("dismiss", "dismiss a candidate"),
        ("mark", "mark a rupture at the replayed moment"), ("repair", "mark a repair"),
        ("rate", "rate the session")])}</select></label>
<label data-for="confirm dismiss">Candidate <select name="candidate_id">{_options(open_)}
</select></label>
<label data-for="repair">Rupture <select name="rupture_id">{_options(marked)}</select></label>
<label data-for="confirm mark">Marker <select name="marker">{_options(
        [("withdrawal", "withdrawal"), ("confrontation", "confrontation")])}</select></label>
<label data-for="confirm mark">3RS code <select name="subtype"></select></label>
<label data-for="confirm mark">Salience <select name="salience">{scale}</select></label>
<label data-for="repair">Strategy <select name="strategy">{_options(
        list(RESOLUTION_STRATEGIES.items()))}</select></label>
<label data-for="repair"><input type="checkbox" name="resolved"> resolved</label>
<label data-for="rate">My contribution <select name="therapist_contribution">{scale}</select>
</label>
<label data-for="rate">Resolution <select name="resolution">{scale}</select></label>
<label>Note <input name="note" maxlength="4000"></label>
<button type="submit">Record</button> <span id="coding-status" role="status"></span></form>"""


def ruptures_html(data: SessionData, live: bool) -> str:
    """The ruptures with their codes, evidence and repairs; the detector's candidates and what
    became of them; the therapist's ratings of the session. ``live``: served by a console (a
    button replays each moment), else the replay command is given."""
    review = data.ruptures
    session = data.record.session_id
    parts: list[str] = []
    if not review.ruptures:
        parts.append("<p>No rupture was marked in this session.</p>")
    else:
        rows = []
        for r in review.ruptures:
            source = ("therapist" if r.candidate is None else
                      f"detector {e(r.candidate.candidate_id)} ({r.candidate.confidence:.0%}: "
                      f"{e(', '.join(r.candidate.signals))}), confirmed")
            if r.in_review:
                source += " (coded in review)"
            repairs = "<br>".join(
                ("in review: " if p.in_review else f"{clock(p.t)} ") + e(p.label)
                + (f" (the avatar: <code>{e(p.line_id)}</code>)" if p.line_id else "")
                + (", resolved" if p.resolved else ", not resolved" if p.resolved is False
                   else "") + (f": {e(p.note)}" if p.note else "")
                for p in r.repairs) or NONE
            at = max(0.0, r.t_start)
            replay = (f'<button type="button" class="replay-at" data-t="{at:.2f}">view</button>'
                      if live else f'<code>vret replay {e(session)} --at {at:.1f}</code>')
            rows.append(
                f"<tr><td>{e(r.rupture_id)}</td><td>{e(r.marker)}</td>"
                f"<td>{e(r.code_label) or NONE}</td><td>{r.salience or NONE}</td>"
                f"<td>{clock(r.t_start)}-{clock(r.t_end)}</td><td>{source}</td>"
                f"<td>{repairs}</td><td>{e(r.note)}</td><td>{replay}</td></tr>")
        parts.append("<table><thead><tr><th>rupture</th><th>marker</th><th>3RS code</th>"
                     "<th>salience</th><th>when</th><th>found by</th><th>repair</th>"
                     "<th>note</th><th>replay</th></tr></thead><tbody>" + "".join(rows)
                     + "</tbody></table>")
        counts = review.counts()
        share = review.share_resolved
        parts.append(f"<p>{counts['withdrawal']} withdrawal, {counts['confrontation']} "
                     f"confrontation; resolved: "
                     f"{NONE if share is None else f'{share:.0%}'}.</p>")
    if review.contribution is not None or review.resolution is not None:
        parts.append(f"<p>The therapist's ratings of the session (1-5): own contribution to "
                     f"the ruptures {review.contribution or NONE}, resolution "
                     f"{review.resolution or NONE}"
                     f"{': ' + e(review.rating_note) if review.rating_note else ''}.</p>")
    if live:
        parts.append(coding_form(data))
    if review.candidates:
        items = "".join(
            f"<li>{e(c.candidate_id)} {e(c.marker)} at {clock(c.t_start)} "
            f"({c.confidence:.0%}, detector {e(c.detector_version)}): {e(c.evidence)} "
            f"<strong>{e(c.status)}</strong></li>" for c in review.candidates)
        parts.append(f"<h3>What the detector proposed</h3><ul>{items}</ul>")
    return "".join(parts)


def summary_html(data: SessionData) -> str:
    """The session at a glance."""
    kinds = [ev.body for ev in data.events]
    answered = [b for b in kinds if isinstance(b, CheckInAnswered) and b.answered]
    missed = [b for b in kinds if isinstance(b, CheckInAnswered) and not b.answered]
    stops = [b for b in kinds if isinstance(b, StateChange) and b.to_state == "safe_hold"]
    client_stops = [b for b in stops if b.actor == "client"]
    flags = [f for b in kinds if isinstance(b, QuestionnaireResponse) for f in b.flags]
    ruptures = [b for b in kinds if isinstance(b, RuptureMarked)]
    top = max((t.rung for t in data.trials), default=None)
    started = datetime.fromtimestamp(data.record.created_wall_ns / 1e9, UTC)
    items = [("client (pseudonym)", data.record.client_id),
             ("scenario", data.record.scenario),
             ("started (UTC)", started.strftime("%Y-%m-%d %H:%M")),
             ("length", clock(data.duration_s)),
             ("exposure trials", len(data.trials)),
             ("highest rung", NONE if top is None else top),
             ("check-ins answered / not", f"{len(answered)} / {len(missed)}"),
             ("stops (by the client)", f"{len(stops)} ({len(client_stops)})"),
             ("rupture moments marked", len(ruptures)),
             ("questionnaire flags", ", ".join(flags) or "none")]
    return "<dl>" + "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in items) + "</dl>"


STYLE = """
body{font:14px/1.45 system-ui,sans-serif;color:#222;margin:0 auto;max-width:1100px;padding:16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid
#ddd}h3{font-size:15px;margin:14px 0 4px}table{border-collapse:collapse;width:100%;font-size:13px}
th,td{border-bottom:1px solid #eee;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f6f6f6}dl{display:grid;grid-template-columns:max-content auto;gap:2px 16px}
dt{color:#555}dd{margin:0}.track{fill:#fafafa;stroke:#ddd}.shown{fill:#fde8d7}
.label{font-size:11px;text-anchor:end;fill:#333}.tick{font-size:9px;text-anchor:end;fill:#888}
.time{font-size:9px;text-anchor:middle;fill:#888}.grid{stroke:#eee}.lane{stroke:#eee}
.flag{color:#c92a2a;font-weight:600}.note{color:#555}.ack{color:#2f8f5b}
.warn{font-size:12px;color:#8a5a00;background:#fff3cd;padding:1px 6px;border-radius:3px}
footer{margin-top:30px;color:#777;font-size:12px}#log td:nth-child(4){white-space:pre-wrap}
#replay-view{display:block;max-width:100%;min-height:40px;background:#222;border-radius:4px}
#replay-at{width:60%;vertical-align:middle}#replay-status{color:#555;margin-left:8px}
#timeline svg[data-replay]{cursor:crosshair}.replay-cursor{stroke:#e0a800;stroke-width:2}
"""


def replay_html(data: SessionData, base: str | None) -> str:
    """The replay section: live controls where a console serves the page (``base``: where
    its views and clips are), else how to replay a moment from the command line."""
    session = data.record.session_id
    if base is None:
        return (f'<p>No video is stored. To see again what the client saw at any moment, with '
                f'the point they looked at drawn, render it from the record: '
                f'<code>vret replay {e(session)} --at SECONDS</code> (one view) or '
                f'<code>vret replay {e(session)} --from SECONDS --to SECONDS</code> (a clip), '
                f'or open this session in the console\'s review page.</p>')
    return f"""<div id="replay-panel" data-base="{e(base)}" data-duration="{data.duration_s:.3f}">
<p>Click the timeline (or move the slider) to see what the client saw then, rendered again
from the record; the yellow ring is where they looked.</p>
<p><input type="range" id="replay-at" min="0" max="{data.duration_s:.1f}" step="0.1" value="0"
 aria-label="moment to replay"> <span id="replay-time">0:00</span>
<button type="button" id="replay-clip">Play 10 s from here</button>
<span id="replay-status" role="status"></span></p>
<img id="replay-view" alt="the client's view at the chosen moment">
</div><script src="/static/review.js" defer></script>"""


def render(data: SessionData, catalogue: Catalogue | None = None,
           replay_base: str | None = None) -> str:
    """The whole report as one HTML document (``replay_base``: served by a console, whose
    replay views are under that address)."""
    title = f"Session review: {data.record.session_id}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(title)}</title><style>{STYLE}</style></head>
<body>
<header><h1>{e(title)}</h1>
<p>Health data about a pseudonymous client: keep this file where the clinical record is kept.</p>
</header>
<section id="summary"><h2>Summary</h2>{summary_html(data)}</section>
<section id="timeline"><h2>Timeline</h2>
<p>Level (the shaded band: the stimulus is shown), ratings as a share of each scale (SUDS and
expectancy 0-100, motion sickness 0-20), physiology, gaze on the stimulus, and one mark per
event in each lane (hover for what it was).</p>{timeline_svg(data)}</section>
<section id="replay"><h2>Replay</h2>{replay_html(data, replay_base)}</section>
<section id="ruptures"><h2>Ruptures and repairs</h2>{ruptures_html(data, replay_base is not None)}
</section>
<section id="trials"><h2>Exposure trials</h2>{trials_table(data)}</section>
<section id="questionnaires"><h2>Questionnaires</h2>{questionnaires_html(data, catalogue)}
</section>
<section id="log"><h2>Session log</h2>{log_table(data)}</section>
<footer>Written by vret review from the session store. Self-contained: no network access
needed to read it.</footer>
</body></html>
"""


def write_report(data_dir: Path, session_id: str, output: Path,
                 catalogue: Catalogue | None = None) -> Path:
    """Write the report of ``session_id`` to ``output`` and return its path."""
    data = open_session(data_dir, session_id)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(render(data, catalogue), encoding="utf-8")
    return output
