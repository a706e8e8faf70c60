"""The frame, declared once: named tasks with explicit sort numbers, and why each sits there.

Panda3D runs a frame's tasks in ascending sort order; its own draw (ShowBase's ``igLoop``) is at
50. Everything the server does to decide the picture runs before it, so a command received
before a frame starts is visible in that frame's image; reading the image back for the mirror
view runs after it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FrameTask:
    """One step of the frame: its name, its sort number and the reason for its place."""

    name: str
    sort: int
    why: str
    counts_as_work: bool = True
    """Whether its time counts toward the server's own work per frame (the draw does not)."""


PIPELINE: tuple[FrameTask, ...] = (
    FrameTask("headset", -70, "with a headset: the runtime's news, then xrWaitFrame (it "
              "blocks until the runtime wants the frame, pacing the loop), and the tracking "
              "at the frame's predicted display time, before anything uses it",
              counts_as_work=False),
    FrameTask("commands", -60, "console commands and the client's own actions (keys, the "
              "virtual client's stop and answers) first: a stop received before this frame "
              "starts removes the stimulus from this frame's image"),
    FrameTask("client", -55, "the virtual client, where one stands in for the person and "
              "their headset: it decides where they look and how they react. Not the "
              "server's work (with a headset, the runtime's tracking does this), so timed "
              "apart", counts_as_work=False),
    FrameTask("input", -50, "the client's head and gaze (headset, window or virtual client) "
              "before anything uses where the client is"),
    FrameTask("scene", -40, "the session state picks the scene; the scenario ramps toward "
              "its level and animates"),
    FrameTask("gaze", -30, "after everything has moved: what the gaze ray hits this frame"),
    FrameTask("telemetry", -20, "this frame's samples, published before the draw so sending "
              "never waits on the GPU"),
    FrameTask("mirror_request", 45, "asks for a copy of this frame's image, just before the "
              "draw, only when a mirror frame is due", counts_as_work=False),
    # Panda3D draws at 50 (ShowBase's igLoop).
    FrameTask("mirror", 55, "after the draw: hand the image to the encoder thread",
              counts_as_work=False),
    FrameTask("housekeeping", 60, "after the draw, in the frame's slack: collect the young "
              "garbage, which would otherwise interrupt whichever task happened to allocate",
              counts_as_work=False),
)
SORTS: dict[str, int] = {t.name: t.sort for t in PIPELINE}


class FramePipeline:
    """Registers the pipeline's handlers with a Panda3D task manager and times them."""

    def __init__(self, task_mgr: Any, handlers: Mapping[str, Callable[[], None]]) -> None:
        missing = [t.name for t in PIPELINE if t.name not in handlers]
        unknown = [n for n in handlers if n not in SORTS]
        if missing or unknown:
            raise ValueError(f"frame handlers: missing {missing}, unknown {unknown}")
        self.task_mgr = task_mgr
        self.work_s = 0.0
        """Seconds spent in the work tasks so far in the current frame."""
        self.last_work_s = 0.0
        """Seconds spent in the work tasks during the whole previous frame."""
        self.cpu_s = 0.0
        self.last_cpu_s = 0.0
        """CPU seconds this thread used in the work tasks during the previous frame: the
        work itself, without the time the thread waited for the GIL or a core."""
        self.totals: dict[str, float] = {t.name: 0.0 for t in PIPELINE}
        """Seconds spent in each task since the pipeline started (where the work goes)."""
        self._tasks: list[Any] = []
        for task in PIPELINE:
            self._tasks.append(task_mgr.add(self._wrap(task, handlers[task.name]),
                                            f"vret-{task.name}", sort=task.sort))

    def _wrap(self, task: FrameTask, handler: Callable[[], None]) -> Callable[[Any], int]:
        first = task.name == PIPELINE[0].name

        name = task.name

        def run(_task: Any) -> int:
            start, cpu = time.perf_counter(), time.thread_time()
            if first:
                self.last_work_s, self.work_s = self.work_s, 0.0
                self.last_cpu_s, self.cpu_s = self.cpu_s, 0.0
            handler()
            spent = time.perf_counter() - start
            self.totals[name] += spent
            if task.counts_as_work:
                self.work_s += spent
                self.cpu_s += time.thread_time() - cpu
            return 1  # Task.cont: run again next frame

        return run

    def remove(self) -> None:
        """Take the pipeline's tasks off the task manager."""
        for task in self._tasks:
            self.task_mgr.remove(task)
        self._tasks.clear()
