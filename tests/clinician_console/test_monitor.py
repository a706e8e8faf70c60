"""The console-side monitor against a live session host."""

from __future__ import annotations

import math
import threading
from pathlib import Path

from clinician_console.monitor import monitor
from telemetry.connection import ConnectionInfo
from vr_server.host import HostConfig, SessionHost


def test_monitor_reports_rates_latency_and_no_loss(tmp_path: Path) -> None:
    host = SessionHost(HostConfig(data_dir=tmp_path, session_id="s-mon"))
    info: ConnectionInfo = host.start()
    runner = threading.Thread(target=host.run, kwargs={"duration_s": 6.0}, daemon=True)
    runner.start()
    lines: list[str] = []
    try:
        report = monitor([info], duration_s=2.5, interval_s=1.0, out=lines.append)
    finally:
        host.stop_requested.set()
        runner.join(5)
        host.close()
    assert report.lost == 0 and report.rejected == 0
    ecg = report.streams["ecg"]
    assert 400 <= ecg.samples / report.seconds <= 600
    assert 0 < ecg.percentile(50) < 50  # ms on loopback
    assert not math.isnan(ecg.percentile(99))
    assert set(report.streams) == {"head_pose", "gaze", "ecg", "eda", "heart_rate"}
    assert report.clock_offset_ms is not None  # latency was mapped with the clock offset
    assert any("samples/s" in line for line in lines)
    assert report.descriptors["ecg"].nominal_rate == 500.0
