"""The session store on real SQLite files: round trips, append-only, versions, corruption,
and durability of acknowledged events when the writing process is killed."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from telemetry import commands as c
from telemetry.client import ClientConfig, CommandClient
from telemetry.clock import SessionClock
from telemetry.connection import ConnectionInfo
from telemetry.errors import (
    CommandFailed,
    CommandTimeout,
    StoreCorruptError,
    StoreError,
    StoreVersionError,
    TransportError,
)
from telemetry.recorder import RecordedEvent, Recorder
from telemetry.schemas import Annotation, LevelChange, SampleBatch
from telemetry.store import ClockOffsetRecord, SessionStore
from telemetry.streams import ECG, HEAD_POSE


def _store_with_session(path: Path) -> SessionStore:
    store = SessionStore.in_dir(path)
    store.create_session("s1", client_id="c-1", scenario="heights", settings={"rungs": 5})
    return store


def test_events_samples_and_offsets_round_trip(tmp_path: Path) -> None:
    with _store_with_session(tmp_path) as store:
        store.add_stream("s1", HEAD_POSE)
        ts = np.arange(5, dtype=np.int64) * 11_111_111
        values = np.random.default_rng(0).random((5, 7)).astype(np.float32)
        store.write_batch(
            [("s1", 0, 10, 20, "cmd-1", LevelChange(rung=1, intensity=0.5, previous_rung=0,
                                                    previous_intensity=0.0)),
             ("s1", 1, 11, 21, None, Annotation(text="note"))],
            [("s1", "head_pose", 0, ts[:3], values[:3]),
             ("s1", "head_pose", 1, ts[3:], values[3:])],
            [("s1", ClockOffsetRecord("console-a", 5, -7, 300, 8))],
        )
    with SessionStore.in_dir(tmp_path, create=False) as store:
        events = store.events("s1")
        assert [e.seq for e in events] == [0, 1]
        assert events[0].body == LevelChange(rung=1, intensity=0.5, previous_rung=0,
                                             previous_intensity=0.0)
        assert events[0].command_id == "cmd-1"
        assert store.event_for_command("s1", "cmd-1") == events[0]
        assert store.event_for_command("s1", "nope") is None
        assert [e.seq for e in store.events("s1", since_seq=0)] == [1]
        got_ts, got_values = store.samples("s1", "head_pose")
        np.testing.assert_array_equal(got_ts, ts)
        np.testing.assert_array_equal(got_values, values)
        assert store.streams("s1") == {"head_pose": HEAD_POSE}
        assert store.clock_offsets("s1") == [ClockOffsetRecord("console-a", 5, -7, 300, 8)]
        assert store.session("s1").settings == {"rungs": 5}
        empty_ts, empty_values = store.samples("s1", "missing")
        assert empty_ts.shape == (0,) and empty_values.shape == (0, 1)


def test_event_log_is_append_only(tmp_path: Path) -> None:
    with _store_with_session(tmp_path) as store:
        store.write_batch([("s1", 0, 1, 1, None, Annotation(text="kept"))], [])
        with pytest.raises(StoreError, match="append-only"), store.transaction() as db:
            db.execute("DELETE FROM events")
        with pytest.raises(StoreError, match="append-only"), store.transaction() as db:
            db.execute("UPDATE events SET body='{}'")
        with pytest.raises(StoreError, match="UNIQUE"):  # a sequence number is never reused
            store.write_batch([("s1", 0, 1, 1, None, Annotation(text="again"))], [])
        assert [e.body.text for e in store.events("s1")] == ["kept"]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _set_pragma(path: Path, pragma: str) -> str:
    """Set a pragma with plain sqlite3 (as another program would); returns the file's digest."""
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA {pragma}")
    db.close()
    return _digest(path)


def test_newer_store_is_refused_and_left_alone(tmp_path: Path) -> None:
    _store_with_session(tmp_path).close()
    path = tmp_path / "vret.sqlite3"
    before = _set_pragma(path, "user_version=99")
    with pytest.raises(StoreVersionError, match="schema version 99"):
        SessionStore(path)
    assert _digest(path) == before


def test_corrupt_store_gives_a_clear_error(tmp_path: Path) -> None:
    with _store_with_session(tmp_path) as store:
        store.add_stream("s1", ECG)
        for chunk in range(50):
            ts = np.arange(500, dtype=np.int64) + chunk * 500
            store.write_batch([], [("s1", "ecg", chunk, ts, np.ones((500, 1), np.float32))])
    path = tmp_path / "vret.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    data = bytearray(path.read_bytes())
    page = 4096
    data[3 * page: 6 * page] = os.urandom(3 * page)  # smash b-tree pages in the middle
    path.write_bytes(bytes(data))
    before = _digest(path)
    with pytest.raises(StoreCorruptError):
        SessionStore(path)
    assert _digest(path) == before


def test_foreign_files_are_not_taken_for_stores(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.sqlite3"
    garbage.write_bytes(b"this is not a database" * 200)
    with pytest.raises(StoreCorruptError, match="not a vret session store"):
        SessionStore(garbage)
    other = tmp_path / "other.sqlite3"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE t(x)")
    db.close()
    with pytest.raises(StoreCorruptError, match="not a vret session store"):
        SessionStore(other)
    with pytest.raises(StoreError, match="no session store"):
        SessionStore(tmp_path / "absent.sqlite3", create=False)
    tagged = tmp_path / "tagged.sqlite3"  # another program's database, still without tables
    before = _set_pragma(tagged, "application_id=42")
    with pytest.raises(StoreCorruptError, match="not a vret session store"):
        SessionStore(tagged)
    assert _digest(tagged) == before
    empty = tmp_path / "empty.sqlite3"
    empty.write_bytes(b"")
    with pytest.raises(StoreError, match="is empty"):
        SessionStore(empty, create=False)


def test_recorder_calls_back_only_after_commit(tmp_path: Path) -> None:
    _store_with_session(tmp_path).close()
    path = tmp_path / "vret.sqlite3"
    recorder = Recorder(path, "s1", SessionClock(), flush_interval_s=0.1)
    recorder.add_stream(ECG)
    seen: list[tuple[int, bool]] = []
    done = threading.Event()

    def durable(event: RecordedEvent, error: Exception | None) -> None:
        # At callback time another connection must already see the event on disk.
        with SessionStore(path) as reader:
            seen.append((event.seq, any(e.seq == event.seq for e in reader.events("s1"))))
        done.set()

    first = recorder.append_event(Annotation(text="a"))
    second = recorder.append_event(Annotation(text="b"), command_id="cmd", on_durable=durable)
    assert (first.seq, second.seq) == (0, 1)
    recorder.add_samples(SampleBatch(stream="ecg", timestamps_ns=np.arange(3, dtype=np.int64),
                                     values=np.zeros((3, 1), np.float32)))
    assert done.wait(5)
    assert seen == [(1, True)]
    recorder.close()
    with SessionStore(path) as store:
        assert len(store.samples("s1", "ecg")[0]) == 3
    with pytest.raises(StoreError, match="not declared"):
        recorder.add_samples(SampleBatch(stream="gaze", timestamps_ns=np.arange(1, dtype=np.int64),
                                         values=np.zeros((1, 6), np.float32)))


@pytest.mark.slow
def test_sigkill_mid_stream_loses_no_acknowledged_event(tmp_path: Path) -> None:
    """Kill the server with SIGKILL while commands and samples stream; reopen the store."""
    connection_file = tmp_path / "conn.json"
    server = subprocess.Popen(
        [sys.executable, "-m", "vret", "serve", "--display", "none", "--data-dir", str(tmp_path),
         "--session-id", "s-kill", "--connection-file", str(connection_file)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not connection_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        info = ConnectionInfo.read(connection_file)
        acked: list[tuple[str, int]] = []
        stop = threading.Event()

        def send_until_dead(client: CommandClient) -> None:
            i = 0
            while not stop.is_set():
                i += 1
                try:
                    ack = client.request(c.Annotate(text=f"note {i}"))
                    acked.append((ack.id, ack.t_applied_ns))
                except (CommandTimeout, CommandFailed, TransportError):
                    return

        config = ClientConfig(timeout_s=0.3, retries=1, report_clock_offsets=False)
        with CommandClient(info, config=config) as client:
            sender = threading.Thread(target=send_until_dead, args=(client,))
            sender.start()
            time.sleep(2.0)  # commands and samples streaming
            os.kill(server.pid, signal.SIGKILL)
            server.wait(10)
            stop.set()
            sender.join(10)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert len(acked) > 20, "the stream never got going"
    with SessionStore.in_dir(tmp_path, create=False) as store:  # opens cleanly after the kill
        stored = {e.command_id for e in store.events("s-kill")}
        missing = [command_id for command_id, _ in acked if command_id not in stored]
        assert missing == [], f"{len(missing)} acknowledged events lost"
        ts, _ = store.samples("s-kill", "ecg")
        last_ack_ns = max(t for _, t in acked)
        assert len(ts) > 0
        # Samples are committed in chunks at least every 0.5 s: at most ~1 s may be lost.
        assert ts[-1] >= last_ack_ns - 1_000_000_000
        assert store._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
