"""Across the sessions of one client: the hierarchy climbed and the alliance over time.

``vret review --client CLIENT`` writes one HTML file with, per session in time order, the
highest rung reached, the peak SUDS at each rung (the hierarchy climbed, session by session),
and the end-of-session ratings (the alliance check, WAI-SR, SRS, ARM-5, HAq-II where given),
with each drop from the previous session flagged. The drop thresholds are vret's defaults, not
validated reliable-change values: a flag says "look at this session", nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from review.report import STYLE, e
from review.session import load_session
from telemetry.schemas import QuestionnaireResponse
from telemetry.store import SessionStore

DROPS: dict[tuple[str, str], float] = {
    ("vret_alliance_check", "alliance"): 1.0,
    ("vret_alliance_check", "guide"): 2.0,
    ("vret_therapist_check", "alliance"): 1.0,
    ("wai_sr", "total"): 5.0,
    ("srs", "total"): 3.0,
    ("arm5", "mean"): 0.5,
    ("haq2", "total"): 5.0,
}
"""End-of-session scores followed over time, and the fall from the previous session that is
flagged (vret's defaults; none is a validated reliable-change threshold)."""


@dataclass
class SessionSummary:
    """One session of the client, as the history shows it."""

    session_id: str
    started: datetime
    scenario: str
    top_rung: int | None
    peak_suds: dict[int, float] = field(default_factory=dict)
    """Rung -> the highest SUDS rated at it in this session."""
    end_scores: dict[tuple[str, str], float] = field(default_factory=dict)
    ruptures: dict[str, int] = field(default_factory=dict)
    """Marker -> ruptures marked."""
    resolved: float | None = None
    """Share of the session's ruptures marked resolved (None without ruptures)."""
    candidates: int = 0


@dataclass(frozen=True)
class Drop:
    """An end-of-session score that fell by at least its threshold."""

    session_id: str
    key: tuple[str, str]
    before: float
    after: float


def client_history(store: SessionStore, client_id: str) -> list[SessionSummary]:
    """The client's sessions in the order they took place (ValueError if there are none)."""
    records = sorted((r for r in store.sessions() if r.client_id == client_id),
                     key=lambda r: r.created_wall_ns)
    if not records:
        known = sorted({r.client_id for r in store.sessions()})
        raise ValueError(f"no session of client {client_id!r}; clients: "
                         f"{', '.join(known) or 'none'}")
    history = []
    for record in records:
        data = load_session(store, record.session_id)
        summary = SessionSummary(
            record.session_id, datetime.fromtimestamp(record.created_wall_ns / 1e9, UTC),
            record.scenario, max((t.rung for t in data.trials), default=None))
        for trial in data.trials:
            peak = trial.peak_suds
            if peak is not None:
                summary.peak_suds[trial.rung] = max(peak, summary.peak_suds.get(trial.rung, 0))
        for _, response in data.responses:
            if isinstance(response, QuestionnaireResponse) and response.timing == "end":
                for score_id, value in response.scores.items():
                    if isinstance(value, int | float) and (response.instrument,
                                                           score_id) in DROPS:
                        summary.end_scores[(response.instrument, score_id)] = float(value)
        summary.ruptures = data.ruptures.counts()
        summary.resolved = data.ruptures.share_resolved
        summary.candidates = len(data.ruptures.candidates)
        history.append(summary)
    return history


def drops(history: list[SessionSummary]) -> list[Drop]:
    """Every end-of-session score that fell by its threshold since the client's previous
    session that had it."""
    found: list[Drop] = []
    last: dict[tuple[str, str], float] = {}
    for summary in history:
        for key, value in summary.end_scores.items():
            before = last.get(key)
            if before is not None and before - value >= DROPS[key]:
                found.append(Drop(summary.session_id, key, before, value))
            last[key] = value
    return found


def render_history(client_id: str, history: list[SessionSummary]) -> str:
    """The client's history as one self-contained HTML document."""
    fell = drops(history)
    dropped = {(d.session_id, d.key) for d in fell}
    rungs = sorted({r for s in history for r in s.peak_suds})
    head = "".join(f"<th>{e(s.started.strftime('%Y-%m-%d %H:%M'))}<br>{e(s.session_id)}</th>"
                   for s in history)
    climbed = "".join(
        f"<tr><td>rung {r}</td>" + "".join(
            f"<td>{'' if r not in s.peak_suds else f'{s.peak_suds[r]:.0f}'}</td>"
            for s in history) + "</tr>" for r in reversed(rungs))
    keys = sorted({k for s in history for k in s.end_scores})
    ratings = "".join(
        f"<tr><td>{e(k[0])} {e(k[1])}</td>" + "".join(
            "<td></td>" if k not in s.end_scores else
            f"<td class=\"{'drop' if (s.session_id, k) in dropped else ''}\">"
            f"{s.end_scores[k]:.3g}</td>" for s in history) + "</tr>" for k in keys)
    tops = "".join(f"<td>{'' if s.top_rung is None else s.top_rung}</td>" for s in history)
    rupture_rows = "".join(
        f"<tr><td>{e(marker)}</td>" + "".join(
            f"<td>{s.ruptures.get(marker, 0)}</td>" for s in history) + "</tr>"
        for marker in ("withdrawal", "confrontation"))
    rupture_rows += "<tr><td>resolved</td>" + "".join(
        f"<td>{'' if s.resolved is None else f'{s.resolved:.0%}'}</td>" for s in history) \
        + "</tr><tr><td>detector candidates</td>" + "".join(
        f"<td>{s.candidates}</td>" for s in history) + "</tr>"
    flags = "".join(
        f"<li class=\"flag\">{e(d.session_id)}: {e(d.key[0])} {e(d.key[1])} fell from "
        f"{d.before:.3g} to {d.after:.3g}</li>" for d in fell) or "<li>none</li>"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Client history: {e(client_id)}</title>
<style>{STYLE}.drop{{background:#ffe3e3;color:#c92a2a;font-weight:600}}</style></head>
<body><header><h1>Client history: {e(client_id)}</h1>
<p>{len(history)} sessions. Health data about a pseudonymous client.</p></header>
<section id="sessions"><h2>Sessions</h2><table><thead><tr><th></th>{head}</tr></thead>
<tbody><tr><td>scenario</td>{"".join(f"<td>{e(s.scenario)}</td>" for s in history)}</tr>
<tr><td>highest rung</td>{tops}</tr></tbody></table></section>
<section id="hierarchy"><h2>The hierarchy climbed: peak SUDS at each rung</h2>
<table><thead><tr><th></th>{head}</tr></thead><tbody>{climbed}</tbody></table></section>
<section id="alliance"><h2>End-of-session ratings</h2>
<table><thead><tr><th></th>{head}</tr></thead><tbody>{ratings}</tbody></table>
<h3>Drops from the previous session</h3><ul>{flags}</ul>
<h3>Ruptures marked, and the share resolved</h3>
<table><thead><tr><th></th>{head}</tr></thead><tbody>{rupture_rows}</tbody></table>
<p>A drop is flagged at vret's default thresholds ({e(', '.join(
        f'{k[0]} {k[1]}: {v:g}' for k, v in DROPS.items()))}); none is a validated
reliable-change value. The in-house alliance check is not a validated instrument.</p>
</section></body></html>
"""
