"""When scene code fails, or a scenario cannot be used, the session and the client stay safe."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from telemetry import commands as c
from telemetry.client import CommandClient
from telemetry.errors import CommandFailed
from telemetry.store import SessionStore
from tests.servers import wait_for_connection

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "syringe.py"


def _broken_example(tmp_path: Path, old: str, new: str) -> Path:
    source = EXAMPLE.read_text()
    assert old in source
    path = tmp_path / "broken_syringe.py"
    path.write_text(source.replace(old, new, 1))
    return path


def _serve(tmp_path: Path, scenario: Path | str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "vret", "serve", "--scenario", str(scenario), "--size",
         "160x90", "--session-id", "s-fail", "--data-dir", str(tmp_path / "data"),
         "--connection-file", str(tmp_path / "conn.json"), "--duration", "60", *extra],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_failing_live_event_holds_the_session_safe_and_it_goes_on(tmp_path: Path) -> None:
    scenario = _broken_example(tmp_path, '            self.drop_fall = 0.0\n',
                               '            raise RuntimeError("the drop fell over")\n')
    server = _serve(tmp_path, scenario)
    conn = tmp_path / "conn.json"
    try:
        with CommandClient(wait_for_connection(conn, server)) as client:
            client.request(c.Start())
            client.request(c.Start())
            client.request(c.Trigger(event="drip"))  # accepted; the scene's code then raises
            deadline = time.monotonic() + 10
            while client.request(c.Annotate(text="still here")).result["state"] != "safe_hold":
                assert time.monotonic() < deadline, "the session was not held safe"
                time.sleep(0.1)
            with pytest.raises(CommandFailed, match=r"the scenario failed.*the drop fell over"):
                client.request(c.Resume())
            assert client.request(c.Annotate(text="the server still serves")).frame
        assert server.poll() is None
    finally:
        server.terminate()
        server.communicate(timeout=30)
    assert server.returncode == 0
    with SessionStore.in_dir(tmp_path / "data") as store:
        events = [e.body for e in store.events("s-fail")]
    failed = [e for e in events if e.kind == "alert" and e.code == "scenario_failed"]
    assert failed and "the drop fell over" in failed[0].details["error"]
    held = [e for e in events if e.kind == "state_change" and e.to_state == "safe_hold"]
    assert held and held[0].actor == "server" and "the drop fell over" in held[0].reason


def test_a_scenario_that_fails_to_build_is_named_and_nothing_is_recorded(tmp_path: Path) -> None:
    scenario = _broken_example(tmp_path, '        root = self.root\n',
                               '        root = self.root\n        raise OSError("no table")\n')
    server = _serve(tmp_path, scenario)
    _, err = server.communicate(timeout=60)
    assert server.returncode == 1 and "Traceback" not in err
    assert "scenario 'syringe' failed to build its scene: OSError: no table" in err
    assert not (tmp_path / "data" / "vret.sqlite3").exists()


def test_an_exposure_scenario_cannot_be_the_safe_place(tmp_path: Path) -> None:
    server = _serve(tmp_path, EXAMPLE, "--safe-place", "spiders")
    _, err = server.communicate(timeout=60)
    assert server.returncode == 1 and "'spiders' cannot be the safe place" in err
