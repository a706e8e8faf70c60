"""Coding ruptures after the session: confirm, recode or dismiss candidates, mark ruptures the
detector missed, mark repairs and rate the session, from the review.

The live session logs these through its commands; once it has ended, the review appends them
to the same log (after the session's last event, so the log stays in time order, with the
moment they are about in their own fields). The rules are the live ones: a code must belong to
its marker, a repair to a marked rupture, a candidate can be settled once. Each request is
checked against the same command models the server uses, so an error names the field.
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import ValidationError

from telemetry import commands as c
from telemetry.schemas import (
    CandidateDismissed,
    RepairMarked,
    RuptureCandidate,
    RuptureMarked,
    RuptureRating,
)
from telemetry.store import SessionStore, StoredEvent

ACTIONS = ("confirm", "dismiss", "mark", "repair", "rate")


class CodingError(ValueError):
    """The coding cannot be recorded; the message says why."""


def _args(model: type[c.CommandArgs], fields: dict[str, Any]) -> Any:
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or model.name
        raise CodingError(f"{model.name}: {where}: {first['msg']}") from None


def code(store: SessionStore, session_id: str, request: dict[str, Any]) -> StoredEvent:
    """Record one coding of the ended session ``session_id``; returns the stored event.

    ``request["action"]``: ``confirm`` (a candidate; ``candidate_id``, ``marker``, ``subtype``,
    ``salience``, ``note``), ``dismiss`` (``candidate_id``, ``note``), ``mark`` (a rupture the
    detector missed, at ``at_s`` seconds from the session's start), ``repair`` (``rupture_id``,
    ``strategy``, ``resolved``, ``line_id``, ``note``) or ``rate`` (``therapist_contribution``,
    ``resolution``, ``note``).
    """
    record = store.session(session_id)
    if record.ended_wall_ns is None:
        raise CodingError(f"session {session_id} is still running (or was cut off): code it "
                          "in the live console")
    action = request.get("action")
    fields = {k: v for k, v in request.items() if k not in ("action", "at_s")
              and v not in (None, "")}
    events = store.events(session_id)
    candidates = {e.body.candidate_id: e.body for e in events
                  if isinstance(e.body, RuptureCandidate)}
    settled = {e.body.candidate_id for e in events
               if isinstance(e.body, CandidateDismissed)} | {
        e.body.candidate_id for e in events
        if isinstance(e.body, RuptureMarked) and e.body.candidate_id}
    ruptures = [e.body.rupture_id for e in events if isinstance(e.body, RuptureMarked)]
    body: Any
    if action in ("confirm", "dismiss"):
        candidate_id = str(request.get("candidate_id") or "")
        if candidate_id not in candidates or candidate_id in settled:
            open_ = sorted(set(candidates) - settled)
            raise CodingError(f"no open rupture candidate {candidate_id!r} (open: "
                              f"{', '.join(open_) or 'none'})")
        if action == "dismiss":
            args = _args(c.DismissCandidate, fields)
            body = CandidateDismissed(candidate_id=candidate_id, note=args.note)
        else:
            candidate = candidates[candidate_id]
            args = _args(c.MarkRupture, {"marker": candidate.marker, **fields})
            body = RuptureMarked(
                rupture_id=f"rupture-{len(ruptures) + 1}", marker=args.marker,
                subtype=args.subtype, salience=args.salience, note=args.note,
                t_start_ns=candidate.t_start_ns, t_end_ns=candidate.t_end_ns,
                candidate_id=candidate_id)
    elif action == "mark":
        args = _args(c.MarkRupture, fields)
        from review.session import start_ns

        try:
            at_s = float(request.get("at_s", ""))
        except ValueError:
            raise CodingError("mark: give at_s, the moment in seconds from the start") from None
        at = start_ns(store, session_id, events) + round(at_s * 1e9)
        body = RuptureMarked(rupture_id=f"rupture-{len(ruptures) + 1}", marker=args.marker,
                             subtype=args.subtype, salience=args.salience, note=args.note,
                             t_start_ns=at, t_end_ns=at)
    elif action == "repair":
        args = _args(c.MarkRepair, fields)
        if args.rupture_id not in ruptures:
            raise CodingError(f"no rupture {args.rupture_id!r}; marked: "
                              f"{', '.join(ruptures) or 'none'}")
        body = RepairMarked(rupture_id=args.rupture_id, strategy=args.strategy,
                            resolved=args.resolved, note=args.note, line_id=args.line_id)
    elif action == "rate":
        args = _args(c.RateRuptures, fields)
        if args.therapist_contribution is None and args.resolution is None:
            raise CodingError("rate: give therapist_contribution and/or resolution (1-5)")
        body = RuptureRating(therapist_contribution=args.therapist_contribution,
                             resolution=args.resolution, note=args.note)
    else:
        raise CodingError(f"unknown action {action!r}; known: {', '.join(ACTIONS)}")
    seq = max((e.seq for e in events), default=-1) + 1
    t_session = max((e.t_session_ns for e in events), default=0) + 1
    t_wall = time.time_ns()
    store.write_batch([(session_id, seq, t_session, t_wall, None, body)], [])
    return StoredEvent(session_id, seq, t_session, t_wall, None, body)
