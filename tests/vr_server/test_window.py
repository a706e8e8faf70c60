"""Window mode for real: an X server (Xvfb), a window, real key and mouse events (xdotool).

A person at a monitor looks around with the mouse, rates with the number keys and stops with
Space; each becomes telemetry or an event in the session log.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from telemetry import commands as c
from telemetry.client import CommandClient
from telemetry.connection import ConnectionInfo
from telemetry.schemas import Samples
from telemetry.store import SessionStore
from telemetry.subscriber import Subscriber

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "syringe.py"
pytestmark = pytest.mark.skipif(
    shutil.which("Xvfb") is None or shutil.which("xdotool") is None,
    reason="needs Xvfb and xdotool (.ci/run installs them)")


@pytest.fixture
def display() -> Iterator[str]:
    for number in range(91, 120):
        if not Path(f"/tmp/.X11-unix/X{number}").exists():
            break
    name = f":{number}"
    xvfb = subprocess.Popen(["Xvfb", name, "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not Path(f"/tmp/.X11-unix/X{number}").exists():
        assert time.monotonic() < deadline and xvfb.poll() is None, "Xvfb did not start"
        time.sleep(0.05)
    yield name
    xvfb.terminate()
    xvfb.wait(10)


def _xdotool(display: str, *args: str) -> str:
    return subprocess.run(["xdotool", *args], env={**os.environ, "DISPLAY": display},
                          capture_output=True, text=True, timeout=10, check=True).stdout


def test_a_client_at_a_window_looks_rates_and_stops(display: str, tmp_path: Path) -> None:
    conn = tmp_path / "conn.json"
    server = subprocess.Popen(
        [sys.executable, "-m", "vret", "serve", "--scenario", str(EXAMPLE), "--display",
         "window", "--size", "320x180", "--session-id", "s-win",
         "--data-dir", str(tmp_path / "data"), "--connection-file", str(conn),
         "--duration", "60"],
        env={**os.environ, "DISPLAY": display}, cwd=tmp_path,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not conn.exists():
            assert server.poll() is None and time.monotonic() < deadline, server.stderr
            time.sleep(0.05)
        info = ConnectionInfo.read(conn)
        window = _xdotool(display, "search", "--sync", "--name", "vret").split()[0]
        _xdotool(display, "windowfocus", "--sync", window)
        subscriber = Subscriber(info, topics=("tel.",))
        with CommandClient(info) as client:
            client.request(c.Start())
            client.request(c.Start())
            client.request(c.AskCheckIn())
            # The mouse turns the head: moving right looks right (heading decreases).
            _xdotool(display, "mousemove", "--window", window, "300", "90")
            time.sleep(0.5)
            _xdotool(display, "key", "7")
            time.sleep(0.5)
            headings = []
            until = time.monotonic() + 2
            while time.monotonic() < until:
                for _, message in subscriber.recv_many(50):
                    if isinstance(message.body, Samples):
                        for batch in message.body.batches:
                            if batch.stream == "head_pose":
                                qw, qz = batch.values[:, 3], batch.values[:, 6]
                                headings += list(np.degrees(2 * np.arctan2(qz, qw)))
            _xdotool(display, "key", "t")  # "too much": the therapist is alerted
            time.sleep(0.5)
            _xdotool(display, "key", "space")
            time.sleep(1.0)
        subscriber.close()
        assert headings and min(headings) < -5, "the mouse did not turn the head"
    finally:
        server.terminate()
        server.communicate(timeout=30)
    with SessionStore.in_dir(tmp_path / "data") as store:
        events = [e.body for e in store.events("s-win")]
    answers = [e for e in events if e.kind == "checkin_answered"]
    assert answers and answers[0].value == 70.0 and answers[0].latency_ms > 0
    stops = [e for e in events if e.kind == "state_change" and e.to_state == "safe_hold"]
    assert stops and stops[0].actor == "client"
    assert any(e.kind == "alert" and e.code == "client_stop" for e in events)
    too_much = [e for e in events if e.kind == "alert" and e.code == "client_too_much"]
    assert too_much and events.index(too_much[0]) < events.index(stops[0])
    # Both are confrontation evidence for the rupture detector: one candidate, two signals.
    candidates = [e for e in events if e.kind == "rupture_candidate"]
    assert candidates and set(candidates[-1].signals) == {"too_much", "stop"}
