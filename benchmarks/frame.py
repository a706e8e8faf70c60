"""Frame benchmark: the server's own work per frame, and render frame times, per scenario.

Run ``python -m benchmarks.frame [--quick] [--scenarios heights,spiders]``.

Two measurements per built-in scenario, each in a fresh process (Panda3D allows one engine per
process):

* **own work** at 90 Hz: a complete session server (``vr_server.app.ServerApp``) with the
  virtual client, a console process connected over loopback (subscribed to everything, sending
  a level change every 2 s and a check-in every 12 s), the scenario at its upper rungs.
  Own work is the time of the frame pipeline's tasks (commands, input, scene, gaze, telemetry),
  which excludes Panda3D's draw and the virtual client's own decisions (the ``client`` task,
  a stand-in for the person and their headset; its mean is reported with the others).
  The view is rendered at 64x36 by default, so that software rendering does not starve the
  loop on a machine without a GPU; ``--work-display stereo:1440x1600`` draws it at a headset's
  size (on a machine with a GPU).
* **render**: frame times offscreen at 1280x720 (mono) and 2x1440x1600 (stereo, a current
  headset's per-eye size), with the loop unthrottled. The baseline in the same run is the
  same scene drawn with none of vret's tasks (Panda3D alone), so the difference is our cost.

Target: own work p99 < 1 ms per frame, in CPU time (the time the frame loop's thread spends
on our tasks); wall time is reported beside it and adds waits for a core or for the GIL
behind the publishing threads. The renderer is reported (Mesa's llvmpipe without a GPU).
Results go to ``benchmarks/results/frame.json``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS_PATH = Path(__file__).resolve().parent / "results" / "frame.json"
QUICK_RESULTS_PATH = RESULTS_PATH.with_name("frame-quick.json")
"""Quick runs write here, so they never replace the full run's figures."""
BUILT_INS = ("heights", "spiders", "enclosed", "safe_place", "public_speaking")
TARGET_P99_MS = 1.0


def _quantiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {"p50": float("nan"), "p99": float("nan"), "max": float("nan"), "n": 0}

    def q(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000

    return {"p50": q(0.5), "p99": q(0.99), "max": ordered[-1] * 1000, "n": len(ordered)}


# ---------------------------------------------------------------------------------- workers


def _console(info: Any, stop: Any, rungs: int) -> None:
    """A console's load: subscribed to every topic, a level change every 2 s (a session
    changes level every minute or so; at 2 s the scene is ramping most of the time, which is
    its dearest state), a check-in every 12 s."""
    from telemetry import commands as c
    from telemetry.client import CommandClient
    from telemetry.errors import CommandFailed
    from telemetry.subscriber import Subscriber

    subscriber = Subscriber(info)
    with CommandClient(info) as client:
        client.request(c.Start())
        client.request(c.Start())
        step = 0
        next_level = time.monotonic()
        while not stop.is_set():
            subscriber.recv_many(20)
            if time.monotonic() >= next_level:
                next_level += 2.0
                step += 1
                try:
                    if step % 6 == 0:
                        client.request(c.AskCheckIn())
                    else:
                        client.request(c.SetLevel(rung=rungs - 1 - step % 3, intensity=0.5))
                except CommandFailed:
                    pass
    subscriber.close()


def worker_work(scenario: str, seconds: float, mode: str = "offscreen",
                size: tuple[int, int] = (64, 36)) -> dict[str, Any]:
    """Own work per frame at 90 Hz with a console attached, drawn in ``mode`` at ``size``."""
    from vr_server.app import AppConfig, ServerApp
    from vr_server.engine import DisplayConfig
    from vr_server.host import HostConfig

    with tempfile.TemporaryDirectory() as tmp:
        app = ServerApp(AppConfig(
            scenario=scenario, keep_timings=True,
            host=HostConfig(data_dir=Path(tmp), session_id="s-bench"),
            display=DisplayConfig(mode=mode, size=size,  # type: ignore[arg-type]
                                  frame_rate=90.0)))
        app.start()
        assert app.host.connection_file is not None
        from telemetry.connection import ConnectionInfo

        info = ConnectionInfo.read(app.host.connection_file)
        # The console is another process, as in a clinic: it must not share our GIL.
        ctx = multiprocessing.get_context("spawn")
        stop = ctx.Event()
        console = ctx.Process(target=_console, args=(info, stop, len(app.spec.rungs)))
        console.start()
        app.run(2.0)  # warm-up: the console connects, the session reaches exposure
        app.timings.clear()
        assert app.pipeline is not None
        before = dict(app.pipeline.totals)
        app.run(seconds)
        timings = list(app.timings)
        per_task = {name: (app.pipeline.totals[name] - before[name]) / max(1, len(timings)) * 1e6
                    for name in before}
        stop.set()
        console.join(10)
        app.close()
    frames = [t for t, _, _ in timings]
    return {"work_ms": _quantiles([w for _, w, _ in timings]),
            "work_cpu_ms": _quantiles([c for _, _, c in timings]),
            "task_us_mean": per_task,
            "frame_interval_ms": _quantiles(frames),
            "fps": len(frames) / sum(frames) if frames else 0.0,
            "display": f"{mode} {size[0]}x{size[1]}", "renderer": app.engine.renderer_name}


def worker_render(scenario: str, mode: str, size: tuple[int, int], frames: int,
                  with_pipeline: bool) -> dict[str, Any]:
    """Unthrottled frame times at a display size, with or without vret's frame pipeline."""
    from vr_server.app import AppConfig, ServerApp
    from vr_server.engine import DisplayConfig, current
    from vr_server.host import HostConfig
    from vr_server.stage import Stage

    config = DisplayConfig(mode=mode, size=size, frame_rate=10_000.0)  # type: ignore[arg-type]
    engine = current(config)
    with tempfile.TemporaryDirectory() as tmp:
        app = None
        if with_pipeline:
            app = ServerApp(AppConfig(scenario=scenario, keep_timings=True, display=config,
                                      host=HostConfig(data_dir=Path(tmp), session_id="s-r")),
                            engine=engine)
            app.start()
            stage = app.stage
        else:
            from scenarios.registry import load

            stage = Stage(engine, load(scenario), None, seed=0)
            stage.load()
        top = len(stage.runner.spec.rungs) - 1
        stage.set_level(top, 0.5)
        stage.runner.snap()
        if app is not None:  # show the exposure scene, as in a session
            app.host.machine.state = "exposure"
            app.host.machine.stimulus_visible = True
        times = []
        for i in range(frames + 3):
            t0 = time.perf_counter()
            if app is None:
                stage.update(1 / 90)
            engine.step()
            engine.graphics_engine.sync_frame()  # the draw has finished, not just been queued
            if i >= 3:
                times.append(time.perf_counter() - t0)
        renderer = engine.renderer_name
        if app is not None:
            app.close()
        else:
            stage.unload()
    return {"frame_ms": _quantiles(times), "fps": len(times) / sum(times), "renderer": renderer}


# ---------------------------------------------------------------------------------- driver


def _spawn(args: list[str], timeout: float) -> dict[str, Any]:
    command = [sys.executable, "-m", "benchmarks.frame", "--worker", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        return {"error": (done.stderr or done.stdout)[-1500:]}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or, with ``--worker``, one measurement in this process)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.frame", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short runs (under a minute)")
    parser.add_argument("--scenarios", default=",".join(BUILT_INS))
    parser.add_argument("--seconds", type=float, default=None,
                        help="seconds of own-work measurement per scenario")
    parser.add_argument("--frames", type=int, default=None, help="frames per render timing")
    parser.add_argument("--work-display", default="offscreen:64x36", metavar="MODE:WxH",
                        help="display of the own-work runs (default offscreen:64x36, small so "
                             "that software rendering does not starve the loop; with a GPU, "
                             "stereo:1440x1600 is a headset's load)")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        kind, scenario, *rest = args.worker
        if kind == "work":
            w, h = (int(v) for v in rest[2].split("x"))
            result = worker_work(scenario, float(rest[0]), rest[1], (w, h))
        else:
            w, h = (int(v) for v in rest[1].split("x"))
            result = worker_render(scenario, rest[0], (w, h), int(rest[2]), kind == "render")
        print(json.dumps(result))
        return 0

    scenarios = [s for s in args.scenarios.split(",") if s]
    work_mode, _, work_size = args.work_display.partition(":")
    if work_mode not in ("offscreen", "stereo") or "x" not in work_size:
        parser.error(f"--work-display {args.work_display!r}: expected offscreen|stereo:WxH")
    seconds = args.seconds or (4.0 if args.quick else 20.0)
    frames = args.frames or (3 if args.quick else 20)
    shapes = [("mono", "offscreen", "1280x720")] if args.quick else [
        ("mono", "offscreen", "1280x720"), ("stereo", "stereo", "1440x1600")]
    command = "python -m benchmarks.frame " + " ".join(shlex.quote(a) for a in (argv or
                                                                               sys.argv[1:]))
    results: dict[str, Any] = {}
    renderer = "unknown"
    for scenario in scenarios:
        entry: dict[str, Any] = {"work": _spawn(["work", scenario, str(seconds), work_mode,
                                                  work_size], 300)}
        for label, mode, size in shapes:
            for kind in ("render", "bare"):
                measured = _spawn([kind, scenario, mode, size, str(frames)], 600)
                renderer = measured.get("renderer", renderer)
                entry[f"{label}_{kind}"] = measured
        results[scenario] = entry
        _print_scenario(scenario, entry, shapes)

    report = {"command": command, "when": datetime.now(UTC).isoformat(timespec="seconds"),
              "commit": _commit(),
              "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                          "python": platform.python_version()},
              "renderer": renderer, "target_work_p99_ms": TARGET_P99_MS,
              "seconds": seconds, "frames": frames, "work_display": args.work_display,
              "scenarios": results}
    path = QUICK_RESULTS_PATH if args.quick else RESULTS_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    ok = all(r["work"].get("work_ms", {}).get("p99", 1e9) < TARGET_P99_MS
             for r in results.values())
    ok_cpu = all(r["work"].get("work_cpu_ms", {}).get("p99", 1e9) < TARGET_P99_MS
                 for r in results.values())
    print(f"\nrenderer: {renderer}")
    print(f"command:  {command}")
    print(f"own work p99 < {TARGET_P99_MS} ms in every scenario: {'yes' if ok else 'NO'} "
          f"(wall time); {'yes' if ok_cpu else 'NO'} (CPU time)")
    print(f"results:  {path}")
    return 0


def _commit() -> str | None:
    """The checked-out commit, so that a result file says what it measured."""
    try:
        done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10, cwd=Path(__file__).resolve().parent)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None


def _print_scenario(scenario: str, entry: dict[str, Any],
                    shapes: list[tuple[str, str, str]]) -> None:
    work = entry["work"]
    print(f"\n{scenario}")
    if "error" in work:
        print(f"  own work: failed: {work['error']}")
    else:
        w = work["work_ms"]
        c = work["work_cpu_ms"]
        print(f"  own work per frame at 90 Hz: p50 {w['p50']:.3f} ms  p99 {w['p99']:.3f} ms  "
              f"max {w['max']:.2f} ms  ({w['n']} frames, loop at {work['fps']:.1f} fps, "
              f"{work.get('display', '?')})")
        print(f"    its CPU time (without waits for a core or the GIL): p50 {c['p50']:.3f} ms "
              f" p99 {c['p99']:.3f} ms")
        print("    mean per task, µs: " + "  ".join(
            f"{k} {v:.0f}" for k, v in work["task_us_mean"].items()))
    for label, _, size in shapes:
        full, bare = entry[f"{label}_render"], entry[f"{label}_bare"]
        if "error" in full or "error" in bare:
            print(f"  {label} {size}: failed: {full.get('error') or bare.get('error')}")
            continue
        print(f"  {label:6} {size:>9}{' per eye' if label == 'stereo' else '':8}: "
              f"frame p50 {full['frame_ms']['p50']:8.1f} ms  p99 {full['frame_ms']['p99']:8.1f}"
              f" ms ({full['fps']:.1f} fps); Panda3D alone p50 {bare['frame_ms']['p50']:8.1f}"
              f" ms ({bare['fps']:.1f} fps)")


if __name__ == "__main__":
    sys.exit(main())
