"""Helpers for tests that run `vret serve` in a process of its own."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from telemetry.connection import ConnectionInfo
from telemetry.store import SessionStore, StoredEvent


def wait_for_connection(conn: Path, server: subprocess.Popen[str],
                        timeout_s: float = 60.0) -> ConnectionInfo:
    """The server's connection file once it is written; fails if the server exits first."""
    deadline = time.monotonic() + timeout_s
    while not conn.exists():
        assert server.poll() is None, f"the server exited: {server.communicate()[1][-2000:]}"
        assert time.monotonic() < deadline, "the server wrote no connection file"
        time.sleep(0.05)
    return ConnectionInfo.read(conn)


def wait_for_event(data_dir: Path, session_id: str, match: Callable[[StoredEvent], bool],
                   timeout_s: float = 20.0) -> StoredEvent:
    """The first recorded event of a running session that ``match`` accepts, once it is in
    the session's SQLite file (the avatar logs a line when it begins to say it, which may be
    after the command that asked for it)."""
    deadline = time.monotonic() + timeout_s
    while True:
        with SessionStore.in_dir(data_dir) as store:
            for record in store.events(session_id):
                if match(record):
                    return record
        assert time.monotonic() < deadline, "no such event was recorded"
        time.sleep(0.1)
