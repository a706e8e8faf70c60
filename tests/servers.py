"""Helpers for tests that run `vret serve` in a process of its own."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from telemetry.connection import ConnectionInfo


def wait_for_connection(conn: Path, server: subprocess.Popen[str],
                        timeout_s: float = 60.0) -> ConnectionInfo:
    """The server's connection file once it is written; fails if the server exits first."""
    deadline = time.monotonic() + timeout_s
    while not conn.exists():
        assert server.poll() is None, f"the server exited: {server.communicate()[1][-2000:]}"
        assert time.monotonic() < deadline, "the server wrote no connection file"
        time.sleep(0.05)
    return ConnectionInfo.read(conn)
