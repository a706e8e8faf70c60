"""Replay: a recorded session's frames rendered again match what the live mirror showed.

A real server renders the heights scenario with the avatar and records the session; a
subscriber keeps the mirror view's JPEG frames as the console received them. After the session,
``vret replay`` (its own process, as a user runs it) renders the same frames from the record.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from review.replay import Recording, open_recording
from telemetry import commands as c
from telemetry.client import CommandClient
from telemetry.schemas import Frame
from telemetry.store import SessionStore
from telemetry.subscriber import Subscriber
from tests.servers import wait_for_connection, wait_for_event
from vr_server.mirror import MirrorConfig, MirrorEncoder

SESSION = "s-replay"
SIZE = (256, 144)
TOLERANCE = 1.0
"""Largest mean absolute difference per channel (of 255) between a replayed frame, encoded as
the mirror encodes its frames, and the live mirror's JPEG of the same frame. (Measured: 0, the
same bytes. Without the encoding, JPEG's own loss is 2-5 here, on the heights scene's edges.)"""

pytestmark = pytest.mark.timeout(300)


@dataclass
class Live:
    """The recorded session and the mirror frames the console received during it."""

    data_dir: Path
    frames: dict[int, bytes] = field(default_factory=dict)
    moments: dict[str, int] = field(default_factory=dict)
    """Frames taken at named moments (the panel open, the safe place, ...)."""

    def recording(self) -> Recording:
        return open_recording(self.data_dir, SESSION)


def _collect(info: object, into: dict[int, bytes], stop: threading.Event,
             lock: threading.Lock) -> None:
    subscriber = Subscriber(info, topics=("frame.",))  # type: ignore[arg-type]
    try:
        while not stop.is_set():
            for _, message in subscriber.recv_many(20):
                if isinstance(message.body, Frame):
                    with lock:
                        into[message.body.frame_number] = message.body.data
    finally:
        subscriber.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("replay")
    data = tmp / "data"
    conn = tmp / "conn.json"
    server = subprocess.Popen(
        [sys.executable, "-m", "vret", "serve", "--scenario", "heights", "--display",
         "offscreen", "--size", f"{SIZE[0]}x{SIZE[1]}", "--mirror-width", str(SIZE[0]),
         "--session-id", SESSION, "--data-dir", str(data), "--connection-file", str(conn),
         "--duration", "150", "--seed", "11"],
        cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    result = Live(data)
    stop, lock = threading.Event(), threading.Lock()
    try:
        info = wait_for_connection(conn, server)
        thread = threading.Thread(target=_collect, args=(info, result.frames, stop, lock),
                                  daemon=True)
        thread.start()
        time.sleep(0.5)

        def mark(name: str, wait_s: float) -> None:
            time.sleep(wait_s)
            with lock:
                result.moments[name] = max(result.frames)

        with CommandClient(info) as client:
            mark("safe place before the start", 1.5)
            client.request(c.Start())
            client.request(c.Start())
            client.request(c.SetLevel(rung=3, intensity=0.5))  # ramps over the next seconds
            mark("ramping up to rung 3", 1.0)
            client.request(c.Trigger(event="gust"))
            client.request(c.Speak(text="Notice the railing under your hands."))
            client.request(c.Gesture(gesture="open_hands"))
            mark("a gust, the avatar speaking", 1.5)
            asked = client.request(c.AskCheckIn(instrument="suds"))
            wait_for_event(data, SESSION, lambda r: r.body.kind == "rating_panel")
            mark("the rating panel open", 0.5)
            wait_for_event(data, SESSION, lambda r: r.body.kind == "checkin_answered"
                           and r.body.checkin_id == asked.result["checkin_id"], timeout_s=40)
            mark("the answer shown", 0.2)
            client.request(c.Stop(reason="test stop"))
            mark("stopped: the safe place", 1.5)
            client.request(c.Resume())
            mark("back at the mildest values", 1.5)
            client.request(c.End())
            client.request(c.End())
        time.sleep(0.5)
    finally:
        stop.set()
        server.terminate()
        server.communicate(timeout=30)
    yield result


def _replay(live: Live, tmp: Path, frames: list[int], *extra: str) -> dict[int, np.ndarray]:
    out = tmp / "replayed"
    done = subprocess.run(
        [sys.executable, "-m", "vret", "replay", "--data-dir", str(live.data_dir), SESSION,
         "--frame", ",".join(str(f) for f in frames), "--width", str(SIZE[0]), "-o", str(out),
         *extra], capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-2000:]
    assert "faithful" in done.stdout
    return {f: np.asarray(Image.open(out / f"frame-{f:07d}.png").convert("RGB"), dtype=float)
            for f in frames}


def _as_mirror(image: np.ndarray) -> np.ndarray:
    """``image`` as the live mirror sends it: JPEG-encoded by its encoder, decoded again."""
    encoder = MirrorEncoder(MirrorConfig(width=SIZE[0]), publish=lambda frame: None)
    data, _, _ = encoder.encode(image.astype(np.uint8))
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=float)


def _mirror(live: Live, frame: int) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(live.frames[frame])).convert("RGB"), dtype=float)


def test_replayed_frames_match_the_live_mirror(live: Live, tmp_path: Path) -> None:
    recording = live.recording()
    recorded = set(recording.frames.tolist())
    # The named moments and frames spread over the whole session, all of them recorded.
    spread = sorted(f for f in live.frames if f in recorded)
    chosen = sorted({*live.moments.values(),
                     *spread[len(spread) // 12::max(1, len(spread) // 8)]} & recorded)
    assert len(chosen) >= 8
    replayed = _replay(live, tmp_path, chosen, "--no-gaze")
    errors = {f: float(np.abs(_as_mirror(replayed[f]) - _mirror(live, f)).mean())
              for f in chosen}
    named = {name: round(errors[f], 2) for name, f in live.moments.items() if f in errors}
    assert max(errors.values()) < TOLERANCE, (errors, named)
    # The measure tells moments apart: each replayed named moment is further from the
    # mirror's view of the other named moments than from its own.
    moments = sorted(set(live.moments.values()) & set(chosen))
    for f in moments:
        others = [float(np.abs(_as_mirror(replayed[f]) - _mirror(live, g)).mean())
                  for g in moments
                  if g != f]
        assert min(others) > errors[f], (f, errors[f], others)


def test_the_recording_holds_what_changed_the_view(live: Live) -> None:
    recording = live.recording()
    kinds = {e.body.kind for e in recording.events}
    assert {"rating_panel", "avatar_utterance", "avatar_gesture", "scenario_event"} <= kinds
    shown = [e.body for e in recording.events if e.body.kind == "rating_panel"]
    assert [s.action for s in shown] == ["shown", "answered"]
    assert shown[0].question and shown[0].scale_high == 100
    # Every frame has its head pose, gaze and scene row, in order.
    assert np.all(np.diff(recording.frames) == 1)
    assert len(recording.head) == len(recording.gaze) == len(recording) > 100


def test_a_clip_and_a_moment_with_the_gaze_point(live: Live, tmp_path: Path) -> None:
    recording = live.recording()
    at = recording.seconds(recording.index_of_frame(live.moments["the rating panel open"]))
    clip = tmp_path / "clip.webp"
    done = subprocess.run(
        [sys.executable, "-m", "vret", "replay", "--data-dir", str(live.data_dir), SESSION,
         "--from", f"{at - 1:.3f}", "--to", f"{at + 1:.3f}", "--fps", "5", "--width", "128",
         "-o", str(clip)], capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    with Image.open(clip) as image:
        assert image.n_frames == 11 and image.size == (128, 72)
    one = tmp_path / "moment.png"
    done = subprocess.run(
        [sys.executable, "-m", "vret", "replay", "--data-dir", str(live.data_dir), SESSION,
         "--at", f"{at:.3f}", "--width", "256", "-o", str(one)],
        capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    with_gaze = np.asarray(Image.open(one).convert("RGB"))
    # The ring is drawn in the gaze colour somewhere in the view.
    ring = (with_gaze[..., 0] == 255) & (with_gaze[..., 1] == 214) & (with_gaze[..., 2] == 0)
    assert ring.sum() > 10


def test_bad_requests_get_clear_errors(live: Live, tmp_path: Path) -> None:
    def replay(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "vret", "replay", "--data-dir",
                               str(live.data_dir), *args], capture_output=True, text=True,
                              timeout=120)

    missing = replay("s-nobody", "--at", "1")
    assert missing.returncode == 1 and "no session 's-nobody'" in missing.stderr
    frame = replay(SESSION, "--frame", "99999999")
    assert frame.returncode == 1 and "frame 99999999 is not in the recording" in frame.stderr
    clip = replay(SESSION, "--from", "2", "--to", "1")
    assert clip.returncode == 1 and "must be after" in clip.stderr
    wrong = replay(SESSION, "--from", "1", "-o", str(tmp_path / "clip.mp4"))
    assert wrong.returncode == 1 and ".webp" in wrong.stderr
    assert replay(SESSION, "--at", "soon").returncode == 2


# ------------------------------------------------------------------ the console's review page

DOC_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="module")
def console(live: Live) -> Iterator[str]:
    """``vret console`` with no live session, reviewing the recorded one; its address."""
    process = subprocess.Popen(
        [sys.executable, "-m", "vret", "console", "--data-dir", str(live.data_dir), "--port",
         "0", "--duration", "240"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = ""
        deadline = time.monotonic() + 30
        while not url and time.monotonic() < deadline:
            line = process.stdout.readline()
            if line.startswith("open the console at: "):
                url = line.split(": ", 1)[1].strip()
        assert url, process.stderr.read() if process.poll() is not None else "no address"
        yield url
    finally:
        process.terminate()
        process.communicate(timeout=30)


@contextmanager
def review_page(console: str, path: str) -> Iterator[tuple[Any, Any, list[str]]]:
    """Headless Chromium on the console's ``path`` (with its token): ``(playwright's sync
    API, the page, the page's script errors)``."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not os.path.exists(CHROMIUM):
        pytest.fail("Chromium is not installed (apt-get install chromium)")
    origin, token = console.split("/?token=")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1150, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{origin}{path}?token={token}")
        yield playwright_api, page, errors
        browser.close()


def test_the_console_review_page_replays_a_moment_and_a_clip(
        live: Live, console: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    recording = live.recording()
    origin = console.split("/?token=")[0]
    with review_page(console, "/review") as (playwright_api, page, errors):
        page.get_by_role("link", name=SESSION).click()
        page.wait_for_selector("#replay-panel")
        for section in ("summary", "timeline", "replay", "trials", "questionnaires", "log"):
            assert page.locator(f"section#{section}").is_visible(), section
        # A click on the timeline at the moment the rating panel was open.
        index = recording.index_of_frame(live.moments["the rating panel open"])
        at = recording.seconds(index)
        svg = page.locator("#timeline svg")
        box = svg.bounding_box()
        axis = {k: float(svg.get_attribute(f"data-{k}") or 0)
                for k in ("left", "plot-width", "width", "duration")}
        x = ((axis["left"] + axis["plot-width"] * at / axis["duration"])
             * box["width"] / axis["width"])
        svg.click(position={"x": x, "y": box["height"] / 2})
        status = page.locator("#replay-status")
        playwright_api.expect(status).to_contain_text("view at", timeout=120_000)
        shown = int(page.locator("#replay-view").get_attribute("data-frame") or -1)
        # The click lands within a pixel of the moment: a few frames either way.
        assert abs(recording.index_of_frame(shown) - index) <= 15, (shown, index)
        width = page.locator("#replay-view").evaluate("img => img.naturalWidth")
        assert width == 480
        assert "differs" not in page.locator("#replay-status").inner_text()
        folder = DOC_IMAGES if os.environ.get("VRET_DOC_IMAGES") else tmp_path_factory.mktemp("i")
        page.locator("#replay").scroll_into_view_if_needed()
        page.screenshot(path=str(folder / "review-replay.png"), full_page=False)
        # A clip from the slider's moment.
        page.locator("#replay-clip").click()
        playwright_api.expect(status).to_contain_text("clip at", timeout=120_000)
        # A bad request gets a clear answer, not a broken page.
        bad = page.request.get(f"{origin}/review/{SESSION}/view?t=-1")
        assert bad.status == 400 and "give seconds" in bad.text()
    assert not errors


def test_ruptures_are_coded_in_the_review_page_after_the_session(
        live: Live, console: str) -> None:
    with review_page(console, f"/review/{SESSION}") as (playwright_api, page, errors):
        form = page.locator("form#coding")
        # A rupture the detector did not find, at a moment chosen on the slider.
        page.locator("#replay-at").fill("5")
        form.locator("select[name=what]").select_option("mark")
        assert form.locator("label[data-for='repair']").first.is_hidden()
        form.locator("select[name=marker]").select_option("withdrawal")
        form.locator("select[name=subtype]").select_option("deferential_appeasing")
        form.locator("select[name=salience]").select_option("2")
        form.locator("input[name=note]").fill("agreed too quickly to the step up")
        form.locator("button[type=submit]").click()
        page.wait_for_selector("#ruptures td:has-text('rupture-1')")
        # Its repair, and the session's ratings: each reloads the report as the log has it.
        form = page.locator("form#coding")
        form.locator("select[name=what]").select_option("repair")
        form.locator("select[name=strategy]").select_option("invite_discussion")
        form.locator("input[name=resolved]").check()
        form.locator("button[type=submit]").click()
        page.wait_for_selector("#ruptures td:has-text('in review: Invites the client')")
        form = page.locator("form#coding")
        form.locator("select[name=what]").select_option("rate")
        form.locator("select[name=therapist_contribution]").select_option("3")
        form.locator("button[type=submit]").click()
        page.wait_for_selector("#ruptures p:has-text('own contribution to the ruptures 3')")
        section = page.locator("#ruptures").inner_text()
        assert "Deferential and appeasing" in section and "coded in review" in section
        # Its "view" button replays the moment.
        page.locator("#ruptures button.replay-at").first.click()
        playwright_api.expect(page.locator("#replay-status")).to_contain_text(
            "view at 0:05", timeout=120_000)
        # A bad request gets the reason back on the page.
        form = page.locator("form#coding")
        form.locator("select[name=what]").select_option("repair")
        form.locator("select[name=rupture_id]").evaluate(
            "s => { s.add(new Option('rupture-9', 'rupture-9')); s.value = 'rupture-9'; }")
        form.locator("button[type=submit]").click()
        playwright_api.expect(page.locator("#coding-status")).to_contain_text(
            "no rupture 'rupture-9'")
        # Not JSON, or from another site: refused, nothing recorded.
        origin = console.split("/?token=")[0]
        url = f"{origin}/review/{SESSION}/code"
        garbled = page.request.post(url, data="{not json", headers={
            "Content-Type": "application/json", "Origin": origin})
        assert garbled.status == 400 and "must be a JSON object" in garbled.text()
        foreign = page.request.post(url, data='{"action": "rate", "resolution": 1}', headers={
            "Content-Type": "application/json", "Origin": "http://elsewhere.example"})
        assert foreign.status == 403
    assert not errors
    with SessionStore.in_dir(live.data_dir, create=False) as store:
        kinds = [e.body.kind for e in store.events(SESSION)][-3:]
    assert kinds == ["rupture_marked", "repair_marked", "rupture_rating"]
