"""From ZeroMQ to the page: what the console shows of each session, shaped for a browser.

One subscriber thread receives every followed session's messages and turns them into small
JSON-able updates: heart rate as it comes (1 Hz), skin conductance averaged to 4 Hz, a scene
summary at 10 Hz (rung, intensity, what is shown, the share of the last 10 s the client looked
at the stimulus), the scenario's parameters at 4 Hz, every event, the session state and the
newest mirror-view image. The page never sees 90 Hz head poses or a 500 Hz ECG: it does not
plot them, and the browser is the slowest link (``docs/decisions.md``).

Updates go to an :class:`Outbox` that the web side drains on its own loop. Each session also
keeps a bounded history, so a page opened (or reloaded) mid-session starts with the session so
far. Commands go out through one :class:`~telemetry.client.CommandClient` per session, whose
heartbeats make the console a console: if it disappears, the server holds the session safe.
"""

from __future__ import annotations

import base64
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from telemetry.client import CommandClient
from telemetry.connection import ConnectionInfo
from telemetry.errors import CommandFailed, TelemetryError
from telemetry.schemas import (
    Ack,
    Event,
    Frame,
    Heartbeat,
    Message,
    Samples,
    StreamDescriptor,
)
from telemetry.security import KeyPair
from telemetry.subscriber import Subscriber

log = logging.getLogger(__name__)

Update = dict[str, Any]
"""One message for the page (see ``docs/console-protocol.md``)."""

EDA_BIN_S = 0.25
"""Skin conductance is averaged over bins this long (4 Hz on the page)."""
SCENE_EVERY_S = 0.1
"""A scene summary at most this often (10 Hz)."""
PARAMS_EVERY_S = 0.25
LOOK_WINDOW_S = 10.0
"""The share of time looking at the stimulus is over this window."""
HISTORY_S = 3600.0
"""How much of a session's plotted series a page opened late receives."""
SILENT_S = 3.0
"""No message from a session for this long: its connection is shown lost."""
LOOKING_AT_STIMULUS = 1
"""The scene stream's ``looking_at`` code for the stimulus."""


@dataclass
class Series:
    """A plotted channel: session-clock seconds and values, bounded to :data:`HISTORY_S`."""

    t: deque[float] = field(default_factory=deque)
    v: deque[float] = field(default_factory=deque)

    def add(self, t: float, v: float) -> None:
        self.t.append(t)
        self.v.append(v)
        while self.t and t - self.t[0] > HISTORY_S:
            self.t.popleft()
            self.v.popleft()


class Outbox:
    """Updates waiting for the page, filled by the bridge's thread and drained by the web loop.

    Bounded: if nobody drains it (no page open, or a stalled one) the oldest updates go and
    are counted in :attr:`dropped`; the state a page needs is in the sessions' history.
    """

    def __init__(self, limit: int = 20_000) -> None:
        self._items: deque[Update] = deque()
        self._lock = threading.Lock()
        self.limit = limit
        self.dropped = 0
        self.wake: Callable[[], None] | None = None
        """Called (from the bridge's thread) when something is put (the web loop's nudge)."""

    def put(self, update: Update) -> None:
        with self._lock:
            self._items.append(update)
            if len(self._items) > self.limit:
                self._items.popleft()
                self.dropped += 1
        if self.wake is not None:
            self.wake()

    def drain(self) -> list[Update]:
        with self._lock:
            items = list(self._items)
            self._items.clear()
        return items


@dataclass
class SessionView:
    """What the console knows of one session."""

    info: ConnectionInfo
    client: CommandClient | None = None
    state: str | None = None
    scenario: str | None = None
    spec: dict[str, Any] | None = None
    descriptors: dict[str, StreamDescriptor] = field(default_factory=dict)
    series: dict[str, Series] = field(default_factory=dict)
    events: list[Update] = field(default_factory=list)
    scene: Update | None = None
    params: Update | None = None
    frame: Update | None = None
    last_message: float = field(default_factory=time.monotonic)
    connected: bool = False
    _eda_bin: list[float] = field(default_factory=list)
    _eda_bin_t: float | None = None
    _looks: deque[tuple[float, bool]] = field(default_factory=deque)
    _next_scene: float = 0.0
    _next_params: float = 0.0

    @property
    def session_id(self) -> str:
        return self.info.session_id

    def channel(self, stream: str, name: str) -> int | None:
        descriptor = self.descriptors.get(stream)
        if descriptor is None or name not in descriptor.channels:
            return None
        return descriptor.channels.index(name)

    def history(self) -> Update:
        """Everything a page opened now needs to show the session so far."""
        return {"type": "history", "session": self.session_id, "state": self.state,
                "scenario": self.scenario, "spec": self.spec, "connected": self.connected,
                "series": {name: {"t": list(s.t), "v": list(s.v)}
                           for name, s in self.series.items()},
                "events": self.events[-2000:], "scene": self.scene, "params": self.params,
                "frame": self.frame}


class Bridge:
    """Follows sessions (their connection files' infos) and feeds an :class:`Outbox`."""

    def __init__(self, infos: Sequence[ConnectionInfo], outbox: Outbox,
                 on_event: Callable[[SessionView, Update], None] | None = None,
                 on_series: Callable[[SessionView, str, float, float], None] | None = None,
                 frames: bool = True, keys: KeyPair | None = None) -> None:
        self.outbox = outbox
        self.keys = keys
        self.sessions: dict[str, SessionView] = {
            info.session_id: SessionView(info) for info in infos}
        self.on_event = on_event
        """Called on the bridge's thread with each event (the controllers listen here)."""
        self.on_series = on_series
        """Called with (session, series name, t, value) for each plotted sample."""
        self.frames = frames
        self.ages_ms: deque[float] = deque(maxlen=100_000)
        """Age (ms, wall clock) of each samples message when it reached this process."""
        self.on_connection: Callable[[str, bool], None] | None = None
        """Called when a session's messages stop (False) or come back (True)."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._subscriber: Subscriber | None = None

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> None:
        """Connect the command clients, subscribe, ask each server for its scenario."""
        for view in self.sessions.values():
            view.client = CommandClient(view.info, keys=self.keys)
        topics = ("tel.", "evt.", "hb.", "meta.", "frame.") if self.frames \
            else ("tel.", "evt.", "hb.", "meta.")
        self._subscriber = Subscriber([v.info for v in self.sessions.values()], topics=topics,
                                      keys=self.keys)
        self._thread = threading.Thread(target=self._run, name="console-bridge", daemon=True)
        self._thread.start()
        for view in self.sessions.values():
            self._describe(view)

    def close(self) -> None:
        """Stop the thread and close every socket."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        if self._subscriber is not None:
            self._subscriber.close()
        for view in self.sessions.values():
            if view.client is not None:
                view.client.close()

    @property
    def lost(self) -> int:
        """Messages lost between the servers and this console (sequence gaps)."""
        return self._subscriber.lost if self._subscriber is not None else 0

    # ---------------------------------------------------------------- commands

    def command(self, session_id: str, name: str, args: dict[str, Any],
                done: Callable[[Update], None]) -> None:
        """Send a command; ``done`` gets ``{"ok": True, "ack": ...}`` or the error, always."""
        view = self.sessions.get(session_id)
        if view is None or view.client is None:
            done({"ok": False, "error": f"not following session {session_id!r}"})
            return
        try:
            future = view.client.submit(name, args)
        except (TelemetryError, ValueError) as exc:  # refused before it was sent
            done({"ok": False, "error": _message(exc)})
            return
        future.add_done_callback(lambda f: done(self._result(view, name, f)))

    def _result(self, view: SessionView, name: str, future: Future[Ack]) -> Update:
        try:
            ack = future.result()
        except CommandFailed as exc:
            return {"ok": False, "error": str(exc)}
        except Exception as exc:  # timeouts, a closed client: shown, never swallowed
            return {"ok": False, "error": _message(exc)}
        state = ack.result.get("state")
        if isinstance(state, str) and state != view.state:
            view.state = state
            self.outbox.put({"type": "state", "session": view.session_id, "state": state})
        return {"ok": True, "ack": {"frame": ack.frame, "t_applied_ns": ack.t_applied_ns,
                                    "result": ack.result, "duplicate": ack.duplicate}}

    def _describe(self, view: SessionView) -> None:
        """Ask the server what it runs (scenario, rungs, parameters, events, the avatar's
        lines and gestures): the page builds its controls from the answer."""
        def done(result: Update) -> None:
            if not result.get("ok"):
                # An older server without ``describe``: the page falls back to bare controls.
                log.warning("session %s: describe failed: %s", view.session_id,
                            result.get("error"))
                return
            import json

            spec = json.loads(str(result["ack"]["result"].get("spec", "{}")))
            view.spec = spec
            view.scenario = spec.get("scenario", {}).get("name")
            self.outbox.put({"type": "spec", "session": view.session_id, "spec": spec})

        self.command(view.session_id, "describe", {}, done)

    # ---------------------------------------------------------------- receiving

    def _run(self) -> None:
        assert self._subscriber is not None
        next_check = time.monotonic() + 1.0
        while not self._stop.is_set():
            try:
                received = self._subscriber.recv_many(timeout_ms=50)
            except Exception:  # a closed socket at shutdown, or worse: log, keep the thread
                if self._stop.is_set():
                    return
                log.exception("console bridge: receiving failed")
                time.sleep(0.1)
                continue
            for _topic, message in received:
                view = self.sessions.get(message.env.session)
                if view is not None:
                    try:
                        self._handle(view, message)
                    except Exception:  # one odd message must not stop the console
                        log.exception("session %s: could not show a message", view.session_id)
            now = time.monotonic()
            if now >= next_check:
                next_check = now + 0.5
                self._check_connections(now)

    def _check_connections(self, now: float) -> None:
        for view in self.sessions.values():
            connected = now - view.last_message < SILENT_S
            if connected != view.connected:
                view.connected = connected
                self.outbox.put({"type": "connection", "session": view.session_id,
                                 "connected": connected})
                if self.on_connection is not None and view.state != "ended":
                    self.on_connection(view.session_id, connected)

    def _handle(self, view: SessionView, message: Message) -> None:
        view.last_message = time.monotonic()
        body = message.body
        env = message.env
        if isinstance(body, Samples):
            # The same age the page measures, here on arrival: the web path's floor.
            self.ages_ms.append(time.time_ns() / 1e6 - env.t_wall_ns / 1e6)
            self._samples(view, body, env.t_wall_ns / 1e6)
        elif isinstance(body, Event):
            update: Update = {"type": "event", "session": view.session_id, "seq": env.seq,
                              "t": env.t_session_ns / 1e9, "t_wall_ms": env.t_wall_ns / 1e6,
                              "event": body.event.model_dump(mode="json"),
                              "command_id": body.command_id}
            view.events.append(update)
            self.outbox.put(update)
            if body.event.kind == "state_change":
                view.state = body.event.to_state
            if self.on_event is not None:
                self.on_event(view, update)
        elif isinstance(body, Heartbeat):
            if body.state is not None and body.state != view.state:
                view.state = body.state
                self.outbox.put({"type": "state", "session": view.session_id,
                                 "state": body.state})
        elif isinstance(body, StreamDescriptor):
            view.descriptors[body.name] = body
        elif isinstance(body, Frame):
            view.frame = {"type": "frame", "session": view.session_id,
                          "frame": body.frame_number, "width": body.width,
                          "height": body.height, "t_wall_ms": env.t_wall_ns / 1e6,
                          "jpeg": base64.b64encode(body.data).decode("ascii")}
            self.outbox.put(view.frame)

    def _samples(self, view: SessionView, samples: Samples, t_wall_ms: float) -> None:
        for batch in samples.batches:
            if batch.stream == "heart_rate":
                t = batch.timestamps_ns / 1e9
                v = batch.values[:, 0].astype(float)
                self._emit(view, "heart_rate", t, v, t_wall_ms)
            elif batch.stream == "eda":
                self._eda(view, batch.timestamps_ns / 1e9, batch.values[:, 0], t_wall_ms)
            elif batch.stream == "scene":
                self._scene(view, batch.timestamps_ns / 1e9, batch.values, t_wall_ms)
            elif batch.stream == "scenario":
                now = batch.timestamps_ns[-1] / 1e9
                descriptor = view.descriptors.get("scenario")
                if descriptor is not None and now >= view._next_params:
                    view._next_params = now + PARAMS_EVERY_S
                    view.params = {"type": "params", "session": view.session_id, "t": now,
                                   "values": dict(zip(descriptor.channels,
                                                      (float(x) for x in batch.values[-1]),
                                                      strict=False))}
                    self.outbox.put(view.params)

    def _emit(self, view: SessionView, name: str, t: np.ndarray | list[float],
              v: np.ndarray | list[float], t_wall_ms: float) -> None:
        series = view.series.setdefault(name, Series())
        ts = [float(x) for x in t]
        vs = [float(x) for x in v]
        for a, b in zip(ts, vs, strict=True):
            series.add(a, b)
            if self.on_series is not None:
                self.on_series(view, name, a, b)
        if ts:
            self.outbox.put({"type": "series", "session": view.session_id, "name": name,
                             "t": ts, "v": vs, "t_wall_ms": t_wall_ms})

    def _eda(self, view: SessionView, t: np.ndarray, v: np.ndarray, t_wall_ms: float) -> None:
        out_t: list[float] = []
        out_v: list[float] = []
        for ti, vi in zip(t.tolist(), v.tolist(), strict=True):
            start = view._eda_bin_t
            if start is None:
                view._eda_bin_t = start = ti
            if ti - start >= EDA_BIN_S and view._eda_bin:
                out_t.append(start + EDA_BIN_S / 2)
                out_v.append(sum(view._eda_bin) / len(view._eda_bin))
                view._eda_bin.clear()
                view._eda_bin_t = ti
            view._eda_bin.append(vi)
        if out_t:
            self._emit(view, "eda", out_t, out_v, t_wall_ms)

    def _scene(self, view: SessionView, t: np.ndarray, rows: np.ndarray,
               t_wall_ms: float) -> None:
        look = view.channel("scene", "looking_at")
        if look is not None:
            for ti, code in zip(t.tolist(), rows[:, look].tolist(), strict=True):
                view._looks.append((ti, int(code) == LOOKING_AT_STIMULUS))
        now = float(t[-1])
        while view._looks and now - view._looks[0][0] > LOOK_WINDOW_S:
            view._looks.popleft()
        if now < view._next_scene:
            return
        view._next_scene = now + SCENE_EVERY_S
        last = rows[-1]
        summary: Update = {"type": "scene", "session": view.session_id, "t": now,
                           "t_wall_ms": t_wall_ms}
        for name in ("frame", "rung", "intensity", "stimulus_visible", "safe_place",
                     "stimulus_distance"):
            index = view.channel("scene", name)
            if index is not None:
                value = float(last[index])
                summary[name] = None if math.isnan(value) else value
        share = (sum(1 for _, at in view._looks if at) / len(view._looks)) if view._looks \
            else 0.0
        summary["looking_share"] = share
        view.scene = summary
        self.outbox.put(summary)
        for name in ("rung", "intensity"):
            if summary.get(name) is not None:
                view.series.setdefault(name, Series()).add(now, float(summary[name]))
        view.series.setdefault("looking_share", Series()).add(now, share)
        if self.on_series is not None:
            self.on_series(view, "looking_share", now, share)


def _message(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
