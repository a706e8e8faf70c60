"""The recorder: the one writer of a session's record, on its own thread.

Callers (the frame loop) never wait for the disk. :meth:`Recorder.append_event` gives the event
its place in the log at once (``seq``) and queues it; the writer thread commits queued events in
one transaction as soon as they arrive and only then calls ``on_durable``, which is where the
server publishes the event and acknowledges the command that caused it. Samples are buffered per
stream and committed as chunks at least every ``flush_interval_s``, which bounds what a crash
can lose to that window.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from telemetry.clock import SessionClock
from telemetry.errors import StoreError
from telemetry.schemas import SampleBatch, StreamDescriptor
from telemetry.store import ClockOffsetRecord, SessionStore

log = logging.getLogger(__name__)

DurableCallback = Callable[["RecordedEvent", "Exception | None"], None]
OffsetCallback = Callable[["Exception | None"], None]


@dataclass(frozen=True)
class RecordedEvent:
    """An event with its place in the log and its time stamps."""

    seq: int
    t_session_ns: int
    t_wall_ns: int
    command_id: str | None
    body: Any


@dataclass
class _StreamBuffer:
    descriptor: StreamDescriptor
    timestamps: list[np.ndarray] = field(default_factory=list)
    values: list[np.ndarray] = field(default_factory=list)
    chunk: int = 0


class Recorder:
    """Writes one session's events, samples and clock offsets to a :class:`SessionStore`."""

    def __init__(
        self, store_path: Any, session_id: str, clock: SessionClock, *,
        flush_interval_s: float = 0.5, first_seq: int = 0,
    ) -> None:
        self.session_id = session_id
        self.clock = clock
        self.flush_interval_s = flush_interval_s
        self._store_path = store_path
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._next_seq = first_seq
        self._events: list[tuple[RecordedEvent, DurableCallback | None]] = []
        self._offsets: list[tuple[ClockOffsetRecord, OffsetCallback | None]] = []
        self._streams: dict[str, _StreamBuffer] = {}
        self._closing = False
        self.failed: Exception | None = None
        self.samples_written = 0
        self.events_written = 0
        self._thread = threading.Thread(target=self._run, name=f"recorder-{session_id}",
                                        daemon=True)
        self._thread.start()

    # ---------------------------------------------------------------- called by the server

    def append_event(
        self, body: Any, *, command_id: str | None = None,
        on_durable: DurableCallback | None = None, t_session_ns: int | None = None,
    ) -> RecordedEvent:
        """Give ``body`` its place in the log and queue it; returns at once."""
        with self._lock:
            event = RecordedEvent(
                seq=self._next_seq,
                t_session_ns=self.clock.now_ns() if t_session_ns is None else t_session_ns,
                t_wall_ns=time.time_ns(),
                command_id=command_id,
                body=body,
            )
            self._next_seq += 1
            self._events.append((event, on_durable))
            self._wake.notify()
        return event

    def add_stream(self, descriptor: StreamDescriptor) -> None:
        """Declare a stream (written to the store at once, before any of its samples)."""
        with self._lock:
            self._streams[descriptor.name] = _StreamBuffer(descriptor)
        with SessionStore(self._store_path) as store:
            store.add_stream(self.session_id, descriptor)

    def add_samples(self, batch: SampleBatch) -> None:
        """Buffer a batch; it reaches the disk within ``flush_interval_s``."""
        with self._lock:
            buffer = self._streams.get(batch.stream)
            if buffer is None:
                raise StoreError(f"stream {batch.stream!r} was not declared with add_stream")
            buffer.timestamps.append(batch.timestamps_ns)
            buffer.values.append(batch.values)

    def add_clock_offset(
        self, record: ClockOffsetRecord,
        on_durable: OffsetCallback | None = None,
    ) -> None:
        """Queue a console's clock-offset estimate; ``on_durable`` is called after its commit
        (with the error if it failed), so its command can be acknowledged like an event's."""
        with self._lock:
            self._offsets.append((record, on_durable))
            self._wake.notify()

    def close(self, timeout: float = 10.0) -> None:
        """Flush everything and stop the writer thread."""
        with self._lock:
            self._closing = True
            self._wake.notify()
        self._thread.join(timeout)

    # ---------------------------------------------------------------- writer thread

    def _take(self) -> tuple[list[tuple[RecordedEvent, DurableCallback | None]],
                             list[tuple[str, str, int, np.ndarray, np.ndarray]],
                             list[tuple[ClockOffsetRecord,
                                        OffsetCallback | None]]]:
        events, self._events = self._events, []
        offsets, self._offsets = self._offsets, []
        chunks = []
        for name, buffer in self._streams.items():
            if buffer.timestamps:
                ts = np.concatenate(buffer.timestamps)
                values = np.concatenate(buffer.values)
                buffer.timestamps, buffer.values = [], []
                if len(ts):
                    chunks.append((self.session_id, name, buffer.chunk, ts, values))
                    buffer.chunk += 1
        return events, chunks, offsets

    def _run(self) -> None:
        try:
            store: SessionStore | None = SessionStore(self._store_path)
        except Exception as exc:  # the thread must live on to tell every waiting command
            log.critical("cannot open the session store: %s", exc)
            self.failed, store = exc, None
        next_flush = time.monotonic() + self.flush_interval_s
        try:
            while True:
                with self._lock:
                    while not (self._events or self._offsets or self._closing):
                        remaining = next_flush - time.monotonic()
                        if remaining <= 0:
                            break
                        self._wake.wait(remaining)
                    flush_samples = self._closing or time.monotonic() >= next_flush
                    closing = self._closing
                    if flush_samples:
                        events, chunks, offsets = self._take()
                        next_flush = time.monotonic() + self.flush_interval_s
                    else:
                        events, self._events = self._events, []
                        offsets, self._offsets = self._offsets, []
                        chunks = []
                self._write(store, events, chunks, offsets)
                if closing:
                    with self._lock:
                        if not (self._events or self._offsets):
                            return
        finally:
            if store is not None:
                store.close()

    def _write(
        self, store: SessionStore | None,
        events: list[tuple[RecordedEvent, DurableCallback | None]],
        chunks: list[tuple[str, str, int, np.ndarray, np.ndarray]],
        offsets: list[tuple[ClockOffsetRecord, OffsetCallback | None]],
    ) -> None:
        if not (events or chunks or offsets):
            return
        error: Exception | None = self.failed if store is None else None
        try:
            if store is None:
                raise StoreError(f"the session store could not be opened: {self.failed}")
            store.write_batch(
                [(self.session_id, e.seq, e.t_session_ns, e.t_wall_ns, e.command_id, e.body)
                 for e, _ in events],
                chunks,
                [(self.session_id, o) for o, _ in offsets],
            )
            self.events_written += len(events)
            self.samples_written += sum(len(c[3]) for c in chunks)
        except Exception as exc:
            # The record could not be written (StoreError, or anything unforeseen: the writer
            # thread must not die): say so loudly and tell every waiting command, so no console
            # believes an unwritten event was kept.
            log.critical("session store write failed, %d events not recorded: %s",
                         len(events), exc)
            self.failed = error = exc
        for event, callback in events:
            if callback is None:
                continue
            try:
                callback(event, error)
            except Exception:  # a failing callback must not stop the writer
                log.exception("durable callback failed for event %d", event.seq)
        for _, done in offsets:
            if done is None:
                continue
            try:
                done(error)
            except Exception:
                log.exception("durable callback failed for a clock offset")
