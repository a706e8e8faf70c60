"""A replay process that stays warm: the console's review page asks it for views and clips.

Panda3D allows one engine per process and drawing blocks, so the console (an asyncio web
server) keeps one of these beside it (:mod:`clinician_console.replay_service`). It reads one
JSON request per line on stdin and answers one JSON line on stdout::

    {"id": 1, "session": "s-...", "at": 12.5}                      -> one view (PNG)
    {"id": 2, "session": "s-...", "from": 10, "to": 15, "fps": 10}  -> a clip (animated WebP)

    {"id": 1, "ok": true, "file": "/tmp/.../1.png", "seconds": 12.49, "frame": 1124,
     "faithful": true}
    {"id": 2, "ok": false, "error": "session 's-x' ..."}

The replay of the last session asked for stays built, so moving forward through a session
steps on from where it stands; the caller reads each file and deletes it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from review.replay import FAITHFUL, Replayer, ReplayFrame, open_recording
from telemetry.errors import TelemetryError

log = logging.getLogger(__name__)

MAX_CLIP_FRAMES = 600


class Worker:
    """Answers requests against one data folder, at one image width."""

    def __init__(self, data_dir: Path, width: int, out_dir: Path) -> None:
        self.data_dir = data_dir
        self.width = width
        self.out_dir = out_dir
        self.replayer: Replayer | None = None
        self.session: str | None = None
        self.engine: Any = None

    def _replayer(self, session: str) -> Replayer:
        if self.replayer is not None and self.session == session:
            return self.replayer
        recording = open_recording(self.data_dir, session)
        if self.replayer is not None:
            self.replayer.close()
            self.replayer = None
        if self.engine is None:
            from vr_server.engine import DisplayConfig, current

            settings = recording.settings
            size = settings.get("size") or [1280, 720]
            height = max(16, round(self.width * int(size[1]) / int(size[0])))
            # The first session sets the view's size and shading for the process's life.
            self.engine = current(DisplayConfig(
                mode="offscreen", size=(self.width, height),
                fov_deg=float(settings.get("fov_deg", 90.0)),
                shading="basic" if settings.get("shading") == "basic" else "pbr"))
        self.replayer = Replayer(self.engine, recording)
        self.session = session
        return self.replayer

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        """Answer one request (the caller adds its id)."""
        session = str(request.get("session", ""))
        replayer = self._replayer(session)
        recording = replayer.recording
        name = f"{int(request.get('id', 0))}"
        if "at" in request:
            frame = replayer.render(recording.index_at(float(request["at"])))
            path = self.out_dir / f"{name}.png"
            from PIL import Image

            Image.fromarray(frame.with_gaze()).save(path)
            return self._answer(path, [frame])
        start, end = float(request["from"]), float(request["to"])
        fps = float(request.get("fps", 10.0))
        if not 0 < fps <= 90 or end <= start:
            raise ValueError("a clip needs from < to and 0 < fps <= 90")
        steps = int((end - start) * fps) + 1
        if steps > MAX_CLIP_FRAMES:
            raise ValueError(f"a clip of {steps} frames is too long (at most "
                             f"{MAX_CLIP_FRAMES}); shorten it or lower fps")
        indices = sorted({recording.index_at(start + k / fps) for k in range(steps)})
        frames = [replayer.render(i) for i in indices]
        from PIL import Image

        pictures = [Image.fromarray(f.with_gaze()) for f in frames]
        path = self.out_dir / f"{name}.webp"
        pictures[0].save(path, save_all=True, append_images=pictures[1:],
                         duration=round(1000 / fps), loop=0)
        return self._answer(path, frames)

    @staticmethod
    def _answer(path: Path, frames: list[ReplayFrame]) -> dict[str, Any]:
        return {"ok": True, "file": str(path), "seconds": frames[0].seconds,
                "frame": frames[0].frame, "frames": len(frames),
                "faithful": max(f.divergence for f in frames) <= FAITHFUL}

    def close(self) -> None:
        """Remove the replay's scenes."""
        if self.replayer is not None:
            self.replayer.close()


def main(argv: list[str] | None = None) -> int:
    """Serve requests on stdin until it closes."""
    parser = argparse.ArgumentParser(prog="python -m review.replay_worker",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--width", type=int, default=480)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Answers go to the original stdout; anything else that writes there (Panda3D's C++
    # side prints at start-up) is sent to stderr instead, so the answers stay one per line.
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    with tempfile.TemporaryDirectory(prefix="vret-replay-") as tmp:
        worker = Worker(args.data_dir, args.width, Path(tmp))
        try:
            for line in sys.stdin:
                if not line.strip():
                    continue
                request: dict[str, Any] = {}
                try:
                    request = json.loads(line)
                    answer = worker.handle(request)
                except (TelemetryError, ValueError, KeyError, OSError, IndexError) as exc:
                    answer = {"ok": False, "error": str(exc)}
                except Exception as exc:  # one bad request must not end the worker
                    log.exception("replay request failed")
                    answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
                answer["id"] = request.get("id") if isinstance(request, dict) else None
                out.write(json.dumps(answer) + "\n")
                out.flush()
        finally:
            worker.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
