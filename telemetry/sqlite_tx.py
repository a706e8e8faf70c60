"""One atomic SQLite write, shared by the session store and the console's records."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def immediate(db: sqlite3.Connection, error: type[Exception],
              what: str) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back if the body raises; SQLite's own errors
    come out as ``error(f"{what} failed: ...")`` (the caller's error type, naming the store).

    Immediate, so the write lock is taken at the start: a writer never fails halfway for
    another's lock (the connection in autocommit mode, ``isolation_level=None``)."""
    try:
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
    except sqlite3.Error as exc:
        raise error(f"{what} failed: {exc}") from exc
