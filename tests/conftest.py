"""Fixtures shared by the whole suite: real sockets, real SQLite files, real processes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import zmq

from telemetry import wire
from telemetry.clock import SessionClock
from telemetry.connection import ConnectionInfo
from telemetry.schemas import Command, Envelope, Message
from telemetry.server import IncomingCommand, ServerConfig, ServerTransport
from vr_server.engine import DisplayConfig, Engine, current

ENGINE_SIZE = (320, 180)


@pytest.fixture(scope="session")
def engine() -> Engine:
    """The process's offscreen engine (Panda3D allows one per process): real rendering, EGL,
    llvmpipe without a GPU. Tests that need another display mode run a process of their own."""
    return current(DisplayConfig(mode="offscreen", size=ENGINE_SIZE, shading="pbr"))


@dataclass
class Applier:
    """A stand-in application: applies every command it is handed, optionally slowly."""

    transport: ServerTransport
    delay_s: float = 0.0
    applied: list[IncomingCommand] = field(default_factory=list)
    handler: Callable[[IncomingCommand], None] | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> Applier:
        threading.Thread(target=self._run, daemon=True).start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            command = self.transport.next_command(timeout=0.02)
            if command is None:
                continue
            self.applied.append(command)
            if self.delay_s:
                time.sleep(self.delay_s)
            if self.handler is not None:
                self.handler(command)
            else:
                self.transport.ack(command, frame=len(self.applied), result={"name": command.name})

    def stop(self) -> None:
        self._stop.set()


@pytest.fixture(params=["tcp", "ipc"])
def transport(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerTransport]:
    """A started server transport on tcp loopback and on ipc."""
    host = "127.0.0.1" if request.param == "tcp" else "ipc"
    server = ServerTransport(
        ServerConfig(session_id="s1", host=host, ipc_dir=tmp_path / "ipc", data_dir=tmp_path,
                     console_timeout_s=1.0, heartbeat_interval_s=0.2),
        SessionClock())
    server.start()
    yield server
    server.close()


@pytest.fixture
def applier(transport: ServerTransport) -> Iterator[Applier]:
    """An application thread acking every command of ``transport``."""
    app = Applier(transport).start()
    yield app
    app.stop()


@pytest.fixture
def info(transport: ServerTransport) -> ConnectionInfo:
    """The connection info of ``transport``."""
    assert transport.connection is not None
    return transport.connection


class RawPeer:
    """A bare DEALER that can send anything at all to a channel."""

    def __init__(self, endpoint: str, identity: bytes = b"raw") -> None:
        self.ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.linger = 0
        self.sock.routing_id = identity
        self.sock.connect(endpoint)

    def send(self, frames: list[bytes]) -> None:
        self.sock.send_multipart(frames)

    def command(self, name: str, command_id: str, session: str = "s1", **args: object) -> None:
        message = Message(env=Envelope(session=session, seq=0, t_session_ns=0, t_wall_ns=0),
                          body=Command(id=command_id, name=name, args=args))  # type: ignore[arg-type]
        self.send([bytes(f) for f in wire.encode(message)])

    def replies(self, timeout_s: float = 2.0, until: int = 1) -> list[Message]:
        out: list[Message] = []
        deadline = time.monotonic() + timeout_s
        while len(out) < until and time.monotonic() < deadline:
            if self.sock.poll(50):
                out.append(wire.decode(self.sock.recv_multipart())[1])
        return out

    def close(self) -> None:
        self.sock.close()
        self.ctx.term()


@pytest.fixture
def raw_peers() -> Iterator[Callable[..., RawPeer]]:
    """Factory of raw DEALER peers, closed after the test."""
    made: list[RawPeer] = []

    def make(endpoint: str, identity: bytes = b"raw") -> RawPeer:
        peer = RawPeer(endpoint, identity)
        made.append(peer)
        return peer

    yield make
    for peer in made:
        peer.close()
