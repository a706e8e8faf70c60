"""Coding ruptures after the session, against a real SQLite session store."""

from __future__ import annotations

from pathlib import Path

import pytest

from review.coding import CodingError, code
from review.session import load_session
from telemetry.schemas import RuptureCandidate, StateChange
from telemetry.store import SessionStore

S = "s-coded"


def candidate(cid: str, marker: str, start_s: float) -> RuptureCandidate:
    return RuptureCandidate(candidate_id=cid, marker=marker, signals=("gaze_away",),  # type: ignore[arg-type]
                            evidence="gaze_away: ...", confidence=0.55,
                            t_start_ns=round(start_s * 1e9), t_end_ns=round((start_s + 8) * 1e9),
                            detector_version="1")


@pytest.fixture
def store(tmp_path: Path) -> SessionStore:
    store = SessionStore.in_dir(tmp_path)
    store.create_session(S, client_id="c-0000aaaa", scenario="heights")
    store.write_batch([
        (S, 0, 1_000_000_000, 1, None, StateChange(from_state="ready", to_state="baseline")),
        (S, 1, 20_000_000_000, 2, None, candidate("cand-1", "withdrawal", 18)),
        (S, 2, 50_000_000_000, 3, None, candidate("cand-2", "confrontation", 49)),
    ], [])
    return store


def test_nothing_is_coded_while_the_session_runs(store: SessionStore) -> None:
    with pytest.raises(CodingError, match="still running"):
        code(store, S, {"action": "dismiss", "candidate_id": "cand-1"})


def test_candidates_are_confirmed_recoded_or_dismissed_once_and_repairs_follow(
        store: SessionStore) -> None:
    store.end_session(S)
    confirmed = code(store, S, {"action": "confirm", "candidate_id": "cand-1",
                                "subtype": "minimal_response", "salience": 3, "note": "quiet"})
    body = confirmed.body
    assert (body.rupture_id, body.marker, body.subtype, body.candidate_id) == (
        "rupture-1", "withdrawal", "minimal_response", "cand-1")
    assert (body.t_start_ns, body.t_end_ns) == (18_000_000_000, 26_000_000_000)
    assert confirmed.seq == 3 and confirmed.t_session_ns > 50_000_000_000
    with pytest.raises(CodingError, match=r"no open rupture candidate 'cand-1' \(open: cand-2\)"):
        code(store, S, {"action": "dismiss", "candidate_id": "cand-1"})
    # Recoded: the detector said confrontation, the therapist says withdrawal.
    with pytest.raises(CodingError, match="not a withdrawal code"):
        code(store, S, {"action": "confirm", "candidate_id": "cand-2", "marker": "withdrawal",
                        "subtype": "complaints_therapist"})
    code(store, S, {"action": "confirm", "candidate_id": "cand-2", "marker": "withdrawal",
                    "subtype": "denial"})
    by_hand = code(store, S, {"action": "mark", "marker": "confrontation", "at_s": 30.5,
                              "subtype": "rejects_intervention", "salience": 4})
    assert by_hand.body.t_start_ns == 31_500_000_000  # from the session's first event
    with pytest.raises(CodingError, match="no rupture 'rupture-9'; marked: rupture-1, "
                                          "rupture-2, rupture-3"):
        code(store, S, {"action": "repair", "rupture_id": "rupture-9", "strategy": "validate"})
    with pytest.raises(CodingError, match="unknown resolution strategy 'shout'"):
        code(store, S, {"action": "repair", "rupture_id": "rupture-1", "strategy": "shout"})
    code(store, S, {"action": "repair", "rupture_id": "rupture-1",
                    "strategy": "invite_discussion", "resolved": True})
    code(store, S, {"action": "rate", "therapist_contribution": 2, "resolution": 4})
    with pytest.raises(CodingError, match="salience"):
        code(store, S, {"action": "mark", "marker": "withdrawal", "at_s": 1, "salience": 9})
    with pytest.raises(CodingError, match="unknown action 'shrug'"):
        code(store, S, {"action": "shrug"})
    review = load_session(store, S).ruptures
    assert [r.rupture_id for r in review.ruptures] == ["rupture-1", "rupture-2", "rupture-3"]
    assert all(r.in_review for r in review.ruptures)
    assert review.ruptures[0].resolved is True and review.ruptures[1].marker == "withdrawal"
    assert [c.status for c in review.candidates] == ["confirmed in review"] * 2
    assert (review.contribution, review.resolution) == (2, 4)
    assert review.counts() == {"withdrawal": 2, "confrontation": 1}
