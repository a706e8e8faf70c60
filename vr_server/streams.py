"""The streams the frame loop publishes beside the client's sensors.

``scene`` says, frame by frame, what the client was shown and where they looked; ``scenario``
carries the scenario's own parameter values (its channels are the parameter names, so a console
can plot them with their units); ``frame_stats`` summarises frame timing once a second.
"""

from __future__ import annotations

from scenarios.spec import ScenarioSpec
from telemetry.schemas import StreamDescriptor

SCENE_CHANNELS = ("frame", "rung", "intensity", "stimulus_visible", "safe_place", "looking_at",
                  "stimulus_distance", "gaze_hit_distance")
"""``looking_at``: 0 elsewhere, 1 stimulus, 2 avatar (:data:`scenarios.targets.LOOK_CODES`);
distances are NaN when there is nothing to measure to."""


def scene_stream(frame_rate: float) -> StreamDescriptor:
    """One sample per frame: level, visibility, gaze target and distance to the stimulus."""
    return StreamDescriptor(
        name="scene", kind="scene", channels=SCENE_CHANNELS,
        units=("", "", "", "", "", "", "m", "m"), nominal_rate=frame_rate, dtype="float64")


def scenario_stream(spec: ScenarioSpec, frame_rate: float) -> StreamDescriptor:
    """One sample per frame: the scenario's current (smoothed) parameter values."""
    return StreamDescriptor(
        name="scenario", kind="scene", channels=spec.parameter_names,
        units=tuple(p.unit for p in spec.parameters), nominal_rate=frame_rate,
        dtype="float32")


FRAME_STATS = StreamDescriptor(
    name="frame_stats", kind="frame_stats",
    channels=("fps", "frame_ms_p50", "frame_ms_p99", "work_ms_p50", "work_ms_p99", "frames"),
    units=("1/s", "ms", "ms", "ms", "ms", ""), nominal_rate=1.0, dtype="float64")
"""Once a second: frames per second, frame interval and the server's own work per frame
(scenario, client, telemetry, commands; not the draw) at p50 and p99."""


CONTROLLERS = StreamDescriptor(
    name="controllers", kind="controller",
    channels=tuple(f"{hand}_{c}" for hand in ("left", "right")
                   for c in ("x", "y", "z", "qw", "qx", "qy", "qz", "trigger", "grip")),
    units=tuple(u for _ in range(2) for u in ("m", "m", "m", "", "", "", "", "", "")),
    nominal_rate=90.0, dtype="float32")
"""With a headset, one sample per frame: each controller's grip pose in the world and how far
its trigger and grip are pressed (0-1); NaN where a controller is not tracked."""
