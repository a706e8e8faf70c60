"""``vret export`` of a real recorded session: CSV and Parquet tables, FHIR resources."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from tests.review.conftest import Recorded


@pytest.fixture(scope="module")
def exported(recorded: Recorded, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("export") / "out"
    done = subprocess.run([sys.executable, "-m", "vret", "export", recorded.session_id,
                           "--data-dir", str(recorded.data_dir), "-o", str(folder)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return folder


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_every_table_in_csv_and_parquet_with_the_same_rows(exported: Path) -> None:
    for name in ("events", "trials", "answers", "scores", "samples-heart_rate",
                 "samples-eda", "samples-scene"):
        rows = _csv(exported / f"{name}.csv")
        table = pq.read_table(exported / f"{name}.parquet")
        assert rows and table.num_rows == len(rows), name
        assert table.column_names == list(rows[0]), name


def test_tables_hold_the_session(exported: Path) -> None:
    events = _csv(exported / "events.csv")
    kinds = {e["kind"] for e in events}
    assert {"questionnaire_response", "risk_acknowledged", "checkin_answered",
            "level_change"} <= kinds
    assert [int(e["seq"]) for e in events] == list(range(len(events)))
    trials = _csv(exported / "trials.csv")
    assert [t["rung"] for t in trials][:3] == ["0", "2", "4"]
    answers = _csv(exported / "answers.csv")
    item9 = [a for a in answers if a["instrument"] == "phq9" and a["item"] == "q9"]
    assert item9 and float(item9[0]["value"]) == 1.0
    scores = {(s["instrument"], s["timing"], s["score"]): s["value"]
              for s in _csv(exported / "scores.csv")}
    assert float(scores[("phq9", "screening", "total")]) == 9.0
    scene = pq.read_table(exported / "samples-scene.parquet")
    assert {"t_s", "t_session_ns", "rung", "looking_at"} <= set(scene.column_names)
    assert max(scene.column("rung").to_pylist()) == 4.0


def test_fhir_bundle_of_questionnaire_responses_and_score_observations(
        exported: Path) -> None:
    bundle: dict[str, Any] = json.loads((exported / "questionnaire-responses.fhir.json")
                                        .read_text())
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "collection"
    resources = [entry["resource"] for entry in bundle["entry"]]
    responses = [r for r in resources if r["resourceType"] == "QuestionnaireResponse"]
    assert {r["questionnaire"] for r in responses} == {
        "urn:vret:instrument:phq9|1", "urn:vret:instrument:ssq|1",
        "urn:vret:instrument:vret_alliance_check|1"}
    phq9 = next(r for r in responses if r["questionnaire"].startswith("urn:vret:instrument:phq9"))
    assert phq9["status"] == "completed"
    assert phq9["subject"]["identifier"]["system"] == "urn:vret:client"
    q9 = next(i for i in phq9["item"] if i["linkId"] == "q9")
    assert q9["answer"] == [{"valueInteger": 1}]
    full_urls = {entry["fullUrl"] for entry in bundle["entry"]}
    total = next(r for r in resources if r["resourceType"] == "Observation"
                 and r["code"]["coding"][0].get("code") == "44261-6")  # PHQ-9 total (LOINC)
    assert total["valueQuantity"]["value"] == 9.0 and total["category"][0]["coding"][0][
        "code"] == "survey"
    assert total["derivedFrom"][0]["reference"] in full_urls
    assert all(url.startswith("urn:uuid:") and len(url) == 45 for url in full_urls)
    text = json.dumps(bundle)
    assert "Thoughts that you would be better off dead" not in text  # no item wording


def test_an_unknown_format_is_refused(recorded: Recorded, tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "vret", "export", recorded.session_id,
                           "--data-dir", str(recorded.data_dir), "-o", str(tmp_path),
                           "--format", "csv,xlsx"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1 and "unknown export format(s) ['xlsx']" in done.stderr


def test_no_format_is_refused(recorded: Recorded, tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "vret", "export", recorded.session_id,
                           "--data-dir", str(recorded.data_dir), "-o", str(tmp_path),
                           "--format", ","], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "no export format given" in done.stderr
    assert not any(tmp_path.iterdir())  # nothing half-written
