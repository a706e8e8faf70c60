"""A console-side live monitor: per-stream rates, latency and loss of one or more sessions.

Latency is measured the way a remote console has to: the receive time on this machine is mapped
onto the session clock with the clock-offset estimate (``telemetry.clock``) and compared with the
session-clock time the server stamped when it published the batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from telemetry.client import CommandClient
from telemetry.connection import ConnectionInfo
from telemetry.schemas import Event, Frame, Samples, StreamDescriptor
from telemetry.security import KeyPair
from telemetry.subscriber import Subscriber


@dataclass
class StreamFigures:
    """What was seen of one stream."""

    samples: int = 0
    batches: int = 0
    latencies_ms: list[float] = field(default_factory=list)

    def percentile(self, q: float) -> float:
        """Latency percentile in ms (NaN before any batch)."""
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else float("nan")


@dataclass
class MonitorReport:
    """Totals over a monitoring run."""

    seconds: float
    streams: dict[str, StreamFigures]
    descriptors: dict[str, StreamDescriptor]
    events: list[Event]
    lost: int
    rejected: int
    clock_offset_ms: float | None
    clock_rtt_ms: float | None


def _line(name: str, figures: StreamFigures, seconds: float, rate: float | None) -> str:
    nominal = f"{rate:7.1f}" if rate else "      -"
    return (f"  {name:<12} {figures.samples / seconds:8.1f} {nominal} "
            f"{figures.batches / seconds:7.1f} {figures.percentile(50):8.2f} "
            f"{figures.percentile(99):8.2f}")


def monitor(
    infos: Sequence[ConnectionInfo], *, duration_s: float, interval_s: float = 1.0,
    keys: KeyPair | None = None, out: Callable[[str], None] = print,
    clients: Sequence[CommandClient] | None = None,
    on_frame: Callable[[Frame], None] | None = None,
    on_samples: Callable[[Samples], None] | None = None,
    on_event: Callable[[Event], None] | None = None,
    until: Callable[[], bool] | None = None,
) -> MonitorReport:
    """Subscribe to the sessions and print live figures every ``interval_s`` for ``duration_s``.

    ``clients`` (one per session, for clock offsets) are made and closed here if not given;
    ``on_frame``, ``on_samples`` and ``on_event`` receive every mirror-view image, batch of
    samples and event; ``until`` ends the run early when it returns True.
    """
    own_clients = clients is None
    clients = list(clients) if clients is not None else [
        CommandClient(info, keys=keys) for info in infos]
    by_session = {c.info.session_id: c for c in clients}
    subscriber = Subscriber(infos, keys=keys)
    totals: dict[str, StreamFigures] = {}
    window: dict[str, StreamFigures] = {}
    descriptors: dict[str, StreamDescriptor] = {}
    events: list[Event] = []
    started = time.monotonic()
    next_print = started + interval_s
    try:
        while (now := time.monotonic()) < started + duration_s and not (until and until()):
            for _topic, message in subscriber.recv_many(timeout_ms=50):
                body = message.body
                if isinstance(body, Samples):
                    if on_samples is not None:
                        on_samples(body)
                    client = by_session.get(message.env.session)
                    mapped = client.clock.to_session_ns(time.monotonic_ns()) if client else None
                    latency = (mapped - message.env.t_session_ns) / 1e6 if mapped is not None \
                        else (time.time_ns() - message.env.t_wall_ns) / 1e6
                    for batch in body.batches:
                        key = batch.stream if len(infos) == 1 \
                            else f"{message.env.session}/{batch.stream}"
                        for table in (totals, window):
                            figures = table.setdefault(key, StreamFigures())
                            figures.samples += batch.n
                            figures.batches += 1
                            figures.latencies_ms.append(latency)
                elif isinstance(body, StreamDescriptor):
                    descriptors[body.name] = body
                elif isinstance(body, Frame):
                    if on_frame is not None:
                        on_frame(body)
                elif isinstance(body, Event):
                    events.append(body)
                    if on_event is not None:
                        on_event(body)
                    out(f"  event #{message.env.seq}: {body.event.kind} "
                        f"{body.event.model_dump(exclude={'kind'}, exclude_defaults=True)}")
            if now >= next_print:
                seconds = now - next_print + interval_s
                next_print = now + interval_s
                out(f"[{now - started:5.1f} s] stream       samples/s nominal batches/s  p50 ms"
                    f"   p99 ms   (lost so far: {subscriber.lost})")
                for name in sorted(window):
                    desc = descriptors.get(name.rsplit("/", 1)[-1])
                    out(_line(name, window[name], seconds, desc.nominal_rate if desc else None))
                window = {}
        seconds = time.monotonic() - started
        offset = clients[0].offset if clients else None
        return MonitorReport(
            seconds=seconds, streams=totals, descriptors=descriptors, events=events,
            lost=subscriber.lost, rejected=sum(subscriber.rejected.values()),
            clock_offset_ms=offset.offset_ns / 1e6 if offset else None,
            clock_rtt_ms=offset.rtt_ns / 1e6 if offset else None,
        )
    finally:
        subscriber.close()
        if own_clients:
            for client in clients:
                client.close()
