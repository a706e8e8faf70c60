"""Every message that crosses the wire, as typed, frozen pydantic models.

A message on the wire is an :class:`Envelope` plus one body. Bodies carry a ``type`` tag and are
decoded through one discriminated union (:data:`Body`); events carry a second tag, ``kind``
(:data:`EventBody`). Models are strict: wrong types are rejected rather than coerced, unknown
fields are rejected, and sequences are tuples so that a decoded message is immutable.

The wire codec (:mod:`telemetry.wire`) turns these models into ZeroMQ frames and back; nothing
here touches a socket.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, NamedTuple

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

PROTOCOL_VERSION = 1
"""The version of the wire protocol this code speaks (``docs/telemetry-protocol.md``)."""

MAX_NAME_LENGTH = 64
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,63}$"
"""Session ids, stream names and console ids: safe in topics, file names and SQL."""
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]{0,63}")
"""The same rule for Python code: use ``NAME_RE.fullmatch`` (``$`` in Python's ``re`` would
accept a trailing newline, which pydantic's pattern does not)."""

SessionId = Annotated[str, Field(pattern=NAME_PATTERN)]
StreamName = Annotated[str, Field(pattern=NAME_PATTERN)]
CommandId = Annotated[str, Field(min_length=1, max_length=128)]
ShortText = Annotated[str, Field(max_length=4000)]
Label = Annotated[str, Field(min_length=1, max_length=128)]
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
I64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]
"""Every integer on the wire fits int64: msgpack could carry a uint64 that neither SQLite nor
numpy's time stamps can hold."""
NonNegInt = Annotated[int, Field(ge=0, le=INT64_MAX)]

Scalar = None | bool | I64 | float | str
"""What a command argument or event detail may hold (JSON-like, no nesting)."""
Details = dict[Annotated[str, Field(max_length=64)], Scalar]


class Model(BaseModel):
    """Base of every wire model: frozen, strict, unknown fields forbidden."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class Envelope(Model):
    """What every message carries: who, which one, and when.

    ``seq`` counts per topic on a publisher (gaps mean loss); for events it is the event's
    position in the session log. On the command channels each sender keeps its own counter
    (the server one for all its replies); it is informational there.
    """

    v: Annotated[int, Field(ge=1)] = PROTOCOL_VERSION
    session: SessionId
    seq: NonNegInt
    t_session_ns: I64
    """Monotonic nanoseconds since session start, on the server's session clock (consoles
    stamp their own clock; the clock-offset estimate maps it)."""
    t_wall_ns: I64
    """Wall-clock nanoseconds since the Unix epoch (for people and file names, not ordering)."""


# --------------------------------------------------------------------------------------------
# Streams and samples

StreamKind = Literal[
    "head_pose", "gaze", "heart_rate", "ecg", "eda", "respiration", "rating", "controller",
    "scene", "frame_stats", "other",
]
DType = Literal["float32", "float64", "int16", "int32", "int64", "uint8"]
SAMPLE_DTYPES: frozenset[str] = frozenset(DType.__args__)  # type: ignore[attr-defined]
# (kind, itemsize) pairs: a cheap test that ignores byte order (dtype.name is slow per batch).
_SAMPLE_KINDS: frozenset[tuple[str, int]] = frozenset(
    (np.dtype(name).kind, np.dtype(name).itemsize) for name in SAMPLE_DTYPES
)


class StreamDescriptor(Model):
    """What a stream is: published once at start and again periodically for late joiners."""

    type: Literal["stream"] = "stream"
    name: StreamName
    kind: StreamKind
    channels: tuple[Label, ...] = Field(min_length=1, max_length=256)
    units: tuple[Annotated[str, Field(max_length=32)], ...]
    nominal_rate: Annotated[float, Field(ge=0.0, le=100_000.0)]
    """Samples per second; 0 for irregular streams (ratings)."""
    dtype: DType = "float32"

    @model_validator(mode="after")
    def _units_match_channels(self) -> StreamDescriptor:
        if len(self.units) != len(self.channels):
            raise ValueError(
                f"units has {len(self.units)} entries but channels has {len(self.channels)}"
            )
        if len(set(self.channels)) != len(self.channels):
            raise ValueError("channel names must be unique")
        return self


class SampleBatch(Model):
    """A batch of samples of one stream: timestamps (session-clock ns) and a values matrix.

    ``timestamps_ns`` is int64 with shape ``(n,)``; ``values`` has shape ``(n, channels)`` and one
    of :data:`SAMPLE_DTYPES`. On the wire both travel as raw buffers, never one object per sample.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    stream: StreamName
    timestamps_ns: np.ndarray
    values: np.ndarray

    @model_validator(mode="after")
    def _check_arrays(self) -> SampleBatch:
        ts, values = self.timestamps_ns, self.values
        if ts.dtype.kind != "i" or ts.dtype.itemsize != 8 or ts.ndim != 1:
            raise ValueError(f"timestamps_ns must be 1-D int64, got {ts.ndim}-D {ts.dtype}")
        if values.ndim != 2:
            raise ValueError(f"values must be 2-D (samples, channels), got {values.ndim}-D")
        if (values.dtype.kind, values.dtype.itemsize) not in _SAMPLE_KINDS:
            raise ValueError(f"values dtype {values.dtype} is not one of {sorted(SAMPLE_DTYPES)}")
        if values.shape[0] != ts.shape[0]:
            raise ValueError(
                f"{ts.shape[0]} timestamps but {values.shape[0]} rows of values"
            )
        if values.shape[1] == 0:
            raise ValueError("values must have at least one channel")
        # Frozen model, frozen arrays: nobody downstream may change a received batch in place.
        ts.flags.writeable = False
        values.flags.writeable = False
        return self

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SampleBatch):
            return NotImplemented
        return (
            self.stream == other.stream
            and self.values.dtype == other.values.dtype
            and np.array_equal(self.timestamps_ns, other.timestamps_ns)
            and np.array_equal(self.values, other.values, equal_nan=self.values.dtype.kind == "f")
        )

    __hash__ = None  # type: ignore[assignment]

    @property
    def n(self) -> int:
        """Number of samples in the batch."""
        return int(self.timestamps_ns.shape[0])


MAX_BATCHES = 64
"""Most stream batches one ``samples`` message may carry."""


class Samples(Model):
    """One session's sample batches of one tick, one batch per stream, in one message.

    A session's streams are due together (every 10-20 ms), and one message per tick instead of
    one per stream divides the per-message cost, which dominates small batches, by the number
    of streams (``docs/decisions.md``).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    type: Literal["samples"] = "samples"
    batches: tuple[SampleBatch, ...] = Field(min_length=1, max_length=MAX_BATCHES)

    @model_validator(mode="after")
    def _streams_unique(self) -> Samples:
        names = [batch.stream for batch in self.batches]
        if len(set(names)) != len(names):
            raise ValueError(f"a stream may appear once per message: {sorted(names)}")
        return self


# --------------------------------------------------------------------------------------------
# Events: what happened in the session, in order. Each is a row of the session log.

SessionState = Literal[
    "ready", "baseline", "exposure", "check_in", "paused", "safe_hold", "closing", "ended"
]
Actor = Literal["therapist", "client", "controller", "server", "script", "detector"]


class StateChange(Model):
    """The session moved from one lifecycle state to another."""

    kind: Literal["state_change"] = "state_change"
    from_state: SessionState
    to_state: SessionState
    reason: ShortText = ""
    actor: Actor = "server"


class LevelChange(Model):
    """The exposure level (rung of the hierarchy and intensity within it) changed."""

    kind: Literal["level_change"] = "level_change"
    rung: NonNegInt
    intensity: Annotated[float, Field(ge=0.0, le=1.0)]
    previous_rung: NonNegInt
    previous_intensity: Annotated[float, Field(ge=0.0, le=1.0)]
    actor: Actor = "therapist"
    reason: ShortText = ""


class CheckInAsked(Model):
    """A rating was asked of the client (SUDS, expectancy, ...)."""

    kind: Literal["checkin_asked"] = "checkin_asked"
    checkin_id: Label
    instrument: Label
    prompt: ShortText = ""
    purpose: Literal["rating", "prediction", "before", "after"] = "rating"
    actor: Actor = "therapist"


class CheckInAnswered(Model):
    """The client answered a check-in, or did not (``value`` None, ``answered`` False)."""

    kind: Literal["checkin_answered"] = "checkin_answered"
    checkin_id: Label
    instrument: Label
    value: float | None
    answered: bool = True
    latency_ms: Annotated[float, Field(ge=0.0)] | None = None


RuptureMarker = Literal["withdrawal", "confrontation"]


class RuptureMarked(Model):
    """A rupture moment in the alliance, marked by the therapist or proposed by a detector."""

    kind: Literal["rupture_marked"] = "rupture_marked"
    rupture_id: Label
    marker: RuptureMarker
    subtype: Annotated[str, Field(max_length=64)] | None = None
    salience: Annotated[int, Field(ge=1, le=5)] | None = None
    t_start_ns: I64 | None = None
    t_end_ns: I64 | None = None
    actor: Actor = "therapist"
    note: ShortText = ""
    candidate_id: Label | None = None
    """The detector's candidate this confirms (its window is the rupture's)."""


class RuptureCandidate(Model):
    """The detector proposes a rupture moment (``ruptures.detector``): what fired, when, how
    sure, by which detector version. Logged again, with the same id, when more evidence joins
    it; the last one of an id is its current form."""

    kind: Literal["rupture_candidate"] = "rupture_candidate"
    candidate_id: Label
    marker: RuptureMarker
    signals: tuple[Label, ...] = Field(default=(), max_length=64)
    evidence: ShortText = ""
    confidence: Annotated[float, Field(ge=0.0, le=1.0)]
    t_start_ns: I64
    t_end_ns: I64
    detector_version: Label
    settings: ShortText = ""
    actor: Actor = "detector"


class CandidateDismissed(Model):
    """The therapist judged a candidate not to be a rupture."""

    kind: Literal["candidate_dismissed"] = "candidate_dismissed"
    candidate_id: Label
    note: ShortText = ""
    actor: Actor = "therapist"


class RuptureRating(Model):
    """The therapist's ratings of the session's ruptures as a whole (3RS global ratings, 1-5):
    their own contribution to the ruptures and how far they were resolved."""

    kind: Literal["rupture_rating"] = "rupture_rating"
    therapist_contribution: Annotated[int, Field(ge=1, le=5)] | None = None
    resolution: Annotated[int, Field(ge=1, le=5)] | None = None
    note: ShortText = ""
    actor: Actor = "therapist"


class RepairMarked(Model):
    """A repair of a rupture, with the resolution strategy used."""

    kind: Literal["repair_marked"] = "repair_marked"
    rupture_id: Label
    strategy: Annotated[str, Field(max_length=64)]
    resolved: bool | None = None
    actor: Actor = "therapist"
    note: ShortText = ""
    line_id: Annotated[str, Field(max_length=128)] | None = None
    """The avatar's repair line that carried it, where the avatar said it."""


class Annotation(Model):
    """Free text attached to a moment of the session."""

    kind: Literal["annotation"] = "annotation"
    text: ShortText
    author: Actor = "therapist"


class AvatarUtterance(Model):
    """The therapist avatar began to say something (stock line or the therapist's typed
    text): recorded when it is said, which may be after it was asked for (a line waits for the
    one being said, unless it is more urgent)."""

    kind: Literal["avatar_utterance"] = "avatar_utterance"
    text: ShortText
    line_id: Annotated[str, Field(max_length=128)] | None = None
    actor: Actor = "therapist"


class AvatarLineCut(Model):
    """A line the avatar did not finish: ``interrupted`` after ``said_s`` seconds by a more
    urgent one (or the end of the session), or ``dropped`` before it was said (the question
    it asked was answered or withdrawn first, or a stop made it moot)."""

    kind: Literal["avatar_line_cut"] = "avatar_line_cut"
    text: ShortText
    line_id: Annotated[str, Field(max_length=128)] | None = None
    outcome: Literal["interrupted", "dropped"]
    said_s: Annotated[float, Field(ge=0)] | None = None
    actor: Actor = "server"


class AvatarGesture(Model):
    """The therapist avatar made a gesture."""

    kind: Literal["avatar_gesture"] = "avatar_gesture"
    name: Label
    actor: Actor = "therapist"


class ScenarioEvent(Model):
    """A scenario's live event was played (``spider walks toward you``)."""

    kind: Literal["scenario_event"] = "scenario_event"
    name: Label
    actor: Actor = "therapist"


class SessionPlan(Model):
    """The plan a console sent as the session started (``configure``)."""

    kind: Literal["session_plan"] = "session_plan"
    client_id: Annotated[str, Field(max_length=64)] | None = None
    scenario: Annotated[str, Field(max_length=128)] | None = None
    consent: bool
    checkin_every_s: Annotated[float, Field(gt=0.0)] | None = None
    start_rung: NonNegInt | None = None
    max_rung: NonNegInt | None = None
    band_low: Annotated[float, Field(ge=0.0, le=100.0)]
    band_high: Annotated[float, Field(ge=0.0, le=100.0)]
    controller: Literal["manual", "suggest", "auto"]
    trial_criterion: Literal["time", "suds_drop", "expectancy"] = "time"
    trial_min_s: Annotated[float, Field(gt=0.0)] = 120.0
    actor: Actor = "therapist"


class ControllerDecision(Model):
    """A difficulty controller's proposal, its acceptance or rejection, or a step it took,
    with the inputs and thresholds it used (``reasons``) and a one-line ``summary``."""

    kind: Literal["controller_decision"] = "controller_decision"
    decision: Label
    action: Literal["step_up", "step_down", "hold", "ask_checkin"] | None = None
    proposal_id: Annotated[str, Field(max_length=64)] | None = None
    from_rung: NonNegInt | None = None
    to_rung: NonNegInt | None = None
    mode: Literal["manual", "suggest", "auto"]
    summary: ShortText = ""
    reasons: ShortText = ""
    """JSON text: the inputs and thresholds the decision used."""
    actor: Actor = "controller"


class QuestionnaireResponse(Model):
    """A questionnaire or rating scale answered in full (screening, closing, ...), scored.

    ``answers`` are the scale's canonical values by item id; ``scores`` the instrument's
    scores (None where its missing-item rule forbids one); ``flags`` the ids of raised flags.
    """

    kind: Literal["questionnaire_response"] = "questionnaire_response"
    response_id: Label
    instrument: Label
    version: Label
    respondent: Literal["client", "therapist"] = "client"
    timing: Literal["screening", "start", "during", "trial", "end"]
    language: Annotated[str, Field(max_length=16)] = "en"
    answers: Details = Field(default_factory=dict)
    scores: Details = Field(default_factory=dict)
    flags: tuple[Label, ...] = Field(default=(), max_length=32)
    """(A tuple: msgpack arrays decode as tuples, and models are strict.)"""
    complete: bool = True
    text_source: Annotated[str, Field(max_length=128)] = "vret"
    """Who supplied the wording the respondent read (``vret`` or the site's licensed pack)."""
    actor: Actor = "therapist"


class QuestionnaireStarted(Model):
    """A questionnaire is being given to the client in the scene, one item at a time; it ends
    with a ``questionnaire_response`` (``complete`` false if it was left unfinished)."""

    kind: Literal["questionnaire_started"] = "questionnaire_started"
    form_id: Label
    instrument: Label
    version: Label
    timing: Literal["screening", "start", "during", "trial", "end"]
    actor: Actor = "therapist"


class RiskAcknowledged(Model):
    """A clinician acknowledged a risk flag (exposure may start only after this)."""

    kind: Literal["risk_acknowledged"] = "risk_acknowledged"
    response_id: Label
    flags: tuple[Label, ...] = Field(default=(), max_length=32)
    note: ShortText = ""
    actor: Actor = "therapist"


class RatingPanelShown(Model):
    """The rating panel changed before the client: a question ``shown`` (where, and with
    which scale) or ``answered`` (the chosen cell shows for a moment, then the panel goes).

    Logged because it changes what the client sees, and so that a replay of the session
    shows the panel where and when the client saw it."""

    kind: Literal["rating_panel"] = "rating_panel"
    action: Literal["shown", "answered"]
    key: Label
    """The check-in's id, or ``form_id:item`` for a questionnaire item."""
    question: ShortText = ""
    scale_low: float = 0.0
    scale_high: float = 100.0
    scale_step: Annotated[float, Field(gt=0.0)] = 10.0
    scale_kind: Literal["integer", "decimal", "yes_no"] = "integer"
    yes_no: bool = False
    low_label: ShortText = ""
    high_label: ShortText = ""
    position: tuple[float, float, float] = (0.0, 0.0, 0.0)
    """The client's head when it opened (the panel is placed from it, and stays)."""
    heading: float = 0.0
    pitch: float = 0.0
    value: float | None = None
    """The answer shown as chosen (``answered``; None: none of the cells)."""
    actor: Actor = "server"


class HeadsetState(Model):
    """The headset's OpenXR session moved to another state (``--display openxr``).

    ``focused`` is the only state in which the client sees the scene and the controllers
    reach vret; leaving it (headset taken off, the runtime's own menu opened, the runtime
    lost) puts a session showing the exposure on safe hold, and the exposure cannot start or
    resume until the headset is back in focus."""

    kind: Literal["headset_state"] = "headset_state"
    state: Literal["unknown", "idle", "ready", "synchronized", "visible", "focused",
                   "stopping", "loss_pending", "exiting"]
    previous: Literal["unknown", "idle", "ready", "synchronized", "visible", "focused",
                      "stopping", "loss_pending", "exiting"] = "unknown"
    reason: ShortText = ""
    """What the state means for the session, in words."""
    actor: Actor = "client"


class Alert(Model):
    """Something the therapist should notice: thresholds, lost connections, client stop."""

    kind: Literal["alert"] = "alert"
    code: Label
    severity: Literal["info", "warning", "critical"] = "warning"
    message: ShortText = ""
    details: Details = Field(default_factory=dict)


EventBody = Annotated[
    StateChange | LevelChange | CheckInAsked | CheckInAnswered | RuptureMarked | RepairMarked
    | Annotation | AvatarUtterance | AvatarLineCut | AvatarGesture | ScenarioEvent | Alert
    | SessionPlan | ControllerDecision | QuestionnaireResponse | RiskAcknowledged
    | QuestionnaireStarted | RatingPanelShown | RuptureCandidate | CandidateDismissed
    | RuptureRating | HeadsetState,
    Field(discriminator="kind"),
]


class Event(Model):
    """One entry of the session log; ``command_id`` names the command that caused it."""

    type: Literal["event"] = "event"
    event: EventBody
    command_id: CommandId | None = None


# --------------------------------------------------------------------------------------------
# Commands and replies

class Command(Model):
    """A request from a console. ``id`` is chosen by the console and makes retries safe.

    ``name`` selects the command; ``args`` are checked against that command's argument model
    (:mod:`telemetry.commands`) by the server, so an error reply can name the bad field.
    """

    type: Literal["command"] = "command"
    id: CommandId
    name: Annotated[str, Field(min_length=1, max_length=64)]
    args: Details = Field(default_factory=dict)


class Ack(Model):
    """The command was applied: at which frame and session time, and what came of it."""

    type: Literal["ack"] = "ack"
    id: CommandId
    frame: NonNegInt | None = None
    t_applied_ns: I64
    result: Details = Field(default_factory=dict)
    duplicate: bool = False
    """True when this answers a repeated id: the command was not applied again."""


ErrorCode = Literal[
    "malformed", "unsupported_version", "unknown_type", "invalid", "too_large",
    "unknown_command", "out_of_range", "not_allowed", "rate_limited", "busy", "internal",
]


class ErrorReply(Model):
    """The command (or message) was not applied, and why."""

    type: Literal["error"] = "error"
    id: CommandId | None
    code: ErrorCode
    message: ShortText


class Heartbeat(Model):
    """Liveness, both ways: consoles send them on the control channel and the server answers;
    the server also publishes one on ``hb.<session>`` for subscribers."""

    type: Literal["heartbeat"] = "heartbeat"
    role: Literal["server", "console"]
    state: SessionState | None = None


class ClockProbe(Model):
    """One probe of a clock-offset burst; ``t0_ns`` is the console's send time."""

    type: Literal["clock_probe"] = "clock_probe"
    probe_id: NonNegInt
    t0_ns: I64


class ClockReply(Model):
    """The server's answer to a probe: receive (t1) and send (t2) times on the session clock."""

    type: Literal["clock_reply"] = "clock_reply"
    probe_id: NonNegInt
    t0_ns: I64
    t1_ns: I64
    t2_ns: I64


class Frame(Model):
    """A mirror-view image (what the client sees), JPEG bytes carried as a raw buffer."""

    type: Literal["frame"] = "frame"
    width: Annotated[int, Field(ge=1, le=8192)]
    height: Annotated[int, Field(ge=1, le=8192)]
    encoding: Literal["jpeg", "png"] = "jpeg"
    frame_number: NonNegInt
    data: bytes = Field(repr=False)
    t_frame_ns: I64 | None = None
    """Session time at which the frame was rendered (the envelope's time is when it was sent,
    after encoding)."""


Body = Annotated[
    StreamDescriptor | Samples | Event | Command | Ack | ErrorReply | Heartbeat | ClockProbe
    | ClockReply | Frame,
    Field(discriminator="type"),
]
MESSAGE_TYPES: tuple[str, ...] = (
    "stream", "samples", "event", "command", "ack", "error", "heartbeat", "clock_probe",
    "clock_reply", "frame",
)


class Message(NamedTuple):
    """An envelope and its body: the unit the codec encodes and decodes.

    A plain immutable pair, not a model: both parts are validated models already, and wrapping
    them in a third would cost a good share of decoding a small batch.
    """

    env: Envelope
    body: Body
