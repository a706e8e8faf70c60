"""Samples made by the frame loop, batched for the host's publishing schedule.

Each frame appends one row per per-frame stream (head pose, gaze, scene, scenario); once a
second a frame-timing row is added. :meth:`FrameSource.advance` hands everything collected
since the last call to the host as one batch per stream, together with the physiological
streams of the client's sensors (the virtual client's model, or none).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from scenarios.spec import ScenarioSpec
from telemetry.schemas import SampleBatch, StreamDescriptor
from telemetry.streams import GAZE, HEAD_POSE
from vr_server.streams import CONTROLLERS, FRAME_STATS, scenario_stream, scene_stream


class Physiology(Protocol):
    """A source of physiological streams on their own sample clocks."""

    @property
    def streams(self) -> tuple[StreamDescriptor, ...]:
        """The streams it produces."""
        ...

    def advance(self, t_now_ns: int) -> list[SampleBatch]:
        """Batches of every sample due up to ``t_now_ns``."""
        ...


class _Buffer:
    """Rows of one stream since the last flush."""

    def __init__(self, descriptor: StreamDescriptor) -> None:
        self.descriptor = descriptor
        self.times: list[int] = []
        self.rows: list[Sequence[float]] = []

    def add(self, t_ns: int, row: Sequence[float]) -> None:
        self.times.append(t_ns)
        self.rows.append(row)

    def take(self) -> tuple[StreamDescriptor, list[int], list[Sequence[float]]]:
        taken = (self.descriptor, self.times, self.rows)
        self.times, self.rows = [], []
        return taken


def _batch(descriptor: StreamDescriptor, times: list[int],
           rows: list[Sequence[float]]) -> SampleBatch | None:
    if not rows:
        return None
    return SampleBatch(stream=descriptor.name, timestamps_ns=np.asarray(times, dtype=np.int64),
                       values=np.asarray(rows, dtype=descriptor.dtype))


class FrameSource:
    """The host's input source while the frame loop runs (a ``host.InputSource``)."""

    def __init__(self, spec: ScenarioSpec, frame_rate: float,
                 physiology: Physiology | None = None,
                 physiology_lock: threading.Lock | None = None,
                 controllers: bool = False) -> None:
        per_frame = (
            HEAD_POSE.model_copy(update={"nominal_rate": frame_rate}),
            GAZE.model_copy(update={"nominal_rate": frame_rate}),
            scene_stream(frame_rate),
            scenario_stream(spec, frame_rate),
        )
        self.head, self.gaze, self.scene, self.scenario = (_Buffer(d) for d in per_frame)
        self.stats = _Buffer(FRAME_STATS)
        controller_streams = (CONTROLLERS.model_copy(update={"nominal_rate": frame_rate}),) \
            if controllers else ()
        self.controllers = _Buffer(controller_streams[0]) if controller_streams else None
        self.physiology = physiology
        self._physiology_lock = physiology_lock or threading.Lock()
        """Held while the physiology is sampled; the frame loop holds it while stepping the
        same model (the virtual client), which is not thread-safe."""
        self._lock = threading.Lock()
        self.exposure = 0.0
        self._streams = (*per_frame, FRAME_STATS, *controller_streams,
                         *(physiology.streams if physiology is not None else ()))

    @property
    def streams(self) -> tuple[StreamDescriptor, ...]:
        """Every stream this source publishes."""
        return self._streams

    def set_exposure(self, exposure: float) -> None:
        """The host's normalised exposure level (read by the frame loop for the client)."""
        self.exposure = exposure

    def add_frame(self, t_ns: int, head: Sequence[float], gaze: Sequence[float],
                  scene: Sequence[float], scenario: Sequence[float],
                  pose_t_ns: int | None = None) -> None:
        """One frame's rows (head pose 7, gaze 6, scene 8, one value per scenario parameter);
        ``pose_t_ns``: when the head pose and gaze apply, if not at ``t_ns`` (a headset's
        predicted display time)."""
        pose_t = t_ns if pose_t_ns is None else pose_t_ns
        with self._lock:
            self.head.add(pose_t, head)
            self.gaze.add(pose_t, gaze)
            self.scene.add(t_ns, scene)
            self.scenario.add(t_ns, scenario)

    def add_controllers(self, t_ns: int, row: Sequence[float]) -> None:
        """One frame's controller row (a headset's; see ``vr_server.streams.CONTROLLERS``)."""
        if self.controllers is None:
            return
        with self._lock:
            self.controllers.add(t_ns, row)

    def add_stats(self, t_ns: int, row: Sequence[float]) -> None:
        """One frame-timing summary row."""
        with self._lock:
            self.stats.add(t_ns, row)

    def advance(self, t_now_ns: int) -> list[SampleBatch]:
        """Everything collected since the last call, plus the physiology due by ``t_now_ns``.

        Called from the publishing thread; the frame loop only ever appends rows.
        """
        with self._lock:  # take the rows; build the batches outside the lock
            taken = [buf.take() for buf in
                     (self.head, self.gaze, self.scene, self.scenario, self.stats,
                      *((self.controllers,) if self.controllers is not None else ()))]
        batches = [b for b in (_batch(*t) for t in taken) if b is not None]
        if self.physiology is not None:
            with self._physiology_lock:
                batches += self.physiology.advance(t_now_ns)
        return batches
