"""Coach mode: the avatar greets, runs the scheduled check-ins and asks consent itself."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from telemetry import commands as c
from telemetry.client import CommandClient
from telemetry.store import SessionStore
from tests.servers import wait_for_connection, wait_for_event

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "syringe.py"


def test_the_coach_greets_checks_in_and_asks_consent(tmp_path: Path) -> None:
    conn = tmp_path / "conn.json"
    server = subprocess.Popen(
        [sys.executable, "-m", "vret", "serve", "--scenario", str(EXAMPLE), "--size", "160x90",
         "--avatar-mode", "coach", "--checkin-every", "4", "--session-id", "s-coach",
         "--data-dir", str(tmp_path / "data"), "--connection-file", str(conn),
         "--duration", "60"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        with CommandClient(wait_for_connection(conn, server)) as client:
            client.request(c.Start())
            client.request(c.Start())
            # A scheduled check-in comes after 4 s of exposure; the avatar asks it once its
            # greeting and rationale are said, and the client answers what it has heard.
            wait_for_event(tmp_path / "data", "s-coach", lambda r: r.body.kind ==
                           "checkin_answered" and r.body.instrument == "suds", timeout_s=60)
            asked = None
            until = time.monotonic() + 30
            while asked is None and time.monotonic() < until:
                try:
                    asked = client.request(c.SetLevel(rung=2))  # a step up: consent first
                except Exception:  # a check-in is still open: ask again shortly
                    time.sleep(0.5)
            assert asked is not None and "checkin_id" in asked.result
            # The consent question is asked aloud and answered; the level follows a yes.
            wait_for_event(tmp_path / "data", "s-coach", lambda r: r.body.kind ==
                           "checkin_answered" and r.body.instrument == "consent", timeout_s=60)
            time.sleep(1)
    finally:
        server.terminate()
        server.communicate(timeout=30)
    with SessionStore.in_dir(tmp_path / "data") as store:
        events = [e.body for e in store.events("s-coach")]
    said = [e.line_id for e in events if e.kind == "avatar_utterance"]
    assert said[:2] == ["greeting", "rationale_control"]
    assert "checkin_suds" in said and "consent_step_up" in said
    scheduled = [e for e in events if e.kind == "checkin_asked" and e.instrument == "suds"]
    assert scheduled and scheduled[0].actor == "script"
    consent = [e for e in events if e.kind == "checkin_answered" and e.instrument == "consent"]
    assert consent and consent[0].answered
    agreed = [e for e in events if e.kind == "level_change" and "agreed" in e.reason]
    declined = [e for e in events if e.kind == "alert" and e.code == "consent_declined"]
    assert agreed or declined  # whichever the client said, it was recorded


def test_with_a_check_in_interval_the_avatar_also_asks_at_each_new_rung(
        tmp_path: Path) -> None:
    conn = tmp_path / "conn.json"
    server = subprocess.Popen(
        [sys.executable, "-m", "vret", "serve", "--scenario", str(EXAMPLE), "--size", "96x54",
         "--checkin-every", "600", "--session-id", "s-plan", "--data-dir",
         str(tmp_path / "data"), "--connection-file", str(conn), "--duration", "60"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        with CommandClient(wait_for_connection(conn, server)) as client:
            client.request(c.Start())
            client.request(c.Start())
            level = client.request(c.SetLevel(rung=3))
            # Not the 600 s interval: the new rung itself brings the SUDS question.
            asked = wait_for_event(tmp_path / "data", "s-plan", lambda r: r.body.kind ==
                                   "checkin_asked" and r.body.instrument == "suds",
                                   timeout_s=20)
            assert asked.body.actor == "script" and asked.seq > int(level.result["seq"])
    finally:
        server.terminate()
        server.communicate(timeout=30)
