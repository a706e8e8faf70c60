"""Console benchmark: sessions streaming into one web console, measured in the browser.

Run ``python -m benchmarks.console [--quick] [--sessions 1,8,32] [--seconds S]``.

For each session count, publisher processes (at most four) run that many sessions' servers'
transports (:class:`~telemetry.server.ServerTransport`), each streaming the realistic headset
mix of :data:`telemetry.streams.STANDARD_STREAMS` every 20 ms, as the telemetry benchmark does;
one ``vret console`` process follows all of them; headless Chromium (Playwright) opens the page.
Measured over a window after a warm-up:

* **age in the browser**: for every plotted update (heart rate, skin conductance in 4 Hz bins),
  the page's clock minus the server's wall clock when the newest sample in it was published
  (one machine, one clock), p50 / p99 / max;
* **age on arrival at the console process** (the same age, taken when the ZeroMQ message
  arrives): the floor; the difference is the console's own path (shaping, WebSocket, page);
* the console process's CPU (all its threads, a fraction of one core);
* drops: messages lost between the servers and the console (sequence gaps), updates dropped
  in the console's outbox or failed sends to the page.

Target: p99 under 100 ms end to end at 32 sessions with no drops on the way to the browser.
Results go to ``benchmarks/results/console.json``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
TICK_S = 0.02
MAX_PUBLISHERS = 4
TARGET_P99_MS = 100.0
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def _publisher(sessions: list[int], folder: str, stop: Any, ready: Any) -> None:
    """Child: one transport per session, publishing simulated sensors every 20 ms."""
    import zmq

    from telemetry.clock import SessionClock
    from telemetry.schemas import Heartbeat, Samples
    from telemetry.server import ServerConfig, ServerTransport
    from telemetry.simulated import SimulatedSensors
    from telemetry.streams import STANDARD_STREAMS

    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    clock = SessionClock()
    transports = []
    for i in sessions:
        transport = ServerTransport(ServerConfig(session_id=f"s-bench-{i:03d}"), clock,
                                    context=ctx)
        info = transport.start()
        info.write(Path(folder) / f"s-bench-{i:03d}.json")
        transports.append(transport)
    ready.set()
    sensors = [SimulatedSensors(seed=i) for i in sessions]
    for rig in sensors:
        rig.advance(clock.now_ns())
    tick = time.monotonic()
    next_meta = 0.0
    while not stop.is_set():
        tick += TICK_S
        time.sleep(max(0.0, tick - time.monotonic()))
        now = clock.now_ns()
        if time.monotonic() >= next_meta:  # descriptors and liveness, as a server sends them
            next_meta = time.monotonic() + 1.0
            for transport in transports:
                for descriptor in STANDARD_STREAMS:
                    transport.publish("meta", descriptor)
                transport.publish("hb", Heartbeat(role="server", state="exposure"))
        for transport, rig in zip(transports, sensors, strict=True):
            batches = rig.advance(now)
            if batches:
                transport.publish("tel", Samples(batches=tuple(batches)))
            transport.next_command(timeout=0)  # answer nothing, but keep the sockets drained
    for transport in transports:
        transport.close()
    ctx.term()


def _quantiles(values: Sequence[float]) -> dict[str, float | None]:
    ordered = sorted(values)
    if not ordered:
        return {"p50": None, "p99": None, "max": None, "n": 0}

    def q(p: float) -> float:
        return float(ordered[min(len(ordered) - 1, int(p * (len(ordered) - 1) + 0.5))])

    return {"p50": q(0.5), "p99": q(0.99), "max": float(ordered[-1]), "n": len(ordered)}


def _get(url: str, token: str) -> Any:
    request = urllib.request.Request(url, headers={"Cookie": f"vret_console_token={token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def run_one(n_sessions: int, seconds: float, warmup_s: float) -> dict[str, Any]:
    """One session count: publishers, a console process, a browser; returns the figures."""
    import psutil
    from playwright.sync_api import sync_playwright

    ctx = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as folder:
        stop = ctx.Event()
        groups = [list(range(n_sessions))[k::MAX_PUBLISHERS]
                  for k in range(min(MAX_PUBLISHERS, n_sessions))]
        children = []
        for group in groups:
            ready = ctx.Event()
            child = ctx.Process(target=_publisher, args=(group, folder, stop, ready))
            child.start()
            ready.wait(60)
            children.append(child)
        files = sorted(str(p) for p in Path(folder).glob("s-bench-*.json"))
        console = subprocess.Popen(
            [sys.executable, "-m", "vret", "console", *files, "--port", "0",
             "--data-dir", str(Path(folder) / "console")],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            assert console.stdout is not None
            url = None
            while url is None:
                line = console.stdout.readline()
                if not line:
                    raise RuntimeError("the console exited before printing its address")
                found = re.search(r"open the console at: (\S+)", line)
                url = found.group(1) if found else None
            origin, token = url.split("/?token=")
            proc = psutil.Process(console.pid)
            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                    headless=True, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                page.goto(url)
                time.sleep(warmup_s)
                page.evaluate("window.vretStats.ages = []; window.vretStats.received = 0")
                before = _get(origin + "/api/stats?reset=1", token)
                cpu0, t0 = proc.cpu_times(), time.monotonic()
                time.sleep(seconds)
                cpu1, t1 = proc.cpu_times(), time.monotonic()
                ages = page.evaluate("window.vretStats.ages")
                received = page.evaluate("window.vretStats.received")
                after = _get(origin + "/api/stats", token)
                browser.close()
        finally:
            console.terminate()
            console.wait(30)
            stop.set()
            for child in children:
                child.join(30)
    cpu = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / (t1 - t0)
    return {
        "sessions": n_sessions,
        "browser_age_ms": _quantiles(ages),
        "arrival_age_ms": _quantiles(after["arrival_ages_ms"]),
        "updates_per_s": received / seconds,
        "console_cpu_cores": cpu,
        "lost_messages": after["lost"] - before["lost"],
        "outbox_dropped": after["outbox_dropped"] - before["outbox_dropped"],
        "send_failed": after["send_failed"] - before["send_failed"],
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.console",
                                     description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="short runs (under a minute)")
    parser.add_argument("--sessions", default=None, help="session counts, e.g. 1,8,32")
    parser.add_argument("--seconds", type=float, default=None, help="measurement window")
    args = parser.parse_args(argv)
    counts = [int(x) for x in (args.sessions or ("1,8" if args.quick else "1,8,32")).split(",")]
    seconds = args.seconds or (8.0 if args.quick else 30.0)
    warmup = 4.0 if args.quick else 8.0
    command = "python -m benchmarks.console " + " ".join(shlex.quote(a) for a in (argv or
                                                                               sys.argv[1:]))
    results = [run_one(n, seconds, warmup) for n in counts]
    report = {"command": command.strip(), "when": datetime.now(UTC).isoformat(timespec="seconds"),
              "machine": {"cpus": multiprocessing.cpu_count(), "platform": platform.platform(),
                          "python": platform.python_version()},
              "seconds": seconds, "target_p99_ms": TARGET_P99_MS, "results": results}
    print(f"{report['command']}  ({report['when']}, {seconds:g} s windows)")
    print("sessions  browser age p50/p99/max ms   arrival age p50/p99 ms   updates/s  "
          "console CPU  lost  dropped")
    for r in results:
        b, a = r["browser_age_ms"], r["arrival_age_ms"]
        print(f"{r['sessions']:>8}  {_f(b['p50'])} / {_f(b['p99'])} / {_f(b['max'])}"
              f"         {_f(a['p50'])} / {_f(a['p99'])}       {r['updates_per_s']:8.1f}"
              f"  {r['console_cpu_cores']:10.2f}  {r['lost_messages']:4d}  "
              f"{r['outbox_dropped'] + r['send_failed']:6d}")
    last = results[-1]
    met = (last["browser_age_ms"]["p99"] is not None
           and last["browser_age_ms"]["p99"] < TARGET_P99_MS
           and last["lost_messages"] == 0 and last["outbox_dropped"] == 0
           and last["send_failed"] == 0)
    report["target_met_at_largest"] = met
    print(f"target (p99 < {TARGET_P99_MS:g} ms, no drops) at {last['sessions']} sessions: "
          f"{'met' if met else 'NOT met'}")
    RESULTS.mkdir(exist_ok=True)
    name = "console-quick.json" if args.quick else "console.json"
    (RESULTS / name).write_text(json.dumps(report, indent=2) + "\n")
    print(f"written: benchmarks/results/{name}")
    return 0


def _f(value: float | None) -> str:
    return "   -" if value is None else f"{value:6.1f}"


if __name__ == "__main__":
    sys.exit(main())
