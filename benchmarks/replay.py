"""Replay benchmark: what it costs to see a recorded moment again.

Run ``python -m benchmarks.replay [--seconds 60] [--scenario heights]``.

A real session is recorded first (``vret serve`` with the virtual client, offscreen at a small
size so that software rendering does not starve the loop, at its upper rungs with a check-in
and a live event), then in a fresh process (Panda3D allows one engine per process):

* **stepping**: the replay steps every recorded frame (scenario, safe place, avatar, rating
  panel, no drawing), timed per frame. This is what "pick a moment" costs: a moment ``t``
  seconds in needs ``t x frame rate`` steps from the start (forward from where the replay
  stands).
* **drawing**: one view drawn at the console's 480-pixel width, timed per view.
* **baseline, same run**: the live session's own work per frame (the server's frame pipeline,
  from its ``frame_stats`` stream): stepping a recorded frame should cost about what the live
  frame's scene work did, since it is the same scene code.

Printed: per-frame figures, and what seeking to the end of an hour-long session at 90 Hz would
take at that rate. Results go to ``benchmarks/results/replay.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS_PATH = Path(__file__).resolve().parent / "results" / "replay.json"


def _record(data: Path, scenario: str, seconds: float) -> str:
    """Record a session of ``seconds``; returns its id."""
    from telemetry import commands as c
    from telemetry.client import CommandClient
    from telemetry.connection import ConnectionInfo

    session = "s-bench-replay"
    conn = data / "conn.json"
    server = subprocess.Popen(
        [sys.executable, "-m", "vret", "serve", "--scenario", scenario, "--display",
         "offscreen", "--size", "64x36", "--mirror-rate", "2", "--session-id", session,
         "--data-dir", str(data), "--connection-file", str(conn), "--duration",
         str(seconds + 30), "--seed", "7"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not conn.exists():
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start: {server.communicate()[1]}")
            time.sleep(0.05)
        with CommandClient(ConnectionInfo.read(conn)) as client:
            client.request(c.Start())
            client.request(c.Start())
            started = time.monotonic()
            rung = 2
            while time.monotonic() - started < seconds:
                client.request(c.SetLevel(rung=rung, intensity=0.5))
                if rung == 4:
                    client.request(c.AskCheckIn(instrument="suds"))
                rung = 2 + (rung - 1) % 4
                time.sleep(min(5.0, max(0.0, seconds - (time.monotonic() - started))))
            client.request(c.End())
            client.request(c.End())
    finally:
        server.terminate()
        server.communicate(timeout=60)
    return session


def _measure(data: Path, session: str, views: int) -> dict[str, Any]:
    """In this process: step through the whole recording, then draw ``views`` views."""
    from review.replay import Replayer, open_recording
    from telemetry.store import SessionStore
    from vr_server.engine import DisplayConfig, current

    recording = open_recording(data, session)
    engine = current(DisplayConfig(mode="offscreen", size=(480, 270)))
    with Replayer(engine, recording) as replayer:
        built = time.perf_counter()
        replayer.seek(0)
        build_s = time.perf_counter() - built
        steps: list[float] = []
        for index in range(1, len(recording)):
            t = time.perf_counter()
            replayer.seek(index)
            steps.append(time.perf_counter() - t)
        divergence = replayer.divergence
        draws: list[float] = []
        for k in range(views):
            index = (k + 1) * (len(recording) - 1) // (views + 1)
            replayer.seek(index)
            t = time.perf_counter()
            replayer.render(index)
            draws.append(time.perf_counter() - t)
    with SessionStore.in_dir(data, create=False) as store:
        _, stats = store.samples(session, "frame_stats")
    live = stats[:, 3].astype(float)  # work_ms_p50, once a second
    live_p99 = stats[:, 4].astype(float)
    steps.sort()
    draws.sort()
    return {
        "frames": len(recording),
        "frame_rate": recording.settings.get("frame_rate"),
        "build_s": build_s,
        "step_ms_p50": 1000 * steps[len(steps) // 2],
        "step_ms_p99": 1000 * steps[min(len(steps) - 1, int(0.99 * len(steps)))],
        "step_ms_mean": 1000 * sum(steps) / len(steps),
        "draw_ms_p50": 1000 * draws[len(draws) // 2],
        "live_work_ms_p50": float(sorted(live)[len(live) // 2]),
        "live_work_ms_p99": float(sorted(live_p99)[len(live_p99) // 2]),
        "divergence": divergence,
        "renderer": engine.renderer_name,
    }


def main(argv: list[str] | None = None) -> int:
    """Record, measure in a fresh process, print and save the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="session length (60)")
    parser.add_argument("--scenario", default="heights", help="scenario (heights)")
    parser.add_argument("--views", type=int, default=10, help="views to draw (10)")
    parser.add_argument("--measure", nargs=2, metavar=("DATA_DIR", "SESSION"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(_measure(Path(args.measure[0]), args.measure[1], args.views)))
        return 0
    command = "python -m benchmarks.replay " + shlex.join(argv if argv is not None
                                                          else sys.argv[1:])
    with tempfile.TemporaryDirectory(prefix="vret-bench-replay-") as tmp:
        data = Path(tmp) / "data"
        session = _record(data, args.scenario, args.seconds)
        done = subprocess.run([sys.executable, "-m", "benchmarks.replay", "--views",
                               str(args.views), "--measure", str(data), session],
                              capture_output=True, text=True, check=True)
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    rate = float(figures["frame_rate"] or 90.0)
    hour_s = figures["step_ms_mean"] / 1000 * rate * 3600
    print(f"replay of a {args.seconds:g} s {args.scenario} session "
          f"({figures['frames']} frames; {figures['renderer']})")
    print(f"  build the scenes:        {figures['build_s']:.2f} s")
    print(f"  step one frame:          p50 {figures['step_ms_p50']:.3f} ms, p99 "
          f"{figures['step_ms_p99']:.3f} ms, mean {figures['step_ms_mean']:.3f} ms")
    print(f"  baseline, live own work: p50 {figures['live_work_ms_p50']:.3f} ms, p99 "
          f"{figures['live_work_ms_p99']:.3f} ms (the same session, as it ran)")
    print(f"  draw one 480x270 view:   p50 {figures['draw_ms_p50']:.1f} ms")
    print(f"  seek to the end of an hour at {rate:g} Hz: about {hour_s:.0f} s")
    print(f"  faithful: divergence {figures['divergence']:.2g} (0 = exact)")
    print(f"command: {command}")
    RESULTS_PATH.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_PATH.write_text(json.dumps({
        "command": command, "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {platform.processor() or platform.system()}",
        "seconds": args.seconds, "scenario": args.scenario, **figures,
        "seek_hour_s": hour_s}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
