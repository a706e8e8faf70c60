"""The web console in a real browser (Chromium, headless, through Playwright) against a real
rendered server with the virtual client, and `vret console` in its own process."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from telemetry import commands as c
from telemetry.client import CommandClient
from telemetry.connection import ConnectionInfo
from telemetry.store import SessionStore
from tests.servers import wait_for_connection, wait_for_event

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "syringe.py"
DOC_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the screenshots go: docs/images with VRET_DOC_IMAGES=1 (to refresh the guide's
    and the README's pictures), else a temporary folder, so a test run changes no file."""
    if os.environ.get("VRET_DOC_IMAGES"):
        return DOC_IMAGES
    return tmp_path_factory.mktemp("images")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]

playwright_api = pytest.importorskip("playwright.sync_api")


@dataclass
class Running:
    server: subprocess.Popen[str]
    console: subprocess.Popen[str]
    url: str
    data_dir: Path
    session_id: str

    @property
    def origin(self) -> str:
        match = re.match(r"(https?://[^/]+)/", self.url)
        assert match
        return match.group(1)


def stop_all(processes: list[subprocess.Popen[str]]) -> None:
    """Stop test processes (servers, consoles): politely, then for good."""
    for process in processes:
        process.terminate()
        try:
            process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    tmp = tmp_path_factory.mktemp("console")
    data = tmp / "data"
    conn = tmp / "conn.json"
    server = subprocess.Popen(
        [sys.executable, "-m", "vret", "serve", "--scenario", str(EXAMPLE), "--size", "320x180",
         "--session-id", "s-web", "--data-dir", str(data), "--connection-file", str(conn),
         "--duration", "300", "--seed", "3"],
        cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_connection(conn, server)
    console = subprocess.Popen(
        [sys.executable, "-m", "vret", "console", str(conn), "--port", "0",
         "--data-dir", str(data), "--duration", "300"],
        cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = None
    deadline = time.monotonic() + 30
    assert console.stdout is not None
    while url is None and time.monotonic() < deadline:
        line = console.stdout.readline()
        if not line and console.poll() is not None:
            raise AssertionError(f"the console exited: {console.communicate()[1][-2000:]}")
        found = re.search(r"open the console at: (\S+)", line)
        if found:
            url = found.group(1)
    assert url is not None, "the console printed no address"
    yield Running(server, console, url, data, "s-web")
    stop_all([console, server])


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium (Debian's), driven by Playwright."""
    if not os.path.exists(CHROMIUM):
        pytest.fail("Chromium is not installed (apt-get install chromium)")
    with playwright_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def page(running: Running, browser: Any) -> Iterator[Any]:
    # The page forbids eval (its CSP); the test harness evaluates its checks in it.
    context = browser.new_context(viewport={"width": 1500, "height": 1000}, bypass_csp=True)
    made = context.new_page()
    made.goto(running.url)
    yield made
    context.close()


def results(page: Any) -> list[str]:
    return [str(t) for t in page.locator("#results li").all_inner_texts()]


def wait_result(page: Any, pattern: str, timeout_s: float = 15.0) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for text in results(page):
            if re.search(pattern, text):
                return text
        time.sleep(0.1)
    raise AssertionError(f"no result matching {pattern!r}; results: {results(page)}")


def status(request: str | urllib.request.Request) -> int:
    """The HTTP status of a request (the response closed at once)."""
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as refused:
        refused.close()
        return refused.code


def console_url(console: subprocess.Popen[str]) -> str:
    """The address a ``vret console`` process prints (with its token)."""
    assert console.stdout is not None
    while True:
        line = console.stdout.readline()
        assert line, f"the console exited: {console.communicate()[1][-2000:]}"
        found = re.search(r"open the console at: (\S+)", line)
        if found:
            return found.group(1)


@contextmanager
def session_and_console(tmp_path: Path, session_id: str, *serve: str) -> Iterator[str]:
    """A rendered heights session (64x36, ``serve`` added to its arguments) recording into
    ``tmp_path/data``, and a console following it; yields the console's address."""
    conn = tmp_path / f"{session_id}.json"
    processes = [subprocess.Popen(
        [sys.executable, "-m", "vret", "serve", "--scenario", "heights", "--display",
         "offscreen", "--size", "64x36", "--mirror-rate", "2", "--session-id", session_id,
         "--data-dir", str(tmp_path / "data"), "--connection-file", str(conn), "--duration",
         "150", *serve], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)]
    try:
        wait_for_connection(conn, processes[0])
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "vret", "console", str(conn), "--port", "0", "--duration",
             "150", "--data-dir", str(tmp_path / "console")],
            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        yield console_url(processes[1])
    finally:
        stop_all(processes)


def test_without_the_token_everything_is_refused(running: Running) -> None:
    bare = running.url.split("?")[0]
    for path in ("", "static/console.js", "api/clients", "ws"):
        assert status(bare + path) == 403, path
    assert status(running.url.replace("token=", "token=x")) == 403
    assert status(running.url) == 200


def test_another_sites_page_cannot_drive_a_session(running: Running) -> None:
    token = running.url.split("token=")[1]
    request = urllib.request.Request(
        running.origin + "/api/clients", data=b"{}", method="POST",
        headers={"Origin": "http://evil.example", "Cookie": f"vret_console_token={token}",
                 "Content-Type": "application/json"})
    assert status(request) == 403


def test_the_page_loads_and_plots_and_mirror_update(page: Any, running: Running) -> None:
    page.wait_for_selector(f"button.tab[data-session='{running.session_id}']")
    page.wait_for_function("window.vretStats.received > 20", timeout=20_000)
    page.wait_for_function("document.getElementById('mirror').src.startsWith('data:image/jpeg')",
                           timeout=20_000)
    # The controls come from the server's own description of the scenario.
    page.wait_for_function("document.querySelectorAll('#rung option').length > 1",
                           timeout=20_000)
    assert "syringe" in page.inner_text("#b-scenario").lower()
    first = page.evaluate("window.vretStats.received")
    time.sleep(1.5)
    assert page.evaluate("window.vretStats.received") > first  # still updating


def test_a_rejected_command_shows_its_error(page: Any) -> None:
    page.click("button[data-cmd='resume']")  # the session is not paused
    text = wait_result(page, r"resume: .*not allowed")
    assert page.locator("#results li.error", has_text="not allowed").count() >= 1
    assert "resume" in text


def test_start_and_a_rung_change_show_in_the_telemetry(page: Any, running: Running) -> None:
    page.click("button[data-cmd='start']")
    wait_result(page, r"start: done .* state baseline")
    page.click("button[data-cmd='start']")
    wait_result(page, r"start: done .* state (exposure|check_in)")
    page.select_option("#rung", "2")
    page.click("#set-level")
    wait_result(page, r"set level 2: done")
    # The scene stream from the server, not the page's own guess, shows the new rung.
    page.wait_for_function("document.getElementById('b-rung').textContent.startsWith('rung 2')",
                           timeout=15_000)
    change = wait_for_event(running.data_dir, running.session_id,
                            lambda r: r.body.kind == "level_change" and r.body.rung == 2)
    assert change.command_id is not None


def test_the_console_screenshot(page: Any, running: Running, images: Path) -> None:
    page.click("button[data-checkin='suds']")
    wait_result(page, r"ask suds: done")
    wait_for_event(running.data_dir, running.session_id,
                   lambda r: r.body.kind == "checkin_answered", timeout_s=30)
    page.fill("#say-text", "You're doing well. Stay with it.")
    page.click("#say")
    time.sleep(3)  # a few seconds of plots at the new rung, the answer on the SUDS plot
    page.screenshot(path=str(images / "console.png"))
    assert (images / "console.png").stat().st_size > 20_000


def test_the_controller_proposes_a_step_and_the_therapist_accepts_it(
        page: Any, running: Running) -> None:
    rung = int(page.inner_text("#b-rung").split(" ")[1].rstrip(":"))
    page.select_option("#mode", "suggest")
    page.fill("#band-low", "75")   # a band this client (calm at this rung) stays below
    page.fill("#band-high", "95")
    page.fill("#hold", "3")
    page.fill("#interval", "3")
    page.click("#apply-controller")
    for _ in range(2):  # two ratings, more than the hold time apart, both below the band
        asked = len(page.locator("#results li", has_text="ask suds: done").all())
        page.click("button[data-checkin='suds']")
        page.wait_for_function(f"document.querySelectorAll('#results li').length > 0 && "
                               f"[...document.querySelectorAll('#results li')].filter("
                               f"l => l.textContent.startsWith('ask suds: done')).length > "
                               f"{asked}", timeout=15_000)
        page.wait_for_function("window.vretAcks['ask suds'] !== undefined")
        checkin = page.evaluate("window.vretAcks['ask suds'].result.checkin_id")
        wait_for_event(running.data_dir, running.session_id,
                       lambda r, c=checkin: r.body.kind == "checkin_answered"
                       and r.body.checkin_id == c, timeout_s=30)
        time.sleep(3.5)
    page.wait_for_selector("#proposal:not([hidden])", timeout=15_000)
    assert f"step up to rung {rung + 1}" in page.inner_text("#proposal-text")
    page.click("#accept")
    change = wait_for_event(running.data_dir, running.session_id,
                            lambda r: r.body.kind == "level_change"
                            and r.body.rung == rung + 1)
    assert "controller" in change.body.reason
    decisions = wait_for_event(running.data_dir, running.session_id,
                               lambda r: r.body.kind == "controller_decision"
                               and r.body.decision == "accepted")
    assert decisions.body.actor == "therapist" and decisions.body.action == "step_up"
    assert "band" in json.loads(decisions.body.reasons) or decisions.body.reasons
    page.select_option("#mode", "manual")
    page.click("#apply-controller")


def test_stop_stops_the_session_within_a_frame(page: Any, running: Running) -> None:
    page.click("#stop")
    text = wait_result(page, r"STOP: done .* state safe_hold")
    assert "safe_hold" in text
    stopped = wait_for_event(running.data_dir, running.session_id,
                             lambda r: r.body.kind == "state_change"
                             and r.body.to_state == "safe_hold")
    ack = page.evaluate("window.vretAcks['STOP']")
    # Applied at the start of the frame after it arrived: no later than one frame period
    # (the server renders at well over 10 frames a second here).
    waited_ms = (ack["t_applied_ns"] - ack["result"]["t_received_ns"]) / 1e6
    assert 0 <= waited_ms < 100, waited_ms
    assert stopped.t_session_ns == ack["t_applied_ns"]
    with SessionStore.in_dir(running.data_dir) as store:
        events = [e.body for e in store.events(running.session_id)]
    assert events[-1].kind in {"state_change", "avatar_utterance", "avatar_line_cut", "alert"}
    page.wait_for_function("document.getElementById('b-state').textContent === 'safe_hold'",
                           timeout=10_000)


def test_a_risk_flag_is_acknowledged_and_a_questionnaire_given_in_the_scene(
        page: Any, running: Running) -> None:
    # A screening form typed in elsewhere (another console): item 9 endorsed.
    info = ConnectionInfo.read(running.data_dir.parent / "conn.json")
    answers = {f"q{i}": 1 for i in range(1, 9)} | {"q9": 1, "q10": 1}
    with CommandClient(info) as client:
        client.request(c.SubmitQuestionnaire(instrument="phq9", answers=json.dumps(answers)))
    page.wait_for_function("!document.getElementById('ack-risk').disabled", timeout=15_000)
    assert "questionnaire_flag" in page.inner_text("#alerts")
    page.fill("#note", "assessed with the client: no plan, safe to go on")
    page.click("#ack-risk")
    wait_result(page, r"acknowledge risk: done")
    acknowledged = wait_for_event(running.data_dir, running.session_id,
                                  lambda r: r.body.kind == "risk_acknowledged")
    assert acknowledged.body.note == "assessed with the client: no plan, safe to go on"
    page.wait_for_function("document.getElementById('ack-risk').disabled", timeout=15_000)
    # The sickness questionnaire, given in the scene (outside the exposure: after the stop).
    page.select_option("#form-instrument", "ssq:end")
    deadline = time.monotonic() + 40
    while True:
        done = len(page.locator("#results li", has_text="give ssq").all())
        page.click("#give-form")
        page.wait_for_function(
            f"[...document.querySelectorAll('#results li')].filter(l => "
            f"l.textContent.startsWith('give ssq')).length > {done}", timeout=15_000)
        last = [r for r in results(page) if r.startswith("give ssq")][-1]
        if "done" in last:
            break
        assert "still open" in last and time.monotonic() < deadline, last
        time.sleep(1.0)
    started = wait_for_event(running.data_dir, running.session_id,
                             lambda r: r.body.kind == "questionnaire_started")
    assert started.body.instrument == "ssq" and started.body.timing == "end"


def test_forms_are_filled_in_on_the_console_screen(page: Any, running: Running,
                                                   images: Path) -> None:
    # Screening on the console's screen, answered by the client: PHQ-9, item 9 at 0.
    page.select_option("#fill-instrument", "phq9:screening")
    page.click("#fill-open")
    assert page.locator("#fill-who").inner_text().startswith("Answered by the client")
    assert page.locator("#fill-items li").count() == 10
    for item in range(1, 10):
        page.check(f"#fill-items li[data-item='q{item}'] input[value='{1 if item < 4 else 0}']")
    page.click("#fill form button[type=submit]")
    text = wait_result(page, r"questionnaire phq9: done")
    assert "total 3" in text  # the server's score, shown on the page
    assert page.locator("#fill").is_hidden()
    phq9 = wait_for_event(running.data_dir, running.session_id,
                          lambda r: r.body.kind == "questionnaire_response"
                          and r.body.instrument == "phq9" and r.body.answers.get("q9") == 0)
    assert phq9.body.timing == "screening" and phq9.body.respondent == "client"
    assert phq9.body.scores["total"] == 3 and "item9_endorsed" not in phq9.body.flags
    # The therapist's own check at the end: the follow-up shows only once tension is "Yes";
    # an unanswered item is pointed out before anything is sent.
    page.select_option("#fill-instrument", "vret_therapist_check:end")
    page.click("#fill-open")
    assert page.locator("#fill-who").inner_text().startswith("Answered by you, the therapist")
    assert page.locator("#fill-items li[data-item='tension_addressed']").is_hidden()
    for item, value in (("together", 6), ("rationale", 7), ("safe_to_say", 4)):
        page.check(f"#fill-items li[data-item='{item}'] input[value='{value}']")
    page.check("#fill-items li[data-item='tension'] input[value='1']")
    assert page.locator("#fill-items li[data-item='tension_addressed']").is_visible()
    page.check("#fill-items li[data-item='tension_addressed'] input[value='2']")
    page.locator("#fill").screenshot(path=str(images / "console-form.png"))
    page.click("#fill form button[type=submit]")
    assert "Not answered: item 4" in page.locator("#fill-error").inner_text()
    page.click("#fill form button[type=submit]")  # again: recorded with item 4 missing
    text = wait_result(page, r"questionnaire vret_therapist_check: done")
    assert "flags: tension_unaddressed" in text
    mine = wait_for_event(running.data_dir, running.session_id,
                          lambda r: r.body.kind == "questionnaire_response"
                          and r.body.instrument == "vret_therapist_check")
    assert mine.body.respondent == "therapist" and mine.body.timing == "end"
    assert mine.body.scores["alliance"] == pytest.approx((6 + 7 + 4) / 3)
    assert "own_goals" not in mine.body.answers


def test_clients_and_a_plan_can_be_kept_and_applied(page: Any, running: Running,
                                                     images: Path) -> None:
    page.click("#tab-clients")
    page.fill("#new-goal", "ride the lift to the office")
    page.click("#new-client")
    page.wait_for_selector("#client-detail:not([hidden])")
    title = page.inner_text("#client-title")
    client_id = re.search(r"(c-[0-9a-f]{8})", title)
    assert client_id is not None
    page.click("#add-item")
    row = page.locator("#hierarchy tbody tr").last
    row.locator("input").nth(0).fill("looking down from a balcony")
    row.locator("input").nth(1).fill("65")
    row.locator("input").nth(2).fill("heights")
    row.locator("input").nth(3).fill("3")
    page.click("#save-hierarchy")
    page.wait_for_function(
        "document.getElementById('client-error').textContent === 'hierarchy saved'")
    page.fill("#plan-form input[name=scenario]", "heights")
    page.fill("#plan-form input[name=band_low]", "30")
    page.select_option("#plan-form select[name=controller]", "suggest")
    page.click("#plan-form button[type=submit]")
    page.wait_for_function("document.getElementById('client-error').textContent === 'plan saved'")
    page.screenshot(path=str(images / "console-clients.png"))
    # A rung beyond the scenario is refused with a message naming it.
    row.locator("input").nth(3).fill("42")
    page.click("#save-hierarchy")
    page.wait_for_function(
        "document.getElementById('client-error').textContent.includes('rung 42')")
    # A plan for a session already under way is refused by the server, and the page says so.
    page.click(f"button.tab[data-session='{running.session_id}']")
    page.select_option("#plan-client", client_id.group(1))
    page.click("#apply-plan")
    wait_result(page, r"configure \(console\): .*not allowed")
    data = json.loads(page.evaluate("JSON.stringify(window.vretStats)"))
    assert data["received"] > 0


def test_one_console_follows_several_sessions(tmp_path: Path, browser: Any) -> None:
    """Two telemetry-only sessions in one console: a tab each; Stop acts on the open tab's."""
    servers, files = [], []
    try:
        for name in ("s-one", "s-two"):
            conn = tmp_path / f"{name}.json"
            servers.append(subprocess.Popen(
                [sys.executable, "-m", "vret", "serve", "--display", "none", "--session-id",
                 name, "--data-dir", str(tmp_path / "data"), "--connection-file", str(conn),
                 "--duration", "120"],
                cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
            wait_for_connection(conn, servers[-1])
            files.append(str(conn))
        console = subprocess.Popen(
            [sys.executable, "-m", "vret", "console", *files, "--port", "0", "--duration",
             "120"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        servers.append(console)
        url = console_url(console)
        context = browser.new_context(bypass_csp=True)
        page = context.new_page()
        page.goto(url)
        for name in ("s-one", "s-two"):
            page.wait_for_selector(f"button.tab[data-session='{name}']")
        page.click("button.tab[data-session='s-two']")
        for _ in range(2):
            page.click("button[data-cmd='start']")
            time.sleep(0.5)
        wait_result(page, r"start: done .* state exposure")
        page.click("#stop")
        wait_result(page, r"STOP: done .* state safe_hold")
        context.close()
        stopped = wait_for_event(tmp_path / "data", "s-two",
                                 lambda r: r.body.kind == "state_change"
                                 and r.body.to_state == "safe_hold")
        assert stopped.body.reason == "stop button"
        with SessionStore.in_dir(tmp_path / "data") as store:
            assert not any(e.body.kind == "state_change" for e in store.events("s-one"))
    finally:
        stop_all(servers)


def test_a_plan_with_its_trial_criterion_is_applied_before_the_session(
        tmp_path: Path, browser: Any) -> None:
    """A client's plan saved with a within-trial criterion reaches a session not yet begun."""
    with session_and_console(tmp_path, "s-plan") as url:
        context = browser.new_context(bypass_csp=True)
        page = context.new_page()
        page.goto(url)
        page.wait_for_selector("button.tab[data-session='s-plan']")
        page.click("#tab-clients")
        page.click("#new-client")
        page.wait_for_selector("#client-detail:not([hidden])")
        client = re.search(r"(c-[0-9a-f]{8})", page.inner_text("#client-title"))
        assert client is not None
        page.fill("#plan-form input[name=scenario]", "heights")
        page.select_option("#plan-form select[name=trial_criterion]", "suds_drop")
        page.fill("#plan-form input[name=trial_min_s]", "45")
        page.click("#plan-form button[type=submit]")
        page.wait_for_function("document.getElementById('client-error').textContent === "
                               "'plan saved'")
        page.click("button.tab[data-session='s-plan']")
        page.select_option("#plan-client", client.group(1))
        page.click("#apply-plan")
        wait_result(page, r"configure \(console\): done")
        context.close()
        plan = wait_for_event(tmp_path / "data", "s-plan",
                              lambda r: r.body.kind == "session_plan")
    assert (plan.body.trial_criterion, plan.body.trial_min_s) == ("suds_drop", 45.0)
    assert plan.body.client_id == client.group(1)


def test_a_detected_rupture_is_coded_and_repaired_in_the_console(
        tmp_path: Path, browser: Any, images: Path) -> None:
    """The virtual client withdraws (planted); the detector's candidate appears in the console,
    which confirms it with a 3RS code, repairs it through the avatar and rates the session; the
    codes are in the session log and in the review report."""
    data = tmp_path / "data"
    with session_and_console(tmp_path, "s-rupture", "--rupture=withdrawal@8+30") as url:
        context = browser.new_context(bypass_csp=True, viewport={"width": 1500, "height": 1000})
        page = context.new_page()
        page.goto(url)
        page.wait_for_selector("button.tab[data-session='s-rupture']")
        page.click("button[data-cmd='start']")
        wait_result(page, r"start: done .* state baseline")
        page.click("button[data-cmd='start']")
        wait_result(page, r"start: done .* state exposure")
        # The detector's candidate appears by itself (gaze away, stepping back).
        page.wait_for_selector("#candidates li[data-candidate]", timeout=60_000)
        item = page.locator("#candidates li[data-candidate]").first
        candidate = item.get_attribute("data-candidate")
        assert "withdrawal" in item.inner_text()
        item.click()
        page.select_option("#r-code", "minimal_response")
        page.select_option("#r-salience", "3")
        page.fill("#note", "turned away from the view and from me")
        page.click("#confirm-candidate")
        text = wait_result(page, rf"confirm {candidate}: done")
        assert "rupture-1" in text
        assert page.locator(f"#candidates li[data-candidate='{candidate}']").count() == 0
        page.select_option("#r-line", "repair_invite_1")
        assert page.input_value("#r-strategy") == "invite_discussion"  # the line's strategy
        page.check("#r-resolved")
        page.click("#repair-avatar")
        wait_result(page, r"say repair_invite_1: done")
        wait_result(page, r"mark repair: done")
        page.select_option("#r-contribution", "2")
        page.select_option("#r-resolution", "4")
        page.click("#rate-ruptures")
        wait_result(page, r"rate ruptures: done")
        page.locator("#rupture-box").screenshot(path=str(images / "console-ruptures.png"))
        context.close()
        marked = wait_for_event(data, "s-rupture", lambda r: r.body.kind == "rupture_marked")
        assert (marked.body.candidate_id, marked.body.subtype, marked.body.salience) == (
            candidate, "minimal_response", 3)
        assert marked.body.t_start_ns is not None  # the candidate's window
        repair = wait_for_event(data, "s-rupture", lambda r: r.body.kind == "repair_marked")
        assert (repair.body.strategy, repair.body.line_id, repair.body.resolved) == (
            "invite_discussion", "repair_invite_1", True)
        said = wait_for_event(data, "s-rupture", lambda r: r.body.kind == "avatar_utterance"
                              and r.body.line_id == "repair_invite_1")
        assert said.t_session_ns >= repair.t_session_ns - 2_000_000_000
    report = tmp_path / "report.html"
    done = subprocess.run([sys.executable, "-m", "vret", "review", "s-rupture", "--data-dir",
                           str(data), "-o", str(report)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    html = report.read_text()
    section = html[html.index('<section id="ruptures">'):html.index('<section id="trials">')]
    for expected in ("rupture-1", "withdrawal", "Minimal response", f"detector {candidate}",
                     "Invites the client", "repair_invite_1", "resolved",
                     "own contribution to the ruptures 2", "resolution 4", "confirmed",
                     "vret replay s-rupture --at"):
        assert expected in section, expected


def test_a_headset_session_shows_its_state_and_is_recentred_from_the_console(
        tmp_path: Path, browser: Any, images: Path) -> None:
    """A session on a (scripted) headset: the console shows whether the headset is on,
    recentres the client seated, and shows the hold when the headset is taken off."""
    script = tmp_path / "headset.json"
    script.write_text(json.dumps({
        "head": [{"t": 0, "position": [0.3, -0.2, 1.62], "heading": 35}],
        "states": [{"at": 20.0, "state": "visible"}, {"at": 20.1, "state": "synchronized"}],
        "eye_size": [320, 180]}))
    data = tmp_path / "data"
    with session_and_console(tmp_path, "s-headset", "--display", "openxr", "--xr-fake",
                             str(script), "--mirror-rate", "4") as url:
        context = browser.new_context(bypass_csp=True, viewport={"width": 1500, "height": 1000})
        page = context.new_page()
        page.goto(url)
        page.wait_for_selector("button.tab[data-session='s-headset']")
        badge = page.locator("#b-headset")
        playwright_api.expect(badge).to_have_text("headset on", timeout=30_000)
        page.click("button[data-cmd='start']")
        wait_result(page, r"start: done .* state baseline")
        page.click("button[data-cmd='start']")
        wait_result(page, r"start: done .* state exposure")
        page.select_option("#posture", "seated")
        page.click("#recentre")
        wait_result(page, r"recentre \(seated\): done")
        record = wait_for_event(data, "s-headset", lambda e: getattr(e.body, "code", "")
                                == "recentred")
        assert record.body.details["posture"] == "seated"
        # Taken off: the badge says so, the alert is shown, the exposure is held.
        playwright_api.expect(badge).to_have_text("headset synchronized", timeout=40_000)
        playwright_api.expect(page.locator("#alerts li", has_text="headset_away")).to_have_count(
            1, timeout=10_000)
        playwright_api.expect(page.locator("#b-state")).to_have_text("safe_hold")
        page.click("button[data-cmd='resume']")
        wait_result(page, r"resume: .*headset is not in use")
        top = page.locator(".mirror-wrap").bounding_box()
        bottom = page.locator("#alerts").bounding_box()
        page.screenshot(path=str(images / "console-headset.png"), clip={
            "x": top["x"] - 8, "y": top["y"] - 8, "width": top["width"] + 16,
            "height": bottom["y"] + bottom["height"] - top["y"] + 16})
        context.close()
