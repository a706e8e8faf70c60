"""``vret replay``: render what the client saw at moments of a recorded session, or a clip."""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from review.replay import FAITHFUL, Recording, Replayer, ReplayError, ReplayFrame, open_recording

log = logging.getLogger(__name__)

CLIP_FORMATS = (".webp", ".gif", ".png")
"""Animated image formats a clip can be written as (``.png`` is an animated PNG)."""


def _times(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or any(v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: give seconds from the start, e.g. 12.5 or "
                                         "10,20,30")
    return values


def _frames(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or any(v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: give frame numbers, e.g. 900 or 900,1800")
    return values


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser],
               add_data_dir: Callable[[argparse.ArgumentParser], None],
               name_type: Callable[[str], str]) -> None:
    """Register ``vret replay``."""
    p = sub.add_parser("replay", help="render what the client saw at a moment, or a clip",
                       description=cmd_replay.__doc__)
    add_data_dir(p)
    p.add_argument("session_id", metavar="SESSION_ID", type=name_type)
    when = p.add_mutually_exclusive_group(required=True)
    when.add_argument("--at", type=_times, metavar="SECONDS",
                      help="moments, in seconds from the start (as the review report's "
                           "timeline counts them), comma-separated")
    when.add_argument("--frame", type=_frames, metavar="N",
                      help="frame numbers (as the scene stream and the mirror view number "
                           "them), comma-separated")
    when.add_argument("--from", dest="start", type=float, metavar="SECONDS",
                      help="a clip from this moment (with --to)")
    p.add_argument("--to", dest="end", type=float, metavar="SECONDS",
                   help="the clip's end (default: 5 s after --from)")
    p.add_argument("--fps", type=float, default=10.0,
                   help="clip frames per second of session time (default 10)")
    p.add_argument("-o", "--output", type=Path,
                   help="a PNG for one moment, a folder for several, or a clip file "
                        "(.webp, .gif or animated .png); default DATA_DIR/replays/")
    p.add_argument("--width", type=int, default=640,
                   help="image width in pixels (the height keeps the session's aspect; 640)")
    p.add_argument("--no-gaze", dest="gaze", action="store_false",
                   help="do not draw where the client was looking")
    p.add_argument("--scenario", metavar="NAME_OR_FILE",
                   help="the scenario's file, if it was loaded from one that has moved")
    p.add_argument("--avatar-model", type=Path, metavar="FILE.glb",
                   help="the site's avatar model, if the session used one")
    p.set_defaults(func=cmd_replay)


def cmd_replay(args: argparse.Namespace) -> int:
    """Render the client's view at moments of a recorded session, or a short clip, again from
    the recorded scenario state, head pose and log (no video is stored), with the point the
    client was looking at drawn as a yellow ring. The replay checks itself against the
    recorded scenario values and says whether it is faithful."""
    if not 16 <= args.width <= 4096:
        raise ValueError(f"--width {args.width}: give 16 to 4096 pixels")
    if args.fps <= 0 or args.fps > 90:
        raise ValueError(f"--fps {args.fps}: give more than 0 and at most 90")
    recording = open_recording(args.data_dir, args.session_id)
    indices = _indices(args, recording)
    clip = args.start is not None
    out = args.output or (args.data_dir / "replays" / (
        f"{args.session_id}-{args.start:g}-{args.end or args.start + 5:g}.webp" if clip else
        f"{args.session_id}-{recording.seconds(indices[0]):.1f}s.png" if len(indices) == 1
        else args.session_id))
    if clip and out.suffix.lower() not in CLIP_FORMATS:
        raise ValueError(f"{out}: a clip is written as {', '.join(CLIP_FORMATS)}")
    from vr_server.engine import DisplayConfig, current

    settings = recording.settings
    size = settings.get("size") or [1280, 720]
    height = max(16, round(args.width * int(size[1]) / int(size[0])))
    engine = current(DisplayConfig(mode="offscreen", size=(args.width, height),
                                   fov_deg=float(settings.get("fov_deg", 90.0)),
                                   shading="basic" if settings.get("shading") == "basic"
                                   else "pbr"))
    started = time.monotonic()
    rendered: list[ReplayFrame] = []
    with Replayer(engine, recording, args.scenario, args.avatar_model) as replayer:
        for index in indices:
            rendered.append(replayer.render(index))
    images = [f.with_gaze() if args.gaze else f.image for f in rendered]
    written = _write(out, images, rendered, clip, args.fps)
    divergence = max(f.divergence for f in rendered)
    print(f"replayed {len(rendered)} frame(s) of {args.session_id} "
          f"({rendered[0].seconds:.2f}-{rendered[-1].seconds:.2f} s) in "
          f"{time.monotonic() - started:.1f} s: {written}")
    if divergence > FAITHFUL:
        print(f"warning: the replayed scenario values differ from the recorded ones by up to "
              f"{100 * divergence:.2g}% of a parameter's range: the scenario has changed "
              "since the session, or the recording is incomplete")
        return 1
    print("faithful: the replayed scenario values match the recorded ones")
    return 0


def _indices(args: argparse.Namespace, recording: Recording) -> list[int]:
    if args.frame is not None:
        return [recording.index_of_frame(n) for n in args.frame]
    if args.at is not None:
        return [recording.index_at(s) for s in args.at]
    end = args.end if args.end is not None else args.start + 5.0
    if end <= args.start:
        raise ValueError(f"--to {end:g} must be after --from {args.start:g}")
    steps = int((end - args.start) * args.fps) + 1
    if steps > 3000:
        raise ValueError(f"{steps} frames is too long for a clip; shorten it or lower --fps")
    moments = [args.start + k / args.fps for k in range(steps)]
    return sorted({recording.index_at(s) for s in moments})


def _write(out: Path, images: list[np.ndarray], frames: list[ReplayFrame], clip: bool,
           fps: float) -> str:
    from PIL import Image

    pictures = [Image.fromarray(image) for image in images]
    if clip:
        out.parent.mkdir(parents=True, exist_ok=True)
        pictures[0].save(out, save_all=True, append_images=pictures[1:],
                         duration=round(1000 / fps), loop=0)
        return str(out.resolve())
    if len(pictures) == 1 and out.suffix:
        out.parent.mkdir(parents=True, exist_ok=True)
        pictures[0].save(out)
        return str(out.resolve())
    out.mkdir(parents=True, exist_ok=True)
    for picture, frame in zip(pictures, frames, strict=True):
        picture.save(out / f"frame-{frame.frame:07d}.png")
    return f"{len(pictures)} PNG files in {out.resolve()}"


__all__ = ["ReplayError", "add_parser", "cmd_replay"]
