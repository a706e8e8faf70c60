"""The server side of the transport: one PUB and two ROUTER sockets per session.

* **PUB** (``publish``): telemetry, events, stream descriptors, mirror frames, heartbeats.
  Thread-safe (one lock), never blocks: ZeroMQ drops at the high-water mark and subscribers see
  the gap in sequence numbers.
* **command ROUTER** and **control ROUTER**: served by one I/O thread that always drains the
  control socket first, so stop / pause / safe place never wait behind other traffic. The I/O
  thread rejects what it can on its own (malformed, unknown, invalid args, floods, duplicates),
  answers heartbeats and clock probes, and hands valid commands to the application through
  :meth:`ServerTransport.next_command` (control commands first). The application answers with
  :meth:`ServerTransport.reply`; a repeated command id gets the first answer again, marked
  ``duplicate``, and is never handed to the application twice.

Nothing a peer sends can raise out of the I/O thread: every failure is answered or counted, and
logged once per kind.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import Counter, OrderedDict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import zmq
from pydantic import BaseModel

from telemetry import wire
from telemetry.clock import SessionClock
from telemetry.commands import CONTROL_COMMANDS, CommandArgs, parse_args
from telemetry.connection import ConnectionInfo
from telemetry.errors import InvalidMessage, ProtocolError, TransportError
from telemetry.schemas import (
    Ack,
    ClockProbe,
    ClockReply,
    Command,
    ErrorReply,
    Heartbeat,
    SessionState,
)
from telemetry.security import (
    KeyStore,
    check_bind_allowed,
    make_curve_server,
    start_authenticator,
)
from telemetry.wakeup import Wakeup

log = logging.getLogger(__name__)

Channel = Literal["control", "command"]


@dataclass(frozen=True)
class ServerConfig:
    """How a session's sockets are bound and guarded. Every default is defined here, once."""

    session_id: str
    host: str = "127.0.0.1"
    """Address to bind, or ``ipc`` for ipc:// endpoints in ``ipc_dir``."""
    ipc_dir: Path | None = None
    curve: bool = False
    """Encrypt and authenticate with CurveZMQ. Required for any non-loopback ``host``: binding
    one without it is refused (never silently switched on, so the operator knows which keys
    a console needs)."""
    data_dir: Path = Path("vret-data")
    advertise_host: str | None = None
    """Host name written into the connection file; defaults to ``host``, or this machine's
    name when ``host`` is a wildcard (0.0.0.0, ::) that no console could connect to."""
    max_command_bytes: int = wire.MAX_COMMAND_BYTES
    commands_per_second: float = 100.0
    """Per-console token bucket: sustained rate..."""
    command_burst: int = 200
    """...and burst. Beyond it commands are dropped and counted."""
    max_pending: int = 1000
    """Commands waiting for the application; beyond it new ones get ``busy``."""
    heartbeat_interval_s: float = 1.0
    console_timeout_s: float = 3.0
    dedup_capacity: int = 10_000
    max_consoles: int = 64
    """Consoles tracked for liveness; more are served but their coming and going is not."""
    pub_hwm: int = 100_000


@dataclass(frozen=True)
class IncomingCommand:
    """A valid command waiting to be applied."""

    id: str
    args: CommandArgs
    channel: Channel
    peer: bytes
    t_received_ns: int

    @property
    def name(self) -> str:
        """The command's name (``stop``, ``set_level``...)."""
        return self.args.name


@dataclass
class ConsoleStatus:
    """What the server knows about one connected console."""

    peer: bytes
    first_seen: float
    last_seen: float
    alive: bool = True


@dataclass
class TransportStats:
    """Counters, readable from any thread (updated by the I/O thread)."""

    received: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    dropped_flood: int = 0


class _TokenBucket:
    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, float(burst)
        self.tokens, self.stamp = float(burst), time.monotonic()
        self.warned_at = 0.0

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class ServerTransport:
    """Binds a session's sockets and serves the command and control channels."""

    def __init__(
        self, config: ServerConfig, clock: SessionClock, *,
        state: Any = None, context: zmq.Context[zmq.Socket[bytes]] | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.session_id = config.session_id
        self.stats = TransportStats()
        # Read by the I/O thread to answer heartbeats; set by the application.
        self.state: SessionState | None = state
        # A process serving several sessions (tests, benchmarks) may share one context; a
        # context owns I/O threads, so one per session would only add context switches.
        self._own_context = context is None
        self._ctx: zmq.Context[zmq.Socket[bytes]] = context or zmq.Context()
        self._auth: Any = None
        self._keys: KeyStore | None = None
        self._keys_signature: tuple[tuple[str, int, int], ...] = ()
        self._pub_lock = threading.Lock()
        self._topic_seq: dict[bytes, int] = {}
        self._topics: dict[tuple[str, str | None], bytes] = {}
        self._inbox_lock = threading.Lock()
        self._control_inbox: deque[IncomingCommand] = deque()
        self._command_inbox: deque[IncomingCommand] = deque()
        self._inbox_ready = threading.Condition(self._inbox_lock)
        self._outbox: deque[tuple[IncomingCommand, Ack | ErrorReply]] = deque()
        self._wakeup = Wakeup()
        # id -> None while pending, or the reply once answered (LRU-bounded).
        self._seen: OrderedDict[str, Ack | ErrorReply | None] = OrderedDict()
        self._buckets: OrderedDict[bytes, _TokenBucket] = OrderedDict()
        self._reply_seq = 0
        self._logged_kinds: set[str] = set()
        self.consoles: dict[bytes, ConsoleStatus] = {}
        # (change, peer, consoles alive after it), made by the I/O thread for the frame loop.
        self.console_changes: deque[tuple[str, bytes, int]] = deque(maxlen=1000)
        self._running = False
        self._thread: threading.Thread | None = None
        self.connection: ConnectionInfo | None = None

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> ConnectionInfo:
        """Bind the three sockets, start the I/O thread; returns the connection info."""
        cfg = self.config
        curve = cfg.curve
        if cfg.host != "ipc":
            check_bind_allowed(cfg.host, curve)
        server_key = None
        if curve:
            keys = KeyStore(cfg.data_dir)
            server_key = keys.server()
            keys.console()  # the local console is authorised from the start
            self._auth = start_authenticator(self._ctx, keys)
            self._keys = keys
            self._keys_signature = keys.authorized_signature()
        try:
            self._pub = self._socket(zmq.PUB, server_key)
            self._pub.sndhwm = cfg.pub_hwm
            self._command = self._socket(zmq.ROUTER, server_key)
            self._control = self._socket(zmq.ROUTER, server_key)
            endpoints = [self._bind(s, name) for s, name in
                         ((self._pub, "pub"), (self._command, "command"),
                          (self._control, "control"))]
        except zmq.ZMQError as exc:
            self._close_sockets()
            raise TransportError(f"cannot bind on {cfg.host!r}: {exc}") from exc
        self.connection = ConnectionInfo(
            session_id=self.session_id, pub=endpoints[0], command=endpoints[1],
            control=endpoints[2],
            server_public_key=server_key.public.decode() if server_key else None,
            pid=os.getpid(),
        )
        self._running = True
        self._thread = threading.Thread(target=self._serve, name=f"io-{self.session_id}",
                                        daemon=True)
        self._thread.start()
        log.info("session %s serving: pub %s, command %s, control %s%s", self.session_id,
                 *endpoints, " (CurveZMQ)" if curve else "")
        return self.connection

    def _socket(self, kind: int, server_key: Any) -> zmq.Socket[bytes]:
        sock = self._ctx.socket(kind)
        sock.linger = 0
        if kind == zmq.ROUTER:
            # A hard guard in libzmq; the friendlier cap with an error reply is in _handle.
            sock.maxmsgsize = self.config.max_command_bytes * 2
            sock.router_handover = True
        if self.config.host != "ipc" and ":" in self.config.host:
            sock.ipv6 = True
        if server_key is not None:
            make_curve_server(sock, server_key)
        return sock

    def _bind(self, sock: zmq.Socket[bytes], name: str) -> str:
        cfg = self.config
        if cfg.host == "ipc":
            base = cfg.ipc_dir or (cfg.data_dir / "run")
            base.mkdir(parents=True, exist_ok=True, mode=0o700)
            endpoint = f"ipc://{base / f'{self.session_id}-{name}'}"
        else:
            host = f"[{cfg.host}]" if ":" in cfg.host else cfg.host
            endpoint = f"tcp://{host}:*"
        sock.bind(endpoint)
        endpoint_bytes: bytes = sock.getsockopt(zmq.LAST_ENDPOINT)  # type: ignore[assignment]
        bound = endpoint_bytes.decode()
        advertise = cfg.advertise_host or (
            socket.getfqdn() if cfg.host in {"0.0.0.0", "::", "*"} else None)
        if advertise and cfg.host != "ipc":
            port = bound.rsplit(":", 1)[1]
            host = f"[{advertise}]" if ":" in advertise else advertise
            bound = f"tcp://{host}:{port}"
        return bound

    def close(self) -> None:
        """Stop the I/O thread and close every socket (pending replies are sent first)."""
        if self._running:
            self._running = False
            self._wake()
            if self._thread is not None:
                self._thread.join(5.0)
        self._close_sockets()
        if self._auth is not None:
            self._auth.stop()
            self._auth = None
        self._wakeup.close()
        if self._own_context:
            self._ctx.term()

    def _close_sockets(self) -> None:
        for name in ("_pub", "_command", "_control"):
            sock = getattr(self, name, None)
            if sock is not None:
                sock.close(linger=0)

    # ---------------------------------------------------------------- publishing (any thread)

    def publish(
        self, kind: str, body: BaseModel, *, stream: str | None = None,
        seq: int | None = None, t_session_ns: int | None = None, t_wall_ns: int | None = None,
    ) -> int:
        """Publish a body on ``<kind>.<session>`` (or ``.<stream>`` after it, if given); returns
        its sequence number.

        Events pass their log position as ``seq``; other topics count on their own.
        """
        topic = self._topics.get((kind, stream))
        if topic is None:  # a handful of topics per session: build each once
            topic = self._topics[(kind, stream)] = wire.topic_for(kind, self.session_id, stream)
        t_session = self.clock.now_ns() if t_session_ns is None else t_session_ns
        with self._pub_lock:
            if seq is None:
                seq = self._topic_seq.get(topic, 0)
                self._topic_seq[topic] = seq + 1
            frames = wire.encode_body(body, session=self.session_id, seq=seq,
                                      t_session_ns=t_session, t_wall_ns=t_wall_ns, topic=topic)
            try:
                self._pub.send_multipart(frames, flags=zmq.NOBLOCK)
            except zmq.Again:  # PUB does not block; kept for safety on exotic transports
                pass
            except zmq.ZMQError as exc:
                if self._running:
                    log.error("publish on %s failed: %s", topic.decode(), exc)
        return seq

    # ---------------------------------------------------------------- commands (application)

    def next_command(self, timeout: float | None = 0.0) -> IncomingCommand | None:
        """The next command to apply, control commands first; None if none within timeout."""
        with self._inbox_ready:
            if timeout and not (self._control_inbox or self._command_inbox):
                self._inbox_ready.wait(timeout)
            if self._control_inbox:
                return self._control_inbox.popleft()
            if self._command_inbox:
                return self._command_inbox.popleft()
        return None

    def reply(self, command: IncomingCommand, body: Ack | ErrorReply) -> None:
        """Answer a command (thread-safe). The I/O thread sends it and remembers it for retries."""
        self._outbox.append((command, body))
        self._wake()

    def ack(self, command: IncomingCommand, *, frame: int | None = None,
            result: dict[str, Any] | None = None, t_applied_ns: int | None = None) -> None:
        """Reply with an ack; ``t_applied_ns`` (session clock) defaults to now."""
        self.reply(command, Ack(id=command.id, frame=frame,
                                t_applied_ns=self.clock.now_ns() if t_applied_ns is None
                                else t_applied_ns,
                                result=result or {}))

    def reject(self, command: IncomingCommand, code: Any, message: str) -> None:
        """Reply with an error saying why the command was not applied."""
        self.reply(command, ErrorReply(id=command.id, code=code, message=message))

    def _wake(self) -> None:
        self._wakeup.wake()

    # ---------------------------------------------------------------- I/O thread

    def _serve(self) -> None:
        poller = zmq.Poller()
        poller.register(self._control, zmq.POLLIN)
        poller.register(self._command, zmq.POLLIN)
        poller.register(self._wakeup, zmq.POLLIN)
        next_beat = time.monotonic()
        while self._running:
            try:
                ready = dict(poller.poll(timeout=100))
                # Control first and completely; commands in bounded slices so a flood on the
                # command channel never holds a stop for more than a slice.
                if ready.get(self._control):
                    self._drain(self._control, "control", limit=10_000)
                self._send_replies()
                if ready.get(self._command):
                    self._drain(self._command, "command", limit=64)
                if ready.get(self._wakeup.fileno()):
                    self._wakeup.drain()
                self._send_replies()
                now = time.monotonic()
                if now >= next_beat:
                    next_beat = now + self.config.heartbeat_interval_s
                    self.publish("hb", Heartbeat(role="server", state=self.state))
                    self._check_consoles(now)
                    self._reload_keys()
            except Exception:  # the I/O thread must survive anything
                self._count("internal", "internal error in the I/O thread", exc_info=True)
        self._send_replies()

    def _drain(self, sock: zmq.Socket[bytes], channel: Channel, limit: int) -> None:
        for _ in range(limit):
            frames = self._recv_bounded(sock)
            if frames is None:
                return
            t_recv = self.clock.now_ns()
            self._handle(sock, channel, frames, t_recv)

    @staticmethod
    def _recv_bounded(sock: zmq.Socket[bytes]) -> list[bytes] | None:
        """One message as at most three frames (routing id, header, one to spare): the parts
        beyond are received without a copy and dropped, so a message of many frames costs
        Python nothing (the decoder then refuses the frame count)."""
        try:
            frame = sock.recv(zmq.NOBLOCK, copy=False)
        except zmq.Again:
            return None
        frames = [frame.bytes]
        while frame.more:
            frame = sock.recv(copy=False)  # the rest of a message arrives with its first part
            if len(frames) < 3:
                frames.append(frame.bytes)
        return frames

    def _count(self, kind: str, message: str, *, exc_info: bool = False) -> None:
        self.stats.rejected[kind] += 1
        if kind not in self._logged_kinds:  # once per kind: a flood must not flood the log
            self._logged_kinds.add(kind)
            log.warning("rejected %s: %s (further ones are counted, not logged)", kind, message,
                        exc_info=exc_info)

    def _send(self, sock: zmq.Socket[bytes], peer: bytes, body: BaseModel) -> None:
        self._reply_seq += 1
        frames = wire.encode_body(body, session=self.session_id, seq=self._reply_seq,
                                  t_session_ns=self.clock.now_ns())
        try:
            sock.send_multipart([peer, *frames], flags=zmq.NOBLOCK)
        except zmq.ZMQError:
            self._count("reply_undeliverable", "reply to a peer that cannot take it")

    def _handle(self, sock: zmq.Socket[bytes], channel: Channel, frames: list[bytes],
                t_recv: int) -> None:
        self.stats.received += 1
        peer, payload = frames[0], frames[1:]
        now = time.monotonic()
        bucket = self._buckets.get(peer)
        if bucket is None:
            if len(self._buckets) >= 4096:  # bound memory: forget the longest-silent peer
                self._buckets.popitem(last=False)
            bucket = self._buckets[peer] = _TokenBucket(self.config.commands_per_second,
                                                        self.config.command_burst)
        else:
            self._buckets.move_to_end(peer)
        if not bucket.take(now):
            self.stats.dropped_flood += 1
            self._count("rate_limited", f"peer {peer.hex()} over its command rate")
            if now - bucket.warned_at > 1.0:  # one error a second tells it why; rest dropped
                bucket.warned_at = now
                self._send(sock, peer, ErrorReply(
                    id=None, code="rate_limited",
                    message="too many messages; dropped until the rate falls"))
            return
        try:
            _, message = wire.decode(payload, max_bytes=self.config.max_command_bytes)
            if message.env.session != self.session_id:
                body_id = getattr(message.body, "id", None)
                raise InvalidMessage(f"message for session {message.env.session!r} sent to "
                                     f"session {self.session_id!r}",
                                     command_id=body_id if isinstance(body_id, str) else None)
        except ProtocolError as exc:
            self._count(exc.code, str(exc))
            self._send(sock, peer, ErrorReply(id=exc.command_id, code=exc.code,  # type: ignore[arg-type]
                                              message=str(exc)[:4000]))
            return
        body = message.body
        # Only heartbeating peers are consoles whose loss matters (a one-shot command tool is
        # not); any message from a known console refreshes it.
        if isinstance(body, Heartbeat) or peer in self.consoles:
            self._seen_console(peer, now)
        if isinstance(body, Heartbeat):
            self._send(sock, peer, Heartbeat(role="server", state=self.state))
        elif isinstance(body, ClockProbe):
            self._send(sock, peer, ClockReply(probe_id=body.probe_id, t0_ns=body.t0_ns,
                                              t1_ns=t_recv, t2_ns=self.clock.now_ns()))
        elif isinstance(body, Command):
            self._accept_command(sock, channel, peer, body, t_recv)
        else:
            self._count("invalid", f"a console sent a {body.type!r} message")
            self._send(sock, peer, ErrorReply(
                id=None, code="invalid",
                message=f"consoles send command, heartbeat or clock_probe, not {body.type!r}"))

    def _accept_command(self, sock: zmq.Socket[bytes], channel: Channel, peer: bytes,
                        body: Command, t_recv: int) -> None:
        if body.id in self._seen:
            previous = self._seen[body.id]
            self.stats.duplicates += 1
            if previous is not None:
                self._send(sock, peer, previous.model_copy(update={"duplicate": True})
                           if isinstance(previous, Ack) else previous)
            return  # still pending: its one answer will come when it is applied
        # Rejections made here are not remembered against the id: nothing was applied, and the
        # sender may correct the mistake (the channel, say) and try again.
        try:
            args = parse_args(body)
        except ProtocolError as exc:
            self._count(exc.code, str(exc))
            self._send(sock, peer, ErrorReply(id=body.id, code=exc.code,  # type: ignore[arg-type]
                                              message=str(exc)[:4000]))
            return
        if channel == "control" and args.name not in CONTROL_COMMANDS:
            error = ErrorReply(id=body.id, code="not_allowed", message=(
                f"{args.name!r} is not a control command; send it on the command channel "
                f"(control takes {', '.join(sorted(CONTROL_COMMANDS))})"))
            self._count("not_allowed", error.message)
            self._send(sock, peer, error)
            return
        incoming = IncomingCommand(body.id, args, channel, peer, t_recv)
        with self._inbox_ready:
            urgent = args.name in CONTROL_COMMANDS  # stop is urgent whichever channel it took
            if not urgent and len(self._command_inbox) >= self.config.max_pending:
                error = ErrorReply(id=body.id, code="busy",
                                   message="the server has too many commands waiting; retry")
                self._count("busy", error.message)
                self._send(sock, peer, error)  # not remembered: a retry may succeed
                return
            self._remember(body.id, None)
            (self._control_inbox if urgent else self._command_inbox).append(incoming)
            self._inbox_ready.notify()

    def _remember(self, command_id: str, reply: Ack | ErrorReply | None) -> None:
        self._seen[command_id] = reply
        self._seen.move_to_end(command_id)
        while len(self._seen) > self.config.dedup_capacity:
            self._seen.popitem(last=False)

    def _send_replies(self) -> None:
        while self._outbox:
            command, body = self._outbox.popleft()
            self._remember(command.id, body)
            sock = self._control if command.channel == "control" else self._command
            self._send(sock, command.peer, body)

    def _reload_keys(self) -> None:
        # Keys authorised while the server runs (``vret keys authorize``) take effect within a
        # heartbeat: the set is reread whenever a key file appears, goes or changes.
        if self._keys is None or self._auth is None:
            return
        signature = self._keys.authorized_signature()
        if signature != self._keys_signature:
            self._keys_signature = signature
            self._auth.configure_curve(domain="*", location=str(self._keys.authorized_dir))
            log.info("authorised console keys reloaded from %s", self._keys.authorized_dir)

    def _seen_console(self, peer: bytes, now: float) -> None:
        status = self.consoles.get(peer)
        if status is None:
            if len(self.consoles) >= self.config.max_consoles:
                self._forget_lost_consoles(now, older_than_s=0.0)
            if len(self.consoles) >= self.config.max_consoles:
                # Bounded: a peer inventing routing ids cannot grow this or the event log.
                self._count("too_many_consoles", f"more than {self.config.max_consoles} "
                            "consoles; new ones are served but not tracked")
                return
            self.consoles[peer] = ConsoleStatus(peer, now, now)
            self.console_changes.append(("connected", peer, self._alive()))
        else:
            status.last_seen = now
            if not status.alive:
                status.alive = True
                self.console_changes.append(("connected", peer, self._alive()))

    def _alive(self) -> int:
        return sum(1 for c in self.consoles.values() if c.alive)

    def _forget_lost_consoles(self, now: float, older_than_s: float) -> None:
        for peer in [p for p, c in self.consoles.items()
                     if not c.alive and now - c.last_seen > older_than_s]:
            del self.consoles[peer]

    def _check_consoles(self, now: float) -> None:
        for status in self.consoles.values():
            if status.alive and now - status.last_seen > self.config.console_timeout_s:
                status.alive = False
                self.console_changes.append(("lost", status.peer, self._alive()))
                log.warning("console %s lost (no message for %.1f s)", status.peer.hex(),
                            now - status.last_seen)
        self._forget_lost_consoles(now, older_than_s=300.0)

    @property
    def consoles_alive(self) -> int:
        """Number of consoles heard from within the timeout (safe from any thread)."""
        # list() copies in one step under the GIL; iterating the live dict from another
        # thread could meet the I/O thread inserting into it.
        return sum(1 for c in list(self.consoles.values()) if c.alive)
