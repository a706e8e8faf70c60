"""``vret demo``: a session server in its own process, a console following it live, a short
scripted session (start, baseline, exposure, level steps, a check-in, a stop and resume), then
the recorded session's path and what it holds."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

from clinician_console.monitor import monitor
from telemetry import commands as c
from telemetry.client import CommandClient
from telemetry.connection import ConnectionInfo
from telemetry.errors import CommandFailed, ConnectionFileError, TelemetryError
from telemetry.store import SessionStore
from vr_server.host import new_session_id


def _wait_for_connection_file(path: Path, server: subprocess.Popen[bytes],
                              timeout_s: float = 30.0) -> ConnectionInfo:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise TelemetryError(f"the session server exited with code {server.returncode}")
        try:
            return ConnectionInfo.read(path)
        except ConnectionFileError:
            time.sleep(0.05)
    raise TelemetryError(f"the session server wrote no connection file in {timeout_s:.0f} s")


def _script(client: CommandClient, duration_s: float, log: list[str]) -> None:
    """The therapist's side of the demo: steps spread over the monitoring window."""
    step = duration_s / 9
    plan: list[c.CommandArgs] = [
        c.Start(), c.Start(), c.SetLevel(rung=1, intensity=0.5),
        c.AskCheckIn(instrument="suds", prompt="How anxious are you now, 0 to 100?"),
        c.SetLevel(rung=2, intensity=0.3), c.Annotate(text="client steady at rung 2"),
        c.Stop(reason="demo: client pressed stop"), c.Resume(),
        c.SetLevel(rung=1, intensity=0.0, reason="step down after stop"),
    ]
    for command in plan:
        time.sleep(step)
        try:
            ack = client.request(command)
            log.append(f"  {command.name:<12} acked at frame {ack.frame}, "
                       f"t={ack.t_applied_ns / 1e9:.3f} s {ack.result}")
        except CommandFailed as exc:
            log.append(f"  {command.name:<12} refused: {exc}")


def run_demo(data_dir: Path, *, duration_s: float = 8.0) -> int:
    """Run the demo; returns the exit code."""
    data_dir = Path(data_dir)
    session_id = new_session_id()
    connection_file = data_dir / "connections" / f"{session_id}.json"
    print(f"vret demo: starting a session server (session {session_id})", flush=True)
    server = subprocess.Popen(
        [sys.executable, "-m", "vret", "serve", "--data-dir", str(data_dir),
         "--session-id", session_id, "--connection-file", str(connection_file)],
    )
    try:
        info = _wait_for_connection_file(connection_file, server)
        commands_log: list[str] = []
        with CommandClient(info) as client:
            script = threading.Thread(target=_script, args=(client, duration_s, commands_log),
                                      daemon=True)
            script.start()
            print(f"console: following {info.pub} for {duration_s:.0f} s", flush=True)
            report = monitor([info], duration_s=duration_s, clients=[client])
            script.join(timeout=10)
            print("\ntherapist commands:")
            print("\n".join(commands_log))
            print("\nlive figures over the whole run:")
            for name, figures in sorted(report.streams.items()):
                print(f"  {name:<12} {figures.samples / report.seconds:8.1f} samples/s  "
                      f"p50 {figures.percentile(50):.2f} ms  p99 {figures.percentile(99):.2f} ms")
            if report.clock_rtt_ms is not None:
                # The offset itself is between two monotonic clocks and means nothing to read;
                # its uncertainty is what tells whether latencies can be trusted.
                print(f"  clock sync: session clock known to within "
                      f"±{report.clock_rtt_ms / 2:.3f} ms (best probe round trip "
                      f"{report.clock_rtt_ms:.3f} ms)")
            print(f"  lost messages: {report.lost}")
            client.request(c.End(reason="demo finished"))
            client.request(c.End(reason="demo finished"))
        server.wait(timeout=30)
    finally:
        if server.poll() is None:
            server.terminate()
            server.wait(timeout=30)
    with SessionStore.in_dir(data_dir, create=False) as store:
        events = store.events(session_id)
        samples = {name: len(store.samples(session_id, name)[0])
                   for name in store.streams(session_id)}
        offsets = store.clock_offsets(session_id)
    print(f"\nrecorded session {session_id}: {len(events)} events, "
          f"{sum(samples.values())} samples ({', '.join(f'{k} {v}' for k, v in samples.items())}),"
          f" {len(offsets)} clock-offset estimates")
    print(f"session store: {(data_dir / 'vret.sqlite3').resolve()}")
    print(f"event log:     vret events --data-dir {data_dir} {session_id}")
    return 0 if server.returncode == 0 else 1
