"""The review report of a real recorded session, opened in headless Chromium."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.review.conftest import Recorded

DOC_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
playwright_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def report(recorded: Recorded, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``vret review`` on the recorded session, as a user runs it."""
    output = tmp_path_factory.mktemp("report") / "report.html"
    done = subprocess.run([sys.executable, "-m", "vret", "review", recorded.session_id,
                           "--data-dir", str(recorded.data_dir), "-o", str(output)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert str(output.resolve()) in done.stdout
    return output


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
    for section in ("summary", "timeline", "replay", "trials", "questionnaires", "log"):
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
