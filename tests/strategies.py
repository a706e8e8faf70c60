"""Hypothesis strategies for every wire message kind (shared by the telemetry tests)."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from telemetry import schemas as s

names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_\-]{0,20}", fullmatch=True)
labels = st.text(min_size=1, max_size=30)
texts = st.text(max_size=200)
i64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
nonneg = st.integers(min_value=0, max_value=2**63 - 1)
unit = st.floats(min_value=0.0, max_value=1.0)
actors = st.sampled_from(["therapist", "client", "controller", "server", "script", "detector"])
states = st.sampled_from(["ready", "baseline", "exposure", "check_in", "paused", "safe_hold",
                          "closing", "ended"])
scalars = st.one_of(st.none(), st.booleans(), i64, st.floats(allow_nan=False), texts)
details = st.dictionaries(st.text(max_size=20), scalars, max_size=5)

envelopes = st.builds(s.Envelope, session=names, seq=nonneg, t_session_ns=i64, t_wall_ns=i64)

descriptors = st.integers(min_value=1, max_value=8).flatmap(lambda n: st.builds(
    s.StreamDescriptor, name=names,
    kind=st.sampled_from(["head_pose", "gaze", "heart_rate", "ecg", "eda", "respiration",
                          "rating", "other"]),
    channels=st.lists(labels, min_size=n, max_size=n, unique=True).map(tuple),
    units=st.lists(st.text(max_size=8), min_size=n, max_size=n).map(tuple),
    nominal_rate=st.floats(min_value=0.0, max_value=10_000.0),
    dtype=st.sampled_from(sorted(s.SAMPLE_DTYPES)),
))


@st.composite
def sample_batches(draw: st.DrawFn) -> s.SampleBatch:
    """A batch with any allowed dtype, any length (including empty) and 1-8 channels."""
    n = draw(st.integers(min_value=0, max_value=40))
    channels = draw(st.integers(min_value=1, max_value=8))
    dtype = np.dtype(draw(st.sampled_from(sorted(s.SAMPLE_DTYPES))))
    ts = draw(hnp.arrays(np.int64, n))
    values = draw(hnp.arrays(dtype, (n, channels)))
    return s.SampleBatch(stream=draw(names), timestamps_ns=ts, values=values)


@st.composite
def samples(draw: st.DrawFn) -> s.Samples:
    """A ``samples`` body: 1-5 batches of distinct streams."""
    batches = draw(st.lists(sample_batches(), min_size=1, max_size=5,
                            unique_by=lambda b: b.stream))
    return s.Samples(batches=tuple(batches))


event_bodies = st.one_of(
    st.builds(s.StateChange, from_state=states, to_state=states, reason=texts, actor=actors),
    st.builds(s.LevelChange, rung=st.integers(0, 1000), intensity=unit,
              previous_rung=st.integers(0, 1000), previous_intensity=unit, actor=actors,
              reason=texts),
    st.builds(s.CheckInAsked, checkin_id=labels, instrument=labels, prompt=texts, actor=actors),
    st.builds(s.CheckInAnswered, checkin_id=labels, instrument=labels,
              value=st.none() | st.floats(allow_nan=False), answered=st.booleans(),
              latency_ms=st.none() | st.floats(min_value=0, allow_nan=False,
                                                allow_infinity=False)),
    st.builds(s.RuptureMarked, rupture_id=labels,
              marker=st.sampled_from(["withdrawal", "confrontation"]),
              subtype=st.none() | st.text(max_size=20), salience=st.none() | st.integers(1, 5),
              t_start_ns=st.none() | i64, t_end_ns=st.none() | i64, actor=actors, note=texts),
    st.builds(s.RepairMarked, rupture_id=labels, strategy=st.text(max_size=20),
              resolved=st.none() | st.booleans(), actor=actors, note=texts),
    st.builds(s.Annotation, text=texts, author=actors),
    st.builds(s.AvatarUtterance, text=texts, line_id=st.none() | st.text(max_size=20),
              actor=actors),
    st.builds(s.Alert, code=labels, severity=st.sampled_from(["info", "warning", "critical"]),
              message=texts, details=details),
    st.builds(s.QuestionnaireResponse, response_id=labels, instrument=labels, version=labels,
              timing=st.sampled_from(["screening", "start", "during", "trial", "end"]),
              answers=details, scores=details,
              flags=st.lists(labels, max_size=4).map(tuple), complete=st.booleans()),
    st.builds(s.QuestionnaireStarted, form_id=labels, instrument=labels, version=labels,
              timing=st.sampled_from(["screening", "start", "during", "trial", "end"]),
              actor=actors),
    st.builds(s.RiskAcknowledged, response_id=labels,
              flags=st.lists(labels, max_size=4).map(tuple), note=texts, actor=actors),
)

command_ids = st.text(min_size=1, max_size=40)
error_codes = st.sampled_from(list(s.ErrorCode.__args__))  # type: ignore[attr-defined]

bodies = st.one_of(
    descriptors,
    samples(),
    st.builds(s.Event, event=event_bodies, command_id=st.none() | command_ids),
    st.builds(s.Command, id=command_ids, name=st.text(min_size=1, max_size=20), args=details),
    st.builds(s.Ack, id=command_ids, frame=st.none() | nonneg, t_applied_ns=i64, result=details,
              duplicate=st.booleans()),
    st.builds(s.ErrorReply, id=st.none() | command_ids, code=error_codes, message=texts),
    st.builds(s.Heartbeat, role=st.sampled_from(["server", "console"]),
              state=st.none() | states),
    st.builds(s.ClockProbe, probe_id=nonneg, t0_ns=i64),
    st.builds(s.ClockReply, probe_id=nonneg, t0_ns=i64, t1_ns=i64, t2_ns=i64),
    st.builds(s.Frame, width=st.integers(1, 8192), height=st.integers(1, 8192),
              encoding=st.sampled_from(["jpeg", "png"]), frame_number=nonneg,
              data=st.binary(max_size=2000)),
)

messages = st.builds(s.Message, env=envelopes, body=bodies)
