"""A session's ruptures, their repairs and the detector's candidates, from the log.

A rupture is what the therapist marked (by hand, or by confirming a candidate): its marker and
3RS code, salience, window, and the repairs that followed with their strategies, the avatar's
line that carried one, and whether it was resolved. Candidates are kept with what became of
them (confirmed, dismissed, or left open), so the review shows what the detector proposed and
what the therapist made of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ruptures.codes import MARKERS, RESOLUTION_STRATEGIES
from telemetry.schemas import (
    CandidateDismissed,
    RepairMarked,
    RuptureCandidate,
    RuptureMarked,
    RuptureRating,
)
from telemetry.store import StoredEvent


@dataclass
class Repair:
    """One repair of a rupture."""

    t: float
    strategy: str
    line_id: str | None
    resolved: bool | None
    note: str
    in_review: bool = False
    """Marked in the review, after the session."""

    @property
    def label(self) -> str:
        """The strategy's 3RS label."""
        return RESOLUTION_STRATEGIES.get(self.strategy, self.strategy)


@dataclass
class Candidate:
    """What the detector proposed, and what became of it."""

    candidate_id: str
    marker: str
    t_start: float
    t_end: float
    confidence: float
    signals: tuple[str, ...]
    evidence: str
    detector_version: str
    status: str = "open"
    """``confirmed``, ``dismissed`` or ``open`` (never settled)."""


@dataclass
class Rupture:
    """A rupture the therapist marked."""

    rupture_id: str
    t: float
    marker: str
    code: str | None
    salience: int | None
    t_start: float
    t_end: float
    note: str
    candidate: Candidate | None = None
    repairs: list[Repair] = field(default_factory=list)
    in_review: bool = False
    """Marked in the review, after the session."""

    @property
    def code_label(self) -> str:
        """The 3RS marker code's label (or the code as given)."""
        if self.code is None:
            return ""
        return MARKERS.get(self.marker, {}).get(self.code, self.code)

    @property
    def resolved(self) -> bool | None:
        """Whether a repair resolved it (None: no repair said either way)."""
        said = [r.resolved for r in self.repairs if r.resolved is not None]
        return said[-1] if said else None


@dataclass
class RuptureReview:
    """Everything about ruptures in one session."""

    ruptures: list[Rupture] = field(default_factory=list)
    candidates: list[Candidate] = field(default_factory=list)
    contribution: int | None = None
    resolution: int | None = None
    rating_note: str = ""

    def counts(self) -> dict[str, int]:
        """Ruptures by marker."""
        return {m: sum(r.marker == m for r in self.ruptures) for m in MARKERS}

    @property
    def share_resolved(self) -> float | None:
        """Share of the ruptures marked resolved (None without ruptures)."""
        if not self.ruptures:
            return None
        return sum(r.resolved is True for r in self.ruptures) / len(self.ruptures)


def build_ruptures(events: list[StoredEvent], t0_ns: int,
                   ended_wall_ns: int | None = None) -> RuptureReview:
    """The session's ruptures, repairs, candidates and ratings (times in s from ``t0_ns``);
    what was logged after ``ended_wall_ns`` was coded in the review."""
    out = RuptureReview()
    candidates: dict[str, Candidate] = {}
    by_id: dict[str, Rupture] = {}

    def sec(ns: int) -> float:
        return (ns - t0_ns) / 1e9

    for event in events:
        body, t = event.body, sec(event.t_session_ns)
        later = ended_wall_ns is not None and event.t_wall_ns > ended_wall_ns
        if isinstance(body, RuptureCandidate):
            status = candidates[body.candidate_id].status if body.candidate_id in candidates \
                else "open"
            candidates[body.candidate_id] = Candidate(
                body.candidate_id, body.marker, sec(body.t_start_ns), sec(body.t_end_ns),
                body.confidence, body.signals, body.evidence, body.detector_version, status)
        elif isinstance(body, CandidateDismissed) and body.candidate_id in candidates:
            candidates[body.candidate_id].status = "dismissed in review" if later \
                else "dismissed"
        elif isinstance(body, RuptureMarked):
            candidate = candidates.get(body.candidate_id or "")
            if candidate is not None:
                candidate.status = "confirmed in review" if later else "confirmed"
            start = sec(body.t_start_ns) if body.t_start_ns is not None else t
            end = sec(body.t_end_ns) if body.t_end_ns is not None else t
            rupture = Rupture(body.rupture_id, t, body.marker, body.subtype, body.salience,
                              start, end, body.note, candidate, in_review=later)
            by_id[body.rupture_id] = rupture
            out.ruptures.append(rupture)
        elif isinstance(body, RepairMarked) and body.rupture_id in by_id:
            by_id[body.rupture_id].repairs.append(
                Repair(t, body.strategy, body.line_id, body.resolved, body.note, later))
        elif isinstance(body, RuptureRating):
            out.contribution = body.therapist_contribution
            out.resolution = body.resolution
            out.rating_note = body.note
    out.candidates = list(candidates.values())
    return out
