"""The transport on real ZeroMQ sockets (tcp loopback and ipc): commands, replies, bad input."""

from __future__ import annotations

import time
from collections.abc import Callable

import msgpack
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telemetry import commands as c
from telemetry.client import ClientConfig, CommandClient
from telemetry.connection import ConnectionInfo
from telemetry.errors import CommandFailed, CommandTimeout
from telemetry.schemas import (
    Ack,
    Annotation,
    ErrorReply,
    Event,
    Heartbeat,
    SampleBatch,
    Samples,
)
from telemetry.server import ServerTransport
from telemetry.subscriber import Subscriber
from tests.conftest import Applier, RawPeer


def test_command_gets_an_ack_with_frame_and_time(info: ConnectionInfo, applier: Applier) -> None:
    with CommandClient(info) as client:
        ack = client.request(c.SetLevel(rung=2, intensity=0.5))
    assert ack.result == {"name": "set_level"}
    assert ack.frame == 1 and ack.t_applied_ns > 0
    assert applier.applied[0].args == c.SetLevel(rung=2, intensity=0.5)


def test_error_reply_says_why(transport: ServerTransport, info: ConnectionInfo) -> None:
    app = Applier(transport, handler=lambda cmd: transport.reject(
        cmd, "out_of_range", "rung 12 is out of range")).start()
    try:
        with CommandClient(info) as client, pytest.raises(CommandFailed) as failed:
            client.request(c.SetLevel(rung=12))
        assert failed.value.code == "out_of_range"
        assert "rung 12" in failed.value.message
    finally:
        app.stop()


def test_unknown_command_and_bad_args_are_answered_by_the_server(
    info: ConnectionInfo, applier: Applier,
) -> None:
    with CommandClient(info) as client:
        with pytest.raises(CommandFailed, match="unknown command 'levitate'") as unknown:
            client.request("levitate", {"height": 3})
        assert unknown.value.code == "unknown_command"
        with pytest.raises(CommandFailed, match="intensity") as invalid:
            client.request("set_level", {"rung": 1, "intensity": 7.0})
        assert invalid.value.code == "invalid"
        with pytest.raises(CommandFailed, match="colour") as extra:
            client.request("stop", {"colour": "red"})
        assert extra.value.code == "invalid"
    # Nothing invalid reached the application (only the client's clock-offset reports did).
    assert {cmd.name for cmd in applier.applied} <= {"clock_offset"}


def test_commands_are_applied_once_under_retries(
    transport: ServerTransport, info: ConnectionInfo,
) -> None:
    # The application takes longer than the client's timeout, so the client retries the same
    # id several times before the first ack arrives.
    app = Applier(transport, delay_s=0.35).start()
    try:
        config = ClientConfig(timeout_s=0.1, retries=6)
        with CommandClient(info, config=config) as client:
            ack = client.request(c.Annotate(text="once"))
            second = client.request(c.Annotate(text="twice"))
        # (the client's own clock-offset reports are applied too; count only ours)
        assert [cmd.id for cmd in app.applied if cmd.name == "annotate"] == [ack.id, second.id]
        assert transport.stats.duplicates >= 2
    finally:
        app.stop()


def test_repeated_id_gets_the_first_answer_marked_duplicate(
    info: ConnectionInfo, applier: Applier, raw_peers: Callable[..., RawPeer],
) -> None:
    peer = raw_peers(info.command)
    peer.command("annotate", "same-id", text="first")
    first = peer.replies()[0].body
    peer.command("annotate", "same-id", text="first")
    again = peer.replies()[0].body
    assert isinstance(first, Ack) and isinstance(again, Ack)
    assert not first.duplicate and again.duplicate
    assert again.t_applied_ns == first.t_applied_ns
    assert [cmd.id for cmd in applier.applied] == ["same-id"]


def test_timeout_after_every_retry(tmp_path: object) -> None:
    # A connection file pointing at ports nobody serves: the client must give up cleanly.
    info = ConnectionInfo(session_id="s1", pub="tcp://127.0.0.1:9", command="tcp://127.0.0.1:9",
                          control="tcp://127.0.0.1:9")
    with CommandClient(info, config=ClientConfig(timeout_s=0.05, retries=2)) as client, \
            pytest.raises(CommandTimeout, match="after 3 tries"):
        client.request(c.Stop())


def test_control_commands_only_on_control_channel(
    info: ConnectionInfo, applier: Applier, raw_peers: Callable[..., RawPeer],
) -> None:
    peer = raw_peers(info.control)
    peer.command("set_level", "x1", rung=1)
    reply = peer.replies()[0].body
    assert isinstance(reply, ErrorReply) and reply.code == "not_allowed"
    assert "command channel" in reply.message
    # ...but a stop sent on the command channel is still honoured: stop always works.
    cmd_peer = raw_peers(info.command, b"other")
    cmd_peer.command("stop", "x2")
    assert isinstance(cmd_peer.replies()[0].body, Ack)


def test_stop_overtakes_a_queue_of_commands(
    transport: ServerTransport, info: ConnectionInfo, raw_peers: Callable[..., RawPeer],
) -> None:
    peer = raw_peers(info.command)
    for i in range(150):
        peer.command("annotate", f"a{i}", text="busy")
    time.sleep(0.3)  # let them queue; no application is running yet
    with CommandClient(info) as client:
        future = client.submit(c.Stop(reason="panic"))
        time.sleep(0.3)
        first = transport.next_command(timeout=1.0)
        assert first is not None and first.name == "stop"
        transport.ack(first)
        assert future.result(timeout=2).id == first.id


def test_heartbeats_both_ways(transport: ServerTransport, info: ConnectionInfo) -> None:
    transport.state = "exposure"
    with CommandClient(info, config=ClientConfig(heartbeat_interval_s=0.1)) as client:
        deadline = time.monotonic() + 3
        while not client.server_alive and time.monotonic() < deadline:
            time.sleep(0.02)
        assert client.server_alive and client.server_state == "exposure"
        assert transport.consoles_alive == 1
    # The console is gone: after the timeout the server notices and says so.
    deadline = time.monotonic() + 4
    while transport.consoles_alive and time.monotonic() < deadline:
        time.sleep(0.05)
    assert transport.consoles_alive == 0
    assert [(change, alive) for change, _, alive in transport.console_changes] == [
        ("connected", 1), ("lost", 0)]


def test_subscriber_receives_batches_events_and_server_heartbeats(
    transport: ServerTransport, info: ConnectionInfo,
) -> None:
    subscriber = Subscriber(info)
    try:
        time.sleep(0.3)  # slow joiner: a SUB only gets what is published after it joined
        batch = SampleBatch(stream="eda", timestamps_ns=np.arange(4, dtype=np.int64),
                            values=np.ones((4, 1), np.float32))
        transport.publish("tel", Samples(batches=(batch,)))
        transport.publish("evt", Event(event=Annotation(text="hello")), seq=0)
        got: dict[bytes, object] = {}
        deadline = time.monotonic() + 3
        while len(got) < 3 and time.monotonic() < deadline:
            for topic, message in subscriber.recv_many(timeout_ms=50):
                got.setdefault(topic, message.body)
        assert got[b"tel.s1"] == Samples(batches=(batch,))
        assert got[b"evt.s1"] == Event(event=Annotation(text="hello"))
        assert isinstance(got[b"hb.s1"], Heartbeat)
        assert subscriber.lost == 0
    finally:
        subscriber.close()


def test_subscriber_counts_sequence_gaps(transport: ServerTransport, info: ConnectionInfo) -> None:
    subscriber = Subscriber(info, topics=("evt.",))
    try:
        time.sleep(0.3)
        for seq in (0, 1, 5, 6):  # 2, 3 and 4 never sent: three lost
            transport.publish("evt", Event(event=Annotation(text=str(seq))), seq=seq)
        received = []
        deadline = time.monotonic() + 3
        while len(received) < 4 and time.monotonic() < deadline:
            received += subscriber.recv_many(timeout_ms=50)
        assert len(received) == 4
        assert subscriber.lost == 3
    finally:
        subscriber.close()


# ---------------------------------------------------------------------------- bad input

def _still_serving(info: ConnectionInfo) -> None:
    with CommandClient(info, console_id="good") as client:
        assert client.request(c.Annotate(text="still here")).id


def _error(peer: RawPeer) -> ErrorReply:
    replies = peer.replies()
    assert replies, "the server sent no error reply"
    body = replies[0].body
    assert isinstance(body, ErrorReply)
    return body


@pytest.mark.parametrize(
    ("frames", "code"),
    [
        ([b"\xc1"], "malformed"),                              # never-valid msgpack byte
        ([b""], "malformed"),                                  # empty frame
        ([msgpack.packb([1, 2, 3])], "malformed"),             # not a map
        ([msgpack.packb({"env": {"v": 1}})], "malformed"),     # missing body
        ([msgpack.packb({"env": {"v": 2}, "body": {"type": "command", "id": "i"}})],
         "unsupported_version"),
        ([msgpack.packb({"env": {"v": 1}, "body": {"type": "nope"}})], "unknown_type"),
        ([msgpack.packb({"env": {"v": 1, "session": "s1", "seq": 0, "t_session_ns": 0,
                                 "t_wall_ns": 0},
                         "body": {"type": "command", "id": 42, "name": "stop"}})], "invalid"),
        ([b"x" * 70_000], "too_large"),
    ],
)
def test_bad_input_gets_an_error_reply_and_server_keeps_serving(
    info: ConnectionInfo, applier: Applier, raw_peers: Callable[..., RawPeer],
    frames: list[bytes], code: str,
) -> None:
    peer = raw_peers(info.command)
    peer.send(frames)
    assert _error(peer).code == code
    _still_serving(info)


def test_wrong_session_is_refused_naming_the_command(
    info: ConnectionInfo, raw_peers: Callable[..., RawPeer],
) -> None:
    peer = raw_peers(info.command)
    peer.command("stop", "w1", session="someone-else")
    error = _error(peer)
    assert error.code == "invalid" and "someone-else" in error.message
    assert error.id == "w1"  # so the sender fails at once instead of timing out


def test_a_refused_channel_mistake_can_be_retried_with_the_same_id(
    info: ConnectionInfo, applier: Applier, raw_peers: Callable[..., RawPeer],
) -> None:
    control = raw_peers(info.control)
    control.command("annotate", "fix-me", text="wrong channel")
    assert _error(control).code == "not_allowed"
    command = raw_peers(info.command, b"same-console")
    command.command("annotate", "fix-me", text="right channel")
    assert isinstance(command.replies()[0].body, Ack)


def test_per_call_timeout_applies_to_every_retry(tmp_path: object) -> None:
    info = ConnectionInfo(session_id="s1", pub="tcp://127.0.0.1:9", command="tcp://127.0.0.1:9",
                          control="tcp://127.0.0.1:9")
    with CommandClient(info, config=ClientConfig(timeout_s=5.0, retries=5)) as client:
        started = time.monotonic()
        with pytest.raises(CommandTimeout, match=r"after 3 tries of 0\.1 s"):
            client.request(c.Annotate(text="x"), timeout=0.1, retries=2)
        assert time.monotonic() - started < 2.0


def test_truncated_multipart_and_zero_frames(
    info: ConnectionInfo, applier: Applier, raw_peers: Callable[..., RawPeer],
) -> None:
    peer = raw_peers(info.command)
    header = msgpack.packb({"env": {"v": 1, "session": "s1", "seq": 0, "t_session_ns": 0,
                                    "t_wall_ns": 0},
                            "body": {"type": "command", "id": "t1", "name": "stop", "args": {}}})
    peer.send([header[: len(header) // 2]])
    assert _error(peer).code == "malformed"
    peer.send([header, b"stray frame"])
    error = _error(peer)
    assert error.code == "malformed" and "expected 1 frames" in error.message
    _still_serving(info)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.binary(max_size=200), min_size=1, max_size=4))
def test_random_frames_never_hurt_the_server(frames: list[bytes]) -> None:
    server = _shared_server()
    peer = RawPeer(server.connection.command, b"fuzz")  # type: ignore[union-attr]
    try:
        peer.send(frames)
        replies = peer.replies(timeout_s=1.0)
        assert len(replies) == 1 and isinstance(replies[0].body, ErrorReply)
    finally:
        peer.close()
    assert server._thread is not None and server._thread.is_alive()


_SHARED: list[ServerTransport] = []


def _shared_server() -> ServerTransport:
    # Hypothesis re-runs the body many times; one server for all examples keeps it fast.
    if not _SHARED:
        from telemetry.clock import SessionClock
        from telemetry.server import ServerConfig
        server = ServerTransport(ServerConfig(session_id="s1", commands_per_second=10_000,
                                              command_burst=10_000), SessionClock())
        server.start()
        _SHARED.append(server)
    return _SHARED[0]


@pytest.fixture(scope="module", autouse=True)
def _close_shared() -> object:
    yield None
    while _SHARED:
        _SHARED.pop().close()


def test_a_flood_is_dropped_counted_and_others_are_served(
    transport: ServerTransport, info: ConnectionInfo, applier: Applier,
    raw_peers: Callable[..., RawPeer], caplog: pytest.LogCaptureFixture,
) -> None:
    flooder = raw_peers(info.command, b"flooder")
    for i in range(3000):
        flooder.command("annotate", f"f{i}", text="spam")
    time.sleep(0.5)
    _still_serving(info)
    assert transport.stats.dropped_flood > 0
    assert len(applier.applied) < 3000
    rate_limited = [m for m in flooder.replies(timeout_s=1.0, until=3000)
                    if isinstance(m.body, ErrorReply) and m.body.code == "rate_limited"]
    assert rate_limited, "the flooder was never told why"
    # Logged once per kind, not once per message.
    assert sum("rate_limited" in r.getMessage() for r in caplog.records) == 1


def test_inventing_routing_ids_cannot_grow_the_console_table(
    tmp_path: object, raw_peers: Callable[..., RawPeer],
) -> None:
    from telemetry.clock import SessionClock
    from telemetry.server import ServerConfig
    from telemetry.wire import encode_body

    server = ServerTransport(ServerConfig(session_id="s1", max_consoles=8), SessionClock())
    info = server.start()
    try:
        heartbeat = [bytes(f) for f in encode_body(
            Heartbeat(role="console"), session="s1", seq=0, t_session_ns=0, t_wall_ns=0)]
        for i in range(40):
            peer = raw_peers(info.control, f"churn-{i}".encode())
            peer.send(heartbeat)
            assert peer.replies()  # every peer is still answered...
        assert len(server.consoles) == 8  # ...but only so many are tracked
        assert server.stats.rejected["too_many_consoles"] > 0
    finally:
        server.close()


def test_a_message_of_many_frames_is_refused_cheaply(
    info: ConnectionInfo, applier: Applier, raw_peers: Callable[..., RawPeer],
) -> None:
    peer = raw_peers(info.command)
    peer.send([b"x" * 1000] * 500)
    error = _error(peer)
    assert error.code == "malformed" and "expected 1 frames" in error.message
    _still_serving(info)


def test_client_survives_bad_arguments_and_cancelled_requests(
    info: ConnectionInfo, applier: Applier,
) -> None:
    from pydantic import ValidationError

    with CommandClient(info, config=ClientConfig(timeout_s=0.1, retries=1)) as client:
        with pytest.raises(ValidationError):  # raised to the caller, not in the I/O thread
            client.submit("annotate", {"text": "x", "n": 2**2000})
        cancelled = client.submit(c.Annotate(text="never mind"))
        cancelled.cancel()
        time.sleep(0.5)  # past the retries of whatever was sent
        assert client.request(c.Annotate(text="still linked")).id
        assert client._thread.is_alive()


def test_ipv6_loopback_works_end_to_end() -> None:
    from telemetry.clock import SessionClock
    from telemetry.server import ServerConfig

    server = ServerTransport(ServerConfig(session_id="s1", host="::1"), SessionClock())
    info = server.start()
    app = Applier(server).start()
    try:
        assert info.command.startswith("tcp://[::1]:")
        with CommandClient(info) as client:
            assert client.request(c.Annotate(text="over IPv6")).id
        subscriber = Subscriber(info, topics=("hb.",))
        try:
            deadline = time.monotonic() + 3
            got = []
            while not got and time.monotonic() < deadline:
                got = subscriber.recv_many(100)
            assert got and isinstance(got[0][1].body, Heartbeat)
        finally:
            subscriber.close()
    finally:
        app.stop()
        server.close()
