"""A site's own glTF character as the avatar: `vret serve --avatar-model`, end to end."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from avatar.gltf_export import Options, write_glb
from telemetry import commands as c
from telemetry.client import CommandClient
from telemetry.store import SessionStore
from tests.servers import wait_for_connection

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "syringe.py"


def serve(tmp_path: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "vret", "serve", "--scenario", str(EXAMPLE), "--size", "160x90",
         "--session-id", "s-model", "--data-dir", str(tmp_path / "data"),
         "--connection-file", str(tmp_path / "conn.json"), "--duration", "60", *extra],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_mixamo_character_speaks_and_gestures_in_a_session(tmp_path: Path) -> None:
    model = write_glb(tmp_path / "therapist.glb", Options(convention="mixamo", jaw=True))
    server = serve(tmp_path, "--avatar-model", str(model))
    try:
        with CommandClient(wait_for_connection(tmp_path / "conn.json", server)) as client:
            client.request(c.Start())
            client.request(c.Start())
            client.request(c.Speak(text="I am right here beside you."))
            client.request(c.Gesture(gesture="open_hands"))
            time.sleep(2)
            client.request(c.Stop())
    finally:
        server.terminate()
        _, err = server.communicate(timeout=30)
    assert server.returncode == 0, err[-2000:]
    assert f"avatar: glTF model {model}" in err
    assert "shoulder_l" in err and "jaw" in err  # the joints it found, named in the log
    with SessionStore.in_dir(tmp_path / "data") as store:
        events = [e.body for e in store.events("s-model")]
    said = [e.text for e in events if e.kind == "avatar_utterance"]
    assert "I am right here beside you." in said
    assert any(e.kind == "avatar_gesture" and e.name == "open_hands" for e in events)


def test_a_broken_model_is_refused_before_a_session_starts(tmp_path: Path) -> None:
    bad = tmp_path / "therapist.glb"
    bad.write_bytes(b"not a model")
    server = serve(tmp_path, "--avatar-model", str(bad))
    _, err = server.communicate(timeout=60)
    assert server.returncode == 1
    assert f"{bad} is not a glTF model" in err
    assert not (tmp_path / "conn.json").exists()  # nothing was served
