"""The session store: one SQLite database (WAL) in the data folder.

What it holds, per session: the session row, the stream descriptors, an append-only ordered
event log (triggers refuse UPDATE and DELETE), sample batches in chunks, and the consoles'
clock-offset estimates. Writes come from one writer (:class:`telemetry.recorder.Recorder`);
any number of readers may open the same file at the same time (WAL).

Durability: ``synchronous=FULL`` so a committed event survives a crash of the process *and* of
the machine; the recorder acknowledges an event only after its commit.

Versioning: ``PRAGMA user_version`` holds :data:`SCHEMA_VERSION`. A store written by a newer vret
raises :class:`~telemetry.errors.StoreVersionError`; a file that is not a vret store or fails
SQLite's integrity check raises :class:`~telemetry.errors.StoreCorruptError`. Neither is ever
modified.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import TypeAdapter

from telemetry.errors import StoreCorruptError, StoreError, StoreVersionError
from telemetry.schemas import EventBody, StreamDescriptor
from telemetry.sqlite_tx import immediate

SCHEMA_VERSION = 1
STORE_FILENAME = "vret.sqlite3"
_APPLICATION_ID = 0x76726574  # "vret": tells our files from other SQLite databases

_SCHEMA = """
CREATE TABLE sessions (
    session_id      TEXT PRIMARY KEY,
    client_id       TEXT NOT NULL,
    scenario        TEXT NOT NULL,
    created_wall_ns INTEGER NOT NULL,
    ended_wall_ns   INTEGER,
    settings        TEXT NOT NULL DEFAULT '{}'
) WITHOUT ROWID;

CREATE TABLE events (
    session_id   TEXT NOT NULL REFERENCES sessions(session_id),
    seq          INTEGER NOT NULL,
    t_session_ns INTEGER NOT NULL,
    t_wall_ns    INTEGER NOT NULL,
    kind         TEXT NOT NULL,
    command_id   TEXT,
    body         TEXT NOT NULL,
    PRIMARY KEY (session_id, seq)
) WITHOUT ROWID;
CREATE UNIQUE INDEX events_by_command ON events(session_id, command_id)
    WHERE command_id IS NOT NULL;
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
    BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
    BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;

CREATE TABLE streams (
    session_id TEXT NOT NULL REFERENCES sessions(session_id),
    name       TEXT NOT NULL,
    descriptor TEXT NOT NULL,
    PRIMARY KEY (session_id, name)
) WITHOUT ROWID;

CREATE TABLE sample_chunks (
    session_id TEXT NOT NULL,
    stream     TEXT NOT NULL,
    chunk      INTEGER NOT NULL,
    t_first_ns INTEGER NOT NULL,
    t_last_ns  INTEGER NOT NULL,
    n          INTEGER NOT NULL,
    dtype      TEXT NOT NULL,
    channels   INTEGER NOT NULL,
    timestamps BLOB NOT NULL,
    samples    BLOB NOT NULL,
    PRIMARY KEY (session_id, stream, chunk),
    FOREIGN KEY (session_id, stream) REFERENCES streams(session_id, name)
) WITHOUT ROWID;

CREATE TABLE clock_offsets (
    session_id  TEXT NOT NULL REFERENCES sessions(session_id),
    console_id  TEXT NOT NULL,
    t_console_ns INTEGER NOT NULL,
    offset_ns   INTEGER NOT NULL,
    rtt_ns      INTEGER NOT NULL,
    probes      INTEGER NOT NULL
);
"""

_EVENT_ADAPTER: TypeAdapter[Any] = TypeAdapter(EventBody)


@dataclass(frozen=True)
class SessionRecord:
    """A session as stored."""

    session_id: str
    client_id: str
    scenario: str
    created_wall_ns: int
    ended_wall_ns: int | None
    settings: dict[str, Any]


@dataclass(frozen=True)
class StoredEvent:
    """One entry of the event log, with its decoded body."""

    session_id: str
    seq: int
    t_session_ns: int
    t_wall_ns: int
    command_id: str | None
    body: Any  # one of the EventBody models


@dataclass(frozen=True)
class ClockOffsetRecord:
    """A console's offset estimate as stored."""

    console_id: str
    t_console_ns: int
    offset_ns: int
    rtt_ns: int
    probes: int


class SessionStore:
    """Open (creating if needed) the store at ``path``. Use one instance per thread."""

    def __init__(self, path: Path, *, create: bool = True) -> None:
        self.path = Path(path)
        if not self.path.exists() and not create:
            raise StoreError(f"no session store at {self.path}")
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not self.path.exists():
            # Health data: the file (and the -wal/-shm files SQLite derives from it) is private.
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
        try:
            self._db = sqlite3.connect(self.path, timeout=10.0, isolation_level=None,
                                       check_same_thread=False)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open session store {self.path}: {exc}") from exc
        try:
            self._open(create)
        except BaseException:
            self._db.close()
            raise

    @classmethod
    def in_dir(cls, data_dir: Path, *, create: bool = True) -> SessionStore:
        """The store of a data folder (``<data-dir>/vret.sqlite3``)."""
        return cls(Path(data_dir) / STORE_FILENAME, create=create)

    def _open(self, create: bool) -> None:
        db = self._db
        try:
            app_id = db.execute("PRAGMA application_id").fetchone()[0]
            version = db.execute("PRAGMA user_version").fetchone()[0]
            tables = db.execute("SELECT count(*) FROM sqlite_schema").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise StoreCorruptError(f"{self.path} is not a vret session store: {exc}") from exc
        if (tables or app_id) and app_id != _APPLICATION_ID:
            raise StoreCorruptError(
                f"{self.path} is an SQLite database but not a vret session store"
            )
        if not tables and not create:
            raise StoreError(f"{self.path} is empty: no session has been recorded there")
        if version > SCHEMA_VERSION:
            raise StoreVersionError(
                f"{self.path} has schema version {version}; this vret reads up to "
                f"{SCHEMA_VERSION}. Upgrade vret to open it (the file was not changed)."
            )
        if tables:
            check = db.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise StoreCorruptError(f"{self.path} failed its integrity check: {check}")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA foreign_keys=ON")
        if not tables:
            with self.transaction():
                for statement in _split_sql(_SCHEMA):
                    db.execute(statement)
                db.execute(f"PRAGMA application_id={_APPLICATION_ID}")
                db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def close(self) -> None:
        """Close the connection (committed data is already on disk)."""
        self._db.close()

    def __enter__(self) -> SessionStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic write; SQLite errors come out as :class:`StoreError`."""
        with immediate(self._db, StoreError, "session store write") as db:
            yield db

    # ---------------------------------------------------------------- writes

    def create_session(
        self, session_id: str, *, client_id: str, scenario: str,
        settings: dict[str, Any] | None = None, created_wall_ns: int | None = None,
    ) -> None:
        """Add a session row."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO sessions(session_id, client_id, scenario, created_wall_ns, settings)"
                " VALUES (?, ?, ?, ?, ?)",
                (session_id, client_id, scenario, created_wall_ns or time.time_ns(),
                 json.dumps(settings or {})),
            )

    def end_session(self, session_id: str, ended_wall_ns: int | None = None) -> None:
        """Record when the session ended."""
        with self.transaction() as db:
            db.execute("UPDATE sessions SET ended_wall_ns=? WHERE session_id=?",
                       (ended_wall_ns or time.time_ns(), session_id))

    def add_stream(self, session_id: str, descriptor: StreamDescriptor) -> None:
        """Record (or replace) a stream descriptor."""
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO streams VALUES (?, ?, ?)",
                       (session_id, descriptor.name, descriptor.model_dump_json()))

    def write_batch(
        self,
        events: Iterable[tuple[str, int, int, int, str | None, Any]],
        chunks: Iterable[tuple[str, str, int, np.ndarray, np.ndarray]],
        offsets: Iterable[tuple[str, ClockOffsetRecord]] = (),
    ) -> None:
        """Append events, sample chunks and clock offsets in one transaction.

        ``events``: (session_id, seq, t_session_ns, t_wall_ns, command_id, body model);
        ``chunks``: (session_id, stream, chunk number, timestamps int64, values 2-D).
        """
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(s, seq, ts, tw, body.kind, cid, body.model_dump_json())
                 for s, seq, ts, tw, cid, body in events],
            )
            db.executemany(
                "INSERT INTO sample_chunks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(s, stream, chunk, int(ts[0]), int(ts[-1]), len(ts),
                  values.dtype.newbyteorder("<").str, values.shape[1], ts.astype("<i8").tobytes(),
                  values.astype(values.dtype.newbyteorder("<")).tobytes())
                 for s, stream, chunk, ts, values in chunks],
            )
            db.executemany(
                "INSERT INTO clock_offsets VALUES (?, ?, ?, ?, ?, ?)",
                [(s, o.console_id, o.t_console_ns, o.offset_ns, o.rtt_ns, o.probes)
                 for s, o in offsets],
            )

    # ---------------------------------------------------------------- reads

    def sessions(self) -> list[SessionRecord]:
        """Every session, oldest first."""
        rows = self._db.execute(
            "SELECT session_id, client_id, scenario, created_wall_ns, ended_wall_ns, settings"
            " FROM sessions ORDER BY created_wall_ns"
        ).fetchall()
        return [SessionRecord(r[0], r[1], r[2], r[3], r[4], json.loads(r[5])) for r in rows]

    def session(self, session_id: str) -> SessionRecord:
        """One session; :class:`StoreError` if it is not there."""
        for record in self.sessions():
            if record.session_id == session_id:
                return record
        raise StoreError(f"no session {session_id!r} in {self.path}")

    def events(self, session_id: str, since_seq: int = -1) -> list[StoredEvent]:
        """The event log of a session in order, optionally only entries after ``since_seq``."""
        rows = self._db.execute(
            "SELECT seq, t_session_ns, t_wall_ns, command_id, body FROM events"
            " WHERE session_id=? AND seq>? ORDER BY seq",
            (session_id, since_seq),
        ).fetchall()
        return [StoredEvent(session_id, r[0], r[1], r[2], r[3], _EVENT_ADAPTER.validate_json(r[4]))
                for r in rows]

    def event_for_command(self, session_id: str, command_id: str) -> StoredEvent | None:
        """The event a command produced, if it was applied (for de-duplication after restart)."""
        row = self._db.execute(
            "SELECT seq FROM events WHERE session_id=? AND command_id=?", (session_id, command_id)
        ).fetchone()
        if row is None:
            return None
        return self.events(session_id, row[0] - 1)[0]

    def streams(self, session_id: str) -> dict[str, StreamDescriptor]:
        """The stream descriptors of a session by name."""
        rows = self._db.execute(
            "SELECT name, descriptor FROM streams WHERE session_id=? ORDER BY name", (session_id,)
        ).fetchall()
        return {name: StreamDescriptor.model_validate_json(desc) for name, desc in rows}

    def samples(self, session_id: str, stream: str) -> tuple[np.ndarray, np.ndarray]:
        """All samples of a stream: (timestamps int64, values 2-D), in time order."""
        rows = self._db.execute(
            "SELECT dtype, channels, timestamps, samples FROM sample_chunks"
            " WHERE session_id=? AND stream=? ORDER BY chunk",
            (session_id, stream),
        ).fetchall()
        if not rows:
            desc = self.streams(session_id).get(stream)
            channels = len(desc.channels) if desc else 1
            dtype = np.dtype(desc.dtype) if desc else np.dtype("float32")
            return np.empty(0, np.int64), np.empty((0, channels), dtype)
        ts = np.concatenate([np.frombuffer(r[2], "<i8") for r in rows]).astype(np.int64)
        values = np.concatenate(
            [np.frombuffer(r[3], np.dtype(r[0])).reshape(-1, r[1]) for r in rows]
        )
        return ts, values.astype(values.dtype.newbyteorder("="))

    def clock_offsets(self, session_id: str) -> list[ClockOffsetRecord]:
        """Every recorded clock-offset estimate of a session."""
        rows = self._db.execute(
            "SELECT console_id, t_console_ns, offset_ns, rtt_ns, probes FROM clock_offsets"
            " WHERE session_id=? ORDER BY rowid", (session_id,)
        ).fetchall()
        return [ClockOffsetRecord(*r) for r in rows]


def _split_sql(script: str) -> list[str]:
    """Split the schema into statements (triggers contain ';' inside BEGIN ... END)."""
    statements, current = [], []
    for line in script.strip().splitlines():
        current.append(line)
        joined = "\n".join(current).strip()
        if joined.endswith(";") and (not joined.upper().startswith("CREATE TRIGGER")
                                     or joined.upper().endswith("END;")):
            statements.append(joined)
            current = []
    return statements
