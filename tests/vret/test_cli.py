"""The ``vret`` command as a user runs it: real processes, real files."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vret.cli import build_parser


def vret(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vret", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, check=False)


def test_help_lists_every_subcommand(tmp_path: Path) -> None:
    result = vret("--help", cwd=tmp_path)
    assert result.returncode == 0
    for name in ("serve", "monitor", "send", "sessions", "events", "keys", "demo"):
        assert name in result.stdout
    for name in ("serve", "monitor", "send", "sessions", "events", "keys", "demo"):
        sub = vret(name, "--help", cwd=tmp_path)
        assert sub.returncode == 0 and "--data-dir" in sub.stdout


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert vret("fly", cwd=tmp_path).returncode == 2
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--rungs", "many"])
    for bad in (["--session-id", "bad id"], ["--client-id", "Jane Doe"], ["--seed", "-1"],
                ["--rungs", "0"], ["--duration", "-3"]):
        result = vret("serve", *bad, cwd=tmp_path)
        assert result.returncode == 2 and "Traceback" not in result.stderr, bad
        assert "error: argument" in result.stderr
    assert not (tmp_path / "vret-data").exists()  # nothing was recorded


@pytest.mark.slow
def test_serve_send_and_read_back(tmp_path: Path) -> None:
    conn = tmp_path / "conn.json"
    server = subprocess.Popen(
        [sys.executable, "-m", "vret", "serve", "--display", "none", "--session-id", "s-cli",
         "--connection-file",
         str(conn), "--duration", "30"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not conn.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert vret("send", str(conn), "start", cwd=tmp_path).returncode == 0
        assert vret("send", str(conn), "start", cwd=tmp_path).returncode == 0
        ok = vret("send", str(conn), "set_level", "rung=2", "intensity=0.5", cwd=tmp_path)
        assert ok.returncode == 0 and json.loads(ok.stdout)["type"] == "ack"
        bad = vret("send", str(conn), "set_level", "rung=99", cwd=tmp_path)
        assert bad.returncode == 1 and "out_of_range" in bad.stderr
        unknown = vret("send", str(conn), "teleport", cwd=tmp_path)
        assert unknown.returncode == 1 and "unknown command 'teleport'" in unknown.stderr
        time.sleep(4)  # longer than the console timeout: one-shot senders are not consoles
        assert vret("send", str(conn), "end", cwd=tmp_path).returncode == 0
        assert vret("send", str(conn), "end", cwd=tmp_path).returncode == 0
        server.wait(30)  # an ended session stops its server
        assert server.returncode == 0
    finally:
        if server.poll() is None:
            server.kill()
        server.communicate()
    sessions = vret("sessions", cwd=tmp_path)
    assert "s-cli" in sessions.stdout and "ended" in sessions.stdout
    events = [json.loads(line) for line in vret("events", "s-cli", cwd=tmp_path).stdout.split("\n")
              if line]
    kinds = [e["event"]["kind"] for e in events]
    assert kinds.count("state_change") == 4 and kinds.count("level_change") == 1
    assert "alert" not in kinds  # no console_lost: nothing was put on safe hold
    assert not conn.exists()


def test_missing_store_and_connection_file_are_clear_errors(tmp_path: Path) -> None:
    result = vret("sessions", "--data-dir", str(tmp_path / "nowhere"), cwd=tmp_path)
    assert result.returncode == 1 and "no session store" in result.stderr
    result = vret("send", str(tmp_path / "missing.json"), "stop", cwd=tmp_path)
    assert result.returncode == 1 and "cannot read connection file" in result.stderr


def test_non_loopback_without_curve_is_refused_from_the_command_line(tmp_path: Path) -> None:
    result = vret("serve", "--display", "none", "--host", "0.0.0.0", "--duration", "1",
                  cwd=tmp_path)
    assert result.returncode == 1
    assert "refusing to bind" in result.stderr and "--curve" in result.stderr
    assert not (tmp_path / "vret-data" / "vret.sqlite3").exists()  # refused before recording


def test_headset_options_that_do_not_fit_are_refused_before_recording(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"eye_size": [64, 36]}))
    for args, said in (
            (["--display", "offscreen", "--xr-fake", str(script)], "use it with --display openxr"),
            (["--display", "openxr", "--xr-fake", str(script), "--virtual-client"],
             "a person wears the headset"),
            (["--display", "openxr", "--xr-fake", str(tmp_path / "none.json")],
             "could not be read"),
            (["--display", "openxr", "--xr-fake", str(tmp_path)], "could not be read")):
        result = vret("serve", *args, "--duration", "1", cwd=tmp_path)
        assert result.returncode == 1 and said in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"presses": [{"hand": "left", "button": "fire", "at": 1}]}))
    result = vret("headset", "--xr-fake", str(broken), cwd=tmp_path)
    assert result.returncode == 1 and "presses[0]" in result.stderr
    result = vret("headset", "--xr-fake", str(script), cwd=tmp_path)
    assert result.returncode == 0 and "per eye: 64x36" in result.stdout
    assert not (tmp_path / "vret-data" / "vret.sqlite3").exists()


def test_a_server_that_fails_to_start_ends_its_record(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    result = vret("serve", "--display", "none", "--session-id", "s-broken", "--connection-file",
                  str(blocker / "conn.json"), cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    listed = vret("sessions", cwd=tmp_path).stdout
    assert "s-broken" in listed and "ended" in listed


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_demo_runs_to_the_end(tmp_path: Path) -> None:
    result = vret("demo", "--duration", "18", cwd=tmp_path, timeout=240)
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "samples/s" in out and "p99" in out and "lost messages: 0" in out
    assert "session store:" in out and (tmp_path / "vret-data" / "vret.sqlite3").exists()
    for stream in ("head_pose", "gaze", "ecg", "eda", "heart_rate", "scene", "frame_stats"):
        assert stream in out
    assert "refused" not in out
    # Screenshots of what the client saw, from the mirror view: JPEG files, one per step.
    shots = sorted((tmp_path / "vret-data" / "screenshots").glob("*/*.jpg"))
    assert len(shots) >= 6 and all(p.read_bytes()[:2] == b"\xff\xd8" for p in shots)
    for step in ("avatar-greeting", "avatar-asks-suds", "avatar-asks-consent", "stop-safe-place"):
        assert any(step in p.name for p in shots), step
    # The avatar greeted, voiced the check-in and the consent question, and the virtual
    # client's yes let the step up through.
    assert "avatar_utterance" in out and "'instrument': 'consent'" in out
    assert "the client agreed" in out
    # Screening, check-ins and closing forms are on the timeline, and the report is written.
    from telemetry.store import SessionStore

    with SessionStore.in_dir(tmp_path / "vret-data", create=False) as store:
        (record,) = store.sessions()
        events = [e.body for e in store.events(record.session_id)]
    forms = {(e.instrument, e.timing) for e in events if e.kind == "questionnaire_response"}
    assert forms == {("phq9", "screening"), ("ssq", "start"), ("ssq", "end"),
                     ("vret_alliance_check", "end"), ("vret_therapist_check", "end")}
    therapist = next(e for e in events if e.kind == "questionnaire_response"
                     and e.instrument == "vret_therapist_check")
    assert therapist.respondent == "therapist"
    rated = {e.instrument for e in events if e.kind == "checkin_answered" and e.answered}
    assert {"suds", "consent", "expectancy", "fms"} <= rated
    reports = list((tmp_path / "vret-data" / "reports").glob("*.html"))
    assert len(reports) == 1 and f"review report: {reports[0].resolve()}" in out
    assert 'id="trials"' in reports[0].read_text()
    # The planted withdrawal: found by the detector, confirmed with its code, repaired through
    # the avatar, and in the report.
    candidates = [e for e in events if e.kind == "rupture_candidate"]
    assert any(c.marker == "withdrawal" for c in candidates)
    (marked,) = [e for e in events if e.kind == "rupture_marked"]
    assert marked.candidate_id is not None and marked.subtype == "minimal_response"
    (repair,) = [e for e in events if e.kind == "repair_marked"]
    assert (repair.line_id, repair.strategy, repair.resolved) == (
        "repair_invite_1", "invite_discussion", True)
    assert any(e.kind == "rupture_rating" for e in events)
    # The controller proposed the first step from the SUDS answer, and it was accepted.
    decisions = [e.decision for e in events if e.kind == "controller_decision"]
    assert "proposed" in decisions and "accepted" in decisions
    assert any(e.kind == "level_change" and e.reason.startswith("controller") for e in events)
    html = reports[0].read_text()
    ruptures = html[html.index('<section id="ruptures">'):html.index('<section id="trials">')]
    assert "Minimal response" in ruptures and "resolved" in ruptures
    assert "repair_invite_1" in ruptures
    _screenshot_ruptures(reports[0])

    # One moment replayed from the record (the first rating panel), and how to see others.
    replays = list((tmp_path / "vret-data" / "replays").glob("*.png"))
    assert len(replays) == 1 and f"replayed view: {replays[0].resolve()}" in out
    assert replays[0].read_bytes()[:4] == b"\x89PNG"
    assert "replay any moment: vret replay" in out and "review pages:" in out


def _screenshot_ruptures(report: Path) -> None:
    """The demo report's ruptures section in headless Chromium: the README's picture with
    VRET_DOC_IMAGES=1 (else a temporary file, so that a test run changes no file)."""
    import os
    import shutil

    playwright_api = pytest.importorskip("playwright.sync_api")
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    images = Path(__file__).resolve().parents[2] / "docs" / "images"
    out = (images if os.environ.get("VRET_DOC_IMAGES") else report.parent) / \
        "review-ruptures.png"
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1150, "height": 800})
        page.goto(report.as_uri())
        assert page.locator("#ruptures table").is_visible()
        page.locator("#ruptures").screenshot(path=str(out))
        browser.close()
    assert out.stat().st_size > 1000
