"""``vret demo``: a rendered session server in its own process (a scenario, the virtual client,
offscreen rendering), a console following it live, a short scripted session (baseline, exposure
climbing rungs, a check-in the virtual client answers, a live event, a stop and resume), the
mirror view saved as screenshots of what the client saw, then the recorded session's path."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from clinician_console.monitor import monitor
from telemetry import commands as c
from telemetry.client import CommandClient
from telemetry.connection import ConnectionInfo
from telemetry.errors import CommandFailed, ConnectionFileError, TelemetryError
from telemetry.schemas import Ack, Frame
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


@dataclass
class _Shots:
    """The newest mirror-view image, and the screenshots saved from it."""

    folder: Path
    latest: Frame | None = None
    saved: list[Path] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on_frame(self, frame: Frame) -> None:
        with self.lock:
            self.latest = frame

    def save(self, label: str) -> str:
        with self.lock:
            frame = self.latest
        if frame is None:
            return "no mirror frame yet"
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{len(self.saved) + 1:02d}-{label}.jpg"
        path.write_bytes(frame.data)
        self.saved.append(path)
        return f"screenshot {path.name} (frame {frame.frame_number})"


def _script(client: CommandClient, duration_s: float, log: list[str], shots: _Shots,
            live_event: str | None) -> None:
    """The therapist's side of the demo: steps spread over the monitoring window; after each
    step the scene ramps for a while and the client's view is saved."""
    event: list[tuple[c.CommandArgs, str | None]] = (
        [(c.Trigger(event=live_event), f"event-{live_event}")] if live_event else [])
    plan: list[tuple[c.CommandArgs, str | None]] = [
        (c.Start(), None), (c.Speak(line_id="greeting"), "avatar-greeting"),
        (c.Start(), "exposure-rung-0"),
        (c.AskCheckIn(instrument="suds"), "avatar-asks-suds"),
        # Collaborative mode: each step up is the avatar's question first, then the level.
        (c.SetLevel(rung=1, intensity=0.5), "avatar-asks-consent"),
        (c.Gesture(gesture="open_hands"), "rung-1"),
        (c.SetLevel(rung=3, intensity=0.0), "rung-3"),
        (c.Annotate(text="client steady at rung 3"), None),
        (c.SetLevel(rung=5, intensity=0.0), "rung-5"),
        *event,
        (c.Stop(reason="demo: client asked to stop"), "stop-safe-place"),
        (c.Speak(line_id="repair_validate_1"), None),
        (c.Resume(), None),
        (c.SetLevel(rung=1, intensity=0.0, reason="step down after the stop"), "after-stop"),
    ]
    step = duration_s / (len(plan) + 1)
    for command, shot in plan:
        time.sleep(step / 2)
        try:
            ack = _request_when_answered(client, command)
            log.append(f"  {command.name:<12} acked at frame {ack.frame}, "
                       f"t={ack.t_applied_ns / 1e9:.3f} s {ack.result.get('state')}")
        except CommandFailed as exc:
            log.append(f"  {command.name:<12} refused: {exc}")
            continue
        # The scene ramps toward the new level at its declared rates; a consent question
        # waits for the client's answer first.
        time.sleep(step / 2 + (3.5 if "checkin_id" in ack.result
                                and command.name == "set_level" else 0.0))
        if shot is not None:
            log.append(f"  {'':<12} {shots.save(shot)}")


def _request_when_answered(client: CommandClient, command: c.CommandArgs) -> Ack:
    """Send ``command``; while a check-in is still open (the client has not answered yet), wait
    and try again, as a therapist would, for up to 15 s."""
    deadline = time.monotonic() + 15
    while True:
        try:
            return client.request(command)
        except CommandFailed as exc:
            if "still open" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _first_live_event(scenario: str) -> str | None:
    """The scenario's first live event, for the demo to trigger (None without one)."""
    from scenarios.registry import load

    events = load(scenario).spec.live_events
    return events[0].name if events else None


def run_demo(data_dir: Path, *, duration_s: float = 30.0, scenario: str = "heights",
             size: str = "640x360") -> int:
    """Run the demo; returns the exit code."""
    data_dir = Path(data_dir)
    session_id = new_session_id()
    connection_file = data_dir / "connections" / f"{session_id}.json"
    shots = _Shots(data_dir / "screenshots" / session_id)
    print(f"vret demo: starting a session server (session {session_id}, scenario {scenario}, "
          f"offscreen {size}, virtual client)", flush=True)
    server = subprocess.Popen(
        [sys.executable, "-m", "vret", "serve", "--data-dir", str(data_dir),
         "--session-id", session_id, "--connection-file", str(connection_file),
         "--scenario", scenario, "--display", "offscreen", "--size", size,
         "--virtual-client", "--mirror-width", "640", "--consent"],
    )
    try:
        info = _wait_for_connection_file(connection_file, server, timeout_s=60)
        commands_log: list[str] = []
        with CommandClient(info) as client:
            script = threading.Thread(target=_script,
                                      args=(client, duration_s, commands_log, shots,
                                            _first_live_event(scenario)),
                                      daemon=True)
            script.start()
            print(f"console: following {info.pub} for {duration_s:.0f} s", flush=True)
            # Followed until the script is done (a consent question makes it wait for the
            # client's answer, so it can run past its nominal duration).
            report = monitor([info], duration_s=duration_s * 3, clients=[client],
                             interval_s=4.0, on_frame=shots.on_frame,
                             until=lambda: not script.is_alive())
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
    if shots.saved:
        print(f"what the client saw: {len(shots.saved)} screenshots in "
              f"{shots.folder.resolve()}")
    print(f"event log:     vret events --data-dir {data_dir} {session_id}")
    return 0 if server.returncode == 0 else 1
