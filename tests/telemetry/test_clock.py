"""Clock-offset estimation: the pure filter, and a live estimate over real sockets."""

from __future__ import annotations

import time

from telemetry.client import ClientConfig, CommandClient
from telemetry.clock import OffsetEstimator, ProbeResult, SessionClock
from telemetry.server import ServerTransport
from tests.conftest import Applier


def test_offset_formula_and_minimum_round_trip_wins() -> None:
    estimator = OffsetEstimator()
    true_offset = 5_000
    # Symmetric 100 ns paths give the exact offset; a slow, asymmetric probe would be wrong.
    estimator.add(ProbeResult(t0_ns=0, t1_ns=100 + true_offset, t2_ns=110 + true_offset,
                              t3_ns=210))
    estimator.add(ProbeResult(t0_ns=1000, t1_ns=1000 + 900 + true_offset,
                              t2_ns=1000 + 910 + true_offset, t3_ns=2010))
    estimate = estimator.finish_burst()
    assert estimate is not None
    assert estimate.offset_ns == true_offset
    assert estimate.rtt_ns == 200
    assert estimator.to_session_ns(1_000) == 1_000 + true_offset


def test_impossible_probes_are_dropped_and_empty_bursts_give_nothing() -> None:
    estimator = OffsetEstimator()
    estimator.add(ProbeResult(t0_ns=100, t1_ns=0, t2_ns=500, t3_ns=200))  # negative round trip
    assert estimator.finish_burst() is None
    assert estimator.to_session_ns(5) is None


def test_live_estimate_matches_the_known_offset(transport: ServerTransport,
                                                applier: Applier) -> None:
    # Both ends run on this machine's monotonic clock, so the true offset is known exactly:
    # session time = monotonic - origin.
    assert transport.connection is not None
    config = ClientConfig(clock_sync_interval_s=0.2)
    with CommandClient(transport.connection, config=config) as client:
        deadline = time.monotonic() + 5
        while len(client.clock.history) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        estimate = client.offset
        assert estimate is not None
        error = abs(estimate.offset_ns - (-transport.clock.origin_ns))
        assert error <= estimate.rtt_ns / 2 + 1_000
        assert estimate.probes >= 4
    # The estimates were reported to the server as commands, to be kept with the record.
    assert any(cmd.name == "clock_offset" for cmd in applier.applied)


def test_session_clock_counts_from_its_origin() -> None:
    clock = SessionClock(origin_ns=time.monotonic_ns() - 1_000_000_000)
    assert 1_000_000_000 <= clock.now_ns() < 2_000_000_000
    assert clock.from_monotonic(clock.origin_ns + 42) == 42
