"""The ``vret`` command line: one entry point, a subcommand per job.

Exit codes: 0 success, 1 the thing failed (the message says why), 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from scenarios.registry import ScenarioError
from telemetry.errors import TelemetryError
from vr_server.engine import DisplayError, default_display_mode

DEFAULT_DATA_DIR = Path("vret-data")


def _add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR,
                        help="folder of the session store and keys (default: ./vret-data)")


def _name(text: str) -> str:
    """An id for the command line: letters, digits, '-' and '_' (as on the wire)."""
    from telemetry.schemas import NAME_RE

    if not NAME_RE.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"{text!r}: use 1-64 letters, digits, '-' or '_' (and never a client's name: ids "
            "are pseudonymous)")
    return text


def _bounded_int(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is not between {low} and {high}")
        return value
    return parse


def _number(text: str, ok: Callable[[float], bool], rule: str) -> float:
    """A float argument that passes ``ok``; otherwise a usage error saying ``rule``."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not ok(value):
        raise argparse.ArgumentTypeError(f"{value} {rule}")
    return value


def _positive(text: str) -> float:
    return _number(text, lambda v: v > 0, "must be more than 0")


def _non_negative(text: str) -> float:
    return _number(text, lambda v: v >= 0, "must not be negative")


def _unit(text: str) -> float:
    return _number(text, lambda v: 0.0 <= v <= 1.0, "is not between 0 and 1")


def _parse_value(text: str) -> object:
    lowered = text.lower()
    if lowered in {"true", "false"}:
        return lowered == "true"
    if lowered in {"null", "none"}:
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def cmd_serve(args: argparse.Namespace) -> int:
    """Run a session server until it ends, is interrupted, or --duration passes."""
    from vr_server.host import HostConfig, SessionHost

    host_config = HostConfig(
        data_dir=args.data_dir, host=args.host, curve=args.curve,
        session_id=args.session_id, client_id=args.client_id, rungs=args.rungs,
        connection_file=args.connection_file, seed=args.seed,
    )
    runner: Any
    if args.display == "none":
        # Telemetry only: no scene, simulated sensors (protocol tests and the telemetry
        # benchmark use this).
        runner = SessionHost(host_config)
        host = runner
    else:
        from avatar.bodies import BodyModel
        from vr_server.app import AppConfig, ServerApp
        from vr_server.engine import DisplayConfig
        from vr_server.mirror import MirrorConfig
        from vr_server.virtual_client import VirtualClientParams
        from vr_server.xr.headset import HeadsetConfig

        size = args.size
        xr = None
        if args.xr_fake is not None and args.display != "openxr":
            raise ValueError("--xr-fake stands in for a headset: use it with --display openxr")
        if args.display == "openxr" and args.virtual_client:
            raise ValueError("--virtual-client stands in for a person and their head "
                             "movements; with --display openxr a person wears the headset")
        if args.display == "openxr":
            # Before anything is recorded: no runtime or no headset ends here, with the
            # reason, and no session is opened.
            xr = _open_xr(args)
            size = xr[1].eye_size
            print(f"headset: {xr[1].system} on {xr[1].runtime}, {size[0]}x{size[1]} per eye"
                  f"{', eye tracking' if xr[1].eye_gaze else ''}", flush=True)
        try:
            runner = ServerApp(AppConfig(
                scenario=args.scenario, safe_place=args.safe_place, host=host_config,
                display=DisplayConfig(mode=args.display, size=size, shading=args.shading,
                                      frame_rate=args.frame_rate, audio=args.audio),
                headset=HeadsetConfig(posture=args.posture),
                comfort_vignette=args.comfort_vignette,
                virtual_client=args.virtual_client, avatar_mode=args.avatar_mode,
                avatar_model=(None if args.avatar_model is None
                              else BodyModel(args.avatar_model, args.avatar_joint_map)),
                consent=args.consent, checkin_interval_s=args.checkin_every,
                gaze_dwell=args.gaze_dwell,
                client=VirtualClientParams(ruptures=tuple(args.rupture)),
                mirror=MirrorConfig(rate_hz=args.mirror_rate, width=args.mirror_width)),
                xr=xr)
        except BaseException:
            if xr is not None:  # the runtime is let go, whatever stopped the start
                xr[0].close()
            raise
        host = runner.host

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        logging.getLogger("vret").info("signal %d: ending the session", signum)
        host.stop_requested.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:  # close() also ends a record that a failed start left open
        runner.start()
        what = "telemetry only" if args.display == "none" else (
            f"scenario {runner.spec.name}, {args.display} display"
            f"{', virtual client' if runner.client is not None else ''}")
        print(f"session {host.session_id} serving ({what}); connection file: "
              f"{host.connection_file}", flush=True)
        runner.run(duration_s=args.duration)
    finally:
        runner.close()
    print(f"session {host.session_id} recorded in {host.store_path}", flush=True)
    fatal = getattr(getattr(runner, "headset", None), "fatal", None)
    if fatal is not None:
        raise XrSetupError(f"{fatal}\nThe session was ended and its record kept. See "
                           "docs/headsets.md; `vret headset` checks the set-up.")
    return 0


class XrSetupError(Exception):
    """The headset cannot be used: the message says what is missing and how to fix it."""


def _open_xr(args: argparse.Namespace) -> tuple[Any, Any]:
    """The headset's backend (the runtime, or a scripted fake) and what its probe found."""
    from vr_server.xr.types import XrUnavailable

    backend: Any
    if args.xr_fake is not None:
        from vr_server.xr.fake import FakeScript, FakeXr

        backend = FakeXr(FakeScript.from_json(args.xr_fake))
    else:
        from vr_server.xr.openxr_runtime import OpenXrRuntime

        backend = OpenXrRuntime()
    try:
        return backend, backend.probe()
    except XrUnavailable as exc:
        backend.close()
        raise XrSetupError(f"{exc}\nNo session was opened and nothing was recorded. "
                           "See docs/headsets.md; `vret headset` checks the set-up.") from exc


def cmd_headset(args: argparse.Namespace) -> int:
    """Check the headset: which OpenXR runtime and headset are found, and what they offer."""
    info = _open_xr(args)
    backend, found = info
    backend.close()
    print(f"runtime: {found.runtime}\nheadset: {found.system}\n"
          f"per eye: {found.eye_size[0]}x{found.eye_size[1]}\n"
          f"eye tracking: {'yes' if found.eye_gaze else 'no'}\n"
          f"graphics: {found.graphics or 'chosen when the session opens'}\n"
          "ready: `vret serve --display openxr` will use it")
    return 0


def _console_keys(args: argparse.Namespace, infos: Sequence[object]) -> object:
    from telemetry.security import KeyStore

    if any(getattr(i, "server_public_key", None) for i in infos):
        return KeyStore(args.data_dir).console()
    return None


def cmd_monitor(args: argparse.Namespace) -> int:
    """Print live per-stream rates, latency and loss."""
    from clinician_console.monitor import monitor
    from telemetry.connection import ConnectionInfo

    infos = [ConnectionInfo.read(p) for p in args.connection_files]
    report = monitor(infos, duration_s=args.duration, keys=_console_keys(args, infos))  # type: ignore[arg-type]
    print(f"{report.seconds:.1f} s: lost {report.lost}, undecodable {report.rejected}")
    return 0


def cmd_console(args: argparse.Namespace) -> int:
    """Serve the web console for one or more sessions (open the printed address)."""
    from clinician_console.app import run_console
    from clinician_console.web import ConsoleServer, WebConfig
    from telemetry.connection import ConnectionInfo

    infos = [ConnectionInfo.read(p) for p in args.connection_files]
    config = WebConfig(host=args.host, port=args.port, tls_cert=args.tls_cert,
                       tls_key=args.tls_key)
    config.check()

    def ready(server: ConsoleServer) -> None:
        print(f"vret console: following {len(infos)} session(s): "
              f"{', '.join(i.session_id for i in infos) or 'none'}", flush=True)
        print(f"open the console at: {server.url}", flush=True)
        print(f"recorded sessions, their reports and replays: {server.origin}/review "
              f"(data in {args.data_dir})", flush=True)

    run_console(infos, config, data_dir=args.data_dir,
                keys=_console_keys(args, infos),  # type: ignore[arg-type]
                duration_s=args.duration, on_ready=ready)
    return 0


def cmd_send(args: argparse.Namespace) -> int:
    """Send one command and print the ack (or the error, exit 1)."""
    from telemetry.client import ClientConfig, CommandClient
    from telemetry.connection import ConnectionInfo

    info = ConnectionInfo.read(args.connection_file)
    values = {}
    for item in args.args:
        key, sep, value = item.partition("=")
        if not sep:
            print(f"vret send: argument {item!r} is not KEY=VALUE", file=sys.stderr)
            return 2
        values[key] = _parse_value(value)
    # A one-shot sender is not a console: no heartbeats (its exit must not look like a lost
    # console) and no clock sync.
    config = ClientConfig(heartbeats=False, clock_sync=False, timeout_s=args.timeout)
    with CommandClient(info, keys=_console_keys(args, [info]),  # type: ignore[arg-type]
                       config=config) as client:
        ack = client.request(args.command, values, timeout=args.timeout)
    print(ack.model_dump_json())
    return 0


def cmd_sessions(args: argparse.Namespace) -> int:
    """List the recorded sessions."""
    from telemetry.store import SessionStore

    with SessionStore.in_dir(args.data_dir, create=False) as store:
        for record in store.sessions():
            events = len(store.events(record.session_id))
            print(f"{record.session_id}  client {record.client_id}  scenario {record.scenario}"
                  f"  events {events}  {'ended' if record.ended_wall_ns else 'open'}")
    return 0


def cmd_events(args: argparse.Namespace) -> int:
    """Print a session's event log as JSON lines."""
    from telemetry.store import SessionStore

    with SessionStore.in_dir(args.data_dir, create=False) as store:
        store.session(args.session_id)
        for event in store.events(args.session_id):
            print(json.dumps({"seq": event.seq, "t_session_ns": event.t_session_ns,
                              "command_id": event.command_id,
                              "event": event.body.model_dump(mode="json")}))
    return 0


def cmd_review(args: argparse.Namespace) -> int:
    """Write one self-contained HTML report of a recorded session: summary, timeline
    (level, ratings, physiology, gaze, check-ins, the avatar's lines, therapist actions,
    annotations, questionnaires, alerts), exposure trials, questionnaire scores with flags,
    and the whole log. It opens offline. With --client: the client's sessions over time (the
    hierarchy climbed, end-of-session ratings with drops flagged)."""
    from review.report import write_report
    from review.session import catalogue_or_none

    if (args.session_id is None) == (args.client is None):
        raise ValueError("name a session, or a client with --client (not both)")
    if args.client is not None:
        from review.history import client_history, render_history
        from telemetry.store import SessionStore

        with SessionStore.in_dir(args.data_dir, create=False) as store:
            history = client_history(store, args.client)
        output = args.output or args.data_dir / "reports" / f"client-{args.client}.html"
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(render_history(args.client, history), encoding="utf-8")
        print(f"client history ({len(history)} sessions): {output.resolve()}")
        return 0
    output = args.output or args.data_dir / "reports" / f"{args.session_id}.html"
    path = write_report(args.data_dir, args.session_id, output,
                        catalogue_or_none(args.instrument_packs))
    print(f"review report: {path.resolve()}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Export a recorded session: samples, events, exposure trials and questionnaire answers
    and scores as CSV and Parquet tables, and the questionnaire responses as FHIR R4
    QuestionnaireResponse and Observation resources. Health data: keep the folder where the
    clinical record is kept."""
    from review.export import export_session
    from review.session import catalogue_or_none, load_session
    from telemetry.store import SessionStore

    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    folder = args.output or args.data_dir / "exports" / args.session_id
    with SessionStore.in_dir(args.data_dir, create=False) as store:
        data = load_session(store, args.session_id)
        written = export_session(store, data, folder, formats, catalogue_or_none())
    print(f"exported {len(written)} files to {folder.resolve()}")
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    """Show this data folder's public keys, or authorise a console's public key."""
    from telemetry.security import KeyStore

    keys = KeyStore(args.data_dir)
    if args.action == "show":
        print(f"server  {keys.server().public.decode()}  ({keys.dir / 'server.key'})")
        print(f"console {keys.console().public.decode()}  ({keys.dir / 'console.key'})")
        for path in sorted(keys.authorized_dir.glob("*.key")):
            print(f"authorised: {path.name}")
    else:
        if args.key_file is None:
            print("vret keys authorize: give the console's public key file", file=sys.stderr)
            return 2
        print(f"authorised {keys.authorize(args.key_file)}")
    return 0


def _planted_rupture(text: str) -> object:
    """``withdrawal@60+30``: a rupture the virtual client acts out from 60 s for 30 s."""
    from vr_server.virtual_client.params import PlantedRupture

    marker, _, when = text.partition("@")
    start, _, duration = when.partition("+")
    try:
        return PlantedRupture(float(start), float(duration), marker)  # type: ignore[arg-type]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give MARKER@START+SECONDS, e.g. withdrawal@60+30 ({exc})") from exc


def _size(text: str) -> tuple[int, int]:
    """``WIDTHxHEIGHT`` in pixels."""
    w, sep, h = text.lower().partition("x")
    try:
        size = (int(w), int(h))
    except ValueError:
        size = (0, 0)
    if not sep or not (16 <= size[0] <= 8192 and 16 <= size[1] <= 8192):
        raise argparse.ArgumentTypeError(f"{text!r}: give WIDTHxHEIGHT, e.g. 1280x720")
    return size


def cmd_scenario(args: argparse.Namespace) -> int:
    """List, validate or render scenarios."""
    from scenarios.registry import available, load

    if args.action == "list":
        for name, origin in sorted(available().items()):
            try:
                spec = load(name).spec
                print(f"{name:12} {len(spec.rungs):2} rungs  {spec.title}: {spec.description}")
            except Exception as exc:  # one broken plugin must not hide the others
                print(f"{name:12} BROKEN ({origin}): {exc}")
        return 0
    if args.target is None:
        print(f"vret scenario {args.action}: give a scenario name or file", file=sys.stderr)
        return 2
    cls = load(args.target)
    spec = cls.spec
    if args.action == "validate":
        print(f"{spec.name}: valid; {len(spec.parameters)} parameters, {len(spec.rungs)} rungs, "
              f"{len(spec.live_events)} live events")
        for i, rung in enumerate(spec.rungs):
            print(f"  {i}: {rung.label} - {rung.description}")
        if args.json:
            print(json.dumps(spec.as_data(), indent=2))
        return 0
    if args.rung is None or args.output is None:
        print("vret scenario render: give --rung N and -o FILE.png", file=sys.stderr)
        return 2
    if args.rung >= len(spec.rungs):
        print(f"vret scenario render: rung {args.rung} is out of range: {spec.name} has rungs "
              f"0-{len(spec.rungs) - 1}", file=sys.stderr)
        return 1
    from vr_server.engine import DisplayConfig
    from vr_server.preview import render, save_png

    config = DisplayConfig(mode=args.display, size=args.size, shading=args.shading)
    image = render(cls, args.rung, args.intensity, config, seed=args.seed)
    save_png(image, args.output)
    print(f"{spec.name} rung {args.rung} ({spec.rungs[args.rung].label}) intensity "
          f"{args.intensity:g}: {image.shape[1]}x{image.shape[0]} -> {args.output}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the demo session end to end."""
    from vret.demo import run_demo

    return run_demo(args.data_dir, duration_s=args.duration, scenario=args.scenario)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``vret`` command."""
    parser = argparse.ArgumentParser(
        prog="vret", description="VR exposure-therapy session server, console and tools.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("serve", help="run a session server with a scenario",
                       description=cmd_serve.__doc__)
    _add_data_dir(p)
    p.add_argument("--scenario", default="heights",
                   help="scenario name or .py file (default heights; see `vret scenario list`)")
    p.add_argument("--safe-place", default="safe_place",
                   help="the calm scene shown on stop and breaks (default safe_place)")
    p.add_argument("--display", choices=["offscreen", "window", "stereo", "openxr", "none"],
                   default=default_display_mode(),
                   help="offscreen (default without a screen), window (default with one), "
                        "stereo (side by side), openxr (a headset, through its OpenXR "
                        "runtime; see docs/headsets.md), or none (telemetry only, simulated "
                        "sensors)")
    p.add_argument("--size", type=_size, default=(1280, 720),
                   help="pixels of the client's view, per eye in stereo (default 1280x720; "
                        "with openxr the runtime's)")
    _add_xr_args(p)
    p.add_argument("--posture", choices=["standing", "seated"], default="standing",
                   help="openxr: standing (the real floor, default) or seated (eyes at a "
                        "seated height); the console's Recentre can switch it")
    p.add_argument("--no-comfort-vignette", dest="comfort_vignette", action="store_false",
                   help="do not dim the edges of the view while a scenario moves the client")
    p.add_argument("--shading", choices=["pbr", "basic"], default="pbr",
                   help="physically based (default) or basic lighting")
    p.add_argument("--frame-rate", type=_positive, default=90.0, help="frames per second (90)")
    p.add_argument("--virtual-client", dest="virtual_client", action="store_true",
                   default=None, help="simulate the client (default: when no real input: "
                                      "every display but window)")
    p.add_argument("--no-virtual-client", dest="virtual_client", action="store_false",
                   help="never simulate the client (a person at the window, or a fixed view)")
    p.add_argument("--mirror-rate", type=_non_negative, default=10.0,
                   help="mirror-view frames per second for the console (default 10; 0: off)")
    p.add_argument("--mirror-width", type=_bounded_int(16, 4096), default=480,
                   help="width of the mirror view in pixels (default 480)")
    p.add_argument("--audio", action="store_true",
                   help="play the scene's sound (and the avatar's voice, where espeak-ng is "
                        "installed) on this machine's audio device")
    p.add_argument("--avatar-mode", choices=["therapist", "coach"], default="therapist",
                   help="therapist: the avatar says what the console sends (default); coach: "
                        "it also greets, runs SUDS check-ins and asks consent before steps up")
    p.add_argument("--avatar-model", type=Path, metavar="FILE.glb",
                   help="a rigged glTF humanoid to use for the avatar instead of the built-in "
                        "therapist (check one with: python -m avatar.gltf_export --help)")
    p.add_argument("--avatar-joint-map", choices=["auto", "vret", "mixamo", "vrm"],
                   default="auto",
                   help="how the model's bones are named (default: auto, the best match)")
    p.add_argument("--checkin-every", type=_positive, metavar="SECONDS",
                   help="the avatar asks a SUDS check-in every SECONDS of exposure and at each "
                        "new rung (default: only when asked in therapist mode, unless the "
                        "console's plan sets it; 300 in coach mode)")
    p.add_argument("--consent", action="store_true",
                   help="collaborative mode: a step up waits for the client's yes")
    p.add_argument("--rupture", type=_planted_rupture, action="append", default=[],
                   metavar="MARKER@START+SECONDS",
                   help="the virtual client acts out a rupture, e.g. withdrawal@60+30 "
                        "(tests, demos and the rupture benchmark; repeatable)")
    p.add_argument("--gaze-dwell", action="store_true",
                   help="the client answers the rating panel, or presses its STOP, by looking "
                        "at a choice for 1.5 s (1 s for STOP)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1; anything else needs --curve)")
    p.add_argument("--curve", action="store_true",
                   help="encrypt and authenticate with CurveZMQ (required off loopback)")
    p.add_argument("--session-id", type=_name,
                   help="session id (default: generated from the time)")
    p.add_argument("--client-id", type=_name,
                   help="pseudonymous client id (default: generated)")
    p.add_argument("--rungs", type=_bounded_int(1, 10_000), default=10,
                   help="with --display none: rungs of the hierarchy (default 10; otherwise "
                        "the scenario's)")
    p.add_argument("--connection-file", type=Path,
                   help="where to write the connection file "
                        "(default: DATA_DIR/connections/SESSION.json)")
    p.add_argument("--duration", type=_positive,
                   help="end the session after this many seconds")
    p.add_argument("--seed", type=_bounded_int(0, 2**32 - 1), default=0,
                   help="seed of the simulated client")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("headset", help="check the headset's OpenXR runtime",
                       description=cmd_headset.__doc__)
    _add_xr_args(p)
    p.set_defaults(func=cmd_headset)

    p = sub.add_parser("monitor", help="print live stream rates, latency and loss",
                       description=cmd_monitor.__doc__)
    _add_data_dir(p)
    p.add_argument("connection_files", nargs="+", type=Path, metavar="CONNECTION_FILE")
    p.add_argument("--duration", type=_positive, default=10.0, help="seconds (default 10)")
    p.set_defaults(func=cmd_monitor)

    p = sub.add_parser("console", help="serve the web console for sessions",
                       description=cmd_console.__doc__)
    _add_data_dir(p)
    p.add_argument("connection_files", nargs="*", type=Path, metavar="CONNECTION_FILE",
                   help="sessions to follow live (none: only review recorded sessions)")
    p.add_argument("--host", default="127.0.0.1",
                   help="interface to listen on (default 127.0.0.1; another needs TLS)")
    p.add_argument("--port", type=int, default=8765,
                   help="port (default 8765; 0 picks a free one)")
    p.add_argument("--tls-cert", type=Path, help="certificate (PEM) for https")
    p.add_argument("--tls-key", type=Path, help="its private key (PEM)")
    p.add_argument("--duration", type=_positive, help="stop after this many seconds")
    p.set_defaults(func=cmd_console)

    p = sub.add_parser("send", help="send one command to a session",
                       description=cmd_send.__doc__)
    _add_data_dir(p)
    p.add_argument("connection_file", type=Path, metavar="CONNECTION_FILE")
    p.add_argument("command", help="command name, e.g. start, set_level, stop")
    p.add_argument("args", nargs="*", metavar="KEY=VALUE", help="arguments, e.g. rung=2")
    p.add_argument("--timeout", type=_positive, default=1.0,
                   help="seconds per try (default 1)")
    p.set_defaults(func=cmd_send)

    p = sub.add_parser("sessions", help="list recorded sessions", description=cmd_sessions.__doc__)
    _add_data_dir(p)
    p.set_defaults(func=cmd_sessions)

    p = sub.add_parser("events", help="print a session's event log",
                       description=cmd_events.__doc__)
    _add_data_dir(p)
    p.add_argument("session_id", metavar="SESSION_ID", type=_name)
    p.set_defaults(func=cmd_events)

    p = sub.add_parser("keys", help="show or authorise CurveZMQ keys", description=cmd_keys.__doc__)
    _add_data_dir(p)
    p.add_argument("action", choices=["show", "authorize"])
    p.add_argument("key_file", nargs="?", type=Path, help="a console's public key file")
    p.set_defaults(func=cmd_keys)

    p = sub.add_parser("scenario", help="list, validate or render scenarios",
                       description=cmd_scenario.__doc__)
    p.add_argument("action", choices=["list", "validate", "render"])
    p.add_argument("target", nargs="?", metavar="NAME_OR_PATH",
                   help="a scenario name (see list) or a scenario .py file")
    p.add_argument("--rung", type=_bounded_int(0, 10_000), help="render: rung of the hierarchy")
    p.add_argument("--intensity", type=_unit, default=0.0,
                   help="render: intensity within the rung, 0-1 (default 0)")
    p.add_argument("-o", "--output", type=Path, help="render: PNG file to write")
    p.add_argument("--display", choices=["offscreen", "stereo"], default="offscreen",
                   help="render: mono or side-by-side stereo (default offscreen)")
    p.add_argument("--size", type=_size, default=(1280, 720),
                   help="render: pixels (per eye in stereo), default 1280x720")
    p.add_argument("--shading", choices=["pbr", "basic"], default="pbr",
                   help="render: physically based (default) or basic lighting")
    p.add_argument("--seed", type=_bounded_int(0, 2**32 - 1), default=0, help="scene seed")
    p.add_argument("--json", action="store_true", help="validate: also print the spec as JSON")
    p.set_defaults(func=cmd_scenario)

    from instruments.commands import add_parser as add_instruments

    add_instruments(sub)

    p = sub.add_parser("review", help="write a session's review report (one HTML file)",
                       description=cmd_review.__doc__)
    _add_data_dir(p)
    p.add_argument("session_id", metavar="SESSION_ID", type=_name, nargs="?",
                   help="the session to review (or --client for a client's history)")
    p.add_argument("--client", type=_name, metavar="CLIENT_ID",
                   help="a client's sessions over time instead of one session")
    p.add_argument("-o", "--output", type=Path,
                   help="the HTML file to write (default DATA_DIR/reports/SESSION_ID.html "
                        "or client-CLIENT_ID.html)")
    p.add_argument("--instrument-packs", type=Path, action="append", default=[],
                   metavar="DIR", help="the site's licensed questionnaire text packs")
    p.set_defaults(func=cmd_review)

    from review.replay_command import add_parser as add_replay

    add_replay(sub, _add_data_dir, _name)

    p = sub.add_parser("export", help="a session's data as CSV, Parquet and FHIR",
                       description=cmd_export.__doc__)
    _add_data_dir(p)
    p.add_argument("session_id", metavar="SESSION_ID", type=_name)
    p.add_argument("-o", "--output", type=Path,
                   help="the folder to write (default DATA_DIR/exports/SESSION_ID)")
    p.add_argument("--format", default="csv,parquet,fhir",
                   help="comma-separated: csv, parquet, fhir (default all three)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("demo", help="run a demo session end to end", description=cmd_demo.__doc__)
    _add_data_dir(p)
    p.add_argument("--duration", type=_positive, default=30.0,
                   help="seconds of the scripted session (default 30)")
    p.add_argument("--scenario", default="heights", help="scenario to run (default heights)")
    p.set_defaults(func=cmd_demo)
    return parser


def _add_xr_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--xr-fake", type=Path, metavar="SCRIPT.json",
                   help="openxr: a scripted stand-in for the runtime and headset (poses, "
                        "buttons, state changes; see docs/headsets.md), to try the headset "
                        "path without one")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``vret`` command."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args))
    except (TelemetryError, OSError, ValueError, ScenarioError, DisplayError,
            XrSetupError) as exc:
        # What went wrong, in one line; a traceback only with --verbose.
        logging.getLogger("vret").debug("failure", exc_info=True)
        print(f"vret {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
