"""The console side of the command and control channels.

:class:`CommandClient` owns two DEALER sockets on one I/O thread and offers a thread-safe API:
:meth:`~CommandClient.request` blocks for the answer, :meth:`~CommandClient.submit` returns a
future. Each command carries a fresh id; when no answer comes within ``timeout`` the *same*
frames are sent again (the server applies an id once and answers repeats with its first answer),
up to ``retries`` times, then :class:`~telemetry.errors.CommandTimeout`. An error reply raises
:class:`~telemetry.errors.CommandFailed` with the server's code and reason.

The I/O thread also sends heartbeats on the control channel (the server answers each, so both
sides know the other is there) and runs clock-offset probe bursts, whose estimates it reports to
the server with the ``clock_offset`` command so they are kept with the session record.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import zmq

from telemetry import wire
from telemetry.clock import OffsetEstimate, OffsetEstimator, ProbeResult
from telemetry.commands import COMMANDS, ClockOffset, CommandArgs
from telemetry.connection import ConnectionInfo
from telemetry.errors import CommandFailed, CommandTimeout, ProtocolError, TransportError
from telemetry.schemas import (
    Ack,
    ClockProbe,
    ClockReply,
    Command,
    ErrorReply,
    Heartbeat,
    SessionState,
)
from telemetry.security import KeyPair, make_curve_client
from telemetry.wakeup import Wakeup

log = logging.getLogger(__name__)


def _fail(future: Future[Ack], error: Exception) -> None:
    """Fail a future unless it is already settled (answered, failed or cancelled)."""
    if not future.done():
        future.set_exception(error)


@dataclass(frozen=True)
class ClientConfig:
    """Timing of a console's command client. Every default is defined here, once."""

    timeout_s: float = 1.0
    retries: int = 3
    heartbeat_interval_s: float = 1.0
    server_timeout_s: float = 3.0
    clock_sync_interval_s: float = 5.0
    probes_per_burst: int = 8
    probe_timeout_s: float = 0.2
    report_clock_offsets: bool = True
    heartbeats: bool = True
    """Off for one-shot tools (``vret send``): a peer that heartbeats is a console, and its
    departure would put the session on safe hold."""
    clock_sync: bool = True


@dataclass
class _Pending:
    frames: list[wire.Buffer]
    channel: str
    deadline: float
    attempts_left: int
    future: Future[Ack]
    timeout: float
    tries: int = 1


class CommandClient:
    """Sends commands to one session and keeps the link (heartbeats, clock sync) alive."""

    def __init__(
        self, info: ConnectionInfo, *, keys: KeyPair | None = None,
        config: ClientConfig | None = None, console_id: str | None = None,
    ) -> None:
        self.info = info
        self.config = config or ClientConfig()
        self.console_id = console_id or f"console-{uuid.uuid4().hex[:12]}"
        self.clock = OffsetEstimator()
        self.server_state: SessionState | None = None
        self.server_last_seen: float | None = None
        self.errors_without_id: deque[ErrorReply] = deque(maxlen=100)
        self._ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self._sockets: dict[str, zmq.Socket[bytes]] = {}
        try:
            for channel, endpoint in (("command", info.command), ("control", info.control)):
                sock = self._ctx.socket(zmq.DEALER)
                self._sockets[channel] = sock  # registered first, so a failure closes it
                sock.linger = 0
                # A stable routing id lets the server see retries after a reconnect as us.
                sock.routing_id = f"{self.console_id}/{channel}".encode()
                if info.server_public_key:
                    if keys is None:
                        raise TransportError(
                            "the server requires CurveZMQ: pass this console's key pair")
                    make_curve_client(sock, info.server_public_key.encode(), keys)
                if endpoint.startswith("tcp://["):
                    sock.ipv6 = True
                sock.connect(endpoint)
        except (zmq.ZMQError, TransportError) as exc:
            self._close_sockets()
            self._ctx.term()
            if isinstance(exc, TransportError):
                raise
            raise TransportError(f"cannot connect to {info.command}: {exc}") from exc
        self._requests: deque[tuple[str, Command, Future[Ack], float, int]] = deque()
        self._pending: dict[str, _Pending] = {}
        self._wakeup = Wakeup()
        self._seq = 0
        self._sync_now = False
        self._probe_id = 0
        self._burst_left = 0
        self._probe_sent: tuple[int, int, float] | None = None  # id, t0, deadline
        self._running = True
        self._thread = threading.Thread(target=self._run, name=f"cmd-{self.console_id}",
                                        daemon=True)
        self._thread.start()

    # ---------------------------------------------------------------- public API

    def submit(
        self, command: CommandArgs | str, args: dict[str, Any] | None = None, *,
        timeout: float | None = None, retries: int | None = None, command_id: str | None = None,
    ) -> Future[Ack]:
        """Send a command; the future resolves to its :class:`Ack` or raises.

        ``command`` is an argument model (``SetLevel(rung=2)``) or a bare name with ``args``
        (which the server validates: use this for names it may not know).
        """
        if isinstance(command, CommandArgs):
            name, wire_args = command.name, command.to_args()
        else:
            name, wire_args = command, dict(args or {})
        channel = "control" if name in COMMANDS and COMMANDS[name].channel == "control" \
            else "command"
        # Built and validated here, on the caller's thread, so a bad argument raises to the
        # caller instead of reaching the I/O thread.
        body = Command(id=command_id or uuid.uuid4().hex, name=name, args=wire_args)
        future: Future[Ack] = Future()
        if not self._running:
            future.set_exception(TransportError("the command client is closed"))
            return future
        self._requests.append((channel, body, future,
                               self.config.timeout_s if timeout is None else timeout,
                               self.config.retries if retries is None else retries))
        self._wake()
        return future

    def request(
        self, command: CommandArgs | str, args: dict[str, Any] | None = None, *,
        timeout: float | None = None, retries: int | None = None, command_id: str | None = None,
    ) -> Ack:
        """Send a command and wait for its ack; raises CommandFailed or CommandTimeout."""
        future = self.submit(command, args, timeout=timeout, retries=retries,
                             command_id=command_id)
        per_try = self.config.timeout_s if timeout is None else timeout
        tries = 1 + (self.config.retries if retries is None else retries)
        return future.result(timeout=per_try * tries + 5.0)

    @property
    def server_alive(self) -> bool:
        """True if the server answered a heartbeat within ``server_timeout_s``."""
        seen = self.server_last_seen
        return seen is not None and time.monotonic() - seen < self.config.server_timeout_s

    @property
    def offset(self) -> OffsetEstimate | None:
        """The latest clock-offset estimate (session clock - this machine's monotonic clock)."""
        return self.clock.current

    def sync_clock(self) -> None:
        """Start a probe burst now (also done every ``clock_sync_interval_s``)."""
        self._sync_now = True
        self._wake()

    def close(self) -> None:
        """Stop the I/O thread; unanswered commands fail with TransportError."""
        if self._running:
            self._running = False
            self._wake()
            self._thread.join(5.0)
        self._wakeup.close()
        self._ctx.term()

    def __enter__(self) -> CommandClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- I/O thread

    def _wake(self) -> None:
        self._wakeup.wake()

    def _close_sockets(self) -> None:
        for sock in self._sockets.values():
            sock.close(linger=0)

    def _send(self, channel: str, frames: list[wire.Buffer]) -> None:
        try:
            self._sockets[channel].send_multipart(frames, flags=zmq.NOBLOCK)
        except zmq.Again:
            pass  # nobody connected yet: the retry timer sends it again
        except zmq.ZMQError as exc:
            log.warning("send on %s channel failed: %s", channel, exc)

    def _frames(self, body: Any) -> list[wire.Buffer]:
        self._seq += 1
        return wire.encode_body(body, session=self.info.session_id, seq=self._seq,
                                t_session_ns=time.monotonic_ns(), t_wall_ns=time.time_ns())

    def _run(self) -> None:
        poller = zmq.Poller()
        for sock in self._sockets.values():
            poller.register(sock, zmq.POLLIN)
        poller.register(self._wakeup, zmq.POLLIN)
        next_beat = 0.0
        next_sync = time.monotonic() + 0.05
        try:
            while self._running:
                try:
                    next_beat, next_sync = self._turn(poller, next_beat, next_sync)
                except Exception:  # the link must outlive any one bad request or reply
                    log.exception("error in the command client's I/O loop")
        finally:
            for pending in self._pending.values():
                _fail(pending.future, TransportError("the command client closed"))
            while self._requests:
                _fail(self._requests.popleft()[2], TransportError("the command client closed"))
            self._close_sockets()

    def _turn(self, poller: zmq.Poller, next_beat: float, next_sync: float) -> tuple[float, float]:
        """One pass of the I/O loop; returns the next heartbeat and clock-sync times."""
        ready = dict(poller.poll(timeout=20))
        if ready.get(self._wakeup.fileno()):
            self._wakeup.drain()
        now = time.monotonic()
        if self._sync_now:
            self._sync_now = False
            next_sync = now
        while self._requests:
            channel, body, future, timeout, retries = self._requests.popleft()
            if not future.set_running_or_notify_cancel():
                continue  # cancelled by the caller before it was sent
            try:
                frames = self._frames(body)
            except Exception as exc:  # cannot be encoded: fail this request, not the link
                future.set_exception(exc)
                continue
            self._pending[body.id] = _Pending(frames, channel, now + timeout, retries, future,
                                              timeout)
            self._send(channel, frames)
        for channel, sock in self._sockets.items():
            if ready.get(sock):
                self._receive(sock, channel)
        now = time.monotonic()
        self._expire(now)
        if self.config.heartbeats and now >= next_beat:
            next_beat = now + self.config.heartbeat_interval_s
            self._send("control", self._frames(Heartbeat(role="console")))
        if (self.config.clock_sync and now >= next_sync and self._burst_left == 0
                and self._probe_sent is None):
            next_sync = now + self.config.clock_sync_interval_s
            self._burst_left = self.config.probes_per_burst
            self._next_probe(now)
        elif self._probe_sent is not None and now > self._probe_sent[2]:
            self._probe_sent = None  # lost probe: go on with the burst
            self._next_probe(now)
        return next_beat, next_sync

    def _receive(self, sock: zmq.Socket[bytes], channel: str) -> None:
        while True:
            try:
                frames = sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            t3 = time.monotonic_ns()
            try:
                _, message = wire.decode(frames)
            except ProtocolError as exc:
                log.warning("unreadable reply on %s channel: %s", channel, exc)
                continue
            body = message.body
            if isinstance(body, Heartbeat):
                self.server_last_seen = time.monotonic()
                self.server_state = body.state
            elif isinstance(body, ClockReply):
                self._on_probe(body, t3)
            elif isinstance(body, Ack | ErrorReply):
                self.server_last_seen = time.monotonic()
                self._resolve(body)

    def _resolve(self, body: Ack | ErrorReply) -> None:
        if body.id is None:
            log.warning("server error: %s: %s", body.code if isinstance(body, ErrorReply)
                        else "", getattr(body, "message", ""))
            if isinstance(body, ErrorReply):
                self.errors_without_id.append(body)
            return
        pending = self._pending.pop(body.id, None)
        if pending is None or pending.future.done():
            return  # the answer to a retry that was already answered
        if isinstance(body, Ack):
            pending.future.set_result(body)
        else:
            _fail(pending.future, CommandFailed(body.code, body.message, body.id))

    def _expire(self, now: float) -> None:
        for command_id, pending in list(self._pending.items()):
            if now < pending.deadline:
                continue
            if pending.attempts_left <= 0:
                del self._pending[command_id]
                _fail(pending.future, CommandTimeout(
                    f"no answer to command {command_id} on the {pending.channel} channel after "
                    f"{pending.tries} tries of {pending.timeout:g} s"))
                continue
            pending.attempts_left -= 1
            pending.tries += 1
            pending.deadline = now + pending.timeout
            self._send(pending.channel, pending.frames)  # same id: applied once at most

    def _next_probe(self, now: float) -> None:
        if self._burst_left <= 0:
            estimate = self.clock.finish_burst()
            if estimate is not None and self.config.report_clock_offsets:
                # Queued like any command; the loop sends it on its next turn.
                self.submit(ClockOffset(offset_ns=estimate.offset_ns, rtt_ns=estimate.rtt_ns,
                                        probes=estimate.probes,
                                        t_console_ns=estimate.t_console_ns))
            return
        self._burst_left -= 1
        self._probe_id += 1
        t0 = time.monotonic_ns()
        self._probe_sent = (self._probe_id, t0, now + self.config.probe_timeout_s)
        self._send("control", self._frames(ClockProbe(probe_id=self._probe_id, t0_ns=t0)))

    def _on_probe(self, reply: ClockReply, t3: int) -> None:
        if self._probe_sent is None or reply.probe_id != self._probe_sent[0]:
            return  # a late answer to a probe we gave up on
        self.clock.add(ProbeResult(reply.t0_ns, reply.t1_ns, reply.t2_ns, t3))
        self._probe_sent = None
        self._next_probe(time.monotonic())
