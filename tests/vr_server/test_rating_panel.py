"""The rating panel in the scene: shown with the check-in, answered and stopped by gaze dwell.

Runs a session in a process of its own (Panda3D allows one engine per process); this file is
also the child program, which aims the client's head at the panel's cells as a person would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from instruments.definition import ResponseScale
from vr_server.rating_panel import choices

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "syringe.py"
DOC_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"


def _child(out: Path, image: Path) -> None:
    from telemetry import commands as c
    from telemetry.store import SessionStore
    from vr_server.app import AppConfig, ServerApp
    from vr_server.engine import DisplayConfig
    from vr_server.host import HostConfig
    from vr_server.mirror import MirrorConfig

    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        app = ServerApp(AppConfig(
            scenario=str(EXAMPLE), virtual_client=False, gaze_dwell=True,
            host=HostConfig(data_dir=Path(tmp), session_id="s-panel"),
            display=DisplayConfig(mode="offscreen", size=(960, 540)),
            mirror=MirrorConfig(rate_hz=0)))
        app.start()
        host, panel = app.host, app.panel

        def until(done: Any, limit_s: float = 8.0) -> bool:
            """Run frames until ``done()`` holds (software rendering sets the pace)."""
            deadline = time.monotonic() + limit_s
            while not done() and time.monotonic() < deadline:
                app.run(0.1)
            return bool(done())

        host.machine.apply(c.Start())
        host.machine.apply(c.Start())
        app.run(0.5)
        result["closed_before"] = not panel.is_open
        host.ask_checkin("suds")
        app.run(0.3)
        result["open"] = panel.is_open and not panel.root.is_hidden()
        result["cells"] = [cell.label for cell in panel.cells]
        app.run(0.5)  # looking ahead (at the question, above the cells): nothing chosen
        result["unanswered_while_reading"] = host.machine.open_checkin is not None
        Image.fromarray(app.engine.screenshot()).save(image)
        app.engine.head.look_at(app.engine.world, panel.cell_centre(70.0))
        # Dwell 1.5 s on 70, then the answer shows for a moment and the panel closes.
        until(lambda: host.machine.open_checkin is None and not panel.is_open)
        answer = host.machine.last_answer
        result["answer"] = None if answer is None else answer.value
        result["closed_after"] = not panel.is_open
        host.ask_checkin("suds")
        app.run(0.3)
        app.engine.head.look_at(app.engine.world, panel.cell_centre(None))
        until(lambda: host.machine.state == "safe_hold")  # STOP after 1 s of dwell
        result["state_after_stop"] = host.machine.state
        # A questionnaire in the safe place, item by item: two answers by gaze, then STOP.
        host.answer_checkin(None)  # the stopped check-in, recorded as unanswered
        host.machine.apply(c.GiveQuestionnaire(instrument="vret_alliance_check"))
        app.run(0.3)
        result["form_cells"] = [cell.label for cell in panel.cells]
        Image.fromarray(app.engine.screenshot()).save(image.with_name("rating-panel-form.png"))
        form = host.machine.open_form
        assert form is not None
        app.engine.head.look_at(app.engine.world, panel.cell_centre(8.0))
        until(lambda: len(form.answers) == 1)
        app.run(0.2)  # the next item's panel opens
        app.engine.head.look_at(app.engine.world, panel.cell_centre(9.0))
        until(lambda: len(form.answers) == 2)
        app.run(0.2)
        app.engine.head.look_at(app.engine.world, panel.cell_centre(None))
        until(lambda: host.machine.open_form is None)
        result["form_open_after_stop"] = host.machine.open_form is not None
        app.close()
        with SessionStore.in_dir(Path(tmp)) as store:
            events = [e.body for e in store.events("s-panel")]
        stops = [e for e in events if e.kind == "state_change" and e.to_state == "safe_hold"]
        result["stop_actor"] = stops[0].actor if stops else None
        result["answered"] = [e.value for e in events if e.kind == "checkin_answered"]
        forms = [e for e in events if e.kind == "questionnaire_response"]
        result["form"] = forms[0].model_dump(mode="json") if forms else None
    out.write_text(json.dumps(result))


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    tmp = tmp_path_factory.mktemp("panel")
    folder = DOC_IMAGES if os.environ.get("VRET_DOC_IMAGES") else tmp
    image = folder / "rating-panel.png"
    out = tmp / "result.json"
    done = subprocess.run([sys.executable, __file__, str(out), str(image)], cwd=tmp,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text()), image


def test_the_panel_opens_with_the_check_in_and_offers_the_scale_and_stop(
        run: tuple[dict[str, Any], Path]) -> None:
    result, image = run
    assert result["closed_before"] and result["open"]
    assert result["cells"] == [f"{v}" for v in range(0, 101, 10)] + ["STOP"]
    assert result["unanswered_while_reading"]
    pixels = np.asarray(Image.open(image).convert("RGB")).astype(int)
    red = (pixels[..., 0] > 160) & (pixels[..., 1] < 90) & (pixels[..., 2] < 90)
    assert red.sum() > 200  # the STOP cell is in view


def test_gaze_dwell_answers_and_a_look_at_stop_stops(run: tuple[dict[str, Any], Path]) -> None:
    result, _ = run
    assert result["answer"] == 70.0 and result["closed_after"]
    assert result["answered"] == [70.0, None]  # the second was stopped, then closed
    assert result["state_after_stop"] == "safe_hold" and result["stop_actor"] == "client"


def test_a_questionnaire_item_by_item_by_gaze_and_left_with_stop(
        run: tuple[dict[str, Any], Path]) -> None:
    result, _ = run
    assert result["form_cells"] == [f"{v}" for v in range(11)] + ["STOP"]
    form = result["form"]
    assert form["instrument"] == "vret_alliance_check" and form["actor"] == "client"
    assert form["answers"] == {"together": 8.0, "rationale": 9.0} and not form["complete"]
    assert not result["form_open_after_stop"]


@pytest.mark.parametrize(("scale", "yes_no", "labels"), [
    (ResponseScale(low=0, high=100), False, [f"{v}" for v in range(0, 101, 10)]),
    (ResponseScale(low=0, high=20), False, [f"{v}" for v in range(0, 21, 2)]),
    (ResponseScale(low=0, high=10, step=0.1, kind="decimal"), False,
     ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10"]),
    (ResponseScale(low=0, high=100, step=100), True, ["Yes", "No"]),
])
def test_cells_offered_per_scale(scale: ResponseScale, yes_no: bool,
                                 labels: list[str]) -> None:
    assert [label for _, label in choices(scale, yes_no)] == labels


if __name__ == "__main__":
    _child(Path(sys.argv[1]), Path(sys.argv[2]))
