"""The protocol spec's example console (pyzmq and msgpack only) runs against a real server.

The example is taken from ``docs/telemetry-protocol.md`` itself, so the spec cannot drift from
the wire without this test failing.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "telemetry-protocol.md"


def _example() -> str:
    section = DOC.read_text(encoding="utf-8").split("### 10.2", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "no python example in section 10.2"
    return match.group(1)


@pytest.mark.slow
def test_the_documented_console_works(tmp_path: Path) -> None:
    script = tmp_path / "console.py"
    script.write_text(_example(), encoding="utf-8")
    conn = tmp_path / "conn.json"
    server = subprocess.Popen(
        [sys.executable, "-m", "vret", "serve", "--display", "none",
         "--data-dir", str(tmp_path / "data"),
         "--connection-file", str(conn), "--duration", "30"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not conn.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        result = subprocess.run([sys.executable, str(script), str(conn)], capture_output=True,
                                text=True, timeout=30, check=False)
    finally:
        server.terminate()
        server.wait(30)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "heartbeat -> {'type': 'heartbeat', 'role': 'server', 'state': 'ready'}" in out
    assert "set_level -> {'type': 'ack'" in out and "'state': 'exposure'" in out
    assert "'kind': 'level_change', 'rung': 2" in out
