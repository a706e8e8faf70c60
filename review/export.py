"""``vret export``: a session's data as CSV and Parquet tables, and its questionnaire
responses as FHIR R4 resources.

Tables (one file per table and format, in the output folder):

* ``samples-<stream>``: ``t_s`` (seconds from the session's start), ``t_session_ns`` and one
  column per channel;
* ``events``: ``seq``, ``t_s``, ``t_session_ns``, ``t_wall_ns``, ``kind``, ``command_id``,
  ``what`` (one line) and ``body`` (the event as JSON);
* ``trials``: one row per exposure trial (:mod:`review.trials`);
* ``answers`` and ``scores``: questionnaire responses in long form (one row per answer, one per
  score), with the instrument, its version, timing and respondent.

``questionnaire-responses.fhir.json`` is a FHIR R4 ``Bundle`` (type ``collection``) with a
``QuestionnaireResponse`` per response (the client as subject by their pseudonymous id, each
answer as ``valueInteger`` or ``valueDecimal`` by its item's ``linkId``) and an ``Observation``
per score (category ``survey``, LOINC code where the instrument has one, ``derivedFrom`` the
response). Item wording is not included: it may be a site's licensed text.
"""

from __future__ import annotations

import csv
import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from instruments.catalogue import Catalogue
from review.report import describe
from review.session import SessionData
from telemetry.schemas import QuestionnaireResponse
from telemetry.store import SessionStore

FORMATS = ("csv", "parquet", "fhir")
URN = "urn:vret"


def _urn(resource_id: str) -> str:
    """A stable ``urn:uuid`` for a resource (the same export gives the same references)."""
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{URN}:{resource_id}')}"


def _iso(wall_ns: int) -> str:
    return datetime.fromtimestamp(wall_ns / 1e9, UTC).isoformat(timespec="milliseconds")


Column = Sequence[Any] | np.ndarray


def _write_table(folder: Path, name: str, columns: Mapping[str, Column],
                 formats: Sequence[str]) -> list[Path]:
    written: list[Path] = []
    names = list(columns)
    n = len(next(iter(columns.values()))) if columns else 0
    if "csv" in formats:
        path = folder / f"{name}.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(names)
            for i in range(n):
                writer.writerow(["" if columns[c][i] is None else columns[c][i] for c in names])
        written.append(path)
    if "parquet" in formats:
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = folder / f"{name}.parquet"
        table = pa.table({c: list(columns[c]) if not isinstance(columns[c], np.ndarray)
                          else columns[c] for c in names})
        pq.write_table(table, path)
        written.append(path)
    return written


def export_session(store: SessionStore, data: SessionData, folder: Path,
                   formats: Sequence[str] = FORMATS,
                   catalogue: Catalogue | None = None) -> list[Path]:
    """Write the session's tables (and FHIR resources) into ``folder``; returns the files."""
    if not formats:
        raise ValueError(f"no export format given; known: {', '.join(FORMATS)}")
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise ValueError(f"unknown export format(s) {unknown}; known: {', '.join(FORMATS)}")
    folder.mkdir(parents=True, exist_ok=True)
    session_id = data.record.session_id
    written: list[Path] = []
    tables = [f for f in formats if f in ("csv", "parquet")]
    for stream, descriptor in sorted(store.streams(session_id).items()):
        t, values = store.samples(session_id, stream)
        columns: dict[str, Column] = {"t_s": (t - data.t0_ns) / 1e9, "t_session_ns": t}
        for i, channel in enumerate(descriptor.channels):
            columns[channel] = values[:, i]
        written += _write_table(folder, f"samples-{stream}", columns, tables)
    events = data.events
    written += _write_table(folder, "events", {
        "seq": [e.seq for e in events], "t_s": [data.t(e) for e in events],
        "t_session_ns": [e.t_session_ns for e in events],
        "t_wall_ns": [e.t_wall_ns for e in events], "kind": [e.body.kind for e in events],
        "command_id": [e.command_id for e in events],
        "what": [describe(e.body) for e in events],
        "body": [json.dumps(e.body.model_dump(mode="json")) for e in events]}, tables)
    trials = data.trials
    written += _write_table(folder, "trials", {
        "trial": [t.index for t in trials], "rung": [t.rung for t in trials],
        "intensity": [t.intensity for t in trials], "t_start_s": [t.t_start_s for t in trials],
        "t_end_s": [t.t_end_s for t in trials], "duration_s": [t.duration_s for t in trials],
        "ended_by": [t.end_reason for t in trials],
        "predicted_suds": [t.predicted_suds for t in trials],
        "peak_suds": [t.peak_suds for t in trials], "end_suds": [t.end_suds for t in trials],
        "expectancy_before": [t.expectancy_before for t in trials],
        "expectancy_after": [t.expectancy_after for t in trials],
        "expectancy_violation": [t.expectancy_violation for t in trials],
        "unanswered": [t.unanswered for t in trials],
        "criterion": [t.criterion for t in trials],
        "criterion_met": [t.criterion_met for t in trials]}, tables)
    answers: dict[str, list[Any]] = {k: [] for k in (
        "response_id", "t_s", "instrument", "version", "timing", "respondent", "item",
        "value")}
    scores: dict[str, list[Any]] = {k: [] for k in (
        "response_id", "t_s", "instrument", "version", "timing", "score", "value")}
    for t_s, response in data.responses:
        for item, value in response.answers.items():
            for key, v in zip(answers, (response.response_id, t_s, response.instrument,
                                        response.version, response.timing, response.respondent,
                                        item, value), strict=True):
                answers[key].append(v)
        for score, value in response.scores.items():
            for key, v in zip(scores, (response.response_id, t_s, response.instrument,
                                       response.version, response.timing, score, value),
                              strict=True):
                scores[key].append(v)
    written += _write_table(folder, "answers", answers, tables)
    written += _write_table(folder, "scores", scores, tables)
    if "fhir" in formats:
        path = folder / "questionnaire-responses.fhir.json"
        path.write_text(json.dumps(fhir_bundle(data, catalogue), indent=2) + "\n",
                        encoding="utf-8")
        written.append(path)
    return written


def fhir_bundle(data: SessionData, catalogue: Catalogue | None = None) -> dict[str, Any]:
    """The session's questionnaire responses (and their scores) as a FHIR R4 Bundle."""
    record = data.record
    subject = {"identifier": {"system": f"{URN}:client", "value": record.client_id}}
    entries: list[dict[str, Any]] = []
    walls = {e.seq: e.t_wall_ns for e in data.events}
    by_response = {e.body.response_id: e for e in data.events
                   if isinstance(e.body, QuestionnaireResponse)}
    for _, response in data.responses:
        event = by_response[response.response_id]
        instrument = catalogue.instruments.get(response.instrument) if catalogue else None
        resource_id = f"{record.session_id}-{response.response_id}"
        items = []
        for item_id, stored in response.answers.items():
            if not isinstance(stored, int | float):
                continue  # answers are numbers (the schema allows any scalar in a map)
            value = float(stored)
            decimal = value != int(value)
            if instrument is not None:
                try:
                    decimal = instrument.scale_of(instrument.item(item_id)).kind == "decimal"
                except KeyError:
                    decimal = True
            answer = {"valueDecimal": value} if decimal else {"valueInteger": int(value)}
            items.append({"linkId": item_id, "answer": [answer]})
        authored = _iso(walls[event.seq])
        qr: dict[str, Any] = {
            "resourceType": "QuestionnaireResponse", "id": resource_id,
            "questionnaire": f"{URN}:instrument:{response.instrument}|{response.version}",
            "status": "completed" if response.complete else "in-progress",
            "subject": subject, "authored": authored,
            "source": subject if response.respondent == "client" else {
                "display": "therapist"},
            "extension": [{"url": f"{URN}:session", "valueString": record.session_id},
                          {"url": f"{URN}:timing", "valueCode": response.timing}],
            "item": items}
        entries.append({"fullUrl": _urn(resource_id), "resource": qr})
        for score_id, score_value in response.scores.items():
            code = None
            if instrument is not None:
                definition = next((s for s in instrument.scores if s.id == score_id), None)
                code = definition.code if definition else None
            coding = ([{"system": "http://loinc.org", "code": code}] if code else
                      [{"system": f"{URN}:score", "code": f"{response.instrument}.{score_id}"}])
            observation: dict[str, Any] = {
                "resourceType": "Observation", "id": f"{resource_id}-{score_id}",
                "status": "final" if score_value is not None else "cancelled",
                "category": [{"coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                    "code": "survey"}]}],
                "code": {"coding": coding, "text": f"{response.instrument} {score_id}"},
                "subject": subject, "effectiveDateTime": authored,
                "derivedFrom": [{"reference": _urn(resource_id)}]}
            if not isinstance(score_value, int | float):
                observation["dataAbsentReason"] = {"text": "not scored: missing items"}
            else:
                observation["valueQuantity"] = {"value": float(score_value), "unit": "{score}",
                                                "system": "http://unitsofmeasure.org",
                                                "code": "{score}"}
            entries.append({"fullUrl": _urn(f"{resource_id}-{score_id}"),
                            "resource": observation})
    return {"resourceType": "Bundle", "type": "collection",
            "timestamp": datetime.now(UTC).isoformat(timespec="seconds"), "entry": entries}
