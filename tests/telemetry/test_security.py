"""CurveZMQ: authorised consoles get everything, others nothing; the loopback rule."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import zmq.auth

from telemetry import commands as c
from telemetry.client import ClientConfig, CommandClient
from telemetry.clock import SessionClock
from telemetry.connection import ConnectionInfo
from telemetry.errors import CommandTimeout, InsecureBindError, TransportError
from telemetry.schemas import Annotation, Event
from telemetry.security import KeyPair, KeyStore, check_bind_allowed, is_local_endpoint
from telemetry.server import ServerConfig, ServerTransport
from telemetry.subscriber import Subscriber
from tests.conftest import Applier


@pytest.fixture
def curve_server(tmp_path: Path) -> Iterator[ServerTransport]:
    server = ServerTransport(ServerConfig(session_id="s1", curve=True, data_dir=tmp_path),
                             SessionClock())
    server.start()
    yield server
    server.close()


def _stranger(tmp_path: Path) -> KeyPair:
    tmp_path.mkdir(parents=True, exist_ok=True)
    _public_file, secret_file = zmq.auth.create_certificates(str(tmp_path), "stranger")
    public, secret = zmq.auth.load_certificate(secret_file)
    return KeyPair(public, secret)


def _publish_events(
    server: ServerTransport, subscriber: Subscriber, seconds: float
) -> list[object]:
    received: list[object] = []
    deadline = time.monotonic() + seconds
    seq = 0
    while time.monotonic() < deadline:
        server.publish("evt", Event(event=Annotation(text="secret")), seq=seq)
        seq += 1
        received += subscriber.recv_many(timeout_ms=50)
    return received


def test_authorised_console_receives_and_commands(curve_server: ServerTransport,
                                                  tmp_path: Path) -> None:
    info = curve_server.connection
    assert info is not None and info.server_public_key
    keys = KeyStore(tmp_path).console()  # the local console is authorised on creation
    app = Applier(curve_server).start()
    subscriber = Subscriber(info, keys=keys, topics=("evt.",))
    try:
        assert _publish_events(curve_server, subscriber, 1.0)
        with CommandClient(info, keys=keys) as client:
            assert client.request(c.Annotate(text="hi")).id
    finally:
        subscriber.close()
        app.stop()


def test_unauthorised_console_gets_nothing_and_commands_nothing(
    curve_server: ServerTransport, tmp_path: Path,
) -> None:
    info = curve_server.connection
    assert info is not None
    stranger = _stranger(tmp_path / "elsewhere")
    app = Applier(curve_server).start()
    subscriber = Subscriber(info, keys=stranger, topics=("",))
    try:
        assert _publish_events(curve_server, subscriber, 1.0) == []
        config = ClientConfig(timeout_s=0.2, retries=1, report_clock_offsets=False)
        with CommandClient(info, keys=stranger, config=config) as client, \
                pytest.raises(CommandTimeout):
            client.request(c.Stop())
        assert app.applied == []
    finally:
        subscriber.close()
        app.stop()


def test_console_without_keys_cannot_talk_to_a_curve_server(
    curve_server: ServerTransport,
) -> None:
    assert curve_server.connection is not None
    with pytest.raises(TransportError, match="requires CurveZMQ"):
        CommandClient(curve_server.connection)


def test_authorising_a_key_lets_that_console_in(curve_server: ServerTransport,
                                                tmp_path: Path) -> None:
    info = curve_server.connection
    assert info is not None
    other = tmp_path / "other"
    other.mkdir()
    public_file, _ = zmq.auth.create_certificates(str(other), "clinic-laptop")
    public, secret = zmq.auth.load_certificate(str(other / "clinic-laptop.key_secret"))
    laptop = KeyPair(public, secret)
    app = Applier(curve_server).start()
    try:
        quick = ClientConfig(timeout_s=0.3, retries=0, report_clock_offsets=False)
        with CommandClient(info, keys=laptop, config=quick) as client, \
                pytest.raises(CommandTimeout):
            client.request(c.Annotate(text="not yet"))
        # Authorised while the server runs: no restart needed.
        KeyStore(tmp_path).authorize(Path(public_file))
        time.sleep(1.5)  # the server rereads the folder on its heartbeat tick
        with CommandClient(info, keys=laptop) as client:
            assert client.request(c.Annotate(text="hello")).id
    finally:
        app.stop()


def test_non_loopback_bind_without_curve_is_refused(tmp_path: Path) -> None:
    for host in ("0.0.0.0", "192.0.2.10", "::", "clinic-server.example"):
        server = ServerTransport(ServerConfig(session_id="s1", host=host, curve=False,
                                              data_dir=tmp_path), SessionClock())
        with pytest.raises(InsecureBindError, match="--curve"):
            server.start()
        server.close()
    check_bind_allowed("127.0.0.1", curve=False)
    check_bind_allowed("::1", curve=False)
    check_bind_allowed("localhost", curve=False)


def test_wildcard_binds_advertise_a_connectable_host(tmp_path: Path) -> None:
    server = ServerTransport(ServerConfig(session_id="s1", advertise_host="localhost",
                                          data_dir=tmp_path), SessionClock())
    info = server.start()
    try:
        assert info.command.startswith("tcp://localhost:")
        app = Applier(server).start()
        with CommandClient(info) as client:
            assert client.request(c.Annotate(text="via the advertised name")).id
        app.stop()
    finally:
        server.close()


def test_endpoint_locality() -> None:
    assert is_local_endpoint("tcp://127.0.0.1:5555")
    assert is_local_endpoint("tcp://[::1]:5555")
    assert is_local_endpoint("ipc:///run/vret/s1-pub")
    assert not is_local_endpoint("tcp://10.0.0.5:5555")


def test_secret_keys_and_connection_files_are_private(tmp_path: Path) -> None:
    keys = KeyStore(tmp_path)
    keys.server()
    mode = stat.S_IMODE(os.stat(keys.dir / "server.key_secret").st_mode)
    assert mode & 0o077 == 0
    info = ConnectionInfo(session_id="s1", pub="tcp://127.0.0.1:1", command="tcp://127.0.0.1:2",
                          control="tcp://127.0.0.1:3")
    from telemetry.store import SessionStore

    SessionStore.in_dir(tmp_path / "store").close()
    assert stat.S_IMODE(os.stat(tmp_path / "store" / "vret.sqlite3").st_mode) == 0o600
    path = info.write(tmp_path / "conn" / "s1.json")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert ConnectionInfo.read(path) == info


def test_bad_connection_files_say_what_is_wrong(tmp_path: Path) -> None:
    from telemetry.errors import ConnectionFileError

    with pytest.raises(ConnectionFileError, match="cannot read"):
        ConnectionInfo.read(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"session_id": "s1"}')
    with pytest.raises(ConnectionFileError, match="not a vret connection file"):
        ConnectionInfo.read(bad)


def test_authorising_keeps_every_console_and_refuses_secrets(tmp_path: Path) -> None:
    keys = KeyStore(tmp_path / "server")
    targets = []
    for name in ("a", "b"):
        folder = tmp_path / name
        folder.mkdir()
        public_file, secret_file = zmq.auth.create_certificates(str(folder), "console")
        targets.append(keys.authorize(Path(public_file)))
        with pytest.raises(TransportError, match="secret key"):
            keys.authorize(Path(secret_file))
    assert len(set(targets)) == 2 and all(t.suffix == ".key" for t in targets)
    assert len(list(keys.authorized_dir.glob("*.key"))) == 2
    with pytest.raises(TransportError, match="not a Curve public key"):
        keys.authorize(tmp_path / "missing.key")
