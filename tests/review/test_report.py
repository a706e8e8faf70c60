"""The review report of a real recorded session, opened in headless Chromium."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from telemetry import commands as c
from telemetry.client import CommandClient
from telemetry.store import StoredEvent
from tests.servers import wait_for_connection, wait_for_event

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "syringe.py"
DOC_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SESSION = "s-review"

playwright_api = pytest.importorskip("playwright.sync_api")


def _answered(data: Path, checkin: object) -> StoredEvent:
    return wait_for_event(data, SESSION, lambda r: r.body.kind == "checkin_answered"
                          and r.body.checkin_id == checkin, timeout_s=40)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A short session (screening with a risk flag, plan, trials with SUDS and expectancy,
    a stop, the closing check), recorded by a real server, then ``vret review`` as a user
    runs it."""
    tmp = tmp_path_factory.mktemp("review")
    data, conn = tmp / "data", tmp / "conn.json"
    server = subprocess.Popen(
        [sys.executable, "-m", "vret", "serve", "--scenario", str(EXAMPLE), "--display",
         "offscreen", "--size", "128x72", "--session-id", SESSION, "--data-dir", str(data),
         "--connection-file", str(conn), "--duration", "120", "--seed", "3"],
        cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        info = wait_for_connection(conn, server)
        screening = {f"q{i}": 1 for i in range(1, 9)} | {"q9": 1, "q10": 1}
        with CommandClient(info) as client:
            ack = client.request(c.SubmitQuestionnaire(instrument="phq9",
                                                       answers=json.dumps(screening)))
            client.request(c.AcknowledgeRisk(response_id=str(ack.result["response_id"]),
                                             note="assessed with the client: no plan"))
            client.request(c.Configure(trial_criterion="expectancy", trial_min_s=30))
            calm = {f"s{i}": 0 for i in range(1, 17)}
            client.request(c.SubmitQuestionnaire(instrument="ssq", answers=json.dumps(calm),
                                                 timing="start"))
            client.request(c.Start())
            client.request(c.Start())
            client.request(c.SetLevel(rung=2))
            suds = client.request(c.AskCheckIn(instrument="suds"))
            _answered(data, suds.result["checkin_id"])
            # Before the step up: how likely is the feared outcome at the next rung?
            before = client.request(c.AskCheckIn(instrument="expectancy", purpose="before"))
            _answered(data, before.result["checkin_id"])
            client.request(c.SetLevel(rung=4))
            suds = client.request(c.AskCheckIn(instrument="suds"))
            _answered(data, suds.result["checkin_id"])
            after = client.request(c.AskCheckIn(instrument="expectancy", purpose="after"))
            _answered(data, after.result["checkin_id"])
            client.request(c.Annotate(text="steady at rung 4"))
            client.request(c.Stop(reason="end of the step"))
            closing = {"together": 8, "rationale": 9, "safe_to_say": 7, "own_goals": 8,
                       "guide_helpful": 9, "tension": 0}
            client.request(c.SubmitQuestionnaire(
                instrument="ssq", answers=json.dumps(calm | {"s8": 1}), timing="end"))
            client.request(c.SubmitQuestionnaire(instrument="vret_alliance_check",
                                                 answers=json.dumps(closing), timing="end"))
            client.request(c.End())
            client.request(c.End())
        time.sleep(0.5)
    finally:
        server.terminate()
        server.communicate(timeout=30)
    output = tmp / "report.html"
    done = subprocess.run([sys.executable, "-m", "vret", "review", SESSION, "--data-dir",
                           str(data), "-o", str(output)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert str(output.resolve()) in done.stdout
    yield output


@pytest.fixture(scope="module")
def page(report: Path) -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.fail("Chromium is not installed (apt-get install chromium)")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1150, "height": 900})
        requested: list[str] = []
        page.on("request", lambda r: requested.append(r.url))
        page.goto(report.as_uri())
        page.requested = requested  # type: ignore[attr-defined]
        yield page
        browser.close()


def test_every_section_is_present_and_nothing_is_fetched(page: Any, report: Path) -> None:
    for section in ("summary", "timeline", "trials", "questionnaires", "log"):
        assert page.locator(f"section#{section}").is_visible(), section
    assert page.requested == [report.as_uri()]  # one file: works offline
    summary = page.locator("#summary").inner_text()
    assert "syringe" in summary and "item9_endorsed" in summary


def test_the_timeline_shows_physiology_ratings_and_event_lanes(page: Any) -> None:
    svg = page.locator("#timeline svg")
    text = page.locator("#timeline").inner_html()
    for label in ("level (rung)", "ratings", "heart rate", "skin conductance",
                  "gaze on stimulus", "check-ins", "avatar", "therapist", "questionnaires"):
        assert label in text, label
    assert svg.locator("polyline").count() >= 3  # level, heart rate, skin conductance
    titles = [t.text_content() for t in svg.locator("title").all()]
    assert any("suds" in t for t in titles) and any("avatar said" in t for t in titles)
    assert any("phq9 (screening) answered" in t for t in titles)


def test_the_trials_table_has_the_stays_and_the_expectancy_test(page: Any) -> None:
    rows = page.locator("#trials tbody tr")
    assert rows.count() >= 2  # rung 0, rung 2, rung 4
    cells = [r.locator("td").all_inner_texts() for r in rows.all()]
    rungs = [row[1] for row in cells]
    assert rungs[:3] == ["0", "2", "4"]
    last = cells[2]
    assert last[9] != "\u2013" and last[10] != "\u2013"  # expectancy before and after
    assert last[13] == "expectancy: met"


def test_questionnaires_show_scores_flags_acknowledgement_and_labels(
        page: Any, tmp_path_factory: pytest.TempPathFactory) -> None:
    text = page.locator("#questionnaires").inner_text()
    assert "Patient Health Questionnaire-9" in text and "mild" in text  # total 9
    assert "Item 9" in text and "acknowledged" in text and "no plan" in text
    assert "not a validated instrument" in text
    # The sickness questionnaire after exposure, against its baseline: the nausea symptom
    # counts in the nausea and the disorientation sums, so the total rose by (1 + 1) x 3.74.
    assert "+7.48 since the start" in text and "+9.54 since the start" in text
    folder = DOC_IMAGES if os.environ.get("VRET_DOC_IMAGES") else tmp_path_factory.mktemp("img")
    page.screenshot(path=str(folder / "review-report.png"), full_page=False)
    page.locator("#trials").scroll_into_view_if_needed()
    page.screenshot(path=str(folder / "review-trials.png"), full_page=False)
