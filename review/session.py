"""A recorded session, loaded from the store in the shapes review needs.

Times are seconds from the session's first event. Physiology keeps its own rate thinned to
at most :data:`MAX_POINTS` points per track (a report draws lines, not every ECG sample);
gaze on the stimulus becomes its share of each :data:`GAZE_WINDOW_S` window.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from instruments.catalogue import Catalogue
from review.ruptures import RuptureReview, build_ruptures
from review.trials import Trial, build_trials
from telemetry.schemas import QuestionnaireResponse
from telemetry.store import SessionRecord, SessionStore, StoredEvent

MAX_POINTS = 1500
GAZE_WINDOW_S = 5.0
SCENE = {"rung": 1, "intensity": 2, "stimulus_visible": 3, "safe_place": 4, "looking_at": 5}
"""Column of each value in the ``scene`` stream (``vr_server.streams.SCENE_CHANNELS``)."""


@dataclass
class Series:
    """One plotted track: times (s) and values."""

    t: np.ndarray
    v: np.ndarray

    def __len__(self) -> int:
        return len(self.t)


@dataclass
class SessionData:
    """Everything a review shows about one session."""

    record: SessionRecord
    events: list[StoredEvent]
    t0_ns: int
    duration_s: float
    series: dict[str, Series] = field(default_factory=dict)
    trials: list[Trial] = field(default_factory=list)
    responses: list[tuple[float, QuestionnaireResponse]] = field(default_factory=list)
    ruptures: RuptureReview = field(default_factory=RuptureReview)

    def t(self, event: StoredEvent) -> float:
        """An event's time in seconds from the start."""
        return (event.t_session_ns - self.t0_ns) / 1e9


def _thin(t: np.ndarray, v: np.ndarray) -> Series:
    if len(t) > MAX_POINTS:
        idx = np.linspace(0, len(t) - 1, MAX_POINTS).astype(int)
        t, v = t[idx], v[idx]
    return Series(t, v)


TIMED_STREAMS = ("heart_rate", "eda", "scene")
"""The streams whose first sample may start a session's time line (with its first event)."""


def _timed(store: SessionStore, session_id: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    streams = store.streams(session_id)
    raw: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name in TIMED_STREAMS:
        if name in streams:
            t, v = store.samples(session_id, name)
            if len(t):
                raw[name] = (t, v)
    return raw


def _start(events: list[StoredEvent], raw: dict[str, tuple[np.ndarray, np.ndarray]]) -> int:
    starts = [events[0].t_session_ns] if events else []
    starts += [int(t[0]) for t, _ in raw.values()]
    return min(starts) if starts else 0


def start_ns(store: SessionStore, session_id: str, events: list[StoredEvent]) -> int:
    """Where a session's time line starts (its first event or sample): review times, the
    report's timeline and a replay's ``--at`` all count seconds from here."""
    return _start(events, _timed(store, session_id))


def load_session(store: SessionStore, session_id: str) -> SessionData:
    """Load ``session_id`` (KeyError naming it if the store has no such session)."""
    record = store.session(session_id)
    events = store.events(session_id)
    raw = _timed(store, session_id)
    t0 = _start(events, raw)
    ends = [events[-1].t_session_ns] if events else [t0]
    ends += [int(t[-1]) for t, _ in raw.values()]
    data = SessionData(record, events, t0, (max(ends) - t0) / 1e9)
    for name in ("heart_rate", "eda"):
        if name in raw:
            t, v = raw[name]
            data.series[name] = _thin((t - t0) / 1e9, v[:, 0].astype(float))
    if "scene" in raw:
        t, v = raw["scene"]
        ts = (t - t0) / 1e9
        for name in ("rung", "intensity", "stimulus_visible"):
            data.series[name] = _thin(ts, v[:, SCENE[name]].astype(float))
        # Gaze on the stimulus: its share of the samples in each window while it is shown.
        looking = (v[:, SCENE["looking_at"]] == 1) & (v[:, SCENE["stimulus_visible"]] > 0.5)
        shown = v[:, SCENE["stimulus_visible"]] > 0.5
        edges = np.arange(0.0, max(ts[-1], GAZE_WINDOW_S) + GAZE_WINDOW_S, GAZE_WINDOW_S)
        bins = np.digitize(ts, edges) - 1
        share_t, share_v = [], []
        for b in range(len(edges) - 1):
            in_bin = bins == b
            n_shown = int(shown[in_bin].sum())
            if n_shown:
                share_t.append(edges[b] + GAZE_WINDOW_S / 2)
                share_v.append(float(looking[in_bin].sum()) / n_shown)
        data.series["gaze_on_stimulus"] = Series(np.asarray(share_t), np.asarray(share_v))
    data.trials = build_trials(events, t0)
    data.ruptures = build_ruptures(events, t0, record.ended_wall_ns)
    data.responses = [((e.t_session_ns - t0) / 1e9, e.body) for e in events
                      if isinstance(e.body, QuestionnaireResponse)]
    return data


def open_session(data_dir: Path, session_id: str) -> SessionData:
    """Load a session from the store in ``data_dir``."""
    with SessionStore.in_dir(data_dir, create=False) as store:
        return load_session(store, session_id)


def catalogue_or_none(pack_dirs: list[Path] | None = None) -> Catalogue | None:
    """The instrument catalogue for labelling scores (None if it cannot load: the report still
    shows the stored scores)."""
    try:
        return Catalogue(pack_dirs or [])
    except ValueError:
        return None
