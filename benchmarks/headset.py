"""Headset benchmark: does the runtime's blocking xrWaitFrame stall networking, and what does
the headset driver cost per frame?

Run ``python -m benchmarks.headset [--quick]``.

**Networking beside a blocking frame loop.** Two real ``vret serve`` sessions run one after the
other on the same scenario and size:

- the baseline, offscreen, paced by Panda3D's clock;
- ``--display openxr`` on the scripted fake runtime, whose ``xrWaitFrame`` blocks the render
  thread until the next refresh, as a runtime's does.

Both are driven by the same console script: ``set_level`` on the command channel and
stop/resume pairs on the control channel. For each session the benchmark measures:

- the round trip as the console sees it (send to ack);
- the time from the server receiving a command to the frame that applied it;
- the gaps between telemetry batches at the console;
- the server's own frame rate.

If waiting in xrWaitFrame stalled the transport threads, the round trips and the batch gaps of
the headset session would grow beyond the baseline's.

**The driver's own work.** In this process an ``openxr`` engine (offscreen) runs the headset
driver on the fake runtime with a scripted head and controllers, and times each frame's driver
calls:

- ``frame_start`` without the time spent blocked in ``wait_frame``;
- ``apply``;
- ``pose_head``;
- ``controller_row``;
- ``end_frame``.

The host is a stand-in that takes the driver's calls: only the driver is measured.

Results go to ``benchmarks/results/headset.json`` (``headset-quick.json`` with ``--quick``).
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
SIZE = (480, 270)
SCRIPT: dict[str, Any] = {
    "head": [{"t": 0, "position": [0, 0, 1.62]}, {"t": 30, "position": [0.2, 0.1, 1.6],
                                                   "heading": 40, "pitch": -20}],
    "gaze": [{"t": 0, "position": [0, 0, 1.62], "pitch": -5}],
    "aim": {"left": [{"t": 0, "position": [-0.2, 0.3, 1.2]}],
            "right": [{"t": 0, "position": [0.2, 0.3, 1.2], "pitch": -10}]},
    "eye_size": list(SIZE),
}


@dataclass
class Measured:
    """What the console measured of one session."""

    round_trip_ms: list[float] = field(default_factory=list)
    received_to_applied_ms: list[float] = field(default_factory=list)
    stop_round_trip_ms: list[float] = field(default_factory=list)
    batch_gaps_ms: list[float] = field(default_factory=list)
    probe_rtt_ms: list[float] = field(default_factory=list)
    """Clock probes' round trips (the best of each burst of 8): answered by the transport's
    thread, never by the frame loop."""
    fps: list[float] = field(default_factory=list)


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    a = np.asarray(values)
    return {"n": len(values), "p50": round(float(np.percentile(a, 50)), 3),
            "p99": round(float(np.percentile(a, 99)), 3), "max": round(float(a.max()), 3)}


def _session(mode: str, seconds: float, tmp: Path) -> Measured:
    from telemetry import commands as c
    from telemetry.client import ClientConfig, CommandClient
    from telemetry.connection import ConnectionInfo
    from telemetry.schemas import Samples
    from telemetry.subscriber import Subscriber

    conn = tmp / f"{mode}.json"
    # No virtual client in either: the same streams (per frame only), the same client.
    extra = ["--display", "offscreen", "--size", f"{SIZE[0]}x{SIZE[1]}",
             "--no-virtual-client"]
    if mode == "openxr":
        script = tmp / "script.json"
        script.write_text(json.dumps(SCRIPT))
        extra = ["--display", "openxr", "--xr-fake", str(script)]
    process = subprocess.Popen(
        [sys.executable, "-m", "vret", "serve", "--scenario", "heights", *extra,
         "--session-id", f"b-{mode}", "--data-dir", str(tmp / "data"),
         "--connection-file", str(conn), "--duration", str(seconds + 15)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    measured = Measured()
    try:
        deadline = time.monotonic() + 60
        while not conn.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{mode}: the server did not start: "
                                   f"{process.communicate()[1][-1500:]}")
            time.sleep(0.05)
        info = ConnectionInfo.read(conn)
        stop = threading.Event()

        def listen() -> None:
            subscriber = Subscriber(info, topics=("tel.",))
            last: float | None = None
            try:
                while not stop.is_set():
                    for _, message in subscriber.recv_many(50):
                        if not isinstance(message.body, Samples):
                            continue
                        now = time.perf_counter()
                        if last is not None:
                            measured.batch_gaps_ms.append((now - last) * 1000)
                        last = now
                        for batch in message.body.batches:
                            if batch.stream == "frame_stats":
                                measured.fps.extend(float(v) for v in batch.values[:, 0])
            finally:
                subscriber.close()

        def probe() -> None:
            config = ClientConfig(clock_sync_interval_s=0.25, report_clock_offsets=False,
                                  heartbeats=False)
            with CommandClient(info, config=config) as prober:
                seen = None
                while not stop.wait(0.05):
                    offset = prober.offset
                    if offset is not None and offset is not seen:
                        seen = offset
                        measured.probe_rtt_ms.append(offset.rtt_ns / 1e6)

        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        prober = threading.Thread(target=probe, daemon=True)
        prober.start()
        with CommandClient(info) as console:
            time.sleep(2.0)  # the headset focused, the subscription settled
            console.request(c.Start())
            console.request(c.Start())
            end = time.monotonic() + seconds
            rung = 0
            while time.monotonic() < end:
                rung = 1 - rung
                sent = time.perf_counter()
                ack = console.request(c.SetLevel(rung=rung, intensity=0.3))
                measured.round_trip_ms.append((time.perf_counter() - sent) * 1000)
                measured.received_to_applied_ms.append(
                    (ack.t_applied_ns - int(str(ack.result["t_received_ns"]))) / 1e6)
                if len(measured.round_trip_ms) % 5 == 0:
                    sent = time.perf_counter()
                    console.request(c.Stop(reason="benchmark"))
                    measured.stop_round_trip_ms.append((time.perf_counter() - sent) * 1000)
                    console.request(c.Resume())
                time.sleep(0.1)
        stop.set()
        listener.join(5)
        prober.join(5)
    finally:
        process.terminate()
        try:
            process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
    measured.batch_gaps_ms = measured.batch_gaps_ms[5:]  # past the start-up
    return measured


class _Host:
    """Takes the driver's calls and does nothing with them (only the driver is timed)."""

    def __init__(self) -> None:
        from telemetry.clock import SessionClock

        self.clock = SessionClock()
        self.machine = type("Machine", (), {"headset_away": None})()

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


def driver_costs(frames: int) -> dict[str, dict[str, float]]:
    """Per-frame microseconds of the driver's calls, in an offscreen openxr engine."""
    from vr_server.engine import DisplayConfig, Engine
    from vr_server.xr.fake import FakeScript, FakeXr
    from vr_server.xr.headset import Headset

    engine = Engine(DisplayConfig(mode="openxr", size=SIZE, shading="basic"))
    backend = FakeXr(FakeScript.from_dict(SCRIPT))
    headset = Headset(backend, backend.probe(), engine, _Host(), (0, 0, 0), 0.0)  # type: ignore[arg-type]
    headset.start()
    waited = [0.0]
    wait_frame = backend.wait_frame

    def timed_wait() -> Any:
        start = time.perf_counter()
        try:
            return wait_frame()
        finally:
            waited[0] = time.perf_counter() - start

    backend.wait_frame = timed_wait  # type: ignore[method-assign]
    costs: dict[str, list[float]] = {k: [] for k in (
        "frame_start", "apply", "pose_head", "controller_row", "end_frame")}
    for i in range(frames + 30):
        start = time.perf_counter()
        waited[0] = 0.0
        headset.frame_start()
        spent = {"frame_start": time.perf_counter() - start - waited[0]}
        for name, call in (("apply", lambda: headset.apply(0.0)),
                           ("pose_head", headset.pose_head),
                           ("controller_row", headset.controller_row)):
            t = time.perf_counter()
            call()
            spent[name] = time.perf_counter() - t
        # The draw, then the frame's end (in the server it runs in the draw's callback).
        engine.graphics_engine.render_frame()
        t = time.perf_counter()
        headset.end_frame()
        spent["end_frame"] = time.perf_counter() - t
        if i >= 30 and headset.tracking is not None:  # past the session's start
            for name, value in spent.items():
                costs[name].append(value * 1e6)
    headset.close()
    engine.destroy()
    return {name: _percentiles(values) for name, values in costs.items()}


def main(argv: list[str] | None = None) -> int:
    """Run both sessions and the driver's timing; print and save the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="12 s sessions (default 40 s)")
    args = parser.parse_args(argv)
    seconds = 12.0 if args.quick else 40.0
    command = "python -m benchmarks.headset" + (" --quick" if args.quick else "")
    results: dict[str, Any] = {
        "command": command, "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, "
                   f"python {platform.python_version()}",
        "size": list(SIZE), "seconds": seconds, "sessions": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("offscreen", "openxr"):
            m = _session(mode, seconds, Path(tmp))
            results["sessions"][mode] = {
                "fps": _percentiles(m.fps), "round_trip_ms": _percentiles(m.round_trip_ms),
                "received_to_applied_ms": _percentiles(m.received_to_applied_ms),
                "stop_round_trip_ms": _percentiles(m.stop_round_trip_ms),
                "batch_gaps_ms": _percentiles(m.batch_gaps_ms),
                "probe_rtt_ms": _percentiles(m.probe_rtt_ms)}
    results["driver_us"] = driver_costs(300 if args.quick else 1200)
    print(f"$ {shlex.join(command.split())}")
    print(f"{results['machine']}; heights at {SIZE[0]}x{SIZE[1]} (per eye in openxr), "
          f"{seconds:g} s sessions")
    header = ("", "fps p50", "cmd RTT p50", "p99", "recv->applied p50", "p99",
              "stop RTT p50", "batch gap p50", "p99", "probe RTT p50", "p99")
    print("milliseconds unless said; cmd: set_level on the command channel, stop: on control;")
    print("probe: clock probes, answered by the transport thread whatever the frame loop does")
    print("  ".join(f"{h:>12}" for h in header))
    for mode, r in results["sessions"].items():
        row = (mode, r["fps"].get("p50"), r["round_trip_ms"].get("p50"),
               r["round_trip_ms"].get("p99"), r["received_to_applied_ms"].get("p50"),
               r["received_to_applied_ms"].get("p99"), r["stop_round_trip_ms"].get("p50"),
               r["batch_gaps_ms"].get("p50"), r["batch_gaps_ms"].get("p99"),
               r["probe_rtt_ms"].get("p50"), r["probe_rtt_ms"].get("p99"))
        print("  ".join(f"{v!s:>12}" for v in row))
    print("the headset driver's own work per frame, microseconds (p50 / p99):")
    for name, r in results["driver_us"].items():
        print(f"  {name:<15} {r.get('p50')} / {r.get('p99')}")
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / ("headset-quick.json" if args.quick else "headset.json")
    path.write_text(json.dumps(results, indent=1) + "\n")
    print(f"saved {path.relative_to(RESULTS.parent.parent)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
