"""The session clock and clock-offset estimation between a console and the server.

The server stamps everything on the *session clock*: monotonic nanoseconds since the session
started. A console estimates the offset between its own monotonic clock and the session clock
the way Lab Streaming Layer does: every few seconds a burst of probes; each probe gives
``offset = ((t1 - t0) + (t2 - t3)) / 2`` where t0/t3 are the console's send/receive times and
t1/t2 the server's receive/send times; the probe with the smallest round trip
``(t3 - t0) - (t2 - t1)`` wins, because queueing delay only ever adds to a round trip and is what
makes an offset wrong. Raw estimates are kept (and sent to the server's store) so analysis can
fit a drift model afterwards.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass


class SessionClock:
    """Monotonic nanoseconds since ``start``; one per session, owned by the server."""

    def __init__(self, origin_ns: int | None = None) -> None:
        self.origin_ns = time.monotonic_ns() if origin_ns is None else origin_ns

    def now_ns(self) -> int:
        """Nanoseconds since the session started."""
        return time.monotonic_ns() - self.origin_ns

    def from_monotonic(self, monotonic_ns: int) -> int:
        """Map a ``time.monotonic_ns()`` reading of this machine onto the session clock."""
        return monotonic_ns - self.origin_ns


@dataclass(frozen=True)
class ProbeResult:
    """One probe exchange: console times t0, t3 and server times t1, t2 (all ns)."""

    t0_ns: int
    t1_ns: int
    t2_ns: int
    t3_ns: int

    @property
    def rtt_ns(self) -> int:
        """Round trip minus the server's own processing time."""
        return (self.t3_ns - self.t0_ns) - (self.t2_ns - self.t1_ns)

    @property
    def offset_ns(self) -> int:
        """session clock - console clock, as this probe sees it."""
        return ((self.t1_ns - self.t0_ns) + (self.t2_ns - self.t3_ns)) // 2


@dataclass(frozen=True)
class OffsetEstimate:
    """The chosen offset of one burst: add ``offset_ns`` to a console time to get session time."""

    offset_ns: int
    rtt_ns: int
    t_console_ns: int
    probes: int


class OffsetEstimator:
    """Minimum-round-trip filter over probe bursts. Pure: feed it results, read estimates."""

    def __init__(self, history: int = 64) -> None:
        self._burst: list[ProbeResult] = []
        self.history: deque[OffsetEstimate] = deque(maxlen=history)

    def add(self, probe: ProbeResult) -> None:
        """Record one probe of the current burst (negative round trips are impossible: drop)."""
        if probe.rtt_ns >= 0:
            self._burst.append(probe)

    def finish_burst(self) -> OffsetEstimate | None:
        """Close the burst; returns its estimate (None if no probe came back)."""
        burst, self._burst = self._burst, []
        if not burst:
            return None
        best = min(burst, key=lambda p: p.rtt_ns)
        estimate = OffsetEstimate(best.offset_ns, best.rtt_ns, best.t3_ns, len(burst))
        self.history.append(estimate)
        return estimate

    @property
    def current(self) -> OffsetEstimate | None:
        """The latest burst's estimate, if any."""
        return self.history[-1] if self.history else None

    def to_session_ns(self, console_ns: int) -> int | None:
        """Map a console monotonic time onto the session clock (None before the first burst)."""
        current = self.current
        return None if current is None else console_ns + current.offset_ns
