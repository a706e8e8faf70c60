"""The standard client streams: names, kinds, channels, units and nominal rates.

These are what a headset session produces (head pose from the tracker, gaze from the eye
tracker, physiology from wearable sensors); scenarios and sensors may add their own.
"""

from __future__ import annotations

from telemetry.schemas import StreamDescriptor

HEAD_POSE = StreamDescriptor(
    name="head_pose", kind="head_pose",
    channels=("x", "y", "z", "qw", "qx", "qy", "qz"),
    units=("m", "m", "m", "", "", "", ""), nominal_rate=90.0,
)
GAZE = StreamDescriptor(
    name="gaze", kind="gaze",
    channels=("origin_x", "origin_y", "origin_z", "dir_x", "dir_y", "dir_z"),
    units=("m", "m", "m", "", "", ""), nominal_rate=120.0,
)
ECG = StreamDescriptor(name="ecg", kind="ecg", channels=("lead_ii",), units=("mV",),
                       nominal_rate=500.0)
EDA = StreamDescriptor(name="eda", kind="eda", channels=("conductance",), units=("uS",),
                       nominal_rate=32.0)
HEART_RATE = StreamDescriptor(name="heart_rate", kind="heart_rate", channels=("bpm",),
                              units=("1/min",), nominal_rate=1.0)

STANDARD_STREAMS: tuple[StreamDescriptor, ...] = (HEAD_POSE, GAZE, ECG, EDA, HEART_RATE)
"""The realistic mix used by the demo and the telemetry benchmark."""
