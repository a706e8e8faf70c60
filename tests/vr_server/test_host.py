"""The session host end to end in one process: real sockets, real store, real frame loop."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from telemetry import commands as c
from telemetry.client import ClientConfig, CommandClient
from telemetry.connection import ConnectionInfo
from telemetry.errors import CommandFailed
from telemetry.schemas import Event, Samples
from telemetry.store import SessionStore
from telemetry.subscriber import Subscriber
from vr_server.host import HostConfig, SessionHost


@pytest.fixture
def host(tmp_path: Path) -> Iterator[SessionHost]:
    # A short console timeout so the loss test does not wait long.
    session_host = SessionHost(HostConfig(data_dir=tmp_path, session_id="s-test", rungs=5,
                                          console_timeout_s=1.0))
    session_host.start()
    runner = threading.Thread(target=session_host.run, daemon=True)
    runner.start()
    yield session_host
    session_host.stop_requested.set()
    runner.join(5)
    session_host.close()


def _info(host: SessionHost) -> ConnectionInfo:
    assert host.connection_file is not None
    return ConnectionInfo.read(host.connection_file)


def test_commands_change_the_session_and_are_recorded_in_order(host: SessionHost) -> None:
    info = _info(host)
    subscriber = Subscriber(info, topics=("evt.",))
    try:
        with CommandClient(info) as client:
            client.request(c.Start())
            ack = client.request(c.Start())
            assert ack.result["state"] == "exposure"
            level = client.request(c.SetLevel(rung=2, intensity=0.25))
            with pytest.raises(CommandFailed, match="out of range"):
                client.request(c.SetLevel(rung=9))
            asked = client.request(c.AskCheckIn(instrument="suds"))
            assert asked.result["checkin_id"] == "checkin-1"
            stop = client.request(c.Stop(reason="client pressed stop"))
            assert stop.result["state"] == "safe_hold"
            assert level.frame is not None and stop.frame is not None and stop.frame > level.frame
        events: list[Event] = []
        deadline = time.monotonic() + 3
        while len(events) < 6 and time.monotonic() < deadline:
            events += [m.body for _, m in subscriber.recv_many(50)
                       if isinstance(m.body, Event)]
    finally:
        subscriber.close()
    with SessionStore.in_dir(host.config.data_dir) as store:
        logged = [e.body.kind for e in store.events("s-test")]
        # start, start, check-in asked (exposure -> check_in), stop
        assert logged.count("state_change") == 4 and "level_change" in logged
        seqs = [e.seq for e in store.events("s-test")]
        assert seqs == list(range(len(seqs)))
    assert [e.event.kind for e in events][-4:] == ["level_change", "state_change",
                                                   "checkin_asked", "state_change"]
    assert level.t_applied_ns <= stop.t_applied_ns


def test_samples_stream_at_their_nominal_rates(host: SessionHost) -> None:
    subscriber = Subscriber(_info(host), topics=("tel.",))
    counts: dict[str, int] = {}
    try:
        time.sleep(0.3)
        start = time.monotonic()
        while time.monotonic() - start < 2.0:
            for _, message in subscriber.recv_many(50):
                assert isinstance(message.body, Samples)
                for batch in message.body.batches:
                    counts[batch.stream] = counts.get(batch.stream, 0) + batch.n
        assert subscriber.lost == 0
    finally:
        subscriber.close()
    assert 800 <= counts["ecg"] <= 1200  # 500 Hz over ~2 s
    assert 150 <= counts["head_pose"] <= 230  # 90 Hz
    assert 190 <= counts["gaze"] <= 290  # 120 Hz


def test_losing_the_console_puts_the_session_on_safe_hold(host: SessionHost) -> None:
    config = ClientConfig(heartbeat_interval_s=0.2)
    with CommandClient(_info(host), config=config) as client:
        client.request(c.Start())
        client.request(c.Start())
        assert host.machine.state == "exposure"
    deadline = time.monotonic() + 5
    while host.machine.state != "safe_hold" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert host.machine.state == "safe_hold"
    time.sleep(0.2)
    with SessionStore.in_dir(host.config.data_dir) as store:
        kinds = [(e.body.kind, getattr(e.body, "code", None)) for e in store.events("s-test")]
    assert ("alert", "console_lost") in kinds


def test_close_ends_the_record_and_removes_the_connection_file(tmp_path: Path) -> None:
    host = SessionHost(HostConfig(data_dir=tmp_path, session_id="s-close"))
    host.start()
    assert host.connection_file is not None and host.connection_file.exists()
    host.run(duration_s=0.3)
    host.close()
    assert not host.connection_file.exists()
    with SessionStore.in_dir(tmp_path) as store:
        assert store.session("s-close").ended_wall_ns is not None
        last = store.events("s-close")[-1].body
        assert last.kind == "state_change" and last.to_state == "ended"
        assert len(store.samples("s-close", "ecg")[0]) > 50


def test_bad_ids_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="client id"):
        SessionHost(HostConfig(data_dir=tmp_path, client_id="Jane Doe"))


def test_a_failing_store_holds_the_session_safe_and_says_so(tmp_path: Path) -> None:
    host = SessionHost(HostConfig(data_dir=tmp_path, session_id="s-fail"))
    host.start()
    runner = threading.Thread(target=host.run, daemon=True)
    runner.start()
    try:
        with CommandClient(_info(host)) as client:
            client.request(c.Start())
            client.request(c.Start())
            assert host.machine.state == "exposure"
            # The disk goes away: every later write fails inside the recorder thread.
            assert host.recorder is not None

            def broken(*_args: object, **_kwargs: object) -> None:
                raise OSError("disk full")

            for store_cls in (SessionStore,):
                original = store_cls.write_batch
                store_cls.write_batch = broken  # type: ignore[method-assign,assignment]
            try:
                with pytest.raises(CommandFailed, match="could not record") as failed:
                    client.request(c.SetLevel(rung=1))
                assert failed.value.code == "internal"
                deadline = time.monotonic() + 3
                while host.machine.state != "safe_hold" and time.monotonic() < deadline:
                    time.sleep(0.02)
                assert host.machine.state == "safe_hold"
                assert not host.machine.stimulus_visible
                with pytest.raises(CommandFailed, match="session store is failing"):
                    client.request(c.Resume())
                assert client.request(c.Stop()).result["state"] == "safe_hold"
                assert host.recorder.failed is not None  # the writer thread lived on
            finally:
                SessionStore.write_batch = original  # type: ignore[method-assign]
    finally:
        host.stop_requested.set()
        runner.join(5)
        host.close()
