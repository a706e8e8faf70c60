"""A short session recorded by a real server, shared by the review tests."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from telemetry import commands as c
from telemetry.client import CommandClient
from telemetry.store import StoredEvent
from tests.servers import wait_for_connection, wait_for_event

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "syringe.py"
SESSION = "s-review"
CLIENT = "c-review"


@dataclass(frozen=True)
class Recorded:
    """Where the recorded session is."""

    data_dir: Path
    session_id: str


def _answered(data: Path, checkin: object, session: str = SESSION) -> StoredEvent:
    return wait_for_event(data, session, lambda r: r.body.kind == "checkin_answered"
                          and r.body.checkin_id == checkin, timeout_s=40)


@contextmanager
def serving(tmp: Path, data: Path, session: str, seed: int) -> Iterator[CommandClient]:
    """A real server recording ``session`` of :data:`CLIENT` into ``data``, and a command
    client to drive it; the server is stopped (its record ended) on the way out."""
    conn = tmp / f"{session}.json"
    server = subprocess.Popen(
        [sys.executable, "-m", "vret", "serve", "--scenario", str(EXAMPLE), "--display",
         "offscreen", "--size", "128x72", "--session-id", session, "--data-dir", str(data),
         "--connection-file", str(conn), "--duration", "120", "--seed", str(seed),
         "--client-id", CLIENT],
        cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        with CommandClient(wait_for_connection(conn, server)) as client:
            yield client
        time.sleep(0.5)
    finally:
        server.terminate()
        server.communicate(timeout=30)


@pytest.fixture(scope="package")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    """A short session (screening with a risk flag, plan, trials with SUDS and expectancy,
    a stop, the closing forms), recorded by a real server."""
    tmp = tmp_path_factory.mktemp("review")
    data = tmp / "data"
    screening = {f"q{i}": 1 for i in range(1, 9)} | {"q9": 1, "q10": 1}
    calm = {f"s{i}": 0 for i in range(1, 17)}
    closing = {"together": 8, "rationale": 9, "safe_to_say": 7, "own_goals": 8,
               "guide_helpful": 9, "tension": 0}
    with serving(tmp, data, SESSION, seed=3) as client:
        ack = client.request(c.SubmitQuestionnaire(instrument="phq9",
                                                   answers=json.dumps(screening)))
        client.request(c.AcknowledgeRisk(response_id=str(ack.result["response_id"]),
                                         note="assessed with the client: no plan"))
        client.request(c.Configure(trial_criterion="expectancy", trial_min_s=30))
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
        client.request(c.SubmitQuestionnaire(
            instrument="ssq", answers=json.dumps(calm | {"s8": 1}), timing="end"))
        client.request(c.SubmitQuestionnaire(instrument="vret_alliance_check",
                                             answers=json.dumps(closing), timing="end"))
        client.request(c.End())
        client.request(c.End())
    return Recorded(data, SESSION)


@pytest.fixture(scope="package")
def second(recorded: Recorded, tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    """A second, later session of the same client in the same store: rung 2 is calmer now,
    and the alliance check at the end is lower (a drop to review)."""
    closing = {"together": 5, "rationale": 6, "safe_to_say": 5, "own_goals": 6,
               "guide_helpful": 8, "tension": 1, "tension_strength": 3, "tension_resolved": 2}
    tmp = tmp_path_factory.mktemp("second")
    with serving(tmp, recorded.data_dir, "s-review-2", seed=4) as client:
        client.request(c.Start())
        client.request(c.Start())
        client.request(c.SetLevel(rung=2))
        suds = client.request(c.AskCheckIn(instrument="suds"))
        _answered(recorded.data_dir, suds.result["checkin_id"], "s-review-2")
        client.request(c.SubmitQuestionnaire(instrument="vret_alliance_check",
                                             answers=json.dumps(closing), timing="end"))
        client.request(c.End())
        client.request(c.End())
    return Recorded(recorded.data_dir, "s-review-2")
